//! Hot reload through the built binary with real DCMTK peers: production
//! files rewritten, added and deleted while `switchboard run` serves, and
//! associations edited with the CLI while it runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use integration_tests::dicom::{EXPLICIT, IMPLICIT, dcmtk_command, free_port, wait_for_tcp};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};

use integration_tests::archive::Archive;

use crate::store_and_forward::storescu;

/// A production answering C-ECHO from ECHOSCU on `port`.
pub(crate) fn echo_production(port: u16) -> String {
    format!(
        r#"version = 1
description = "echo"

[[associations]]
calling_ae_title = "ECHOSCU"
called_ae_title = "ENS-SCP"
abstract_syntaxes = ["1.2.840.10008.1.1"]
transfer_syntaxes = ["{IMPLICIT}"]

[services.ECHO-SCP]
type = "dicom-tcp"
port = {port}
ae_title = "ENS-SCP"
"#
    )
}

/// The queue depth of a running item, from `switchboard status --json`.
pub(crate) async fn queue_depth(
    engine: &TestEngine,
    production: &str,
    item: &str,
) -> Option<usize> {
    let out = engine.command(&["status", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    status["productions"]
        .as_array()?
        .iter()
        .filter(|p| p["name"] == production)
        .flat_map(|p| p["items"].as_array().cloned().unwrap_or_default())
        .find(|i| i["name"] == item)?["queue_depth"]
        .as_u64()
        .and_then(|d| usize::try_from(d).ok())
}

/// Whether echoscu ECHOSCU → ENS-SCP on `port` succeeds, with its output.
pub(crate) async fn echoscu(port: u16) -> (bool, String) {
    echoscu_to(port, "ENS-SCP").await
}

/// Whether echoscu ECHOSCU → `called` on `port` succeeds, with its output.
pub(crate) async fn echoscu_to(port: u16, called: &str) -> (bool, String) {
    let out = dcmtk_command("echoscu")
        .args(["-aet", "ECHOSCU", "-aec", called, "127.0.0.1"])
        .arg(port.to_string())
        .output()
        .await
        .expect("run echoscu");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// How many times `needle` is in the engine's log.
pub(crate) fn count(engine: &TestEngine, needle: &str) -> usize {
    engine.log().matches(needle).count()
}

/// Waits until the log holds `needle` at least `n` times.
pub(crate) async fn wait_for_log(engine: &TestEngine, needle: &str, n: usize) {
    wait_for_log_within(engine, needle, n, Duration::from_secs(30)).await;
}

/// [`wait_for_log`] with a bound (compiling a plugin in a debug build takes
/// a while).
pub(crate) async fn wait_for_log_within(
    engine: &TestEngine,
    needle: &str,
    n: usize,
    bound: Duration,
) {
    let start = Instant::now();
    while count(engine, needle) < n {
        assert!(
            start.elapsed() < bound,
            "waited for {n} × {needle:?}; log:\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until nothing accepts connections on `port`.
pub(crate) async fn wait_until_closed(port: u16, engine: &TestEngine) {
    let start = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "port {port} still open; log:\n{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Replaces a production file the way editors do: write a temporary file,
/// then rename it over the original.
pub(crate) fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.tmp~");
    std::fs::write(&tmp, text).expect("write the temporary file");
    std::fs::rename(&tmp, path).expect("rename over the production file");
}

/// Store-and-forward through a pass-through router; `copy` adds a file
/// operation the router also feeds.
fn forward_production(
    port: u16,
    archive_port: u16,
    comment: &str,
    initial_delay: &str,
    copy: Option<&Path>,
) -> String {
    forward_production_with(port, archive_port, comment, initial_delay, copy, 100)
}

/// [`forward_production`] with the service's association limit.
fn forward_production_with(
    port: u16,
    archive_port: u16,
    comment: &str,
    initial_delay: &str,
    copy: Option<&Path>,
    max_associations: u32,
) -> String {
    let (targets, extra) = match copy {
        Some(dir) => (
            r#""OUT", "COPY""#,
            format!(
                "\n[operations.COPY]\ntype = \"file\"\nfolder = \"{}\"\n",
                dir.display()
            ),
        ),
        None => (r#""OUT""#, String::new()),
    };
    format!(
        r#"version = 1
description = "store and forward under reload"
# {comment}

[[associations]]
calling_ae_title = "STORESCU"
called_ae_title = "ROUTER"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}", "{IMPLICIT}"]

[[associations]]
calling_ae_title = "ROUTER"
called_ae_title = "ARCHIVE"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}", "{IMPLICIT}"]

[[associations]]
calling_ae_title = "ECHOSCU"
called_ae_title = "ROUTER"
abstract_syntaxes = ["1.2.840.10008.1.1"]
transfer_syntaxes = ["{IMPLICIT}"]

[services.IN]
type = "dicom-tcp"
port = {port}
ae_title = "ROUTER"
max_associations = {max_associations}
targets = ["ROUTE"]

[processes.ROUTE]
type = "pass-through"
targets = [{targets}]

[operations.OUT]
type = "dicom-tcp"
host = "127.0.0.1"
port = {archive_port}
remote_ae_title = "ARCHIVE"
local_ae_title = "ROUTER"
max_associations = 1
idle_release = "1s"
retry = {{ initial_delay = "{initial_delay}", factor = 2.0, max_delay = "1s" }}
{extra}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn storescu_streams_through_many_rewrites_without_a_failed_store() {
    let (port, archive_port) = (free_port(), free_port());
    let engine = TestEngine::start(&[(
        "test",
        "forward",
        &forward_production(port, archive_port, "v0", "100ms", None),
    )])
    .await;
    let file = engine.productions_dir().join("test/forward.toml");
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let copy = engine.folder("copy");
    let input = engine.folder("input");
    let sent = write_instances(&input, "stream", Modality::Ct, EXPLICIT, 400, 4 * 1024);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();

    // Sixteen associations of 25 instances, one after the other, while the
    // file changes under them.
    let sender = tokio::spawn(async move {
        let mut results = Vec::new();
        for chunk in files.chunks(25) {
            results.push(storescu(port, chunk, &[]).await);
        }
        results
    });

    // (comment, retry delay, copy operation, service limit, expected change)
    let edits: [(&str, &str, Option<&Path>, u32, &str); 10] = [
        ("v1", "100ms", None, 100, "no item changed"),
        ("v1", "250ms", None, 100, "~OUT"),
        ("v1", "250ms", Some(&copy), 100, "~ROUTE +COPY"),
        ("v2", "250ms", Some(&copy), 100, "no item changed"),
        ("v2", "250ms", None, 100, "~ROUTE -COPY"),
        // The service itself changes: its successor takes over the socket
        // while the open association finishes on the old one.
        ("v2", "250ms", None, 50, "~IN"),
        ("v2", "100ms", None, 50, "~OUT"),
        ("v3", "100ms", Some(&copy), 50, "~ROUTE +COPY"),
        ("v3", "100ms", None, 50, "~ROUTE -COPY"),
        ("v3", "100ms", None, 100, "~IN"),
    ];
    // Edit in a cycle (each edit differs from the one before) for as long
    // as the stream runs, and at least once through.
    let mut n = 0;
    while n < edits.len() || !sender.is_finished() {
        let (comment, delay, with_copy, limit, expect) = edits[n % edits.len()];
        save(
            &file,
            &forward_production_with(port, archive_port, comment, delay, with_copy, limit),
        );
        wait_for_log(&engine, "Production reloaded.", n + 1).await;
        let last = engine
            .log()
            .lines()
            .rfind(|l| l.contains("Production reloaded."))
            .unwrap_or_default()
            .to_string();
        assert!(
            last.contains(expect),
            "edit {n}: expected {expect:?} in {last}"
        );
        n += 1;
        assert!(n < 1000, "the stream did not end:\n{}", engine.log());
    }
    eprintln!("{n} reloads while streaming");

    let results = sender.await.expect("storescu task");
    for (ok, acked, out) in &results {
        assert!(
            *ok && *acked == 25,
            "a C-STORE failed:\n{out}\n{}",
            engine.log()
        );
    }
    // Every instance reaches the archive. (Not every delivery is done: what
    // the removed COPY operation had queued waits for it to come back.)
    let start = Instant::now();
    let received = || archive.received();
    while sent.iter().any(|(_, u)| !received().contains_key(u)) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} of {} arrived; log:\n{}",
            sent.iter()
                .filter(|(_, u)| received().contains_key(u))
                .count(),
            sent.len(),
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_service_accepts_at_once_while_its_predecessor_finishes_an_open_association() {
    let (port, archive_port) = (free_port(), free_port());
    let engine = TestEngine::start(&[(
        "test",
        "forward",
        &forward_production(port, archive_port, "v0", "100ms", None),
    )])
    .await;
    let file = engine.productions_dir().join("test/forward.toml");
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "long", Modality::Ct, EXPLICIT, 200, 4 * 1024);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();
    let sender = tokio::spawn(async move { storescu(port, &files, &[]).await });
    // The association is open once something arrived.
    let start = Instant::now();
    while archive.received().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    save(
        &file,
        &forward_production_with(port, archive_port, "v0", "100ms", None, 7),
    );
    wait_for_log(&engine, "~IN", 1).await;
    // The new version answers while (or after) the old one finishes.
    let (ok, out) = echoscu_to(port, "ROUTER").await;
    assert!(ok, "{out}\n{}", engine.log());

    let (ok, acked, out) = sender.await.expect("storescu task");
    assert!(ok && acked == sent.len(), "{out}\n{}", engine.log());
    let uids: Vec<String> = sent.iter().map(|(_, u)| u.clone()).collect();
    archive.wait_for(&uids, &engine, "test").await;
    for line in engine
        .log()
        .lines()
        .filter(|l| l.contains("stopped accepting"))
    {
        eprintln!("{line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_production_file_closes_its_port_and_restoring_it_reopens_it() {
    let port = free_port();
    let text = echo_production(port);
    let engine = TestEngine::start(&[("test", "echo", &text)]).await;
    let file = engine.productions_dir().join("test/echo.toml");
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}");

    std::fs::remove_file(&file).expect("delete the production file");
    wait_until_closed(port, &engine).await;
    wait_for_log(&engine, "Production stopped.", 1).await;

    std::fs::write(&file, &text).expect("restore the production file");
    wait_for_tcp(localhost(port), Duration::from_secs(30)).await;
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}\n{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_file_in_a_new_namespace_folder_starts_listening() {
    let port = free_port();
    let engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    let new_port = free_port();
    let folder = engine.productions_dir().join("radiology");
    std::fs::create_dir(&folder).expect("namespace folder");
    std::fs::write(folder.join("second.toml"), echo_production(new_port)).expect("new file");
    wait_for_tcp(localhost(new_port), Duration::from_secs(30)).await;
    let (ok, out) = echoscu(new_port).await;
    assert!(ok, "{out}\n{}", engine.log());
    // The first production was not touched.
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}");
    assert_eq!(
        count(&engine, "DICOM service listening."),
        2,
        "{}",
        engine.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_port_rebinds() {
    let (port, new_port) = (free_port(), free_port());
    let engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    let file = engine.productions_dir().join("test/echo.toml");
    save(&file, &echo_production(new_port));
    wait_for_tcp(localhost(new_port), Duration::from_secs(30)).await;
    wait_until_closed(port, &engine).await;
    let (ok, out) = echoscu(new_port).await;
    assert!(ok, "{out}\n{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_association_edited_with_the_cli_takes_effect_on_the_next_association() {
    let port = free_port();
    let engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}");

    let pair = ["--calling", "ECHOSCU", "--called", "ENS-SCP"];
    let deleted = engine
        .command(&[&["--namespace", "test", "association", "delete"][..], &pair].concat())
        .await;
    assert!(deleted.status.success(), "{deleted:?}");
    let (ok, out) = echoscu(port).await;
    assert!(!ok, "echo accepted without an association:\n{out}");

    let added = engine
        .command(
            &[
                &["--namespace", "test", "association", "create"][..],
                &pair,
                &["--transfer-syntax", IMPLICIT],
            ]
            .concat(),
        )
        .await;
    assert!(added.status.success(), "{added:?}");
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}\n{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_operation_keeps_its_queue_and_delivers_when_it_comes_back() {
    let (port, archive_port) = (free_port(), free_port());
    let text = forward_production(port, archive_port, "v0", "100ms", None);
    let engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let file = engine.productions_dir().join("test/forward.toml");
    let input = engine.folder("input");
    let sent = write_instances(&input, "queued", Modality::Ct, EXPLICIT, 10, 2 * 1024);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();
    // The archive is down: everything waits in OUT's queue.
    let (ok, acked, out) = storescu(port, &files, &[]).await;
    assert!(ok && acked == sent.len(), "{out}");

    // Once everything waits at OUT, remove it (and the route to it): its
    // queue stays, listed as waiting.
    let start = Instant::now();
    while queue_depth(&engine, "forward", "OUT").await != Some(sent.len()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let without_out = text
        .replace("targets = [\"OUT\"]", "targets = []")
        .split("[operations.OUT]")
        .next()
        .unwrap_or_default()
        .to_string();
    save(&file, &without_out);
    wait_for_log(&engine, "-OUT", 1).await;
    let status = engine.command(&["status"]).await;
    let shown = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{status:?}");
    assert!(
        shown.contains("Waiting for a missing item") && shown.contains("test/forward/OUT"),
        "{shown}"
    );

    // OUT comes back and the archive is up: the queue is delivered.
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    save(&file, &text);
    let uids: Vec<String> = sent.iter().map(|(_, u)| u.clone()).collect();
    archive.wait_for(&uids, &engine, "test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_stuck_on_a_silent_peer_hands_its_message_to_its_successor() {
    // A peer that accepts connections and never answers: the operation
    // waits for its A-ASSOCIATE-AC longer than the grace period.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for stream in silent.incoming().flatten() {
                held.lock().expect("lock").push(stream);
            }
        });
    }
    let (port, archive_port) = (free_port(), free_port());
    let engine = TestEngine::start(&[(
        "test",
        "forward",
        &forward_production(port, silent_port, "v0", "100ms", None),
    )])
    .await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "silent", Modality::Ct, EXPLICIT, 1, 1024);
    let files: Vec<PathBuf> = sent.iter().map(|(p, _)| p.clone()).collect();
    let (ok, acked, out) = storescu(port, &files, &[]).await;
    assert!(ok && acked == 1, "{out}");
    let start = Instant::now();
    while held.lock().expect("lock").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            engine.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // OUT now points at a real archive: the old one is aborted after the
    // grace period, and what it held goes to the new one.
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    save(
        &engine.productions_dir().join("test/forward.toml"),
        &forward_production(port, archive_port, "v0", "100ms", None),
    );
    let uids: Vec<String> = sent.iter().map(|(_, u)| u.clone()).collect();
    archive.wait_for(&uids, &engine, "test").await;
    assert!(engine.log().contains("queued again"), "{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_retries_a_file_whose_port_was_taken() {
    let port = free_port();
    let engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    let squatter = std::net::TcpListener::bind("0.0.0.0:0").expect("bind a port");
    let taken = squatter.local_addr().expect("its address").port();
    std::fs::write(
        engine.productions_dir().join("test/second.toml"),
        echo_production(taken),
    )
    .expect("new file");
    wait_for_log(&engine, "Production file rejected", 1).await;
    drop(squatter);
    // Nothing in the file changed: only a request retries it.
    engine.reload();
    wait_for_tcp(localhost(taken), Duration::from_secs(30)).await;
    let (ok, out) = echoscu(taken).await;
    assert!(ok, "{out}\n{}", engine.log());
    assert!(
        engine.log().contains("Reload requested"),
        "{}",
        engine.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rescan_picks_up_a_change_without_the_watcher() {
    use switchboard::runtime::{ReloadOptions, RunOptions, run};

    let root = tempfile::tempdir().expect("a temporary folder");
    let productions = root.path().join("productions");
    std::fs::create_dir_all(productions.join("test")).expect("namespace folder");
    let first = free_port();
    std::fs::write(productions.join("test/first.toml"), echo_production(first))
        .expect("production file");
    let options = RunOptions {
        data_dir: root.path().join("data"),
        productions_dir: productions.clone(),
        grace_period: Duration::from_secs(2),
        retention: Default::default(),
        reload: ReloadOptions {
            watch: false,
            rescan: Some(Duration::from_millis(200)),
            ..ReloadOptions::default()
        },
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = tokio::spawn(run(options, async {
        stopped.await.ok();
    }));
    // Started: the first production listens. Only the rescan can see the
    // second file.
    wait_for_tcp(localhost(first), Duration::from_secs(30)).await;
    let port = free_port();
    std::fs::write(productions.join("test/echo.toml"), echo_production(port))
        .expect("production file");
    wait_for_tcp(localhost(port), Duration::from_secs(30)).await;
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}");
    stop.send(()).ok();
    engine
        .await
        .expect("engine task")
        .expect("the engine ran and stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_plugin_is_swapped_and_a_broken_one_keeps_the_old_routing() {
    let (port, archive_port) = (free_port(), free_port());
    let engine = TestEngine::start(&[]).await;
    // The plugin lives outside the productions folder; it is replaced the
    // way a build or a copy would (temporary file, then rename).
    let plugin_dir = engine.folder("plugins");
    let wasm = plugin_dir.join("router.wasm");
    let put = |from: &Path| {
        let tmp = plugin_dir.join("router.wasm.tmp");
        std::fs::copy(from, &tmp).expect("copy the plugin");
        std::fs::rename(&tmp, &wasm).expect("replace the plugin");
    };
    put(&integration_tests::plugins::plugin("filter"));
    let text = forward_production(port, archive_port, "v0", "100ms", None).replace(
        "type = \"pass-through\"",
        &format!(
            "type = \"wasm\"\nplugin = \"{}\"\nconfig = {{}}",
            wasm.display()
        ),
    );
    std::fs::create_dir_all(engine.productions_dir().join("test")).expect("namespace folder");
    std::fs::write(engine.productions_dir().join("test/forward.toml"), &text).expect("file");
    // Compiling a plugin takes a while in a debug build.
    let compile = Duration::from_secs(120);
    wait_for_tcp(localhost(port), compile).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "plugin", Modality::Ct, EXPLICIT, 9, 1024);
    let batches: Vec<Vec<PathBuf>> = sent
        .chunks(3)
        .map(|c| c.iter().map(|(p, _)| p.clone()).collect())
        .collect();
    let uids = |n: usize| -> Vec<String> { sent.iter().take(n).map(|(_, u)| u.clone()).collect() };

    let (ok, acked, out) = storescu(port, &batches[0], &[]).await;
    assert!(ok && acked == 3, "{out}");
    archive.wait_for(&uids(3), &engine, "test").await;

    // A broken plugin is an invalid change: the old module keeps routing.
    let broken = engine.folder("broken").join("broken.wasm");
    std::fs::write(&broken, b"\0asm not really").expect("write a broken plugin");
    put(&broken);
    wait_for_log_within(&engine, "Production file rejected", 1, compile).await;
    let (ok, acked, out) = storescu(port, &batches[1], &[]).await;
    assert!(ok && acked == 3, "{out}");
    archive.wait_for(&uids(6), &engine, "test").await;

    // A working one replaces the process, and routes what comes next.
    put(&integration_tests::plugins::plugin("test-misbehave"));
    wait_for_log_within(&engine, "~ROUTE", 1, compile).await;
    let (ok, acked, out) = storescu(port, &batches[2], &[]).await;
    assert!(ok && acked == 3, "{out}");
    archive.wait_for(&uids(9), &engine, "test").await;
    assert!(
        engine.log().contains("plugin=") && count(&engine, "Process started.") >= 2,
        "{}",
        engine.log()
    );
}
