//! The AE directory through the built binary: add, list, show, edit,
//! delete, `--json`, refused input that names the field and changes
//! nothing, namespaces apart, and the same answers through a running
//! engine's admin socket.

use integration_tests::DataDir;
use integration_tests::data_dir::{HeldStore, switchboard_in};
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn entries_are_added_listed_edited_and_deleted_all_or_nothing() {
    let data = DataDir::new();
    let empty = data.run(&["ae", "list"]).ok();
    assert!(empty.stdout.contains("is empty"), "{}", empty.stdout);
    let added = data
        .run(&[
            "ae",
            "add",
            "PACS",
            "--host",
            "pacs.local",
            "--port",
            "104",
            "--description",
            "Main archive",
        ])
        .ok();
    assert_eq!(added.stdout, "Added AE PACS at pacs.local:104.\n");
    data.run(&["ae", "add", "MWL", "--host", "::1", "--port", "4242"])
        .ok();

    // Refused: each says what and how to fix, and nothing changes.
    let before = data.run(&["ae", "list", "--json"]).ok().stdout;
    for (args, says) in [
        (
            vec!["ae", "add", "PACS", "--host", "other", "--port", "1"],
            "already in the AE directory of namespace default; use --overwrite",
        ),
        (
            vec!["ae", "add", "X", "--host", "bad host", "--port", "104"],
            "invalid host \"bad host\"",
        ),
        (
            vec!["ae", "add", "X", "--host", "h", "--port", "0"],
            "invalid port 0 for AE X",
        ),
        (
            vec![
                "ae",
                "add",
                "THIS-AE-TITLE-IS-TOO-LONG",
                "--host",
                "h",
                "--port",
                "1",
            ],
            "invalid AE title",
        ),
        (
            vec!["ae", "edit", "PACS"],
            "nothing to change: give --host, --port, --description, --move-caller or --tls",
        ),
        (
            vec!["ae", "edit", "PACS", "--host", "a b"],
            "invalid host \"a b\"",
        ),
        (
            vec!["ae", "edit", "NOPE", "--port", "1"],
            "no AE NOPE in the AE directory",
        ),
        (
            vec!["ae", "delete", "NOPE"],
            "no AE NOPE in the AE directory",
        ),
    ] {
        let refused = data.run(&args).fails();
        assert!(
            refused.stderr.contains(says),
            "{args:?}: {}",
            refused.stderr
        );
    }
    assert_eq!(data.run(&["ae", "list", "--json"]).ok().stdout, before);

    data.run(&["ae", "edit", "PACS", "--port", "11112"]).ok();
    let shown = json(&data.run(&["ae", "show", "PACS", "--json"]).ok().stdout);
    assert_eq!(
        shown,
        serde_json::json!({"ae_title": "PACS", "host": "pacs.local", "port": 11112, "description": "Main archive"})
    );
    let replaced = data
        .run(&[
            "ae",
            "add",
            "PACS",
            "--host",
            "10.1.1.1",
            "--port",
            "104",
            "--overwrite",
        ])
        .ok();
    assert_eq!(replaced.stdout, "Replaced AE PACS at 10.1.1.1:104.\n");
    let table = data.run(&["ae", "list"]).ok().stdout;
    assert!(table.starts_with("AE title"), "{table}");
    assert!(table.contains("MWL") && table.contains("::1"), "{table}");
    let list = json(&data.run(&["ae", "list", "--json"]).ok().stdout);
    let titles: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ae_title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["MWL", "PACS"]);

    // Another namespace has its own directory.
    let other = data.run_in("cardiology", &["ae", "list", "--json"]).ok();
    assert_eq!(json(&other.stdout), serde_json::json!([]));

    let deleted = data.run(&["ae", "delete", "MWL"]).ok();
    assert_eq!(deleted.stdout, "Deleted AE MWL at [::1]:4242.\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_engine_answers_the_same_through_its_admin_socket() {
    let data = DataDir::new();
    let held = HeldStore::hold(&data.path()).await;
    let added = switchboard_in(
        &data.path(),
        &["ae", "add", "PACS", "--host", "pacs.local", "--port", "104"],
    )
    .await;
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let refused = switchboard_in(
        &data.path(),
        &["ae", "add", "PACS", "--host", "x", "--port", "1"],
    )
    .await;
    assert!(String::from_utf8_lossy(&refused.stderr).contains("use --overwrite"));
    let listed = switchboard_in(&data.path(), &["ae", "list", "--json"]).await;
    let list = json(&String::from_utf8_lossy(&listed.stdout));
    assert_eq!(list[0]["host"], "pacs.local");
    held.release().await;
    // What the engine stored is there without it.
    assert_eq!(json(&data.run(&["ae", "list", "--json"]).ok().stdout), list);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_production_file_seeds_entries_that_are_absent_and_never_overwrites_an_edit() {
    use integration_tests::engine_process::TestEngine;
    use integration_tests::production::{Association, Production};
    let seeds = |port: u16| {
        format!(
            "{}\n[[ae_directory]]\nae_title = \"MWL-SCP\"\nhost = \"127.0.0.1\"\nport = {port}\ndescription = \"RIS worklist\"\n",
            Production::echo("ECHOSCU", 0).association(Association::verification("X", "Y"))
        )
    };
    let engine = TestEngine::start(&[("radiology", "worklist", &seeds(2005))]).await;
    let list = ["--namespace", "radiology", "ae", "list", "--json"];
    let listed = engine.json(&list).await;
    assert_eq!(listed[0]["ae_title"], "MWL-SCP");
    assert_eq!(listed[0]["port"], 2005);

    // A user's edit stays across a reload that changes the seed.
    let edited = engine
        .command(&[
            "--namespace",
            "radiology",
            "ae",
            "edit",
            "MWL-SCP",
            "--port",
            "3000",
        ])
        .await;
    assert!(
        edited.status.success(),
        "{}",
        integration_tests::text(&edited)
    );
    // A reload that changes the seed and adds another: the other is
    // created, the edited one stays.
    let more = "\n[[ae_directory]]\nae_title = \"PACS\"\nhost = \"pacs.local\"\nport = 104\n";
    engine.save("radiology", "worklist", &(seeds(2006) + more));
    engine
        .wait_until("PACS seeded", async || {
            engine.json(&list).await.as_array().map_or(0, Vec::len) == 2
        })
        .await;
    let listed = engine.json(&list).await;
    assert_eq!(
        (&listed[0]["ae_title"], &listed[0]["port"]),
        (&"MWL-SCP".into(), &3000.into())
    );
    assert_eq!(listed[1]["ae_title"], "PACS");
}

#[test]
fn who_may_move_to_an_ae_is_kept_shown_changed_and_cleared() {
    let data = DataDir::new();
    data.run(&[
        "ae",
        "add",
        "STORESCP",
        "--host",
        "127.0.0.1",
        "--port",
        "104",
        "--move-caller",
        "VIEWER",
        "--move-caller",
        "WORKSTATION",
    ])
    .ok();
    let shown = data.run(&["ae", "show", "STORESCP"]).ok().stdout;
    assert!(
        shown.contains("May be moved to by: VIEWER, WORKSTATION"),
        "{shown}"
    );
    let entry = json(&data.run(&["ae", "show", "STORESCP", "--json"]).ok().stdout);
    assert_eq!(
        entry["move_callers"],
        serde_json::json!(["VIEWER", "WORKSTATION"])
    );
    // A description edit keeps the list; --move-caller replaces it.
    data.run(&["ae", "edit", "STORESCP", "--description", "Viewer"])
        .ok();
    data.run(&["ae", "edit", "STORESCP", "--move-caller", "CT1"])
        .ok();
    let entry = json(&data.run(&["ae", "show", "STORESCP", "--json"]).ok().stdout);
    assert_eq!(entry["move_callers"], serde_json::json!(["CT1"]));
    assert_eq!(entry["description"], "Viewer");
    data.run(&["ae", "edit", "STORESCP", "--any-caller"]).ok();
    let entry = json(&data.run(&["ae", "show", "STORESCP", "--json"]).ok().stdout);
    assert!(entry.get("move_callers").is_none(), "{entry}");
    let refused = data
        .run(&[
            "ae",
            "add",
            "X",
            "--host",
            "h",
            "--port",
            "1",
            "--move-caller",
            "bad\\name",
        ])
        .fails();
    assert!(
        refused.stderr.contains("--move-caller"),
        "{}",
        refused.stderr
    );
}
