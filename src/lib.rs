//! taxpoynt-mono: the Mono Connect bank-feed connector of the Taxpoynt SI platform.
//!
//! A library first, so tests start the real application: `startup::Application` builds the
//! router over a PostgreSQL pool; `cli` drives it from the binary.

pub mod budget;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod einvoice;
pub mod error;
pub mod fuzz;
pub mod http;
pub mod invoice;
pub mod jobs;
pub mod nul;
pub mod party;
pub mod runtime;
pub mod seal;
pub mod services;
pub mod signing;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tenancy;
pub mod time;
pub mod vocab;
pub mod worker;
