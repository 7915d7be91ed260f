//! The admin API's request bodies, parsed and written back.
#![no_main]

use switchboard_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::fuzzing::admin_request(data));
