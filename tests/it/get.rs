//! C-GET through a production: DCMTK's `getscu` asks the engine, which asks
//! `dcmqrscp` by C-GET; each instance `dcmqrscp` sends back comes on to
//! `getscu` at once, on its own association, and `dcmqrscp` hears
//! `getscu`'s status, so the counts are the requester's.

use std::path::{Path, PathBuf};

use integration_tests::dcmtk::{dcmqrscp, dcmtk_command, files_by_uid as received, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{
    Modality, assert_same_instances, paths_of, study_of, write_instances,
};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomService, Production};
use integration_tests::pynetdicom::{run_python, start_qrscp_moving_to};
use integration_tests::uids::{EXPLICIT, IMPLICIT};

use super::retrieve::study_in_qrscp;

const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";
const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";

/// GETSCU asks ROUTER on `port`, which relays Study Root queries and
/// retrieves to QRSCP on `qr` (from the AE directory).
fn production(port: u16, qr: u16) -> String {
    production_with(port, qr, Production::new(), "")
}

/// [`production`] asking QRSCP by C-MOVE to ROUTER (`get = "c-move"`):
/// QRSCP stores to ROUTER.
fn by_move(port: u16, qr: u16) -> String {
    // GETIMPL takes instances in implicit VR only.
    let more = Production::new()
        .association(Association::storage("QRSCP", "ROUTER"))
        .association(Association::new(
            "GETIMPL",
            "ROUTER",
            &["storage", STUDY_ROOT_GET],
            &[IMPLICIT],
        ));
    production_with(port, qr, more, "get = \"c-move\"\n")
}

fn production_with(port: u16, qr: u16, production: Production, settings: &str) -> String {
    let syntaxes = [EXPLICIT, IMPLICIT];
    let text = production
        .association(Association::new(
            "GETSCU",
            "ROUTER",
            &["storage", STUDY_ROOT_FIND, STUDY_ROOT_GET],
            &syntaxes,
        ))
        .association(Association::new(
            "ROUTER",
            "QRSCP",
            &[STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE],
            &syntaxes,
        ))
        .dicom_service(DicomService::new("IN", port, "ROUTER").targets(["TO-QRSCP"]));
    format!(
        "{text}\n[[ae_directory]]\nae_title = \"QRSCP\"\nhost = \"127.0.0.1\"\nport = {qr}\n\n\
         [operations.TO-QRSCP]\ntype = \"dicom-query\"\nremote_ae_title = \"QRSCP\"\n\
         local_ae_title = \"ROUTER\"\n{settings}"
    )
}

/// `getscu -S` of the study `study` through ROUTER on `port` into `out`,
/// with more options: what it printed.
async fn getscu(port: u16, study: &str, out: &Path, more: &[&str]) -> String {
    getscu_as("GETSCU", port, study, out, more).await
}

/// [`getscu`] calling as `calling`.
async fn getscu_as(calling: &str, port: u16, study: &str, out: &Path, more: &[&str]) -> String {
    std::fs::create_dir_all(out).unwrap();
    let output = dcmtk_command("getscu")
        .args(["-S", "-d", "-aet", calling, "-aec", "ROUTER", "-od"])
        .arg(out)
        .args(more)
        .args(["-k", "QueryRetrieveLevel=STUDY"])
        .args(["-k", &format!("StudyInstanceUID={study}")])
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .await
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_get_through_the_engine_brings_back_the_same_instances_with_the_right_counts() {
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    let qr = qr_port.get();
    let engine = TestEngine::start(&[("radiology", "get", &production(port.get(), qr))]).await;
    let _dcmqrscp = dcmqrscp(&engine.folder("qr"), "QRSCP", qr_port, &[]).await;
    let input = engine.folder("input");
    let ct = study_in_qrscp(&engine, qr, 12).await;
    // Another study upstream, which the get does not ask for.
    let mr = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 3, 16384);
    let files: Vec<PathBuf> = paths_of(&mr);
    let stored = storescu("QRSCP", qr, &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 3, "{stored}");

    let out = engine.folder("got");
    let got = getscu(port.get(), &study_of(&ct[0].1), &out, &[]).await;
    assert!(
        got.contains("DIMSE status is: Success"),
        "{got}\n{}",
        engine.log()
    );
    let last = final_report(&got);
    assert!(last.contains("Completed Suboperations : 12"), "{got}");
    assert!(last.contains("Failed Suboperations    : 0"), "{got}");
    let files = received(&out);
    assert_eq!(files.len(), ct.len(), "{got}");
    assert_same_instances(&ct, &files, "");
    assert!(engine.log().contains("C-GET answered."), "{}", engine.log());
    // The get is in the trace, without instances (none was kept).
    let listed = engine
        .command(&["--namespace", "radiology", "messages", "list"])
        .await;
    let listed = integration_tests::text(&listed);
    assert!(listed.contains("(get: 12 completed, 0 failed)"), "{listed}");
}

/// What `getscu` printed of the final response.
fn final_report(text: &str) -> &str {
    text.split_once("Final status report")
        .map_or("", |(_, last)| last)
}

/// A C-GET of the study argv[2] from ROUTER on port argv[1] by pynetdicom,
/// as argv[3] says: `cancel` after the first pending response, `no-role`
/// without taking the SCP role for CT. Prints the statuses, the last
/// response's counts and Error Comment, and how many instances came.
const GET: &str = r#"
import sys
from pydicom.dataset import Dataset
from pynetdicom import AE, evt, build_role
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET, CTImageStorage

port, study, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
got = []
def on_store(event):
    got.append(event.request.AffectedSOPInstanceUID)
    return 0x0000
ae = AE(ae_title="GETSCU")
ae.add_requested_context(GET)
ae.add_requested_context(CTImageStorage)
roles = [] if mode == "no-role" else [build_role(CTImageStorage, scp_role=True)]
assoc = ae.associate("127.0.0.1", port, ae_title="ROUTER", ext_neg=roles,
                     evt_handlers=[(evt.EVT_C_STORE, on_store)])
assert assoc.is_established, "not associated"
query = Dataset()
query.QueryRetrieveLevel = "STUDY"
query.StudyInstanceUID = study
statuses, last = [], None
for status, _ in assoc.send_c_get(query, GET, msg_id=7):
    if not status:
        break
    statuses.append(status.Status)
    last = status
    if mode == "cancel" and len(statuses) == 1 and status.Status in (0xFF00, 0xFF01):
        assoc.send_c_cancel(7, query_model=GET)
print("statuses", " ".join(f"{s:04X}" for s in statuses))
print("completed", last.get("NumberOfCompletedSuboperations", "-"))
print("comment", last.get("ErrorComment", ""))
print("got", len(got))
assoc.release()
"#;

/// What [`GET`] printed after `key`.
fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map_or("", str::trim)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_get_ends_fe00_and_a_requester_without_the_scp_role_is_told_why() {
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    let qr = qr_port.get();
    let engine = TestEngine::start(&[("radiology", "get", &production(port.get(), qr))]).await;
    let _dcmqrscp = dcmqrscp(&engine.folder("qr"), "QRSCP", qr_port, &[]).await;
    let ct = study_in_qrscp(&engine, qr, 100).await;
    let study = study_of(&ct[0].1);
    let (port, study) = (port.get().to_string(), study.as_str());

    let out = run_python(GET, &[&port, study, "cancel"]).await;
    let text = integration_tests::text(&out);
    let statuses = line(&text, "statuses");
    assert!(statuses.ends_with("FE00"), "{text}\n{}", engine.log());
    let got: usize = line(&text, "got").parse().unwrap();
    assert!(got < 100, "the cancel stopped the retrieve: {text}");
    assert_eq!(line(&text, "completed"), got.to_string(), "{text}");

    let out = run_python(GET, &[&port, study, "no-role"]).await;
    let text = integration_tests::text(&out);
    assert_eq!(line(&text, "statuses"), "A702", "{text}");
    assert!(
        line(&text, "comment").contains("took the SCP role for no storage SOP class"),
        "{text}"
    );
    assert_eq!(line(&text, "got"), "0", "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_get_asked_upstream_as_a_move_to_the_engine_brings_back_the_same_instances() {
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    let qr = qr_port.get();
    let engine = TestEngine::start(&[("radiology", "get", &by_move(port.get(), qr))]).await;
    // QRSCP knows ROUTER as a move destination, and nothing of C-GET here.
    let _dcmqrscp = dcmqrscp(
        &engine.folder("qr"),
        "QRSCP",
        qr_port,
        &[("ROUTER", port.get())],
    )
    .await;
    let ct = study_in_qrscp(&engine, qr, 12).await;
    let study = study_of(&ct[0].1);

    let out = engine.folder("got");
    let got = getscu(port.get(), &study, &out, &[]).await;
    assert!(
        got.contains("DIMSE status is: Success"),
        "{got}\n{}",
        engine.log()
    );
    let last = final_report(&got);
    assert!(last.contains("Completed Suboperations : 12"), "{got}");
    let files = received(&out);
    assert_eq!(files.len(), 12, "{got}");
    assert_same_instances(&ct, &files, "");
    // Nothing was kept: no message but the get itself.
    let messages = engine.messages("radiology").await;
    assert_eq!(messages.len(), 1, "{messages:#?}");

    // A requester that takes implicit VR only gets the explicit VR
    // instances re-encoded.
    let implicit = engine.folder("implicit");
    let got = getscu_as("GETIMPL", port.get(), &study, &implicit, &[]).await;
    assert!(
        final_report(&got).contains("Completed Suboperations : 12"),
        "{got}\n{}",
        engine.log()
    );
    for file in received(&implicit).values() {
        let ts = transfer_syntax_of(file);
        assert!(ts == IMPLICIT, "{} is in {ts}", file.display());
    }
}

/// The Transfer Syntax UID (0002,0010) of a Part 10 file's meta group.
fn transfer_syntax_of(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let group_length = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
    let mut at = 144;
    while at < 144 + group_length {
        let element = u16::from_le_bytes([bytes[at + 2], bytes[at + 3]]);
        let vr = &bytes[at + 4..at + 6];
        let (len, value) = if matches!(vr, b"OB" | b"OW" | b"UN" | b"SQ" | b"UT") {
            let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            (len, at + 12)
        } else {
            (
                usize::from(u16::from_le_bytes([bytes[at + 6], bytes[at + 7]])),
                at + 8,
            )
        };
        if element == 0x0010 {
            let uid = String::from_utf8_lossy(&bytes[value..value + len]);
            return uid.trim_end_matches(['\0', ' ']).to_string();
        }
        at = value + len;
    }
    panic!("{} has no Transfer Syntax UID", path.display())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_get_from_pynetdicoms_qrscp_by_c_get_and_by_c_move_brings_back_the_same_instances() {
    let (by_get_port, by_move_port, qr_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let qr = qr_port.get();
    let engine = TestEngine::start(&[
        ("by-get", "get", &production(by_get_port.get(), qr)),
        ("by-move", "get", &by_move(by_move_port.get(), qr)),
    ])
    .await;
    let _qrscp = start_qrscp_moving_to(
        "QRSCP",
        qr_port,
        &engine.folder("qrscp"),
        &[("ROUTER", by_move_port.get())],
    )
    .await;
    let ct = study_in_qrscp(&engine, qr, 10).await;
    let study = study_of(&ct[0].1);
    for (how, port) in [("by-get", &by_get_port), ("by-move", &by_move_port)] {
        let out = engine.folder(how);
        let got = getscu(port.get(), &study, &out, &[]).await;
        assert!(
            final_report(&got).contains("Completed Suboperations : 10"),
            "{how}: {got}\n{}",
            engine.log()
        );
        assert_same_instances(&ct, &received(&out), &format!("{how}: "));
    }
}
