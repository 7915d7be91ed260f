//! The audit trail: changes through the running engine's admin socket and
//! through the CLI on a stopped engine's store are recorded with the Unix
//! user, the action, the target and its state before and after; a resend
//! names messages by ID only, so no patient data reaches the log, which
//! only the engine's user can read. (Portal sessions: `portal.rs`.)

use std::os::unix::fs::PermissionsExt;

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, Production};
use integration_tests::text;
use integration_tests::uids::{CT_IMAGE_STORAGE, EXPLICIT};

/// This user as the trail names it: `root (uid 0)`.
fn this_user() -> String {
    let id = |flag: &str| {
        let out = std::process::Command::new("id").arg(flag).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    format!("{} (uid {})", id("-un"), id("-u"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_administrative_change_is_recorded_with_who_and_what_it_changed() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let production = Production::store_and_forward(port.get(), archive_port.get())
        .association(Association::new(
            "ROUTER",
            "ARCHIVE",
            &[CT_IMAGE_STORAGE],
            &[EXPLICIT],
        ))
        .to_string();
    let mut engine = TestEngine::start(&[("radiology", "forward", &production)]).await;
    let _archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let files: Vec<_> = write_instances(&engine.folder("in"), "ct", Modality::Ct, EXPLICIT, 1, 512)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok, "{stored}");
    engine
        .wait_until("delivered", async || {
            engine.all_delivered("radiology").await
        })
        .await;
    let id = engine.messages("radiology").await[0]["id"].to_string();

    // Through the running engine's socket: an edit, a resend, and reads,
    // which are not recorded.
    let ns = ["--namespace", "radiology"];
    let pair = ["--calling", "ROUTER", "--called", "ARCHIVE"];
    for args in [
        [
            &ns[..],
            &["association", "edit"],
            &pair[..],
            &["--name", "Archive"],
        ]
        .concat(),
        [&ns[..], &["association", "show"], &pair[..]].concat(),
        [&ns[..], &["messages", "resend", &id]].concat(),
        [&ns[..], &["messages", "list"]].concat(),
    ] {
        let out = engine.command(&args).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    // On the stopped engine's store, through the CLI.
    assert!(engine.stop().await.success());
    let out = engine
        .command(&[&ns[..], &["association", "delete"], &pair[..]].concat())
        .await;
    assert!(out.status.success(), "{}", text(&out));

    let records = engine.json(&["audit", "list", "--json"]).await;
    let records = records.as_array().unwrap();
    let summary: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_string(),
                r["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "association edit".to_string(),
                "ROUTER -> ARCHIVE".to_string()
            ),
            ("messages resend".to_string(), "1 message(s)".to_string()),
            (
                "association delete".to_string(),
                "ROUTER -> ARCHIVE".to_string()
            ),
        ],
        "{records:#?}"
    );
    let (edit, resend, delete) = (&records[0], &records[1], &records[2]);
    let me = this_user();
    assert_eq!(edit["who"], format!("{me} on the admin socket"), "{edit}");
    assert_eq!(edit["namespace"], "radiology");
    assert_eq!(edit["before"]["name"], "");
    assert_eq!(edit["after"]["name"], "Archive");
    assert_eq!(
        edit["after"]["presentation_contexts"],
        edit["before"]["presentation_contexts"]
    );
    assert_eq!(resend["after"][0][0].to_string(), id, "{resend}");
    assert_eq!(
        delete["who"],
        format!("{me} on the command line"),
        "{delete}"
    );
    assert_eq!(delete["before"]["name"], "Archive");
    assert!(delete.get("after").is_none(), "{delete}");

    // The text form: one line per change, then what it changed.
    let out = engine.command(&["audit", "list"]).await;
    let listed = text(&out);
    assert!(
        listed.contains(&format!(
            "{me} on the admin socket [radiology]: association edit ROUTER -> ARCHIVE\n    name: \"\" -> \"Archive\"\n"
        )),
        "{listed}"
    );
    let out = engine
        .command(&["audit", "list", "--since", "2999-01-01"])
        .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No administrative change recorded.\n"
    );
    let out = engine
        .command(&["audit", "list", "--since", "yesterday"])
        .await;
    assert!(!out.status.success() && text(&out).contains("give a duration ago"));

    // No patient data, and the engine's user's only.
    let log = engine.data_dir().join("audit.log");
    let written = std::fs::read_to_string(&log).unwrap();
    for patient in ["Doe^Jane", "ID-1"] {
        assert!(!written.contains(patient), "{patient} in {written}");
    }
    let mode = std::fs::metadata(&log).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
