//! Garbage on the socket: random bytes, an HTTP request, a PDU claiming
//! 4 GiB, P-DATA before association, silence. Each gets an A-ABORT or a
//! close (and the connection is closed by the SCP, not given up by the
//! test), and the service keeps serving others, also while 200 connections
//! hold a half-sent A-ASSOCIATE-RQ.

use std::time::Duration;

use integration_tests::scp::TestScp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the SCP sent back to `bytes` until it closed the connection;
/// `None` if it still held the connection open after 20 s (its ARTIM timer
/// is 2 s).
async fn send_and_read(scp: &TestScp, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(scp.addr).await.expect("connect");
    let _sent = s.write_all(bytes).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
    read.is_ok().then_some(answer)
}

/// Whether the SCP answered with an A-ABORT and closed the connection.
fn is_abort(answer: &Option<Vec<u8>>) -> bool {
    answer.as_ref().is_some_and(|a| a.first() == Some(&0x07))
}

async fn scp() -> TestScp {
    TestScp::echo(|c| c.artim_timeout = Duration::from_secs(2)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn http_request_is_aborted() {
    let scp = scp().await;
    let answer = send_and_read(&scp, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(is_abort(&answer), "{answer:?}");
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn four_gib_claim_is_aborted_without_allocating() {
    let scp = scp().await;
    for pdu_type in [0x01u8, 0x04] {
        let answer = send_and_read(&scp, &[pdu_type, 0, 0xFF, 0xFF, 0xFF, 0xFF]).await;
        assert!(is_abort(&answer), "type {pdu_type}: {answer:?}");
    }
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn p_data_before_association_is_aborted() {
    let scp = scp().await;
    // P-DATA-TF with one command PDV.
    let answer = send_and_read(&scp, &[0x04, 0, 0, 0, 0, 8, 0, 0, 0, 4, 1, 3, 0, 0]).await;
    assert!(is_abort(&answer), "{answer:?}");
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn random_bytes_while_others_are_served() {
    let scp = scp().await;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut tasks = Vec::new();
    for round in 0..20 {
        let bytes: Vec<u8> = (0..(64 + round * 97))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let addr = scp.addr;
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let _sent = s.write_all(&bytes).await;
            let mut answer = Vec::new();
            let _read =
                tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer)).await;
        }));
    }
    scp.assert_echo_works().await;
    for t in tasks {
        t.await.expect("garbage task");
    }
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_half_open_connections_are_closed() {
    let scp = scp().await;
    // Silent: closed when the ARTIM timer expires.
    let answer = send_and_read(&scp, &[]).await;
    assert_eq!(answer, Some(Vec::new()), "closed without a word");
    // A header and then silence: closed by the ARTIM timer too.
    let answer = send_and_read(&scp, &[0x01, 0, 0, 0, 0, 200, 0, 1]).await;
    assert!(
        answer.as_ref().is_some_and(Vec::is_empty) || is_abort(&answer),
        "{answer:?}"
    );
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_stalled_handshakes_do_not_keep_a_real_peer_out() {
    // An ARTIM timer longer than the test: only the handshake budget can
    // make room.
    let scp = TestScp::echo(|c| c.artim_timeout = Duration::from_secs(300)).await;
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(scp.addr).await.expect("connect");
        // The first bytes of an A-ASSOCIATE-RQ, and then nothing.
        s.write_all(&[0x01, 0, 0, 0, 0, 200]).await.expect("write");
        stalled.push(s);
    }
    scp.assert_echo_works().await;
    scp.assert_echo_works().await;
    drop(stalled);
    scp.stop().await;
}
