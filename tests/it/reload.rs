//! Hot reload through the built binary with real DCMTK peers: production
//! files rewritten, added and deleted while `switchboard run` serves, and
//! associations edited with the CLI while it runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use integration_tests::dcmtk::{Archive, echoscu, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, uids_of, write_instances};
use integration_tests::net::{Port, localhost, wait_for_tcp, wait_until_closed};
use integration_tests::production::{
    Association, DicomOperation, DicomService, FileOperation, Process, Production,
};
use integration_tests::uids::{EXPLICIT, IMPLICIT};

/// Store and forward through a pass-through process `ROUTE` (which also
/// feeds a file operation `COPY` writing into `copy`, if given), with the
/// service's association limit and OUT's first retry delay as given;
/// ECHOSCU may echo the router.
fn forward(
    port: u16,
    archive_port: u16,
    limit: u32,
    initial_delay: &str,
    copy: Option<&Path>,
) -> Production {
    let targets = if copy.is_some() {
        &["OUT", "COPY"][..]
    } else {
        &["OUT"]
    };
    let production = Production::store_and_forward(port, archive_port)
        .association(Association::verification("ECHOSCU", "ROUTER"))
        .dicom_service(
            DicomService::new("IN", port, "ROUTER")
                .max_associations(limit)
                .targets(["ROUTE"]),
        )
        .process(Process::pass_through("ROUTE", targets.iter().copied()))
        .dicom_operation(DicomOperation::archive(archive_port).retry(initial_delay, 2.0, "1s"));
    match copy {
        Some(dir) => production.file_operation(FileOperation::new("COPY", dir)),
        None => production,
    }
}

/// Whether echoscu ECHOSCU → `called` on `port` succeeds, with its output.
async fn echo(port: u16, called: &str) -> (bool, String) {
    let out = echoscu("ECHOSCU", called, port, &[]).await;
    (out.ok, out.output)
}

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn storescu_streams_through_many_rewrites_without_a_failed_store() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let (to, at) = (port.get(), archive_port.get());
    let text = forward(to, at, 100, "100ms", None)
        .comment("v0")
        .to_string();
    let engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let copy = engine.folder("copy");
    let input = engine.folder("input");
    let sent = write_instances(&input, "stream", Modality::Ct, EXPLICIT, 400, 4 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);

    // Sixteen associations of 25 instances, one after the other, while the
    // file changes under them.
    let sender = tokio::spawn(async move {
        let mut results = Vec::new();
        for chunk in files.chunks(25) {
            results.push(storescu("ROUTER", to, chunk, &[]).await);
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
        let text = forward(to, at, limit, delay, with_copy).comment(comment);
        engine.save("test", "forward", &text.to_string());
        engine.wait_for_log("Production reloaded.", n + 1).await;
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
    for stored in &results {
        assert!(
            stored.ok && stored.acknowledged() == 25,
            "a C-STORE failed:\n{stored}\n{}",
            engine.log()
        );
    }
    // Every instance reaches the archive. (Not every delivery is done: what
    // the removed COPY operation had queued waits for it to come back.)
    engine
        .wait_until("every instance at the archive", async || {
            let received = archive.received();
            sent.iter().all(|(_, u)| received.contains_key(u))
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_service_accepts_at_once_while_its_predecessor_finishes_an_open_association() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let (to, at) = (port.get(), archive_port.get());
    let text = forward(to, at, 100, "100ms", None).to_string();
    let engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "long", Modality::Ct, EXPLICIT, 200, 4 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);
    let sender = tokio::spawn(async move { storescu("ROUTER", to, &files, &[]).await });
    // The association is open once something arrived.
    engine
        .wait_until("a first instance at the archive", async || {
            !archive.received().is_empty()
        })
        .await;

    let text = forward(to, at, 7, "100ms", None).to_string();
    engine.save("test", "forward", &text);
    engine.wait_for_log("~IN", 1).await;
    // The new version answers while (or after) the old one finishes.
    let (ok, out) = echo(to, "ROUTER").await;
    assert!(ok, "{out}\n{}", engine.log());

    let stored = sender.await.expect("storescu task");
    assert!(
        stored.ok && stored.acknowledged() == sent.len(),
        "{stored}\n{}",
        engine.log()
    );
    let uids: Vec<String> = uids_of(&sent);
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
    let port = Port::reserve();
    let text = Production::echo("ECHOSCU", port.get()).to_string();
    let engine = TestEngine::start(&[("test", "echo", &text)]).await;
    let file = engine.productions_dir().join("test/echo.toml");
    let (ok, out) = echo(port.get(), "ENS-SCP").await;
    assert!(ok, "{out}");

    std::fs::remove_file(&file).expect("delete the production file");
    wait_until_closed(port.addr(), WAIT, || engine.log()).await;
    engine.wait_for_log("Production stopped.", 1).await;

    std::fs::write(&file, &text).expect("restore the production file");
    wait_for_tcp(port.addr(), WAIT).await;
    let (ok, out) = echo(port.get(), "ENS-SCP").await;
    assert!(ok, "{out}\n{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_file_in_a_new_namespace_folder_starts_listening() {
    let (port, new_port) = (Port::reserve(), Port::reserve());
    let text = Production::echo("ECHOSCU", port.get()).to_string();
    let engine = TestEngine::start(&[("test", "echo", &text)]).await;
    let folder = engine.productions_dir().join("radiology");
    std::fs::create_dir(&folder).expect("namespace folder");
    let second = Production::echo("ECHOSCU", new_port.get()).to_string();
    std::fs::write(folder.join("second.toml"), second).expect("new file");
    wait_for_tcp(new_port.addr(), WAIT).await;
    let (ok, out) = echo(new_port.get(), "ENS-SCP").await;
    assert!(ok, "{out}\n{}", engine.log());
    // The first production was not touched.
    let (ok, out) = echo(port.get(), "ENS-SCP").await;
    assert!(ok, "{out}");
    assert_eq!(
        engine.log_count("DICOM service listening."),
        2,
        "{}",
        engine.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_port_rebinds() {
    let (port, new_port) = (Port::reserve(), Port::reserve());
    let text = Production::echo("ECHOSCU", port.get()).to_string();
    let engine = TestEngine::start(&[("test", "echo", &text)]).await;
    let moved = Production::echo("ECHOSCU", new_port.get()).to_string();
    engine.save("test", "echo", &moved);
    wait_for_tcp(new_port.addr(), WAIT).await;
    wait_until_closed(port.addr(), WAIT, || engine.log()).await;
    let (ok, out) = echo(new_port.get(), "ENS-SCP").await;
    assert!(ok, "{out}\n{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_association_edited_with_the_cli_takes_effect_on_the_next_association() {
    let port = Port::reserve();
    let text = Production::echo("ECHOSCU", port.get()).to_string();
    let engine = TestEngine::start(&[("test", "echo", &text)]).await;
    let (ok, out) = echo(port.get(), "ENS-SCP").await;
    assert!(ok, "{out}");

    let pair = ["--calling", "ECHOSCU", "--called", "ENS-SCP"];
    let deleted = engine
        .command(&[&["--namespace", "test", "association", "delete"][..], &pair].concat())
        .await;
    assert!(deleted.status.success(), "{deleted:?}");
    let (ok, out) = echo(port.get(), "ENS-SCP").await;
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
    let (ok, out) = echo(port.get(), "ENS-SCP").await;
    assert!(ok, "{out}\n{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_operation_keeps_its_queue_and_delivers_when_it_comes_back() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let production = forward(port.get(), archive_port.get(), 100, "100ms", None);
    let text = production.to_string();
    let engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "queued", Modality::Ct, EXPLICIT, 10, 2 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);
    // The archive is down: everything waits in OUT's queue.
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == sent.len(), "{stored}");

    // Once everything waits at OUT, remove it (and the route to it): its
    // queue stays, listed as waiting.
    engine
        .wait_until("every message queued at OUT", async || {
            engine.queue_depth("forward", "OUT").await == Some(sent.len())
        })
        .await;
    let without_out = production
        .process(Process::pass_through("ROUTE", []))
        .without("OUT");
    engine.save("test", "forward", &without_out.to_string());
    engine.wait_for_log("-OUT", 1).await;
    let status = engine.command(&["status"]).await;
    let shown = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{status:?}");
    assert!(
        shown.contains("Waiting for a missing item") && shown.contains("test/forward/OUT"),
        "{shown}"
    );

    // OUT comes back and the archive is up: the queue is delivered.
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    engine.save("test", "forward", &text);
    let uids: Vec<String> = uids_of(&sent);
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
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = forward(port.get(), silent_port, 100, "100ms", None).to_string();
    let engine = TestEngine::start(&[("test", "forward", &text)]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "silent", Modality::Ct, EXPLICIT, 1, 1024);
    let files: Vec<PathBuf> = paths_of(&sent);
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 1, "{stored}");
    engine
        .wait_until("the operation connected to the silent peer", async || {
            !held.lock().expect("lock").is_empty()
        })
        .await;

    // OUT now points at a real archive: the old one is aborted after the
    // grace period, and what it held goes to the new one.
    let text = forward(port.get(), archive_port.get(), 100, "100ms", None).to_string();
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    engine.save("test", "forward", &text);
    let uids: Vec<String> = uids_of(&sent);
    archive.wait_for(&uids, &engine, "test").await;
    assert!(engine.log().contains("queued again"), "{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_retries_a_file_whose_port_was_taken() {
    let port = Port::reserve();
    let text = Production::echo("ECHOSCU", port.get()).to_string();
    let engine = TestEngine::start(&[("test", "echo", &text)]).await;
    let squatter = std::net::TcpListener::bind("0.0.0.0:0").expect("bind a port");
    let taken = squatter.local_addr().expect("its address").port();
    std::fs::write(
        engine.productions_dir().join("test/second.toml"),
        Production::echo("ECHOSCU", taken).to_string(),
    )
    .expect("new file");
    engine.wait_for_log("Production file rejected", 1).await;
    drop(squatter);
    // Nothing in the file changed: only a request retries it.
    engine.reload();
    wait_for_tcp(localhost(taken), WAIT).await;
    let (ok, out) = echo(taken, "ENS-SCP").await;
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

    let root = integration_tests::private_tempdir();
    let productions = root.path().join("productions");
    std::fs::create_dir_all(productions.join("test")).expect("namespace folder");
    let (first, port) = (Port::reserve(), Port::reserve());
    let text = Production::echo("ECHOSCU", first.get()).to_string();
    std::fs::write(productions.join("test/first.toml"), text).expect("production file");
    let options = RunOptions {
        data_dir: root.path().join("data"),
        productions_dir: productions.clone(),
        grace_period: Duration::from_secs(2),
        retention: Default::default(),
        min_free_space: 0,
        reload: ReloadOptions {
            watch: false,
            rescan: Some(Duration::from_millis(200)),
            ..ReloadOptions::default()
        },
        portal: None,
        portal_tls: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = tokio::spawn(run(options, async {
        stopped.await.ok();
    }));
    // Started: the first production listens. Only the rescan can see the
    // second file.
    wait_for_tcp(first.addr(), WAIT).await;
    let text = Production::echo("ECHOSCU", port.get()).to_string();
    std::fs::write(productions.join("test/echo.toml"), text).expect("production file");
    wait_for_tcp(port.addr(), WAIT).await;
    let (ok, out) = echo(port.get(), "ENS-SCP").await;
    assert!(ok, "{out}");
    stop.send(()).ok();
    engine
        .await
        .expect("engine task")
        .expect("the engine ran and stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_plugin_is_swapped_and_a_broken_one_keeps_the_old_routing() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
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
    let text = forward(port.get(), archive_port.get(), 100, "100ms", None)
        .process(Process::wasm("ROUTE", &wasm, "{}", ["OUT"]))
        .to_string();
    engine.save("test", "forward", &text);
    // Compiling a plugin takes a while in a debug build.
    wait_for_tcp(port.addr(), Duration::from_secs(120)).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "plugin", Modality::Ct, EXPLICIT, 9, 1024);
    let batches: Vec<Vec<PathBuf>> = sent.chunks(3).map(paths_of).collect();
    let uids = |n: usize| -> Vec<String> { uids_of(&sent[..n]) };

    let stored = storescu("ROUTER", port.get(), &batches[0], &[]).await;
    assert!(stored.ok && stored.acknowledged() == 3, "{stored}");
    archive.wait_for(&uids(3), &engine, "test").await;

    // A broken plugin is an invalid change: the old module keeps routing.
    let broken = engine.folder("broken").join("broken.wasm");
    std::fs::write(&broken, b"\0asm not really").expect("write a broken plugin");
    put(&broken);
    engine.wait_for_log("Production file rejected", 1).await;
    let stored = storescu("ROUTER", port.get(), &batches[1], &[]).await;
    assert!(stored.ok && stored.acknowledged() == 3, "{stored}");
    archive.wait_for(&uids(6), &engine, "test").await;

    // A working one replaces the process, and routes what comes next.
    put(&integration_tests::plugins::plugin("test-misbehave"));
    engine.wait_for_log("~ROUTE", 1).await;
    let stored = storescu("ROUTER", port.get(), &batches[2], &[]).await;
    assert!(stored.ok && stored.acknowledged() == 3, "{stored}");
    archive.wait_for(&uids(9), &engine, "test").await;
    assert!(
        engine.log().contains("plugin=") && engine.log_count("Process started.") >= 2,
        "{}",
        engine.log()
    );
}
