//! DIMSE command sets, decoded and encoded again.
#![no_main]

use switchboard_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::fuzzing::command_round_trip(data));
