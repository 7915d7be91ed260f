//! `switchboard backup` and `restore` against running engines: what one
//! engine's associations (with their certificate bindings) and AE
//! directory hold comes back whole in another, what exists is kept unless
//! `--overwrite`, and a file that is not a backup changes nothing.

use integration_tests::engine_process::TestEngine;
use integration_tests::net::Port;
use integration_tests::production::{Association, Production};
use integration_tests::text;

/// The namespace's associations and AE directory, as `--json` lists them.
async fn list(engine: &TestEngine) -> (serde_json::Value, serde_json::Value) {
    (
        engine
            .json(&["--namespace", "radiology", "association", "list", "--json"])
            .await,
        engine
            .json(&["--namespace", "radiology", "ae", "list", "--json"])
            .await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_of_a_running_engine_restores_into_another_as_it_was() {
    let port = Port::reserve();
    let production = format!(
        "{}\n[[ae_directory]]\nae_title = \"PACS\"\nhost = \"pacs.example.org\"\nport = 104\ntls = true\n",
        Production::echo("ECHOSCU", port.get())
            .association(Association::storage("STORESCU", "ROUTER").bound_to(&["cn:STORESCU"]))
    );
    let source = TestEngine::start(&[("radiology", "echo", &production)]).await;
    let file = source.folder("backup").join("switchboard.json");
    let out = source
        .command(&["backup", "--output", file.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("Backed up 2 association(s) and 1 AE directory entr(ies) of 1 namespace(s)"),
        "{}",
        text(&out)
    );

    let target = TestEngine::start(&[]).await;
    let out = target.command(&["restore", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out)
            .contains("radiology: associations 2 added, 0 replaced, 0 kept; AE directory 1 added"),
        "{}",
        text(&out)
    );
    let (associations, entries) = list(&target).await;
    assert_eq!((associations.clone(), entries.clone()), list(&source).await);
    assert_eq!(
        associations[1]["certificates"][0], "cn:STORESCU",
        "{associations:#}"
    );
    assert_eq!(entries[0]["tls"], true);

    // Again: kept; with --overwrite, replaced.
    let out = target.command(&["restore", file.to_str().unwrap()]).await;
    assert!(
        text(&out).contains("associations 0 added, 0 replaced, 2 kept"),
        "{}",
        text(&out)
    );
    let out = target
        .command(&["restore", file.to_str().unwrap(), "--overwrite"])
        .await;
    assert!(
        text(&out).contains("associations 0 added, 2 replaced, 0 kept"),
        "{}",
        text(&out)
    );

    // Not a backup, or an invalid entry: refused, nothing changed.
    let bad = source.folder("backup").join("bad.json");
    std::fs::write(&bad, "{\"version\": 1, \"namespaces\": {\"radiology\": {\"ae_directory\": [{\"ae_title\": \"X\", \"host\": \"bad host!\", \"port\": 104}]}}}").unwrap();
    let out = target.command(&["restore", bad.to_str().unwrap()]).await;
    assert!(
        !out.status.success() && text(&out).contains("namespace radiology, AE X: invalid host"),
        "{}",
        text(&out)
    );
    std::fs::write(&bad, "[]").unwrap();
    let out = target.command(&["restore", bad.to_str().unwrap()]).await;
    assert!(
        !out.status.success() && text(&out).contains("not a backup"),
        "{}",
        text(&out)
    );
    assert_eq!(list(&target).await, (associations, entries));
    // Restores are in the audit trail.
    let audit = target.json(&["audit", "list", "--json"]).await;
    let restores = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "restore")
        .count();
    assert_eq!(restores, 3, "{audit:#}");
}
