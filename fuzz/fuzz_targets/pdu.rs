//! The PDU reader and P-DATA reassembly on what a peer sends.
#![no_main]

use switchboard_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard::fuzzing::pdu_stream(data));
