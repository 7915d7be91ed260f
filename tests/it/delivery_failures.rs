//! How deliveries fail. A remote that is down while many messages wait:
//! the operation's connection attempts back off by its streak of failures
//! (fresh messages do not reset the delay), and once the remote is back
//! every message arrives, in arrival order. A local fault (a body file cut
//! short) fails its message with the reason instead of retrying forever.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, uids_of, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{DicomOperation, Production};
use integration_tests::scp::{TestScp, association};
use integration_tests::uids::{CT_IMAGE_STORAGE, EXPLICIT};

const COUNT: usize = 1_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_down_is_called_with_back_off_and_then_gets_everything_in_order() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let production = Production::store_and_forward(port.get(), archive_port.get())
        .dicom_operation(DicomOperation::archive(archive_port.get()).retry("200ms", 2.0, "1600ms"))
        .to_string();
    let engine = TestEngine::start(&[("test", "forward", &production)]).await;

    // The remote is "down": it takes each connection and closes it at once,
    // noting when.
    let listener = archive_port.listen(None);
    let (tx, mut attempts) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let down = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tx.send(Instant::now()).ok();
            drop(conn);
        }
    });

    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, COUNT, 256);
    let files: Vec<PathBuf> = paths_of(&sent);
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == COUNT, "{stored}");

    // Five attempts: each pause at least the configured delay for the
    // streak so far (a busy machine only makes them longer).
    let mut times = Vec::new();
    while times.len() < 5 {
        let at = tokio::time::timeout(Duration::from_secs(30), attempts.recv())
            .await
            .unwrap_or_else(|_| panic!("no attempt within 30 s:\n{}", engine.log()))
            .unwrap();
        times.push(at);
    }
    down.abort();
    down.await.ok();
    for (i, floor_ms) in [200u64, 400, 800, 1600].into_iter().enumerate() {
        let gap = times[i + 1] - times[i];
        assert!(
            gap >= Duration::from_millis(floor_ms * 9 / 10),
            "attempt {} came {gap:?} after the one before; the back-off says {floor_ms} ms",
            i + 2
        );
    }

    // The remote is back: everything arrives, oldest first.
    let scp = TestScp::start(
        "ARCHIVE",
        vec![association(
            "ROUTER",
            "ARCHIVE",
            &[(CT_IMAGE_STORAGE, &[EXPLICIT])],
        )],
        |c| {
            c.port = archive_port.get();
            c.bind_address = "127.0.0.1".parse().unwrap();
        },
    )
    .await;
    engine
        .wait_until("every message delivered", async || {
            scp.received.0.lock().unwrap().len() >= COUNT
        })
        .await;
    let order: Vec<String> = scp
        .received
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(r, _)| r.sop_instance_uid.clone())
        .collect();
    let expected: Vec<String> = sent.iter().map(|(_, uid)| uid.clone()).collect();
    assert_eq!(order.len(), COUNT, "each once");
    assert!(order == expected, "not in arrival order");
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_cut_short_fails_its_message_with_the_reason_instead_of_retrying() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let production = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let engine = TestEngine::start(&[("test", "forward", &production)]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 2, 4 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);
    // The archive is down: both wait.
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 2, "{stored}");
    let messages = engine.messages("test").await;
    let first = messages
        .iter()
        .find(|m| m["header"]["sop_instance_uid"] == sent[0].1.as_str())
        .expect("the first message");
    let body = engine.data_dir().join("bodies").join(
        std::fs::read_dir(engine.data_dir().join("bodies"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                std::fs::read(p).is_ok_and(|b| {
                    b.windows(sent[0].1.len())
                        .any(|w| w == sent[0].1.as_bytes())
                })
            })
            .expect("the first body"),
    );
    let id = first["id"].as_u64().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&body)
        .unwrap()
        .set_len(100)
        .unwrap();

    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    engine
        .wait_until(
            "the first message failed, the second delivered",
            async || {
                let statuses: Vec<String> = engine
                    .messages("test")
                    .await
                    .iter()
                    .map(|m| {
                        let first = m["id"].as_u64() == Some(id);
                        format!("{first}:{}", m["status"].as_str().unwrap_or_default())
                    })
                    .collect();
                statuses.contains(&"true:failed".to_string())
                    && statuses.contains(&"false:delivered".to_string())
            },
        )
        .await;
    let shown = engine
        .json(&["messages", "show", &id.to_string(), "--json"])
        .await;
    let reason = shown["deliveries"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.contains("shorter than"), "{shown}");
    assert!(!archive.received().contains_key(&sent[0].1));
}

/// Between the engine and the archive: forwards everything, except that on
/// the first connection it stops reading from the engine after `stall_after`
/// bytes (a remote with a full TCP window). Returns how many connections
/// it took.
async fn stalling_proxy(
    listen: &Port,
    archive: u16,
    stall_after: usize,
) -> (
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A small receive window, so that the engine's writes block soon.
    let listener = listen.listen(Some(4096));
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let task = tokio::spawn(async move {
        while let Ok((engine_side, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let archive_side = tokio::net::TcpStream::connect(("127.0.0.1", archive))
                .await
                .unwrap();
            let (mut er, mut ew) = engine_side.into_split();
            let (mut ar, mut aw) = archive_side.into_split();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut passed = 0;
                loop {
                    if n == 0 && passed >= stall_after {
                        // Let the archive go (storescp serves one
                        // association at a time); hold the engine's side
                        // and read nothing more.
                        drop(aw);
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        break;
                    }
                    let Ok(got) = er.read(&mut buf).await else {
                        break;
                    };
                    if got == 0 || aw.write_all(&buf[..got]).await.is_err() {
                        break;
                    }
                    passed += got;
                }
            });
            tokio::spawn(async move {
                let _copied = tokio::io::copy(&mut ar, &mut ew).await;
            });
        }
    });
    (task, connections)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_that_stops_reading_mid_store_costs_one_write_timeout_then_it_is_delivered() {
    let (port, proxy_port, archive_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let production = Production::store_and_forward(port.get(), proxy_port.get())
        .dicom_operation(DicomOperation::archive(proxy_port.get()).write_timeout("1s"))
        .to_string();
    let engine = TestEngine::start(&[("test", "forward", &production)]).await;
    let archive_dir = engine.folder("archive");
    let archive = Archive::start("ARCHIVE", archive_port, &archive_dir).await;
    let (proxy, connections) = stalling_proxy(&proxy_port, archive.port(), 256 * 1024).await;

    let input = engine.folder("input");
    // Far more than the socket buffers hold between the engine and the proxy.
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 1, 24 << 20);
    let files: Vec<PathBuf> = paths_of(&sent);
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 1, "{stored}");

    let uids: Vec<String> = uids_of(&sent);
    archive.wait_for(&uids, &engine, "test").await;
    assert!(
        connections.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "delivered on a second association"
    );
    assert!(
        engine.log().contains("stopped reading"),
        "the retry says why:\n{}",
        engine.log()
    );
    proxy.abort();
}
