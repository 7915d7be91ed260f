//! C-FIND at the SCP: the identifier goes to the query hook, its matches
//! come back as they are produced, C-CANCEL reaches it; raw PDUs and
//! DCMTK's `findscu` as requesters, a stub query as the answerer.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::dimse::commands::{CCancelRq, CFindRq, DimseCommand};
use crate::dimse::pdata::{PdvEvent, send_command, send_data};
use crate::dimse::pdu::Incoming;
use crate::services::dicom_scp::{FindAnswer, FindAnswers, FindRequest, Query};

/// Answers each query with `matches` copies of its identifier, then
/// success; when `hold`, waits for C-CANCEL after the matches and answers
/// FE00.
#[derive(Debug, Default)]
struct Stub {
    matches: usize,
    hold: bool,
    seen: Mutex<Vec<FindRequest>>,
    cancelled: Arc<AtomicBool>,
}

impl Query for Stub {
    fn find(&self, request: FindRequest, answers: FindAnswers, cancel: CancellationToken) {
        self.seen.lock().unwrap().push(request.clone());
        let (matches, hold, cancelled) = (self.matches, self.hold, self.cancelled.clone());
        tokio::spawn(async move {
            for _ in 0..matches {
                let identifier = request.identifier.clone();
                let status = Status::PENDING;
                if answers
                    .send(FindAnswer::Match { status, identifier })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let status = if hold {
                cancel.cancelled().await;
                cancelled.store(true, Ordering::SeqCst);
                Status::CANCEL
            } else {
                Status::SUCCESS
            };
            let done = FindAnswer::Done {
                status,
                error_comment: None,
            };
            answers.send(done).await.ok();
        });
    }
}

async fn start_find(stub: Arc<Stub>) -> Running {
    start_scp(
        |_| {},
        Some(association(&[(FIND, &[IMPLICIT])])),
        None,
        Some(stub),
    )
    .await
}

/// (0008,0052) QueryRetrieveLevel = STUDY, (0010,0010) PatientName = Doe*,
/// implicit VR little endian.
const IDENTIFIER: &[u8] = &[
    0x08, 0, 0x52, 0, 6, 0, 0, 0, b'S', b'T', b'U', b'D', b'Y', b' ', 0x10, 0, 0x10, 0, 4, 0, 0, 0,
    b'D', b'o', b'e', b'*',
];

/// The next DIMSE message: its command, and its data set if one follows.
async fn next_message(
    s: &mut PduStream<TcpStream>,
    reassembler: &mut crate::dimse::pdata::Reassembler,
) -> (DimseCommand, Option<Vec<u8>>) {
    let mut command = None;
    let mut data = Vec::new();
    loop {
        let Incoming::PData(pdu) = s.read_incoming().await.unwrap() else {
            panic!("expected P-DATA");
        };
        for pdv in pdu.pdvs() {
            match reassembler.push(pdv).unwrap() {
                Some(PdvEvent::Command { command: c, .. }) => {
                    if !c.has_data_set() {
                        return (c, None);
                    }
                    command = Some(c);
                }
                Some(PdvEvent::Data { bytes, is_last }) => {
                    data.extend_from_slice(bytes);
                    if is_last {
                        return (command.take().unwrap(), Some(data));
                    }
                }
                None => {}
            }
        }
        s.recycle(pdu);
    }
}

async fn send_find(s: &mut PduStream<TcpStream>, message_id: u16) {
    let rq = DimseCommand::FindRq(CFindRq {
        message_id,
        affected_sop_class_uid: FIND.into(),
        priority: crate::dimse::Priority::Medium,
    });
    send_command(s, 1, &rq.to_bytes().unwrap()).await.unwrap();
    send_data(s, 1, IDENTIFIER).await.unwrap();
}

#[tokio::test]
async fn matches_are_relayed_as_they_come_then_the_final_status() {
    let stub = Arc::new(Stub {
        matches: 3,
        ..Stub::default()
    });
    let scp = start_find(stub.clone()).await;
    let mut s = PduStream::new(raw(scp.addr).await);
    associate(&mut s, FIND).await;
    let mut reassembler = crate::dimse::pdata::Reassembler::new();
    for message_id in [7, 8] {
        send_find(&mut s, message_id).await;
        for _ in 0..3 {
            let (command, data) = next_message(&mut s, &mut reassembler).await;
            let DimseCommand::FindRsp(rsp) = command else {
                panic!("{command:?}");
            };
            assert_eq!(
                (rsp.status, rsp.message_id_being_responded_to),
                (Status::PENDING, message_id)
            );
            assert_eq!(data.as_deref(), Some(IDENTIFIER));
        }
        let (command, data) = next_message(&mut s, &mut reassembler).await;
        assert_eq!(command.status(), Some(Status::SUCCESS));
        assert_eq!(data, None);
    }
    let seen = stub.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].identifier, IDENTIFIER);
    assert_eq!(
        (
            seen[0].calling_ae_title.as_str(),
            seen[0].transfer_syntax.as_str(),
            seen[0].sop_class_uid.as_str()
        ),
        ("ENS-SCU", IMPLICIT, FIND)
    );
    s.write_pdu(&Pdu::ReleaseRQ).await.unwrap();
    assert!(matches!(s.read_pdu().await.unwrap(), Pdu::ReleaseRP));
    scp.stop().await;
}

#[tokio::test]
async fn c_cancel_reaches_the_query_it_names_and_ends_it_with_fe00() {
    let stub = Arc::new(Stub {
        matches: 1,
        hold: true,
        ..Stub::default()
    });
    let scp = start_find(stub.clone()).await;
    let mut s = PduStream::new(raw(scp.addr).await);
    associate(&mut s, FIND).await;
    let mut reassembler = crate::dimse::pdata::Reassembler::new();
    send_find(&mut s, 5).await;
    let (first, _) = next_message(&mut s, &mut reassembler).await;
    assert_eq!(first.status(), Some(Status::PENDING));
    // A C-CANCEL for another request changes nothing.
    let cancel = |id| {
        DimseCommand::CancelRq(CCancelRq {
            message_id_being_responded_to: id,
        })
        .to_bytes()
        .unwrap()
    };
    send_command(&mut s, 1, &cancel(99)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!stub.cancelled.load(Ordering::SeqCst));
    send_command(&mut s, 1, &cancel(5)).await.unwrap();
    let (last, data) = next_message(&mut s, &mut reassembler).await;
    assert_eq!(
        (last.status(), last.message_id_being_responded_to(), data),
        (Some(Status::CANCEL), Some(5), None)
    );
    assert!(stub.cancelled.load(Ordering::SeqCst));
    s.write_pdu(&Pdu::ReleaseRQ).await.unwrap();
    assert!(matches!(s.read_pdu().await.unwrap(), Pdu::ReleaseRP));
    scp.stop().await;
}

#[tokio::test]
async fn an_abort_while_a_query_runs_cancels_it() {
    let stub = Arc::new(Stub {
        matches: 1,
        hold: true,
        ..Stub::default()
    });
    let scp = start_find(stub.clone()).await;
    let mut s = PduStream::new(raw(scp.addr).await);
    associate(&mut s, FIND).await;
    let mut reassembler = crate::dimse::pdata::Reassembler::new();
    send_find(&mut s, 5).await;
    next_message(&mut s, &mut reassembler).await;
    s.abort(dicom_ul::pdu::AbortRQSource::ServiceUser).await;
    for _ in 0..100 {
        if stub.cancelled.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stub.cancelled.load(Ordering::SeqCst));
    scp.stop().await;
}

/// DCMTK's `findscu` (by absolute path: pynetdicom's scripts shadow the name).
fn findscu(port: u16, extra: &[&str]) -> std::process::Output {
    std::process::Command::new("/usr/bin/findscu")
        .env("TCP_NODELAY", "1")
        .args(["-aet", "ENS-SCU", "-aec", "ENS-SCP", "-S"])
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=Doe*"])
        .args(extra)
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .expect("findscu (DCMTK; scripts/test installs it)")
}

#[tokio::test(flavor = "multi_thread")]
async fn findscu_gets_every_match_and_its_cancel_is_answered_fe00() {
    let stub = Arc::new(Stub {
        matches: 3,
        ..Stub::default()
    });
    let scp = start_find(stub.clone()).await;
    let port = scp.addr.port();
    let out = tokio::task::spawn_blocking(move || findscu(port, &["-v"]))
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("Find Response: ").count(), 3, "{text}");
    assert!(text.contains("Final Find Response (Success)"), "{text}");
    scp.stop().await;

    let stub = Arc::new(Stub {
        matches: 2,
        hold: true,
        ..Stub::default()
    });
    let scp = start_find(stub.clone()).await;
    let port = scp.addr.port();
    let out = tokio::task::spawn_blocking(move || findscu(port, &["-v", "--cancel", "1"]))
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(stub.cancelled.load(Ordering::SeqCst), "{text}");
    assert!(text.contains("Final Find Response (Cancel:"), "{text}");
    scp.stop().await;
}

#[tokio::test]
async fn our_scu_reads_each_match_as_it_comes_and_cancels() {
    let stub = Arc::new(Stub {
        matches: 3,
        ..Stub::default()
    });
    let scp = start_find(stub.clone()).await;
    let options = ScuOptions::new("ENS-SCU", "ENS-SCP").with_context(FIND, &[IMPLICIT]);
    let mut assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    let priority = crate::dimse::Priority::Medium;
    let id = assoc
        .find(FIND, IMPLICIT, priority, IDENTIFIER)
        .await
        .unwrap();
    for _ in 0..3 {
        let rsp = assoc.find_response(id).await.unwrap();
        assert_eq!(rsp.status, Status::PENDING);
        assert_eq!(rsp.identifier.as_deref(), Some(IDENTIFIER));
    }
    let last = assoc.find_response(id).await.unwrap();
    assert_eq!((last.status, last.identifier), (Status::SUCCESS, None));
    assoc.release().await.unwrap();
    scp.stop().await;

    let stub = Arc::new(Stub {
        matches: 1,
        hold: true,
        ..Stub::default()
    });
    let scp = start_find(stub.clone()).await;
    let mut assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    let id = assoc
        .find(FIND, IMPLICIT, priority, IDENTIFIER)
        .await
        .unwrap();
    assert_eq!(
        assoc.find_response(id).await.unwrap().status,
        Status::PENDING
    );
    // Abandoned by a timeout, the read resumes on the next call.
    let waited = tokio::time::timeout(Duration::from_millis(50), assoc.find_response(id)).await;
    assert!(waited.is_err());
    assoc.cancel(FIND, id).await.unwrap();
    assert_eq!(
        assoc.find_response(id).await.unwrap().status,
        Status::CANCEL
    );
    assoc.release().await.unwrap();
    scp.stop().await;
}

#[tokio::test]
async fn a_response_to_no_request_is_ignored_and_the_association_goes_on() {
    let stub = Arc::new(Stub {
        matches: 1,
        ..Stub::default()
    });
    let scp = start_find(stub).await;
    let mut s = PduStream::new(raw(scp.addr).await);
    associate(&mut s, FIND).await;
    // A C-FIND-RSP with a match, out of the blue.
    let stray = CFindRq {
        message_id: 42,
        affected_sop_class_uid: FIND.into(),
        priority: crate::dimse::Priority::Medium,
    }
    .response(Status::PENDING);
    send_command(&mut s, 1, &DimseCommand::FindRsp(stray).to_bytes().unwrap())
        .await
        .unwrap();
    send_data(&mut s, 1, IDENTIFIER).await.unwrap();
    // The association still answers.
    let mut reassembler = crate::dimse::pdata::Reassembler::new();
    send_find(&mut s, 7).await;
    let (first, data) = next_message(&mut s, &mut reassembler).await;
    assert_eq!(
        (first.status(), first.message_id_being_responded_to()),
        (Some(Status::PENDING), Some(7))
    );
    assert_eq!(data.as_deref(), Some(IDENTIFIER));
    let (last, _) = next_message(&mut s, &mut reassembler).await;
    assert_eq!(last.status(), Some(Status::SUCCESS));
    s.write_pdu(&Pdu::ReleaseRQ).await.unwrap();
    assert!(matches!(s.read_pdu().await.unwrap(), Pdu::ReleaseRP));
    scp.stop().await;
}
