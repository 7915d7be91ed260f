//! Nothing acknowledged is deleted because it cannot be read: a body whose
//! trailer is damaged, found when the store was lost, goes to quarantine,
//! shows in `status`, and comes back with `quarantine restore` once it
//! reads again; then it is delivered like the others.

use std::path::PathBuf;

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, uids_of, write_instances};
use integration_tests::net::Port;
use integration_tests::production::Production;
use integration_tests::text;
use integration_tests::uids::EXPLICIT;

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_trailer_is_quarantined_reported_and_restored_never_deleted() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let production = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let mut engine = TestEngine::start(&[("test", "forward", &production)]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 3, 4 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);
    // The archive is down: all three wait in the store.
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 3, "{stored}");
    assert!(engine.stop().await.success());

    // One body's trailer is damaged, and the store is lost altogether.
    let bodies = engine.data_dir().join("bodies");
    let mut with_data: Vec<PathBuf> = std::fs::read_dir(&bodies)
        .expect("bodies")
        .flatten()
        .filter(|e| e.metadata().is_ok_and(|m| m.len() > 0))
        .map(|e| e.path())
        .collect();
    with_data.sort();
    assert_eq!(with_data.len(), 3);
    let victim = with_data[1].clone();
    let name = victim.file_name().unwrap().to_str().unwrap().to_string();
    let original = std::fs::read(&victim).unwrap();
    let trailer_len = u32::from_le_bytes(original[original.len() - 12..][..4].try_into().unwrap());
    let json_at = original.len() - 12 - trailer_len as usize;
    let mut damaged = original.clone();
    damaged[json_at] = b'#';
    std::fs::write(&victim, &damaged).unwrap();
    std::fs::remove_dir_all(engine.data_dir().join("store")).unwrap();

    engine.restart().await;
    let quarantined = engine.data_dir().join("quarantine").join(&name);
    assert_eq!(
        std::fs::read(&quarantined).expect("the damaged body is in quarantine"),
        damaged,
        "moved as it was"
    );
    assert!(!victim.exists());
    assert!(
        engine.log().contains("moved to quarantine"),
        "{}",
        engine.log()
    );
    let status = engine.json(&["status", "--json"]).await;
    assert_eq!(status["quarantine"]["bodies"], 1, "{status}");
    let out = engine.command(&["status"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 body file(s)"),
        "{}",
        text(&out)
    );
    let listed = engine.json(&["quarantine", "list", "--json"]).await;
    assert_eq!(listed["bodies"][0]["name"], name.as_str(), "{listed}");
    assert!(
        listed["bodies"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("does not parse")),
        "{listed}"
    );

    // Still damaged: it stays, with a reason and the way out.
    let out = engine.command(&["quarantine", "restore", &name]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("still cannot be read"),
        "{}",
        text(&out)
    );
    assert!(quarantined.exists());

    // Repaired: back, queued, and delivered with the other two.
    std::fs::write(&quarantined, &original).unwrap();
    let out = engine.command(&["quarantine", "restore", &name]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("queued for forward/OUT"),
        "{}",
        text(&out)
    );
    assert!(victim.exists() && !quarantined.exists());
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let uids: Vec<String> = uids_of(&sent);
    archive.wait_for(&uids, &engine, "test").await;
    let listed = engine.json(&["quarantine", "list", "--json"]).await;
    assert_eq!(
        listed["bodies"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
}
