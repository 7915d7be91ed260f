//! What a reload must not do: an invalid or conflicting change never
//! touches the running version, and an edit that changes no item restarts
//! nothing.

use integration_tests::dicom::free_port;
use integration_tests::engine_process::TestEngine;

use crate::reload::{count, echo_production, echoscu, save, wait_for_log};

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_edit_keeps_the_old_production_answering_and_logs_the_file() {
    let port = free_port();
    let engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    let file = engine.productions_dir().join("test/echo.toml");
    save(
        &file,
        &echo_production(port).replace(
            "ae_title = \"ENS-SCP\"",
            "ae_title = \"ENS-SCP\"\nportt = 1",
        ),
    );
    wait_for_log(&engine, "Production file rejected", 1).await;
    let line = engine
        .log()
        .lines()
        .find(|l| l.contains("Production file rejected"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("test/echo.toml:") && line.contains("portt"),
        "the log line names file, line and field: {line}"
    );
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}\n{}", engine.log());

    // `status` shows the error next to the production that still runs.
    let status = engine.command(&["status"]).await;
    let shown = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{status:?}");
    assert!(
        shown.contains("test/echo") && shown.contains("portt"),
        "{shown}"
    );

    // Fixing the file is a reload like any other; the service was never
    // restarted.
    save(&file, &format!("{}# fixed\n", echo_production(port)));
    wait_for_log(&engine, "Production reloaded.", 1).await;
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}");
    assert_eq!(
        count(&engine, "DICOM service listening."),
        1,
        "{}",
        engine.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_another_program_holds_is_rejected_and_the_old_port_keeps_serving() {
    let port = free_port();
    let engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    let file = engine.productions_dir().join("test/echo.toml");
    let squatter = std::net::TcpListener::bind("0.0.0.0:0").expect("bind a port");
    let taken = squatter.local_addr().expect("its address").port();
    save(&file, &echo_production(taken));
    wait_for_log(&engine, "Production file rejected", 1).await;
    assert!(
        engine.log().contains(&format!(":{taken}")),
        "{}",
        engine.log()
    );
    let (ok, out) = echoscu(port).await;
    assert!(ok, "{out}\n{}", engine.log());
    assert_eq!(
        count(&engine, "DICOM service listening."),
        1,
        "{}",
        engine.log()
    );
    drop(squatter);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_another_production_holds_is_rejected() {
    let (port, other) = (free_port(), free_port());
    let engine = TestEngine::start(&[
        ("test", "echo", &echo_production(port)),
        ("test", "other", &echo_production(other)),
    ])
    .await;
    save(
        &engine.productions_dir().join("test/other.toml"),
        &echo_production(port),
    );
    wait_for_log(&engine, "Production file rejected", 1).await;
    assert!(engine.log().contains("already used"), "{}", engine.log());
    for p in [port, other] {
        let (ok, out) = echoscu(p).await;
        assert!(ok, "{out}\n{}", engine.log());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_without_a_running_engine_says_so() {
    let port = free_port();
    let mut engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    let status = engine.command(&["status"]).await;
    assert!(status.status.success(), "{status:?}");
    let shown = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(
        shown.contains("ECHO-SCP") && shown.contains("running"),
        "{shown}"
    );
    engine.stop().await;
    let status = engine.command(&["status"]).await;
    assert!(!status.status.success());
    let err = String::from_utf8_lossy(&status.stderr).to_string();
    assert!(err.contains("no engine is running"), "{err}");
}
