//! What the fuzz targets (`fuzz/`) run on each input, and what the test
//! suite replays their corpora through: each function takes arbitrary
//! bytes and panics only on a broken invariant, so that a crash is a bug.
//! Not part of the engine's interface.
// A broken invariant here must crash: that is what the fuzzer looks for.
#![allow(clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use dicom_ul::pdu::{Pdu, PresentationContextResultReason};

use crate::association::negotiation::{Negotiation, Policy, RequestorScpRole, negotiate};
use crate::association::{AeTitle, AssociationContext, PresentationContext, Uid, import};
use crate::dimse::pdata::{PdvEvent, Reassembler, max_fragment_len, send_command, send_data};
use crate::dimse::pdu::{Incoming, PDV_OVERHEAD, PduStream, effective_max};
use crate::dimse::{CStoreRq, DimseCommand, Priority};

/// One runtime for every input: the readers are async.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
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

/// The fragmenter and reassembly, round trip: a C-STORE-RQ and a data set
/// (the input after its first 4 bytes, which set the peer's maximum PDU
/// length) sent as P-DATA come back whole, in PDUs no longer than that
/// maximum allows, with the last-fragment bit on the last one only.
pub fn fragment_round_trip(data: &[u8]) {
    let Some((max, payload)) = data.split_first_chunk::<4>() else {
        return;
    };
    let max = u32::from_be_bytes(*max);
    // At most 1024 PDUs per input, so that executions stay fast: the
    // boundaries are what matters, not the count.
    let smallest = u32::try_from(PDV_OVERHEAD + 1).expect("a small constant");
    if payload.len() > 1024 * max_fragment_len(largest(max, smallest)) {
        return;
    }
    let command = DimseCommand::StoreRq(CStoreRq {
        message_id: 7,
        affected_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        affected_sop_instance_uid: "1.2.3.4".into(),
        priority: Priority::Medium,
        move_originator_ae_title: None,
        move_originator_message_id: None,
    });
    let command_bytes = command.to_bytes().expect("a C-STORE-RQ encodes");
    runtime().block_on(async {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let mut sender = PduStream::new(ours);
        sender.set_limits(0, max);
        let mut receiver = PduStream::new(theirs);
        receiver.set_limits(largest(max, smallest), 0);
        let send = async move {
            send_command(&mut sender, 3, &command_bytes)
                .await
                .expect("the command is sent");
            send_data(&mut sender, 3, payload)
                .await
                .expect("the data set is sent");
        };
        let receive = async move {
            let mut reassembler = Reassembler::new();
            let mut received = None;
            let mut data = Vec::new();
            let mut ended = false;
            while !ended {
                let Incoming::PData(pdu) = receiver.read_incoming().await.expect("a P-DATA PDU")
                else {
                    panic!("only P-DATA PDUs are sent");
                };
                let (pdvs, bytes) = pdu.sizes();
                assert_eq!(pdvs, 1, "one PDV per PDU");
                assert!(bytes + PDV_OVERHEAD <= largest(max, smallest) as usize);
                for pdv in pdu.pdvs() {
                    assert!(!ended, "nothing follows the last fragment");
                    match reassembler.push(pdv).expect("our own PDVs reassemble") {
                        Some(PdvEvent::Command { command, .. }) => received = Some(command),
                        Some(PdvEvent::Data { bytes, is_last }) => {
                            data.extend_from_slice(bytes);
                            ended = is_last;
                        }
                        None => {}
                    }
                }
                receiver.recycle(pdu);
            }
            (received, data)
        };
        let ((), (received, data)) = tokio::join!(send, receive);
        assert_eq!(received.as_ref(), Some(&command));
        assert_eq!(data, payload);
    });
}

/// The largest P-DATA PDU length (after its header) a peer announcing
/// `max` gets from us: one data byte per PDU is the least the fragmenter
/// sends (`smallest`), whatever the peer announced.
fn largest(max: u32, smallest: u32) -> u32 {
    effective_max(max).max(smallest)
}

/// A command set, decoded, encoded and decoded again: a command the
/// engine models comes back with the same command, IDs and status, and
/// what encoding cleans (an error comment's control characters) stays
/// clean: a second round trip changes nothing.
pub fn command_round_trip(data: &[u8]) {
    let Ok(command) = DimseCommand::from_bytes(data) else {
        return;
    };
    let _ = command.describe();
    if matches!(command, DimseCommand::Other(_)) {
        return;
    }
    let round_trip = |command: &DimseCommand| {
        let bytes = command.to_bytes().expect("a decoded command encodes");
        DimseCommand::from_bytes(&bytes).expect("an encoded command decodes")
    };
    let once = round_trip(&command);
    assert_eq!(once.command_field(), command.command_field());
    assert_eq!(once.message_id(), command.message_id());
    assert_eq!(
        once.message_id_being_responded_to(),
        command.message_id_being_responded_to()
    );
    assert_eq!(
        once.affected_sop_class_uid(),
        command.affected_sop_class_uid()
    );
    assert_eq!(once.status(), command.status());
    assert_eq!(once.has_data_set(), command.has_data_set());
    assert_eq!(round_trip(&once), once);
}

/// Negotiation from an arbitrary A-ASSOCIATE-RQ (a PDU in the input)
/// against a stored association for Verification and CT Image Storage:
/// the A-ASSOCIATE-AC or -RJ it decides encodes, reads back, and answers
/// every proposed context by the rules.
pub fn negotiation(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some(Pdu::AssociationRQ(rq)) = runtime().block_on(async {
        let mut stream = PduStream::new(tokio::io::join(rest, tokio::io::sink()));
        stream.read_pdu().await.ok()
    }) else {
        return;
    };
    let served = [AeTitle::new("SWITCHBOARD").expect("a valid AE title")];
    let policy = Policy {
        served_ae_titles: &served,
        max_pdu_length: 16384,
        requestor_scp_role: if flags & 1 == 0 {
            RequestorScpRole::Never
        } else {
            RequestorScpRole::Storage
        },
    };
    let stored = import::parse(
        b"1.2.840.10008.1.1\\1.2.840.10008.1.2\n\
          1.2.840.10008.5.1.4.1.1.2\\1.2.840.10008.1.2.1\\1.2.840.10008.1.2\n",
    )
    .expect("a valid import file");
    let outcome = negotiate(&rq, &policy, |calling, called| {
        let mut context = AssociationContext::new(calling.clone(), called.clone());
        context.presentation_contexts = stored.presentation_contexts;
        Ok(Some(context))
    });
    let answer = match &outcome {
        Negotiation::Accepted(accepted) => Pdu::AssociationAC(accepted.to_pdu(&rq)),
        Negotiation::Rejected(rejection) => Pdu::AssociationRJ(rejection.to_pdu()),
    };
    let read = runtime().block_on(async {
        let (ours, theirs) = tokio::io::duplex(256 * 1024);
        let mut writer = PduStream::new(ours);
        writer.write_pdu(&answer).await.expect("our answer encodes");
        drop(writer);
        PduStream::new(theirs)
            .read_pdu()
            .await
            .expect("our answer reads back")
    });
    match (&outcome, read) {
        (Negotiation::Rejected(rejection), Pdu::AssociationRJ(rj)) => assert_eq!(rj, rejection.0),
        (Negotiation::Accepted(accepted), Pdu::AssociationAC(ac)) => {
            assert_eq!(
                ac.presentation_contexts.len(),
                rq.presentation_contexts.len()
            );
            for ((result, proposed), decided) in ac
                .presentation_contexts
                .iter()
                .zip(&rq.presentation_contexts)
                .zip(&accepted.contexts)
            {
                assert_eq!(result.id, proposed.id);
                assert_eq!(result.reason, decided.result);
                if result.reason == PresentationContextResultReason::Acceptance {
                    let chosen = result.transfer_syntax.trim_end_matches('\0');
                    assert!(
                        proposed
                            .transfer_syntaxes
                            .iter()
                            .any(|ts| ts.trim_end_matches('\0').trim() == chosen),
                        "{chosen} was not proposed"
                    );
                }
            }
            for (sop, roles) in &accepted.role_selections {
                assert!(
                    accepted
                        .contexts
                        .iter()
                        .any(|c| c.is_accepted() && c.abstract_syntax == *sop)
                );
                assert!(!roles.scp || policy.requestor_scp_role.allows(sop));
            }
        }
        (_, other) => panic!(
            "{} read back as {other:?}",
            crate::dimse::pdu::pdu_name(&answer)
        ),
    }
}

/// The data-set reader of the routing path on a body in the transfer
/// syntax the first byte picks; the little endian ones are also
/// re-encoded, and what re-encoding writes reads back uncut.
pub fn data_set(data: &[u8]) {
    const SYNTAXES: [&str; 4] = [
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.4.50",
    ];
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let ts = SYNTAXES[usize::from(pick) % SYNTAXES.len()];
    let stop = if pick & 0x80 == 0 {
        crate::dataset::Stop::End
    } else {
        crate::dataset::Stop::BeforePixelData
    };
    let len = body.len() as u64;
    let _read = crate::dataset::read(std::io::Cursor::new(body), len, ts, stop).is_ok();
    let other = SYNTAXES[usize::from(pick & 1 == 0)];
    if let Ok(out) = crate::dataset::reencode(body, ts, other) {
        let again = crate::dataset::read(
            std::io::Cursor::new(&out[..]),
            out.len() as u64,
            other,
            stop,
        );
        if let Ok(again) = again {
            assert_eq!(again.cut, None, "a re-encoded data set is whole");
        }
    }
}

/// The production-file loader on any text, as a production file in the
/// namespace folder `fuzz`: errors or a production, never a panic.
pub fn production_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/nonexistent/productions/fuzz/production.toml");
    if let Err(errors) = crate::config::load_text(path, text) {
        assert!(!errors.is_empty());
        for error in errors {
            assert!(!error.to_string().is_empty());
        }
    }
}

/// The admin API's request body: whatever parses is written back as
/// JSON that parses to the same request.
pub fn admin_request(data: &[u8]) {
    let Ok(envelope) = serde_json::from_slice::<crate::admin::Envelope>(data) else {
        return;
    };
    let json = serde_json::to_vec(&envelope).expect("a request encodes");
    let back: crate::admin::Envelope = serde_json::from_slice(&json).expect("its JSON parses");
    assert_eq!(back, envelope);
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
