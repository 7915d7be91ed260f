//! What a reload must not do: an invalid or conflicting change never
//! touches the running version, and an edit that changes no item restarts
//! nothing.

use integration_tests::dcmtk::{Ran, echoscu};
use integration_tests::engine_process::TestEngine;
use integration_tests::net::Port;
use integration_tests::production::Production;

fn echo_production(port: u16) -> String {
    Production::echo("ECHOSCU", port).to_string()
}

async fn echo(port: u16) -> Ran {
    echoscu("ECHOSCU", "ENS-SCP", port, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_edit_keeps_the_old_production_answering_and_logs_the_file() {
    let reserved = Port::reserve();
    let port = reserved.get();
    let engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    // A misspelt field.
    let invalid = echo_production(port).replace(
        "ae_title = \"ENS-SCP\"",
        "ae_title = \"ENS-SCP\"\nportt = 1",
    );
    assert_ne!(invalid, echo_production(port));
    engine.save("test", "echo", &invalid);
    engine.wait_for_log("Production file rejected", 1).await;
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
    let out = echo(port).await;
    assert!(out.ok, "{out}\n{}", engine.log());

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
    let fixed = Production::echo("ECHOSCU", port).comment("fixed");
    engine.save("test", "echo", &fixed.to_string());
    engine.wait_for_log("Production reloaded.", 1).await;
    let out = echo(port).await;
    assert!(out.ok, "{out}");
    assert_eq!(
        engine.log_count("DICOM service listening."),
        1,
        "{}",
        engine.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_another_program_holds_is_rejected_and_the_old_port_keeps_serving() {
    let reserved = Port::reserve();
    let port = reserved.get();
    let engine = TestEngine::start(&[("test", "echo", &echo_production(port))]).await;
    let squatter = std::net::TcpListener::bind("0.0.0.0:0").expect("bind a port");
    let taken = squatter.local_addr().expect("its address").port();
    engine.save("test", "echo", &echo_production(taken));
    engine.wait_for_log("Production file rejected", 1).await;
    assert!(
        engine.log().contains(&format!(":{taken}")),
        "{}",
        engine.log()
    );
    let out = echo(port).await;
    assert!(out.ok, "{out}\n{}", engine.log());
    assert_eq!(
        engine.log_count("DICOM service listening."),
        1,
        "{}",
        engine.log()
    );
    drop(squatter);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_another_production_holds_is_rejected() {
    let reserved = (Port::reserve(), Port::reserve());
    let (port, other) = (reserved.0.get(), reserved.1.get());
    let engine = TestEngine::start(&[
        ("test", "echo", &echo_production(port)),
        ("test", "other", &echo_production(other)),
    ])
    .await;
    engine.save("test", "other", &echo_production(port));
    engine.wait_for_log("Production file rejected", 1).await;
    assert!(engine.log().contains("already used"), "{}", engine.log());
    for p in [port, other] {
        let out = echo(p).await;
        assert!(out.ok, "{out}\n{}", engine.log());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_without_a_running_engine_says_so() {
    let port = Port::reserve();
    let text = echo_production(port.get());
    let mut engine = TestEngine::start(&[("test", "echo", &text)]).await;
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
