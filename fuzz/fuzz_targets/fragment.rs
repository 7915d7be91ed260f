//! The fragmenter and P-DATA reassembly, round trip.
#![no_main]

use switchboard_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::fuzzing::fragment_round_trip(data));
