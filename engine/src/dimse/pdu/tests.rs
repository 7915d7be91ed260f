use dicom_ul::pdu::{AbortRQServiceProviderReason, AbortRQSource, Pdu};
use tokio::io::AsyncWriteExt;

use super::*;

async fn read_from(bytes: &[u8], max_receive: u32) -> Result<Pdu, PduReadError> {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    client.write_all(bytes).await.unwrap();
    drop(client);
    let mut s = PduStream::new(server);
    s.set_limits(max_receive, 0);
    s.read_pdu().await
}

#[tokio::test]
async fn round_trip_through_a_stream() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut a = PduStream::new(client);
    let mut b = PduStream::new(server);
    a.write_pdu(&Pdu::ReleaseRQ).await.unwrap();
    a.write_pdu(&Pdu::AbortRQ {
        source: AbortRQSource::ServiceUser,
    })
    .await
    .unwrap();
    assert_eq!(b.read_pdu().await.unwrap(), Pdu::ReleaseRQ);
    assert!(matches!(b.read_pdu().await.unwrap(), Pdu::AbortRQ { .. }));
    drop(a);
    assert!(matches!(b.read_pdu().await, Err(PduReadError::Closed)));
}

#[tokio::test]
async fn lengths_are_bounded_before_reading() {
    // A-ASSOCIATE-RQ claiming 4 GiB.
    let err = read_from(&[0x01, 0, 0xFF, 0xFF, 0xFF, 0xFF], 16384)
        .await
        .unwrap_err();
    assert!(matches!(err, PduReadError::TooLong { .. }), "{err}");
    assert_eq!(
        err.abort_reason(),
        Some(AbortRQServiceProviderReason::InvalidPduParameter)
    );
    // P-DATA longer than our maximum.
    let err = read_from(&[0x04, 0, 0, 0, 0x40, 0x01], 16384)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PduReadError::TooLong {
                length: 16385,
                limit: 16384,
                ..
            }
        ),
        "{err}"
    );
    // A release claiming more than its 4 bytes.
    let err = read_from(&[0x05, 0, 0, 1, 0, 0], 16384).await.unwrap_err();
    assert!(matches!(err, PduReadError::TooLong { .. }), "{err}");
}

#[tokio::test]
async fn garbage_is_recognized_as_such() {
    let err = read_from(b"GET / HTTP/1.1\r\n", 16384).await.unwrap_err();
    assert!(matches!(
        err,
        PduReadError::UnrecognizedType { pdu_type: b'G', .. }
    ));
    assert!(err.to_string().contains("not DICOM"), "{err}");
    assert_eq!(
        err.abort_reason(),
        Some(AbortRQServiceProviderReason::UnrecognizedPdu)
    );
    let err = read_from(&[0x01, 0, 0, 0, 0, 10, 1, 2], 16384)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PduReadError::Truncated {
                got: 8,
                expected: 16
            }
        ),
        "{err}"
    );
    assert_eq!(err.abort_reason(), None);
    let err = read_from(&[0x04, 0], 16384).await.unwrap_err();
    assert!(
        matches!(err, PduReadError::Truncated { got: 2, .. }),
        "{err}"
    );
    let err = read_from(&[0x01, 0, 0, 0, 0, 4, 1, 2, 3, 4], 16384)
        .await
        .unwrap_err();
    assert!(matches!(err, PduReadError::Malformed { .. }), "{err}");
}

#[tokio::test]
async fn pseudo_random_bodies_never_panic() {
    let mut x: u64 = 7;
    for pdu_type in 1..=7u8 {
        for len in [0usize, 1, 3, 4, 10, 68, 74, 80, 200, 1000] {
            let mut bytes = vec![pdu_type, 0];
            bytes.extend_from_slice(&(len as u32).to_be_bytes());
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(x as u8);
            }
            let _unused = read_from(&bytes, 16384).await;
        }
    }
}

#[tokio::test]
async fn p_data_over_the_peer_maximum_is_refused() {
    let (client, _server) = tokio::io::duplex(1 << 16);
    let mut a = PduStream::new(client);
    a.set_limits(16384, 1024);
    let err = a
        .write_pdu(&Pdu::PData {
            data: vec![dicom_ul::pdu::PDataValue {
                presentation_context_id: 1,
                value_type: dicom_ul::pdu::PDataValueType::Data,
                is_last: true,
                data: vec![0; 2000],
            }],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, PduWriteError::TooLong { .. }));
}

#[test]
fn descriptions() {
    assert_eq!(describe_pdu(&Pdu::ReleaseRQ), "A-RELEASE-RQ PDU");
    assert_eq!(
        describe_pdu(&Pdu::AbortRQ {
            source: AbortRQSource::ServiceProvider(AbortRQServiceProviderReason::UnexpectedPdu)
        }),
        "A-ABORT PDU (service-provider: unexpected PDU)"
    );
    assert_eq!(pdu_type_name(3), Some("A-ASSOCIATE-RJ"));
    assert_eq!(pdu_type_name(9), None);
}

/// Our P-DATA decoder reads what the codec writes, PDV for PDV, and
/// refuses items that do not add up to the PDU.
#[test]
fn p_data_decodes_as_the_codec_encodes() {
    let pdu = Pdu::PData {
        data: vec![
            dicom_ul::pdu::PDataValue {
                presentation_context_id: 1,
                value_type: PDataValueType::Command,
                is_last: true,
                data: vec![1, 2, 3],
            },
            dicom_ul::pdu::PDataValue {
                presentation_context_id: 3,
                value_type: PDataValueType::Data,
                is_last: false,
                data: (0..5000).map(|i| i as u8).collect(),
            },
            dicom_ul::pdu::PDataValue {
                presentation_context_id: 3,
                value_type: PDataValueType::Data,
                is_last: true,
                data: vec![],
            },
        ],
    };
    let mut bytes = Vec::new();
    dicom_ul::pdu::write_pdu(&mut bytes, &pdu).unwrap();
    assert_eq!(decode(&bytes, "P-DATA-TF").unwrap(), pdu);

    let malformed = |body: &[u8]| {
        let mut b = vec![0x04, 0];
        b.extend_from_slice(&(body.len() as u32).to_be_bytes());
        b.extend_from_slice(body);
        decode(&b, "P-DATA-TF").unwrap_err().to_string()
    };
    assert!(malformed(&[]).contains("without a PDV item"));
    assert!(malformed(&[0, 0, 0]).contains("truncated"));
    assert!(malformed(&[0, 0, 0, 1, 1]).contains("shorter than its header"));
    assert!(malformed(&[0, 0, 0, 9, 1, 2, 3]).contains("longer than the PDU"));
}

/// A P-DATA-TF PDU read without decoding lends the same PDVs the decoder
/// makes, and its buffer serves the next read.
#[tokio::test]
async fn p_data_is_lent_as_it_arrived() {
    let pdu = Pdu::PData {
        data: vec![
            dicom_ul::pdu::PDataValue {
                presentation_context_id: 5,
                value_type: PDataValueType::Data,
                is_last: false,
                data: (0..70_000).map(|i| i as u8).collect(),
            },
            dicom_ul::pdu::PDataValue {
                presentation_context_id: 5,
                value_type: PDataValueType::Data,
                is_last: true,
                data: vec![9; 10],
            },
        ],
    };
    let mut bytes = Vec::new();
    dicom_ul::pdu::write_pdu(&mut bytes, &pdu).unwrap();
    let (mut client, server) = tokio::io::duplex(1 << 20);
    client.write_all(&bytes).await.unwrap();
    client.write_all(&bytes).await.unwrap();
    drop(client);
    let mut s = PduStream::new(server);
    s.set_limits(1 << 20, 0);
    let Pdu::PData { data } = &pdu else {
        unreachable!()
    };
    for _ in 0..2 {
        let Incoming::PData(lent) = s.read_incoming().await.unwrap() else {
            panic!("not P-DATA")
        };
        let pdvs: Vec<_> = lent.pdvs().collect();
        assert_eq!(pdvs.len(), 2);
        for (got, want) in pdvs.iter().zip(data) {
            assert_eq!(got.data, &want.data[..]);
            assert_eq!(got.is_last, want.is_last);
            assert_eq!(got.presentation_context_id, 5);
        }
        assert_eq!(lent.sizes(), (2, 70_010));
        s.recycle(lent);
    }
    assert!(matches!(s.read_incoming().await, Err(PduReadError::Closed)));
}

#[tokio::test]
async fn a_peer_that_stops_reading_times_a_write_out_and_an_abort_does_not_hang() {
    let (_peer, ours) = tokio::io::duplex(1024);
    let mut s = PduStream::new(ours);
    s.set_write_timeout(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let error = s.write_raw(&vec![0u8; 64 * 1024]).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
    assert!(error.to_string().contains("stopped reading"), "{error}");
    let pdu = Pdu::ReleaseRQ;
    assert!(matches!(
        s.write_pdu(&pdu).await,
        Err(PduWriteError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut
    ));
    s.abort(AbortRQSource::ServiceUser).await;
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_cancelled_read_resumes_where_it_stopped() {
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let mut s = PduStream::new(server);
    let mut bytes = Vec::new();
    dicom_ul::pdu::write_pdu(
        &mut bytes,
        &Pdu::AbortRQ {
            source: AbortRQSource::ServiceUser,
        },
    )
    .unwrap();
    // Half a header, then half the body, each followed by a cancelled read.
    for part in [&bytes[..3], &bytes[3..8]] {
        client.write_all(part).await.unwrap();
        let cut = tokio::time::timeout(std::time::Duration::from_millis(20), s.read_pdu()).await;
        assert!(cut.is_err(), "the PDU is not complete yet");
    }
    client.write_all(&bytes[8..]).await.unwrap();
    client.write_all(&bytes).await.unwrap();
    for _ in 0..2 {
        assert!(matches!(s.read_pdu().await.unwrap(), Pdu::AbortRQ { .. }));
    }
}
