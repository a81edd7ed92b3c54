#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leadpipe_fuzz::pipeline_file(data));
