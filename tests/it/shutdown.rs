//! SIGTERM in phases: an inbound association that stays open uses up the
//! services' grace period, and an outbound delivery in flight still gets a
//! grace period of its own: it finishes, and after a restart nothing is
//! sent twice.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, write_instances};
use integration_tests::net::Port;
use integration_tests::production::Production;
use integration_tests::uids::{CT_IMAGE_STORAGE, EXPLICIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, oneshot};

/// Between the engine and the archive: passes everything through, except
/// that it holds the archive's first P-DATA (the C-STORE-RSP) until
/// `release` is notified, saying so on `holding`. Counts connections.
struct HoldingProxy {
    connections: Arc<AtomicUsize>,
    release: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl HoldingProxy {
    async fn start(listen: &Port, archive: u16, holding: oneshot::Sender<()>) -> Self {
        let listener = listen.listen(None);
        let connections = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let (count, hold) = (connections.clone(), release.clone());
        let mut holding = Some(holding);
        let task = tokio::spawn(async move {
            while let Ok((engine_side, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let archive_side = tokio::net::TcpStream::connect(("127.0.0.1", archive))
                    .await
                    .unwrap();
                let (mut er, mut ew) = engine_side.into_split();
                let (mut ar, mut aw) = archive_side.into_split();
                tokio::spawn(async move {
                    let _copied = tokio::io::copy(&mut er, &mut aw).await;
                });
                let (hold, holding) = (hold.clone(), holding.take());
                tokio::spawn(async move {
                    // PDU by PDU until the first P-DATA, which waits.
                    let mut holding = holding;
                    loop {
                        let mut header = [0u8; 6];
                        if ar.read_exact(&mut header).await.is_err() {
                            return;
                        }
                        let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
                        let mut body = vec![0u8; len as usize];
                        if ar.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        if header[0] == 0x04
                            && let Some(tell) = holding.take()
                        {
                            tell.send(()).ok();
                            hold.notified().await;
                        }
                        if ew.write_all(&header).await.is_err()
                            || ew.write_all(&body).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            connections,
            release,
            task,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_delivery_in_flight_finish_although_an_inbound_association_stays_open() {
    let (port, proxy_port, archive_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let production = Production::store_and_forward(port.get(), proxy_port.get()).to_string();
    let mut engine = TestEngine::start(&[("test", "forward", &production)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let (holding_tx, holding) = oneshot::channel();
    let proxy = HoldingProxy::start(&proxy_port, archive.port(), holding_tx).await;

    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 1, 64 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 1, "{stored}");
    // The archive has it; its answer waits in the proxy: in flight.
    tokio::time::timeout(Duration::from_secs(60), holding)
        .await
        .expect("the delivery reached the archive")
        .unwrap();
    // An inbound association that stays open through the shutdown.
    let options = switchboard::dimse::scu::ScuOptions::new("STORESCU", "ROUTER")
        .with_context(CT_IMAGE_STORAGE, &[EXPLICIT]);
    let _held = switchboard::dimse::scu::connect(&format!("127.0.0.1:{}", port.get()), &options)
        .await
        .expect("an inbound association");

    // SIGTERM; once the service has given up on that association (its whole
    // grace period), the archive's answer goes through.
    let log = engine.data_dir().with_file_name("engine-1.log");
    let release = proxy.release.clone();
    let answer_late = async move {
        let start = std::time::Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let over = ["DICOM service stopped.", "Engine stopped."]
                .iter()
                .any(|line| text.contains(line));
            if over || start.elapsed() > Duration::from_secs(60) {
                release.notify_one();
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (status, ()) = tokio::join!(engine.stop(), answer_late);
    assert!(status.success(), "{}", engine.log());
    let log = engine.log();
    assert!(
        !log.contains("did not stop within the grace period"),
        "{log}"
    );

    engine.restart().await;
    assert!(
        !engine.log().contains("queued again"),
        "something was left in flight:\n{}",
        engine.log()
    );
    let messages = engine.messages("test").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["status"], "delivered", "{}", messages[0]);
    assert_eq!(
        messages[0]["deliveries"][0]["attempts"], 1,
        "{}",
        messages[0]
    );
    assert_eq!(proxy.connections.load(Ordering::SeqCst), 1, "sent once");
    proxy.task.abort();
}
