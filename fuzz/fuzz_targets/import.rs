//! The association import file, and its export's round trip.
#![no_main]

use switchboard_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::fuzzing::import_round_trip(data));
