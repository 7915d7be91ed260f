//! `switchboard run` as a user meets it: a fresh data directory answers
//! echoscu with the associations created from the production file; an
//! invalid production file is reported precisely while the others run; a
//! reload (SIGHUP) with an invalid edit keeps the running version, a changed
//! port rebinds; SIGTERM exits 0.

use std::time::Duration;

use integration_tests::dcmtk::echoscu;
use integration_tests::engine_process::TestEngine;
use integration_tests::net::{Port, wait_for_tcp};
use integration_tests::production::{Association, Production};
use integration_tests::uids::{EXPLICIT, IMPLICIT, VERIFICATION};

/// ECHO-SCP answers C-ECHO from ENS-SCU, in Explicit or Implicit VR LE.
fn echo_production(port: u16) -> String {
    Production::echo("ENS-SCU", port)
        .association(Association::new(
            "ENS-SCU",
            "ENS-SCP",
            &[VERIFICATION],
            &[EXPLICIT, IMPLICIT],
        ))
        .to_string()
}

async fn echo(port: u16) -> bool {
    echoscu("ENS-SCU", "ENS-SCP", port, &[]).await.ok
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_file_is_reported_and_the_others_run_and_reload() {
    let (reserved, moved) = (Port::reserve(), Port::reserve());
    let port = reserved.get();
    let good = echo_production(port);
    let bad = "version = 1\n[services.IN]\ntype = \"dicom-tcp\"\nport = 4000\nae_title = \"IN\"\ntargets = [\"Archiv\"]\n";
    let mut engine =
        TestEngine::start(&[("demo", "echo", good.as_str()), ("demo", "broken", bad)]).await;
    assert!(echo(port).await, "{}", engine.log());
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
        .wait_for_log("the running version, if any, is kept", 1)
        .await;
    assert!(echo(port).await, "{}", engine.log());

    // A valid edit that moves the port: the service rebinds.
    std::fs::write(&file, echo_production(moved.get())).expect("edit");
    engine.reload();
    engine.wait_for_log("Production reloaded.", 1).await;
    wait_for_tcp(moved.addr(), Duration::from_secs(30)).await;
    assert!(echo(moved.get()).await, "{}", engine.log());
    assert!(!echo(port).await, "the old port still answers");

    let status = engine.stop().await;
    assert!(status.success(), "exit status {status}:\n{}", engine.log());
}

/// `status` shows every namespace the engine runs, or the one
/// `--namespace` names.
#[tokio::test(flavor = "multi_thread")]
async fn status_covers_every_namespace_or_the_one_named() {
    let ports = (Port::reserve(), Port::reserve());
    let (a, b) = (
        echo_production(ports.0.get()),
        echo_production(ports.1.get()),
    );
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
