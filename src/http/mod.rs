//! The HTTP surface: one module per endpoint group, each thin (extract, call a service,
//! answer in the envelope). `router` assembles them with the fallbacks for unknown routes
//! and wrong methods, and builds the OpenAPI document from them; `openapi` holds what the
//! handlers' descriptions share.

pub mod accounts;
pub mod buyers;
pub mod dlq;
pub mod docs;
pub mod envelope;
pub mod extract;
pub mod invoices;
pub mod mbs;
pub mod openapi;
pub mod ops;
pub mod org;
pub mod router;
pub mod rules;
pub mod settings;
pub mod sync;
pub mod tenant;
pub mod webhooks;
