//! Soak: mixed load against a store-and-forward production for a while
//! (20 s here; `scripts/soak MINUTES` for a long run): 20 storescu senders
//! in a loop, C-ECHOs, associations aborted and sockets closed in the middle
//! of a transfer, the archive killed and started again every few seconds,
//! the production file edited every few seconds. Every acknowledged
//! instance must arrive exactly as it was sent: a ledger checks them as they
//! arrive and removes both copies (a long soak would fill the disk), and at
//! the end waits for the rest; the engine keeps 256 MiB of bodies. Prints
//! the engine's memory, open files and threads at the start and the end
//! (figures for the note, not pass/fail: timings and sizes vary by machine).
//!
//! It runs alone (`.config/nextest.toml`): 20 senders fill two cores.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::dcmtk::{Archive, dcmtk_command, echoscu, files_by_uid, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, read_data_set, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomOperation, DicomService, Production};
use integration_tests::uids::{CT_IMAGE_STORAGE, EXPLICIT};
use switchboard::dimse::scu::{ScuOptions, connect};
use switchboard::dimse::status::Status;

const SENDERS: usize = 20;

/// How long the load runs: `SWITCHBOARD_SOAK_SECONDS`, else 20 s.
fn load_time() -> Duration {
    let seconds = std::env::var("SWITCHBOARD_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(seconds)
}

/// The production, edit `n`: the operation's idle release alternates, so
/// that every edit replaces the operation while its queue holds messages.
fn production(port: u16, archive_port: u16, n: usize) -> String {
    let idle = if n.is_multiple_of(2) { "1s" } else { "2s" };
    Production::new()
        .description(&format!("soak, edit {n}"))
        .association(Association::storage("STORESCU", "ROUTER"))
        .association(Association::verification("ECHOSCU", "ROUTER"))
        .association(Association::storage("ROUTER", "ARCHIVE"))
        .dicom_service(
            DicomService::new("IN", port, "ROUTER")
                .targets(["OUT"])
                .max_associations(64),
        )
        .dicom_operation(DicomOperation::archive(archive_port).idle_release(idle))
        .to_string()
}

/// A small generator for pauses and cut-off points, seeded from the clock.
struct Dice(u64);

impl Dice {
    fn new(salt: u64) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self((now ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

/// The acknowledged instances, checked against the archive as they arrive.
#[derive(Default)]
struct Ledger {
    /// Acknowledged, not yet seen whole in the archive: (file, UID).
    pending: Vec<(PathBuf, String)>,
    verified: usize,
}

type Shared = Arc<Mutex<Ledger>>;

impl Ledger {
    fn acknowledged(ledger: &Shared, sent: Vec<(PathBuf, String)>) {
        ledger.lock().expect("the ledger").pending.extend(sent);
    }

    /// Each pending instance whose file in the archive holds the data set
    /// that was sent is verified, and both files are removed. A file still
    /// being written, or written again by a redelivery, is looked at again
    /// next time.
    fn check(ledger: &Shared, archive_dir: &Path) {
        let arrived = files_by_uid(archive_dir);
        let read = |p: &Path| std::fs::read(p).ok().and_then(|b| read_data_set(&b));
        let mut ledger = ledger.lock().expect("the ledger");
        let before = ledger.pending.len();
        ledger.pending.retain(|(path, uid)| {
            let Some(got) = arrived.get(uid) else {
                return true;
            };
            let received = read(got);
            if received.is_none() || received != read(path) {
                return true;
            }
            std::fs::remove_file(got).ok();
            std::fs::remove_file(path).ok();
            false
        });
        ledger.verified += before - ledger.pending.len();
    }

    /// Checks until nothing is pending; after two minutes without one more
    /// instance verified fails with the first one missing or different.
    async fn settle(ledger: &Shared, archive_dir: &Path, engine: &TestEngine) {
        let mut progress = (Instant::now(), 0);
        loop {
            Self::check(ledger, archive_dir);
            let (first, verified) = {
                let ledger = ledger.lock().expect("the ledger");
                (ledger.pending.first().cloned(), ledger.verified)
            };
            let Some((path, uid)) = first else {
                return;
            };
            if verified > progress.1 {
                progress = (Instant::now(), verified);
            }
            if progress.0.elapsed() > Duration::from_secs(120) {
                let got = files_by_uid(archive_dir).get(&uid).cloned();
                let what = match got {
                    Some(p) => format!("{} holds another data set", p.display()),
                    None => "never arrived".to_string(),
                };
                panic!(
                    "{uid} ({}) was acknowledged but {what}; engine log:\n{}",
                    path.display(),
                    engine.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The files storescu reported a Success response for, from its `-v`
/// output ("Sending file: PATH" … "Received Store Response (Success)").
fn acknowledged(output: &str, batch: &[(PathBuf, String)]) -> Vec<(PathBuf, String)> {
    let mut sending: Option<&str> = None;
    let mut done = Vec::new();
    for line in output.lines() {
        if let Some((_, path)) = line.split_once("Sending file: ") {
            sending = Some(path.trim());
        } else if line.contains("Received Store Response (Success)")
            && let Some(path) = sending.take()
            && let Some(sent) = batch.iter().find(|(p, _)| p == Path::new(path))
        {
            done.push(sent.clone());
        }
    }
    done
}

/// One sender: batches of 5 new instances through storescu until `until`,
/// about one a second (a modality's pace; 20 of them send about 90 a
/// second, which the archive, down a quarter of the time, keeps up with).
async fn sender(n: usize, dir: PathBuf, port: u16, until: Instant, ledger: Shared) {
    let mut dice = Dice::new(n as u64);
    let mut round = 0;
    while Instant::now() < until {
        let batch = write_instances(
            &dir,
            &format!("s{n:02}-r{round:05}"),
            Modality::Ct,
            EXPLICIT,
            5,
            16 * 1024,
        );
        let files: Vec<PathBuf> = paths_of(&batch);
        let ran = storescu("ROUTER", port, &files, &[]).await;
        let acked = acknowledged(&ran.output, &batch);
        assert!(
            ran.ok && acked.len() == batch.len(),
            "sender {n}, round {round}: {} of {} acknowledged\n{ran}",
            acked.len(),
            batch.len()
        );
        Ledger::acknowledged(&ledger, acked);
        round += 1;
        tokio::time::sleep(dice.millis(500, 1500)).await;
    }
}

/// Associations that end badly, in turn, until `until`: storescu killed in
/// the middle of a 2 MiB instance (the socket closes mid-PDU), and our SCU
/// sending A-ABORT in the middle of one. An instance acknowledged before
/// the cut counts as sent. Returns how many it started.
async fn breaker(dir: PathBuf, port: u16, until: Instant, ledger: Shared) -> usize {
    let mut dice = Dice::new(7);
    let mut round = 0;
    while Instant::now() < until {
        let name = format!("cut-{round:05}");
        let batch = write_instances(&dir, &name, Modality::Ct, EXPLICIT, 1, 2 << 20);
        let (path, _) = &batch[0];
        if round % 2 == 0 {
            let mut child = dcmtk_command("storescu")
                .args(["-aec", "ROUTER", "127.0.0.1"])
                .arg(port.to_string())
                .arg(path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("storescu starts");
            tokio::time::sleep(dice.millis(5, 60)).await;
            child.start_kill().ok();
            child.wait().await.ok();
            std::fs::remove_file(path).ok();
        } else {
            let options =
                ScuOptions::new("STORESCU", "ROUTER").with_context(CT_IMAGE_STORAGE, &[EXPLICIT]);
            let address = format!("127.0.0.1:{port}");
            let mut association = connect(&address, &options).await.expect("an association");
            let store = association.store_file(path);
            match tokio::time::timeout(dice.millis(1, 40), store).await {
                Ok(Ok(status)) if status == Status::SUCCESS => {
                    Ledger::acknowledged(&ledger, batch.clone());
                    association.release().await.expect("a release");
                }
                Ok(outcome) => panic!("a C-STORE through the SCU: {outcome:?}"),
                Err(_) => {
                    association.abort().await;
                    std::fs::remove_file(path).ok();
                }
            }
        }
        round += 1;
        tokio::time::sleep(dice.millis(50, 300)).await;
    }
    round
}

#[tokio::test(flavor = "multi_thread")]
async fn mixed_load_loses_no_acknowledged_instance() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let (p, a) = (port.get(), archive_port.get());
    let text = production(p, a, 0);
    let run_args = ["--retention-size-mib", "256"];
    let mut engine = TestEngine::start_with(&[("soak", "forward", &text)], &run_args, |_| {}).await;
    let archive_dir = engine.folder("archive");
    let mut archive = Archive::start("ARCHIVE", archive_port, &archive_dir).await;
    let input = engine.folder("input");
    let ledger = Shared::default();
    // A first instance through, so that the figures at the start are of
    // an engine that has worked.
    let first = write_instances(&input, "first", Modality::Ct, EXPLICIT, 1, 16 * 1024);
    let files: Vec<PathBuf> = paths_of(&first);
    let ran = storescu("ROUTER", p, &files, &[]).await;
    assert_eq!(acknowledged(&ran.output, &first).len(), 1, "{ran}");
    Ledger::acknowledged(&ledger, first);
    Ledger::settle(&ledger, &archive_dir, &engine).await;
    let at_start = engine.figures();

    let load = load_time();
    let until = Instant::now() + load;
    let senders: Vec<_> = (0..SENDERS)
        .map(|n| {
            let dir = input.join(format!("sender-{n:02}"));
            tokio::spawn(sender(n, dir, p, until, ledger.clone()))
        })
        .collect();
    let breaker = tokio::spawn(breaker(input.join("cut"), p, until, ledger.clone()));
    let echoes = tokio::spawn(async move {
        let mut count = 0;
        while Instant::now() < until {
            let ran = echoscu("ECHOSCU", "ROUTER", p, &[]).await;
            assert!(ran.ok, "C-ECHO {count} failed under load\n{ran}");
            count += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        count
    });

    // The archive and the production file, in the foreground.
    let mut dice = Dice::new(11);
    let (mut archive_restarts, mut edits) = (0, 0);
    let mut next_edit = Instant::now() + dice.millis(2000, 4000);
    // RSS once a minute: flat once sled's cache is full, or it grows.
    let mut rss_by_minute = vec![at_start.rss_mib];
    let mut next_minute = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        tokio::time::sleep(dice.millis(1500, 4000)).await;
        let port = archive.stop().await;
        tokio::time::sleep(dice.millis(200, 1500)).await;
        archive = Archive::start("ARCHIVE", port, &archive_dir).await;
        archive_restarts += 1;
        Ledger::check(&ledger, &archive_dir);
        if Instant::now() >= next_edit {
            edits += 1;
            engine.save("soak", "forward", &production(p, a, edits));
            next_edit = Instant::now() + dice.millis(2000, 4000);
        }
        if Instant::now() >= next_minute {
            rss_by_minute.push(engine.figures().rss_mib);
            next_minute += Duration::from_secs(60);
        }
    }

    for task in senders {
        task.await.expect("a sender");
    }
    let cuts = breaker.await.expect("the breaker");
    let echoes = echoes.await.expect("the echoes");
    Ledger::settle(&ledger, &archive_dir, &engine).await;
    let at_end = engine.figures();
    let verified = ledger.lock().expect("the ledger").verified;
    println!(
        "soak of {} s: {verified} instances acknowledged and delivered identical, \
         {echoes} C-ECHOs, {cuts} associations cut, {archive_restarts} archive restarts, \
         {edits} production edits",
        load.as_secs()
    );
    println!("engine at the start: {at_start}");
    println!("engine at the end:   {at_end}");
    println!("RSS minute by minute (MiB): {rss_by_minute:?}");
    let status = engine.stop().await;
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        engine.log()
    );
}
