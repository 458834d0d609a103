#![no_main]
//! `taxpoynt_mono::fuzz::mono_dtos` under libFuzzer; see `fuzz/README.md`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| taxpoynt_mono::fuzz::mono_dtos(data));
