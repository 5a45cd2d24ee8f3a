//! `cargo +nightly fuzz run envelope`: a thin wrapper; the harness and its
//! invariants live in `redial::fuzzing` (see TESTING.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| redial::fuzzing::run_envelope(data));
