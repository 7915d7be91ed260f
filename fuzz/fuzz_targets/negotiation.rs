//! Negotiation from an arbitrary A-ASSOCIATE-RQ to the AC or RJ read back.
#![no_main]

use switchboard_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::fuzzing::negotiation(data));
