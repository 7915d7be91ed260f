//! What the fuzz targets (`fuzz/`) run on each input, and what the test
//! suite replays their corpora through: each function takes arbitrary
//! bytes and panics only on a broken invariant, so that a crash is a bug.
//! Not part of the engine's interface.
// A broken invariant here must crash: that is what the fuzzer looks for.
#![allow(clippy::expect_used)]

use std::sync::OnceLock;

use crate::association::{AssociationContext, PresentationContext, Uid, import};
use crate::dimse::pdata::Reassembler;
use crate::dimse::pdu::{Incoming, PduStream};

/// One runtime for every input: the readers are async.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

/// The PDU reader on a stream of PDUs as a peer would send them: the first
/// 8 bytes set our and the peer's maximum PDU lengths, the rest is read PDU
/// by PDU until an error or its end; each P-DATA's PDVs go through the
/// reassembler as an association feeds them.
pub fn pdu_stream(data: &[u8]) {
    let Some((limits, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let ours = u32::from_be_bytes([limits[0], limits[1], limits[2], limits[3]]);
    let peer = u32::from_be_bytes([limits[4], limits[5], limits[6], limits[7]]);
    runtime().block_on(async {
        let mut stream = PduStream::new(tokio::io::join(rest, tokio::io::sink()));
        stream.set_limits(ours, peer);
        let mut reassembler = Reassembler::new();
        loop {
            match stream.read_incoming().await {
                Ok(Incoming::PData(pdu)) => {
                    for pdv in pdu.pdvs() {
                        if reassembler.push(pdv).is_err() {
                            return;
                        }
                    }
                    stream.recycle(pdu);
                }
                Ok(Incoming::Other(_)) => {}
                Err(error) => {
                    // Every error says what to answer with.
                    let _ = error.abort_reason();
                    return;
                }
            }
        }
    });
}

/// The association import file: whatever parses exports and parses back
/// to the same presentation contexts and certificate bindings.
pub fn import_round_trip(data: &[u8]) {
    let Ok(file) = import::parse(data) else {
        return;
    };
    let any = crate::association::AeTitle::wildcard();
    let mut ctx = AssociationContext::new(any.clone(), any);
    ctx.presentation_contexts = file.presentation_contexts;
    ctx.certificates = file.certificates;
    let text = import::export(&ctx);
    let back = import::parse(text.as_bytes()).expect("an export parses");
    assert_eq!(back.presentation_contexts, ctx.presentation_contexts);
    assert_eq!(back.certificates, ctx.certificates);
    let contexts: Vec<PresentationContext> = back.presentation_contexts;
    for pc in &contexts {
        assert!(!pc.transfer_syntaxes.is_empty());
        assert!(Uid::new(pc.abstract_syntax.as_str()).is_ok());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_empty_and_lying_inputs_end_without_a_panic() {
        super::pdu_stream(b"");
        super::pdu_stream(&[0; 8]);
        // An A-ASSOCIATE-RQ header claiming 4 GiB, then nothing.
        super::pdu_stream(&[
            0, 0, 0x40, 0, 0, 0, 0x40, 0, 0x01, 0, 0xff, 0xff, 0xff, 0xff,
        ]);
        // A P-DATA with a PDV longer than its PDU.
        super::pdu_stream(&[
            0, 0, 0x40, 0, 0, 0, 0x40, 0, 0x04, 0, 0, 0, 0, 8, 0, 0, 0, 9, 1, 3, 0, 0,
        ]);
        super::import_round_trip(b"1.2.840.10008.1.1\\1.2.840.10008.1.2\ncertificate cn:A\n");
        super::import_round_trip(b"\xff\xfe\x00");
    }
}
