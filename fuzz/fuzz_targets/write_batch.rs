#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| engine_fuzz::targets::write_batch(data));
