//! The DIMSE services of the SCP: C-STORE into the ingest hook, refusals,
//! interrupted transfers, and the failure answer to services it does not offer.

use super::*;

#[tokio::test]
async fn unsupported_command_gets_a_failure_status() {
    let scp = start(Some(association(&[
        (ECHO, &[IMPLICIT]),
        (FIND, &[IMPLICIT]),
    ])))
    .await;
    let options = echo_options("ENS-SCU", "ENS-SCP").with_context(FIND, &[IMPLICIT]);
    let assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    assert!(assoc.contexts()[1].is_accepted());
    drop(assoc);
    // A C-FIND-RQ with an identifier, by hand.
    let mut s = PduStream::new(raw(scp.addr).await);
    associate(&mut s, FIND).await;
    use dicom_dictionary_std::tags;
    let find = dicom_object::InMemDicomObject::command_from_element_iter([
        crate::dimse::commands::ui(tags::AFFECTED_SOP_CLASS_UID, FIND),
        crate::dimse::commands::us(tags::COMMAND_FIELD, 0x0020),
        crate::dimse::commands::us(tags::MESSAGE_ID, 7),
        crate::dimse::commands::us(tags::PRIORITY, 0),
        crate::dimse::commands::us(tags::COMMAND_DATA_SET_TYPE, 0),
    ]);
    let bytes = crate::dimse::commands::encode_command_set(&find).unwrap();
    crate::dimse::pdata::send_command(&mut s, 1, &bytes)
        .await
        .unwrap();
    crate::dimse::pdata::send_data(
        &mut s,
        1,
        &[
            0x08, 0, 0x52, 0, 6, 0, 0, 0, b'S', b'T', b'U', b'D', b'Y', b' ',
        ],
    )
    .await
    .unwrap();
    let Pdu::PData { data } = s.read_pdu().await.unwrap() else {
        panic!("expected a response")
    };
    let rsp = crate::dimse::commands::decode_command_set(&data[0].data).unwrap();
    assert_eq!(
        crate::dimse::commands::get_u16(&rsp, tags::COMMAND_FIELD, "").unwrap(),
        0x8020
    );
    assert_eq!(
        crate::dimse::commands::get_u16(&rsp, tags::STATUS, "").unwrap(),
        0x0211
    );
    assert_eq!(
        crate::dimse::commands::get_u16(&rsp, tags::MESSAGE_ID_BEING_RESPONDED_TO, "").unwrap(),
        7
    );
    s.write_pdu(&Pdu::ReleaseRQ).await.unwrap();
    assert!(matches!(s.read_pdu().await.unwrap(), Pdu::ReleaseRP));
    scp.stop().await;
}

fn fake_data_set(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn c_store_streams_to_the_ingest_hook() {
    let recorder = Arc::new(Recorder::default());
    let scp = start_with(
        |c| c.max_pdu_length = 4096,
        Some(association(&[(CT, &[EXPLICIT, IMPLICIT])])),
        Some(recorder.clone()),
    )
    .await;
    let options = ScuOptions::new("ENS-SCU", "ENS-SCP").with_context(CT, &[IMPLICIT, EXPLICIT]);
    let mut assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    assert_eq!(assoc.peer_max_pdu_length(), 4096);
    let data = fake_data_set(100_003);
    let status = assoc
        .store(CT, "1.2.3.4", EXPLICIT, &data[..])
        .await
        .unwrap();
    assert_eq!(status, Status::SUCCESS);
    // An empty data set is still a data set.
    let status = assoc.store(CT, "1.2.3.5", EXPLICIT, &[][..]).await.unwrap();
    assert_eq!(status, Status::SUCCESS);
    assoc.release().await.unwrap();
    let got = recorder.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let (instance, bytes) = &got[0];
    assert_eq!(bytes, &data);
    assert_eq!(instance.size, data.len() as u64);
    assert_eq!(instance.sop_class_uid, CT);
    assert_eq!(instance.sop_instance_uid, "1.2.3.4");
    assert_eq!(instance.transfer_syntax, EXPLICIT);
    assert_eq!(instance.calling_ae_title, aet("ENS-SCU"));
    assert_eq!(instance.called_ae_title, aet("ENS-SCP"));
    assert_eq!(instance.service, "ECHO-SCP");
    assert!(got[1].1.is_empty());
    scp.stop().await;
}

#[tokio::test]
async fn c_store_refusals() {
    // No ingest: refused, SOP class not supported.
    let scp = start(Some(association(&[(CT, &[IMPLICIT])]))).await;
    let options = ScuOptions::new("ENS-SCU", "ENS-SCP").with_context(CT, &[IMPLICIT]);
    let mut assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    let status = assoc
        .store(CT, "1.2.3", IMPLICIT, &fake_data_set(10_000)[..])
        .await
        .unwrap();
    assert_eq!(status, Status::SOP_CLASS_NOT_SUPPORTED);
    assoc.release().await.unwrap();
    scp.stop().await;

    // Ingest fails: A700, and the spool file is gone.
    let failing = Arc::new(Recorder {
        fail: true,
        ..Recorder::default()
    });
    let scp = start_with(
        |_| {},
        Some(association(&[(CT, &[IMPLICIT])])),
        Some(failing),
    )
    .await;
    let mut assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    let status = assoc
        .store(CT, "1.2.3", IMPLICIT, &fake_data_set(10_000)[..])
        .await
        .unwrap();
    assert_eq!(status, Status::OUT_OF_RESOURCES);
    assoc.release().await.unwrap();
    let left: Vec<_> = std::fs::read_dir(scp.spool.path().join("spool"))
        .unwrap()
        .collect();
    assert!(left.is_empty());
    scp.stop().await;
}

#[tokio::test]
async fn abort_in_the_middle_of_a_store_removes_the_partial_file() {
    interrupted_store(true).await;
}

#[tokio::test]
async fn tcp_close_in_the_middle_of_a_store_removes_the_partial_file() {
    interrupted_store(false).await;
}

async fn interrupted_store(send_abort: bool) {
    let recorder = Arc::new(Recorder::default());
    let scp = start_with(
        |_| {},
        Some(association(&[(CT, &[IMPLICIT])])),
        Some(recorder.clone()),
    )
    .await;
    let mut s = store_started(&scp).await;
    let mut out = Vec::new();
    crate::dimse::pdata::encode_pdata(&mut out, 1, false, false, &[7; 1000]);
    s.write_raw(&out).await.unwrap();
    if send_abort {
        s.write_pdu(&Pdu::AbortRQ {
            source: AbortRQSource::ServiceUser,
        })
        .await
        .unwrap();
        let mut rest = Vec::new();
        let _unused = s.get_mut().read_to_end(&mut rest).await;
    } else {
        // Half a P-DATA PDU, then the connection drops.
        s.write_raw(&out[..out.len() / 2]).await.unwrap();
        drop(s);
    }
    // The server cleans up once it has seen the abort.
    assert_spool_empties(&scp).await;
    assert!(recorder.got.lock().unwrap().is_empty());
    scp.stop().await;
}

/// An association with the SCP on which a C-STORE-RQ was sent; its data
/// set is still to come.
async fn store_started(scp: &Running) -> PduStream<tokio::net::TcpStream> {
    let mut s = PduStream::new(raw(scp.addr).await);
    associate(&mut s, CT).await;
    let rq = crate::dimse::DimseCommand::StoreRq(crate::dimse::CStoreRq {
        message_id: 1,
        affected_sop_class_uid: CT.into(),
        affected_sop_instance_uid: "1.2.3".into(),
        priority: Default::default(),
        move_originator_ae_title: None,
        move_originator_message_id: None,
    });
    crate::dimse::pdata::send_command(&mut s, 1, &rq.to_bytes().unwrap())
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn a_data_set_that_trickles_past_its_deadline_is_aborted_and_removed() {
    let recorder = Arc::new(Recorder::default());
    let scp = start_with(
        |c| c.data_set_timeout = Duration::from_millis(800),
        Some(association(&[(CT, &[IMPLICIT])])),
        Some(recorder.clone()),
    )
    .await;
    let mut s = store_started(&scp).await;
    let mut fragment = Vec::new();
    crate::dimse::pdata::encode_pdata(&mut fragment, 1, false, false, &[7; 100]);
    // A fragment every 200 ms: never idle, never done.
    let mut aborted = false;
    for _ in 0..50 {
        if s.write_raw(&fragment).await.is_err() {
            aborted = true;
            break;
        }
        if let Ok(Ok(pdu)) = tokio::time::timeout(Duration::from_millis(200), s.read_pdu()).await {
            aborted = matches!(pdu, Pdu::AbortRQ { .. });
            break;
        }
    }
    assert!(aborted, "the SCP kept the trickling data set");
    assert_spool_empties(&scp).await;
    assert!(recorder.got.lock().unwrap().is_empty());
    scp.stop().await;
}

/// Waits (up to 2 s) until the SCP has removed every spool file.
async fn assert_spool_empties(scp: &Running) {
    let spool = scp.spool.path().join("spool");
    let mut empty = false;
    for _ in 0..100 {
        if std::fs::read_dir(&spool).unwrap().next().is_none() {
            empty = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(empty, "partial spool file left behind");
}

/// The building block of cut-through forwarding: our SCU streams a C-STORE
/// from a spool file while its writer is still writing it; the SCP gets
/// the data set whole. When the writer goes away before the end (the
/// inbound transfer failed), the store fails with the reason, the SCU
/// aborts, and the SCP keeps nothing of the partial instance.
#[tokio::test]
async fn a_c_store_streamed_from_a_spool_file_being_written_arrives_whole_or_not_at_all() {
    use crate::store::spool::SpoolWriter;
    let recorder = Arc::new(Recorder::default());
    let scp = start_with(
        |c| c.max_pdu_length = 16_384,
        Some(association(&[(CT, &[EXPLICIT])])),
        Some(recorder.clone()),
    )
    .await;
    let options = ScuOptions::new("ENS-SCU", "ENS-SCP").with_context(CT, &[EXPLICIT]);
    let inbound = crate::store::private_tempdir();
    let data = fake_data_set(3_000_001);
    for (uid, fails) in [("1.2.3.1", false), ("1.2.3.2", true)] {
        let path = inbound.path().join(uid);
        let mut writer = SpoolWriter::new(std::fs::File::create(&path).unwrap());
        let mut follower = writer.follow(&path).unwrap();
        let mut assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
        let sending = tokio::spawn(async move {
            let sent = assoc.store_growing(CT, uid, EXPLICIT, &mut follower).await;
            (assoc, sent)
        });
        // The inbound side: PDV-sized pieces, with pauses between them.
        let end = if fails { data.len() / 2 } else { data.len() };
        for piece in data[..end].chunks(16_000) {
            writer.write(piece).unwrap();
            tokio::task::yield_now().await;
        }
        if fails {
            drop(writer);
        } else {
            drop(writer.finish().complete().unwrap());
        }
        let (assoc, sent) = sending.await.unwrap();
        if fails {
            match sent {
                Err(ScuError::Body(crate::dimse::pdata::SendFileError::File(e))) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
                }
                other => panic!("the store went on without its data set: {other:?}"),
            }
            assoc.abort().await;
            assert_spool_empties(&scp).await;
        } else {
            assert_eq!(sent.unwrap(), Status::SUCCESS);
            assoc.release().await.unwrap();
        }
    }
    let got = recorder.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "only the whole instance is taken in");
    assert_eq!(got[0].0.sop_instance_uid, "1.2.3.1");
    assert!(
        got[0].1 == data,
        "{} bytes of {}",
        got[0].1.len(),
        data.len()
    );
    scp.stop().await;
}
