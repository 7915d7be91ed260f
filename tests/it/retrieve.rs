//! C-MOVE through a production. Relayed as it is (`move = "as-is"`): DCMTK's
//! `movescu` asks the engine, the engine asks `dcmqrscp`, which stores to
//! the destination it knows (`storescp`); the counts, A801 for a destination
//! the upstream does not know, and a C-CANCEL come back through the engine.
//! Through the engine (the default): `dcmqrscp` knows only the engine, which
//! takes the instances in durably and forwards them to the destination it
//! finds in its AE directory; a destination not there is refused A801
//! before anything goes upstream.

use std::path::PathBuf;

use integration_tests::dcmtk::{Archive, dcmqrscp, dcmtk_command, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{
    Modality, assert_same_instances, paths_of, study_of, uids_of, write_instances,
};
use integration_tests::net::Port;
use integration_tests::peer::Peer;
use integration_tests::production::{Association, DicomService, Production};
use integration_tests::pynetdicom::start_qrscp_moving_to;
use integration_tests::uids::{EXPLICIT, IMPLICIT};

const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
const PATIENT_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.1.2";

/// MOVESCU asks ROUTER on `port`, which relays Study Root queries and moves
/// to QRSCP on `qr` (from the AE directory), with `move = "<mode>"`, and
/// these more associations.
fn production(port: u16, qr: u16, mode: &str, more: Vec<Association>) -> String {
    production_with(port, qr, mode, more, "")
}

/// [`production`] with more settings of the query operation (TOML lines).
fn production_with(
    port: u16,
    qr: u16,
    mode: &str,
    more: Vec<Association>,
    settings: &str,
) -> String {
    let models = [STUDY_ROOT_FIND, STUDY_ROOT_MOVE, PATIENT_ROOT_MOVE];
    let syntaxes = [IMPLICIT, EXPLICIT];
    let mut production = Production::new()
        .association(Association::new("MOVESCU", "ROUTER", &models, &syntaxes))
        .association(Association::new("ROUTER", "QRSCP", &models, &syntaxes));
    for association in more {
        production = production.association(association);
    }
    let text =
        production.dicom_service(DicomService::new("IN", port, "ROUTER").targets(["TO-QRSCP"]));
    format!(
        "{text}\n[[ae_directory]]\nae_title = \"QRSCP\"\nhost = \"127.0.0.1\"\nport = {qr}\n\n\
         [operations.TO-QRSCP]\ntype = \"dicom-query\"\nremote_ae_title = \"QRSCP\"\n\
         local_ae_title = \"ROUTER\"\nmove = \"{mode}\"\n{settings}"
    )
}

/// [`production`] through the engine: QRSCP stores the instances to ROUTER
/// (the same service), which sends them on to STORESCP on `dest`.
fn through_engine(port: u16, qr: u16, dest: u16, settings: &str) -> String {
    let text = production_with(
        port,
        qr,
        "through-engine",
        vec![
            Association::storage("QRSCP", "ROUTER"),
            Association::storage("ROUTER", "STORESCP"),
        ],
        settings,
    );
    format!(
        "{text}\n[[ae_directory]]\nae_title = \"STORESCP\"\nhost = \"127.0.0.1\"\nport = {dest}\n"
    )
}

/// `movescu -S` of the study `study` to `destination` through ROUTER on
/// `port`, with more options: what it printed.
async fn movescu(port: u16, destination: &str, study: &str, more: &[&str]) -> String {
    let out = dcmtk_command("movescu")
        .args([
            "-S",
            "-d",
            "-aet",
            "MOVESCU",
            "-aec",
            "ROUTER",
            "-aem",
            destination,
        ])
        .args(more)
        .args(["-k", "QueryRetrieveLevel=STUDY"])
        .args(["-k", &format!("StudyInstanceUID={study}")])
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_relayed_as_is_arrives_whole_with_its_counts_and_unknown_destinations_and_cancel_come_back()
 {
    let (port, qr_port, dest_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let (qr, dest) = (qr_port.get(), dest_port.get());
    let text = production(port.get(), qr, "as-is", Vec::new());
    let engine = TestEngine::start(&[("radiology", "retrieve", &text)]).await;
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let _dcmqrscp = dcmqrscp(
        &engine.folder("qr"),
        "QRSCP",
        qr_port,
        &[("STORESCP", dest)],
    )
    .await;
    let input = engine.folder("input");
    let small = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 12, 4096);
    let large = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 200, 16384);
    for set in [&small, &large] {
        let files: Vec<PathBuf> = paths_of(set);
        let stored = storescu("QRSCP", qr, &files, &[]).await;
        assert!(stored.ok && stored.acknowledged() == set.len(), "{stored}");
    }

    // The study arrives whole and bit for bit, and the counts say so.
    let moved = movescu(port.get(), "STORESCP", &study_of(&small[0].1), &[]).await;
    let last = final_response(&moved);
    assert!(last.contains("0x0000: Success"), "{moved}");
    assert!(
        last.contains("Completed Suboperations       : 12"),
        "{moved}"
    );
    assert!(
        last.contains("Failed Suboperations          : 0"),
        "{moved}"
    );
    assert!(
        moved.contains("Remaining Suboperations       : 11"),
        "a pending response per instance: {moved}"
    );
    assert_same_instances(&small, &destination.received(), "");

    // A destination the upstream does not know: its A801 comes back.
    let unknown = movescu(port.get(), "NOSUCHAE", &study_of(&small[0].1), &[]).await;
    assert!(final_response(&unknown).contains("0xa801"), "{unknown}");

    // C-CANCEL after the first pending response goes upstream: the move
    // ends with FE00 before the 200 instances are all sent.
    let cancelled = movescu(
        port.get(),
        "STORESCP",
        &study_of(&large[0].1),
        &["--cancel", "1"],
    )
    .await;
    assert!(cancelled.contains("Sending Cancel Request"), "{cancelled}");
    let last = final_response(&cancelled);
    assert!(last.contains("0xfe00"), "{cancelled}");
    assert!(
        !last.contains("Completed Suboperations       : 200"),
        "{cancelled}"
    );
    assert!(
        engine.log().contains("C-MOVE answered."),
        "{}",
        engine.log()
    );
    // Each move is in the trace, without instances (none came through).
    let moves: Vec<serde_json::Value> = engine
        .messages("radiology")
        .await
        .into_iter()
        .filter(|m| m["retrieve"].is_object())
        .collect();
    let statuses: Vec<u64> = moves
        .iter()
        .map(|m| m["retrieve"]["status"].as_u64().unwrap_or_default())
        .collect();
    // Newest first.
    assert_eq!(statuses, [0xFE00, 0xA801, 0x0000], "{moves:#?}");
    assert!(
        moves.iter().all(|m| m["retrieve"]["sub_operations"]
            .as_array()
            .is_some_and(Vec::is_empty)),
        "{moves:#?}"
    );
}

/// What `movescu -d` printed of the final response.
fn final_response(text: &str) -> &str {
    text.split_once("Received Final Move Response")
        .map_or("", |(_, last)| last)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_through_the_engine_to_a_destination_unknown_or_not_allowed_gets_a801_without_asking_upstream()
 {
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    // Nothing listens on the upstream's port: it must not be needed.
    let text = production(port.get(), qr_port.get(), "through-engine", Vec::new());
    // STORESCP takes moves from VIEWER only.
    let text = format!(
        "{text}\n[[ae_directory]]\nae_title = \"STORESCP\"\nhost = \"127.0.0.1\"\nport = 1\n\
         move_callers = [\"VIEWER\"]\n"
    );
    let engine = TestEngine::start(&[("radiology", "retrieve", &text)]).await;
    let refused = movescu(port.get(), "NOSUCHAE", "1.2.3.9", &[]).await;
    assert!(final_response(&refused).contains("0xa801"), "{refused}");
    assert!(
        refused.contains("NOSUCHAE is not in the AE directory of namespace radiology"),
        "the Error Comment says why: {refused}"
    );
    assert!(engine.log().contains("C-MOVE refused"), "{}", engine.log());
    let not_allowed = movescu(port.get(), "STORESCP", "1.2.3.9", &[]).await;
    assert!(
        final_response(&not_allowed).contains("0xa801"),
        "{not_allowed}"
    );
    assert!(
        not_allowed.contains("MOVESCU may not move to STORESCP"),
        "the Error Comment says why: {not_allowed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_through_the_engine_reaches_a_destination_the_upstream_does_not_know_whole_with_its_counts()
 {
    let Rig {
        engine,
        port,
        qr,
        dest_port,
        dcmqrscp: _dcmqrscp,
    } = Rig::start("").await;
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let input = engine.folder("input");
    let study = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 12, 4096);
    let files: Vec<PathBuf> = paths_of(&study);
    let stored = storescu("QRSCP", qr, &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 12, "{stored}");

    let moved = movescu(port.get(), "STORESCP", &study_of(&study[0].1), &[]).await;
    let last = final_response(&moved);
    assert!(
        last.contains("0x0000: Success"),
        "{moved}\n{}",
        engine.log()
    );
    assert!(
        last.contains("Completed Suboperations       : 12"),
        "{moved}"
    );
    assert!(
        last.contains("Failed Suboperations          : 0"),
        "{moved}"
    );
    // The final response comes after every instance reached the destination.
    assert_same_instances(&study, &destination.received(), "");
    assert!(
        engine.log().contains("C-MOVE answered."),
        "{}",
        engine.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_through_the_engine_reaches_a_destination_that_speaks_tls_only_over_tls() {
    let pki = tempfile::tempdir().unwrap();
    let c = integration_tests::tls::Certificates::make(pki.path(), "STORESCP", "ROUTER");
    // The operation's TLS settings; the upstream's entry does not say TLS,
    // the destination's will.
    let settings = c.operation_tls("TO-QRSCP");
    let Rig {
        engine,
        port,
        qr,
        dest_port,
        dcmqrscp: _dcmqrscp,
    } = Rig::start(&settings).await;
    let edited = engine
        .command(&[
            "--namespace",
            "radiology",
            "ae",
            "edit",
            "STORESCP",
            "--tls",
            "true",
        ])
        .await;
    assert!(
        edited.status.success(),
        "{}",
        integration_tests::text(&edited)
    );
    let destination = Archive::start_with(
        "STORESCP",
        dest_port,
        &engine.folder("destination"),
        &c.dcmtk_server(),
    )
    .await;
    let study = study_in_qrscp(&engine, qr, 6).await;

    let moved = movescu(port.get(), "STORESCP", &study_of(&study[0].1), &[]).await;
    let last = final_response(&moved);
    assert!(
        last.contains("0x0000: Success") && last.contains("Completed Suboperations       : 6"),
        "{moved}\n{}",
        engine.log()
    );
    assert_same_instances(&study, &destination.received(), "");
    assert!(
        engine
            .log()
            .contains("its upstream's AE directory entry does not say tls = true"),
        "{}",
        engine.log()
    );
}

/// An engine that moves through itself, from QRSCP (`dcmqrscp` on `qr`,
/// which knows only the engine) to STORESCP on `dest_port` (not started),
/// with these settings of its query operation.
struct Rig {
    engine: TestEngine,
    port: Port,
    qr: u16,
    dest_port: Port,
    dcmqrscp: Peer,
}

impl Rig {
    async fn start(settings: &str) -> Self {
        let (port, qr_port, dest_port) = (Port::reserve(), Port::reserve(), Port::reserve());
        let qr = qr_port.get();
        let text = through_engine(port.get(), qr, dest_port.get(), settings);
        let engine = TestEngine::start(&[("radiology", "retrieve", &text)]).await;
        let upstream = engine.folder("qr");
        let dcmqrscp = dcmqrscp(&upstream, "QRSCP", qr_port, &[("ROUTER", port.get())]).await;
        Self {
            engine,
            port,
            qr,
            dest_port,
            dcmqrscp,
        }
    }
}

/// A study of `n` CT instances stored into `dcmqrscp` on `qr`: (file, UID).
pub(crate) async fn study_in_qrscp(
    engine: &TestEngine,
    qr: u16,
    n: usize,
) -> Vec<(PathBuf, String)> {
    let study = write_instances(
        &engine.folder("input"),
        "ct",
        Modality::Ct,
        EXPLICIT,
        n,
        4096,
    );
    let files: Vec<PathBuf> = paths_of(&study);
    let stored = storescu("QRSCP", qr, &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == n, "{stored}");
    study
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_destination_down_the_move_reports_the_failures_within_its_total_timeout_and_delivers_everything_later()
 {
    let settings = "total_timeout = \"3s\"\nidle_timeout = \"2s\"\n\
                    retry = { initial_delay = \"100ms\", max_delay = \"200ms\" }\n";
    let Rig {
        engine,
        port,
        qr,
        dest_port,
        dcmqrscp: _dcmqrscp,
    } = Rig::start(settings).await;
    let study = study_in_qrscp(&engine, qr, 6).await;

    // STORESCP is down: the answer comes within the total timeout, with
    // every instance failed and why.
    let moved = movescu(port.get(), "STORESCP", &study_of(&study[0].1), &[]).await;
    let last = final_response(&moved);
    assert!(last.contains("0xa702"), "{moved}\n{}", engine.log());
    assert!(
        last.contains("Failed Suboperations          : 6"),
        "{moved}"
    );
    assert!(
        moved.contains("6 not delivered to STORESCP in 3s; still queued"),
        "{moved}"
    );

    // Back up: every instance the upstream gave the engine arrives.
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let uids: Vec<String> = uids_of(&study);
    destination.wait_for(&uids, &engine, "radiology").await;
    assert_same_instances(&study, &destination.received(), "");

    // The move is in the trace with its instances, each delivered now.
    let shown = show_move(&engine).await;
    assert_eq!(shown["retrieve"]["destination"], "STORESCP", "{shown:#}");
    assert_eq!(shown["retrieve"]["status"], 0xA702, "{shown:#}");
    let instances = shown["sub_operations"].as_array().unwrap();
    assert_eq!(instances.len(), 6, "{shown:#}");
    assert!(
        instances.iter().all(|i| i["status"] == "delivered"),
        "{shown:#}"
    );
}

/// `messages show --json` of the (one) move in the trace.
async fn show_move(engine: &TestEngine) -> serde_json::Value {
    let ns = ["--namespace", "radiology"];
    let list = engine.messages("radiology").await;
    let id = list
        .iter()
        .find(|m| m["retrieve"].is_object())
        .and_then(|m| m["id"].as_u64())
        .unwrap_or_else(|| panic!("no move in {list:#?}"))
        .to_string();
    engine
        .json(&[&ns[..], &["messages", "show", &id, "--json"]].concat())
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moves_instances_that_failed_for_good_are_listed_with_it_and_sent_again_by_resend() {
    let settings = "retry = { initial_delay = \"50ms\", max_delay = \"50ms\", max_attempts = 2 }\n";
    let Rig {
        engine,
        port,
        qr,
        dest_port,
        dcmqrscp: _dcmqrscp,
    } = Rig::start(settings).await;
    let study = study_in_qrscp(&engine, qr, 3).await;

    // Nobody at the destination: each instance fails after two attempts,
    // and the answer lists them.
    let moved = movescu(port.get(), "STORESCP", &study_of(&study[0].1), &[]).await;
    let last = final_response(&moved);
    assert!(last.contains("0xa702"), "{moved}\n{}", engine.log());
    assert!(
        last.contains("Failed Suboperations          : 3"),
        "{moved}"
    );
    let shown = show_move(&engine).await;
    let instances = shown["sub_operations"].as_array().unwrap();
    assert_eq!(instances.len(), 3, "{shown:#}");
    assert!(
        instances.iter().all(|i| i["status"] == "failed"),
        "{shown:#}"
    );
    let id = shown["id"].to_string();
    let text = engine
        .command(&["--namespace", "radiology", "messages", "show", &id])
        .await;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("Retrieve:          move to STORESCP, STUDY level: 0 completed, 3 failed"),
        "{text}"
    );
    assert!(text.contains("Instances:         3"), "{text}");

    // The move itself has nothing to send: it says what to resend.
    let refused = engine
        .command(&["--namespace", "radiology", "messages", "resend", &id])
        .await;
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        !refused.status.success() && said.contains("is a C-MOVE: send its failed instances again"),
        "{said}"
    );

    // The destination back, the failed ones are sent again.
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let ids: Vec<String> = instances.iter().map(|i| i["id"].to_string()).collect();
    let mut resend = vec!["--namespace", "radiology", "messages", "resend"];
    resend.extend(ids.iter().map(String::as_str));
    let out = engine.command(&resend).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let uids: Vec<String> = uids_of(&study);
    destination.wait_for(&uids, &engine, "radiology").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_in_the_middle_of_a_move_loses_nothing_the_engine_acknowledged_to_the_upstream() {
    let Rig {
        mut engine,
        port,
        qr,
        dest_port,
        dcmqrscp: _dcmqrscp,
    } = Rig::start("").await;
    let study = study_in_qrscp(&engine, qr, 20).await;

    // The destination is down, so the move waits with every instance taken
    // in and queued; then the engine dies.
    let study_uid = study_of(&study[0].1);
    let requester =
        tokio::spawn(async move { movescu(port.get(), "STORESCP", &study_uid, &[]).await });
    engine
        .wait_until("every instance taken in", async || {
            engine.messages("radiology").await.len() == 20
        })
        .await;
    engine.kill9().await;
    let answer = requester.await.unwrap();
    assert!(!final_response(&answer).contains("0x0000"), "{answer}");

    engine.restart().await;
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let uids: Vec<String> = uids_of(&study);
    destination.wait_for(&uids, &engine, "radiology").await;
    assert_same_instances(&study, &destination.received(), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_move_through_the_engine_ends_fe00_and_still_delivers_what_came() {
    let Rig {
        engine,
        port,
        qr,
        dest_port,
        dcmqrscp: _dcmqrscp,
    } = Rig::start("").await;
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let study = study_in_qrscp(&engine, qr, 200).await;

    let cancelled = movescu(
        port.get(),
        "STORESCP",
        &study_of(&study[0].1),
        &["--cancel", "1"],
    )
    .await;
    assert!(cancelled.contains("Sending Cancel Request"), "{cancelled}");
    let last = final_response(&cancelled);
    assert!(last.contains("0xfe00"), "{cancelled}\n{}", engine.log());
    // What the upstream sent before it stopped is delivered all the same.
    let came: Vec<String> = engine
        .messages("radiology")
        .await
        .iter()
        .map(|m| {
            m["header"]["sop_instance_uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|uid| !uid.is_empty())
        .collect();
    assert!(!came.is_empty() && came.len() < 200, "{} came", came.len());
    destination.wait_for(&came, &engine, "radiology").await;
}

/// `movescu -P` of everything of patient `ID-1` to STORESCP through ROUTER.
async fn move_patient(port: u16) -> String {
    let out = dcmtk_command("movescu")
        .args([
            "-P", "-d", "-aet", "MOVESCU", "-aec", "ROUTER", "-aem", "STORESCP",
        ])
        .args(["-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=ID-1"])
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_ct_and_mr_instances_moved_through_the_engine_arrive_identical_with_the_right_counts()
 {
    let Rig {
        engine,
        port,
        qr,
        dest_port,
        dcmqrscp: _dcmqrscp,
    } = Rig::start("").await;
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let input = engine.folder("input");
    let mut all = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 100, 32 * 1024);
    // Explicit VR like the CTs: dcmqrscp would re-encode an implicit VR
    // file for a store association that prefers explicit VR.
    all.extend(write_instances(
        &input,
        "mr",
        Modality::Mr,
        EXPLICIT,
        100,
        32 * 1024,
    ));
    let files: Vec<PathBuf> = paths_of(&all);
    let stored = storescu("QRSCP", qr, &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 200, "{stored}");

    let moved = move_patient(port.get()).await;
    let last = final_response(&moved);
    assert!(
        last.contains("0x0000: Success"),
        "{moved}\n{}",
        engine.log()
    );
    assert!(
        last.contains("Completed Suboperations       : 200"),
        "{moved}"
    );
    assert!(
        last.contains("Failed Suboperations          : 0"),
        "{moved}"
    );
    let received = destination.received();
    assert_eq!(received.len(), 200);
    assert_same_instances(&all, &received, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_through_the_engine_from_pynetdicoms_qrscp_arrives_with_its_counts() {
    let (port, qr_port, dest_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let (qr, dest) = (qr_port.get(), dest_port.get());
    let text = through_engine(port.get(), qr, dest, "");
    let engine = TestEngine::start(&[("radiology", "retrieve", &text)]).await;
    let destination = Archive::start("STORESCP", dest_port, &engine.folder("destination")).await;
    let _qrscp = start_qrscp_moving_to(
        "QRSCP",
        qr_port,
        &engine.folder("qrscp"),
        &[("ROUTER", port.get())],
    )
    .await;
    let study = study_in_qrscp(&engine, qr, 10).await;
    let moved = movescu(port.get(), "STORESCP", &study_of(&study[0].1), &[]).await;
    let last = final_response(&moved);
    assert!(
        last.contains("0x0000: Success"),
        "{moved}\n{}",
        engine.log()
    );
    assert!(
        last.contains("Completed Suboperations       : 10"),
        "{moved}"
    );
    let uids: Vec<String> = uids_of(&study);
    let received = destination.received();
    assert!(
        uids.iter().all(|u| received.contains_key(u)),
        "{received:?}"
    );
}
