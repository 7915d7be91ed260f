//! `switchboard run` as a user meets it: a fresh data directory answers
//! echoscu with the associations created from the production file; an
//! invalid production file is reported precisely while the others run; a
//! reload (SIGHUP) with an invalid edit keeps the running version, a changed
//! port rebinds; SIGTERM exits 0.

use std::time::Duration;

use integration_tests::dicom::{dcmtk_command, free_port};
use integration_tests::engine_process::TestEngine;

fn echo_production(port: u16) -> String {
    format!(
        r#"version = 1
[[associations]]
calling_ae_title = "ENS-SCU"
called_ae_title = "ENS-SCP"
abstract_syntaxes = ["1.2.840.10008.1.1"]
transfer_syntaxes = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]

[services.ECHO-SCP]
type = "dicom-tcp"
port = {port}
ae_title = "ENS-SCP"
"#
    )
}

async fn echoscu(port: u16) -> bool {
    dcmtk_command("echoscu")
        .args(["-aet", "ENS-SCU", "-aec", "ENS-SCP", "127.0.0.1"])
        .arg(port.to_string())
        .output()
        .await
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_file_is_reported_and_the_others_run_and_reload() {
    let port = free_port();
    let good = echo_production(port);
    let bad = "version = 1\n[services.IN]\ntype = \"dicom-tcp\"\nport = 4000\nae_title = \"IN\"\ntargets = [\"Archiv\"]\n";
    let mut engine =
        TestEngine::start(&[("demo", "echo", good.as_str()), ("demo", "broken", bad)]).await;
    assert!(echoscu(port).await, "{}", engine.log());
    assert!(
        engine.log().contains(
            "broken.toml:6: service 'IN': field 'targets': target 'Archiv' does not exist"
        ),
        "{}",
        engine.log()
    );
    // The association came from the production file.
    let out = engine
        .command(&["--namespace", "demo", "association", "list"])
        .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("ENS-SCU"));

    // An invalid edit: the running version keeps answering.
    let file = engine.productions_dir().join("demo/echo.toml");
    std::fs::write(&file, format!("{good}\nport = \"oops\"\n")).expect("edit");
    engine.reload();
    engine
        .wait_for_log("the running version, if any, is kept")
        .await;
    assert!(echoscu(port).await, "{}", engine.log());

    // A valid edit that moves the port: the service rebinds.
    let moved = free_port();
    std::fs::write(&file, echo_production(moved)).expect("edit");
    engine.reload();
    engine.wait_for_log("Production reloaded.").await;
    let mut answered = false;
    for _ in 0..100 {
        if echoscu(moved).await {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "{}", engine.log());
    assert!(!echoscu(port).await, "the old port still answers");

    let status = engine.stop().await;
    assert!(status.success(), "exit status {status}:\n{}", engine.log());
}

/// `status` shows every namespace the engine runs, or the one
/// `--namespace` names.
#[tokio::test(flavor = "multi_thread")]
async fn status_covers_every_namespace_or_the_one_named() {
    let (a, b) = (echo_production(free_port()), echo_production(free_port()));
    let engine =
        TestEngine::start(&[("north", "echo", a.as_str()), ("south", "echo", b.as_str())]).await;
    let namespaces = |args: &'static [&'static str]| {
        let engine = &engine;
        async move {
            let out = engine.command(args).await;
            assert!(out.status.success(), "{out:?}");
            let status: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("status JSON");
            let mut names: Vec<String> = status["productions"]
                .as_array()
                .expect("productions")
                .iter()
                .map(|p| p["namespace"].as_str().unwrap_or_default().to_string())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(namespaces(&["status", "--json"]).await, ["north", "south"]);
    assert_eq!(
        namespaces(&["--namespace", "south", "status", "--json"]).await,
        ["south"]
    );
    assert_eq!(
        namespaces(&["status", "--json", "--namespace", "north"]).await,
        ["north"]
    );
}
