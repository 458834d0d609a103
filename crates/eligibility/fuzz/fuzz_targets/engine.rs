#![no_main]
//! `eligibility::fuzz::engine` under libFuzzer; see `crates/eligibility/fuzz/README.md`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| eligibility::fuzz::engine(data));
