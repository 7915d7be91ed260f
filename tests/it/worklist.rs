//! Modality worklist queries relayed through a production to DCMTK's
//! `wlmscpfs`: `findscu -W` through the engine gets exactly what it gets
//! asking `wlmscpfs` directly, the upstream's address comes from the AE
//! directory, and an upstream that is down gives a failure status at once.

use std::path::Path;

use integration_tests::dcmtk::{dcmtk_command, dump2dcm, find_matches};
use integration_tests::engine_process::TestEngine;
use integration_tests::net::Port;
use integration_tests::peer::Peer;
use integration_tests::plugins::plugin;
use integration_tests::production::{Association, DicomService, Process, Production};
use integration_tests::uids::{EXPLICIT, IMPLICIT};

const MWL_FIND: &str = "1.2.840.10008.5.1.4.31";

/// A worklist item scheduled on `station`.
fn item_dump(accession: &str, patient: &str, station: &str) -> String {
    format!(
        "(0008,0005) CS [ISO_IR 192]
(0008,0050) SH [{accession}]
(0010,0010) PN [{patient}]
(0010,0020) LO [P-{accession}]
(0020,000d) UI [1.2.826.0.1.3680043.8.498.{}]
(0040,0100) SQ
(fffe,e000) -
(0008,0060) CS [MR]
(0040,0001) AE [{station}]
(0040,0002) DA [20261206]
(0040,0003) TM [090000]
(0040,0009) SH [SPS-{accession}]
(fffe,e00d) -
(fffe,e0dd) -
(0040,1001) SH [RP-{accession}]
",
        accession.len()
    )
}

/// `wl/MWL-SCP/` with its lockfile and two items, one per station.
async fn worklist_folder(root: &Path) -> std::path::PathBuf {
    let folder = root.join("wl");
    let scp = folder.join("MWL-SCP");
    std::fs::create_dir_all(&scp).unwrap();
    std::fs::write(scp.join("lockfile"), "").unwrap();
    for (accession, patient, station) in [
        ("ACC001", "MÜLLER^HANS", "MODALITY1"),
        ("ACC0002", "DOE^JANE", "MODALITY2"),
    ] {
        let dump = item_dump(accession, patient, station);
        dump2dcm(dump.as_bytes(), &scp.join(format!("{accession}.wl")), &[]).await;
    }
    folder
}

/// `wlmscpfs` serving `folder` on `port`; when `slow`, a second between
/// matches.
async fn wlmscpfs(folder: &Path, port: Port, slow: bool) -> Peer {
    let mut command = dcmtk_command("wlmscpfs");
    command.arg("-dfr");
    if slow {
        command.args(["--sleep-during", "1"]);
    }
    command.arg("-dfp").arg(folder).arg(port.get().to_string());
    Peer::start("wlmscpfs", command, port).await
}

/// `findscu -W` as `calling` to `called` on `port`: its exit status and
/// what it printed.
async fn findscu(calling: &str, called: &str, port: u16) -> (bool, String) {
    findscu_with(calling, called, port, &[]).await
}

async fn findscu_with(calling: &str, called: &str, port: u16, extra: &[&str]) -> (bool, String) {
    let out = dcmtk_command("findscu")
        .args(["-W", "-aet", calling, "-aec", called, "-v"])
        .args(extra)
        .args([
            "-k",
            "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=",
        ])
        .args([
            "-k",
            "PatientName",
            "-k",
            "AccessionNumber",
            "-k",
            "PatientID",
        ])
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// MODALITY1 asks ROUTER on `port`, which relays to MWL-SCP, found in the
/// AE directory at `mwl_port`.
fn production(port: u16, mwl_port: u16, connect_timeout: &str) -> String {
    relaying(
        Production::new()
            .association(caller("MODALITY1"))
            .dicom_service(DicomService::new("IN", port, "ROUTER").targets(["MWL"])),
        mwl_port,
        connect_timeout,
    )
}

/// `calling` may ask ROUTER for worklists.
fn caller(calling: &str) -> Association {
    Association::new(calling, "ROUTER", &[MWL_FIND], &[IMPLICIT, EXPLICIT])
}

/// `production` with the query operation MWL, relaying to MWL-SCP at
/// `mwl_port`.
fn relaying(production: Production, mwl_port: u16, connect_timeout: &str) -> String {
    format!(
        "{}
[[ae_directory]]
ae_title = \"MWL-SCP\"
host = \"127.0.0.1\"
port = {mwl_port}

[operations.MWL]
type = \"dicom-query\"
remote_ae_title = \"MWL-SCP\"
local_ae_title = \"ROUTER\"
connect_timeout = \"{connect_timeout}\"
idle_timeout = \"10s\"
",
        production.association(Association::new(
            "ROUTER",
            "MWL-SCP",
            &[MWL_FIND],
            &[IMPLICIT, EXPLICIT]
        ))
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn worklist_queries_relayed_to_wlmscpfs_return_what_a_direct_query_returns() {
    let (port, mwl_port) = (Port::reserve(), Port::reserve());
    let mwl_port_number = mwl_port.get();
    let text = production(port.get(), mwl_port_number, "5s");
    let engine = TestEngine::start(&[("radiology", "worklist", &text)]).await;
    let folder = worklist_folder(&engine.folder("mwl")).await;
    let wlmscpfs = wlmscpfs(&folder, mwl_port, false).await;

    let (direct_ok, direct) = findscu("ROUTER", "MWL-SCP", mwl_port_number).await;
    assert!(direct_ok, "{direct}");
    let (relayed_ok, relayed) = findscu("MODALITY1", "ROUTER", port.get()).await;
    assert!(relayed_ok, "{relayed}\n{}", engine.log());
    let expected = find_matches(&direct);
    assert_eq!(expected.len(), 2, "{direct}");
    assert_eq!(find_matches(&relayed), expected, "{relayed}");
    assert!(relayed.contains("MÜLLER^HANS"), "{relayed}");
    assert!(
        relayed.contains("Final Find Response (Success)"),
        "{relayed}"
    );
    // One log line per query, with the caller and the outcome, no keys.
    let log = engine.log();
    let line = log
        .lines()
        .find(|l| l.contains("Query answered."))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("MODALITY1") && line.contains("matches=2") && line.contains("0000H"),
        "{line}"
    );
    assert!(!line.contains("MÜLLER"), "{line}");

    // The upstream is down: a failure status with the reason, at once.
    drop(wlmscpfs);
    let started = std::time::Instant::now();
    let (_, down) = findscu("MODALITY1", "ROUTER", port.get()).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(
        down.contains("Final Find Response (Failed: UnableToProcess)"),
        "{down}"
    );
    assert!(engine.log().contains("connect"), "{}", engine.log());
    assert!(!down.contains("Find Response: 1"), "{down}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_reaches_wlmscpfs_and_a_silent_upstream_fails_within_its_timeout() {
    let (port, mwl_port, silent) = (Port::reserve(), Port::reserve(), Port::reserve());
    let mwl_port_number = mwl_port.get();
    let text = production(port.get(), mwl_port_number, "1s");
    let engine = TestEngine::start(&[("radiology", "worklist", &text)]).await;
    let folder = worklist_folder(&engine.folder("mwl")).await;
    // A second between matches (within the 10 s idle timeout), so that
    // the C-CANCEL lands before the last.
    let _wlmscpfs = wlmscpfs(&folder, mwl_port, true).await;
    let (_, cancelled) = findscu_with("MODALITY1", "ROUTER", port.get(), &["--cancel", "1"]).await;
    assert!(
        cancelled.contains("Final Find Response (Cancel"),
        "{cancelled}\n{}",
        engine.log()
    );

    // The AE directory now points at a listener that never answers: the
    // next query fails within the connect timeout, with the reason.
    let _listener = silent.listen(None);
    let moved = engine
        .command(&[
            "--namespace",
            "radiology",
            "ae",
            "edit",
            "MWL-SCP",
            "--port",
            &silent.get().to_string(),
        ])
        .await;
    assert!(
        moved.status.success(),
        "{}",
        integration_tests::text(&moved)
    );
    let started = std::time::Instant::now();
    let (_, failed) = findscu("MODALITY1", "ROUTER", port.get()).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        failed.contains("Final Find Response (Failed: UnableToProcess)"),
        "{failed}"
    );
    assert!(engine.log().contains("timed out"), "{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_of_the_query_production_drops_no_query_in_progress() {
    let (port, mwl_port) = (Port::reserve(), Port::reserve());
    let mwl_port_number = mwl_port.get();
    let text = production(port.get(), mwl_port_number, "5s");
    let engine = TestEngine::start(&[("radiology", "worklist", &text)]).await;
    let folder = worklist_folder(&engine.folder("mwl")).await;
    let _wlmscpfs = wlmscpfs(&folder, mwl_port, true).await;
    let query = tokio::spawn(findscu("MODALITY1", "ROUTER", port.get()));
    // While wlmscpfs takes its time, the query operation and the service
    // are changed and reloaded.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let changed = production(port.get(), mwl_port_number, "6s")
        .replace("[services.IN]", "[services.IN]\nidle_timeout = 120");
    engine.save("radiology", "worklist", &changed);
    engine.wait_for_log("Production reloaded", 1).await;
    let (ok, text) = query.await.unwrap();
    assert!(ok, "{text}");
    assert_eq!(find_matches(&text).len(), 2, "{text}\n{}", engine.log());
    assert!(text.contains("Final Find Response (Success)"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_worklist_scope_plugin_shows_each_modality_only_its_own_stations_items() {
    let (port, mwl_port) = (Port::reserve(), Port::reserve());
    let mwl_port_number = mwl_port.get();
    let scope = Process::wasm("SCOPE", &plugin("worklist-scope"), "{}", ["MWL"]);
    let text = relaying(
        Production::new()
            .association(caller("MODALITY1"))
            .association(caller("MODALITY2"))
            .process(scope)
            .dicom_service(DicomService::new("IN", port.get(), "ROUTER").targets(["SCOPE"])),
        mwl_port_number,
        "5s",
    );
    let engine = TestEngine::start(&[("radiology", "worklist", &text)]).await;
    let folder = worklist_folder(&engine.folder("mwl")).await;
    let _wlmscpfs = wlmscpfs(&folder, mwl_port, false).await;

    // Asked directly with the station left open, wlmscpfs gives both items.
    let (_, everything) = findscu("ROUTER", "MWL-SCP", mwl_port_number).await;
    assert_eq!(find_matches(&everything).len(), 2, "{everything}");
    for (modality, accession, other) in [
        ("MODALITY1", "ACC001", "ACC0002"),
        ("MODALITY2", "ACC0002", "ACC001"),
    ] {
        let (ok, scoped) = findscu(modality, "ROUTER", port.get()).await;
        assert!(ok, "{scoped}\n{}", engine.log());
        let matches = find_matches(&scoped);
        assert_eq!(matches.len(), 1, "{modality}: {scoped}");
        // The station's item, as wlmscpfs gives it (after its number).
        let data_set = |m: &String| m.split_once('\n').map(|(_, d)| d.to_string());
        let expected: Vec<_> = find_matches(&everything)
            .iter()
            .filter(|m| m.contains(accession))
            .map(data_set)
            .collect();
        let got: Vec<_> = matches.iter().map(data_set).collect();
        assert_eq!(got, expected, "{modality}: {scoped}");
        assert!(
            scoped.contains(accession) && !scoped.contains(other),
            "{scoped}"
        );
        assert!(scoped.contains("Final Find Response (Success)"), "{scoped}");
    }
}
