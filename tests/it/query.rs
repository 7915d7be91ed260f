//! Patient and study queries relayed through a production to DCMTK's
//! `dcmqrscp`: `findscu -P`/`-S` through the engine get exactly the
//! matches a direct query gets.

use std::path::{Path, PathBuf};

use integration_tests::dcmtk::{dcmqrscp, dcmtk_command, dump2dcm, find_matches, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, write_instances};
use integration_tests::net::{Port, established_to, kill_children};
use integration_tests::peer::Peer;
use integration_tests::production::{Association, DicomService, Production};
use integration_tests::pynetdicom::start_qrscp;
use integration_tests::uids::{EXPLICIT, IMPLICIT};

const PATIENT_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.1.1";
const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";

/// VIEWER asks ROUTER on `port`, which relays Patient and Study Root
/// queries to every archive of `archives` (AE title, port), each found in
/// the AE directory.
fn production(port: u16, archives: &[(&str, u16)]) -> String {
    production_in(port, archives, &[IMPLICIT, EXPLICIT], &[IMPLICIT, EXPLICIT])
}

/// [`production`] with the transfer syntaxes of the viewer's association
/// and of the archives'.
fn production_in(
    port: u16,
    archives: &[(&str, u16)],
    viewer: &[&str],
    syntaxes: &[&str],
) -> String {
    let models = [PATIENT_ROOT_FIND, STUDY_ROOT_FIND];
    let mut production =
        Production::new().association(Association::new("VIEWER", "ROUTER", &models, viewer));
    let mut targets = Vec::new();
    let mut declared = String::new();
    for (ae_title, archive_port) in archives {
        production =
            production.association(Association::new("ROUTER", ae_title, &models, syntaxes));
        targets.push(format!("TO-{ae_title}"));
        declared.push_str(&format!(
            "\n[[ae_directory]]\nae_title = \"{ae_title}\"\nhost = \"127.0.0.1\"\nport = {archive_port}\n\n\
             [operations.TO-{ae_title}]\ntype = \"dicom-query\"\nremote_ae_title = \"{ae_title}\"\nlocal_ae_title = \"ROUTER\"\n"
        ));
    }
    let service =
        DicomService::new("IN", port, "ROUTER").targets(targets.iter().map(String::as_str));
    format!("{}{declared}", production.dicom_service(service))
}

async fn findscu(model: &str, level: &str, calling: &str, called: &str, port: u16) -> String {
    let mut keys = vec![
        format!("QueryRetrieveLevel={level}"),
        "PatientName".to_string(),
        "PatientID".to_string(),
    ];
    if level == "STUDY" {
        keys.extend([
            "StudyInstanceUID".to_string(),
            "ModalitiesInStudy".to_string(),
        ]);
    }
    findscu_keys(model, calling, called, port, &keys).await
}

#[tokio::test(flavor = "multi_thread")]
async fn patient_study_series_and_image_queries_relayed_to_dcmqrscp_return_what_a_direct_query_returns()
 {
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    let qr = qr_port.get();
    let text = production(port.get(), &[("QRSCP", qr)]);
    let engine = TestEngine::start(&[("radiology", "query", &text)]).await;
    let _dcmqrscp = archive(&engine, "QRSCP", qr_port).await;
    let input = engine.folder("input");
    let ct = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 2, 64);
    let mr = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 2, 64);
    let files: Vec<PathBuf> = ct.iter().chain(&mr).map(|(p, _)| p.clone()).collect();
    let stored = storescu("QRSCP", qr, &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 4, "{stored}");

    for (model, level, expected) in [("-P", "PATIENT", 1), ("-S", "STUDY", 2)] {
        let direct = find_matches(&findscu(model, level, "ROUTER", "QRSCP", qr).await);
        assert_eq!(direct.len(), expected, "{level}: {direct:#?}");
        let relayed = findscu(model, level, "VIEWER", "ROUTER", port.get()).await;
        assert!(
            relayed.contains("Final Find Response (Success)"),
            "{relayed}"
        );
        assert_eq!(find_matches(&relayed), direct, "{level}: {relayed}");
    }

    // SERIES and IMAGE levels name the study (and series) they look in.
    let study = uid_in(
        &find_matches(&findscu("-S", "STUDY", "ROUTER", "QRSCP", qr).await)[0],
        "(0020,000d)",
    );
    let series_keys = [
        "QueryRetrieveLevel=SERIES".to_string(),
        format!("StudyInstanceUID={study}"),
        "SeriesInstanceUID".to_string(),
        "Modality".to_string(),
    ];
    let direct = find_matches(&findscu_keys("-S", "ROUTER", "QRSCP", qr, &series_keys).await);
    assert_eq!(direct.len(), 1, "{direct:#?}");
    let relayed = findscu_keys("-S", "VIEWER", "ROUTER", port.get(), &series_keys).await;
    assert_eq!(find_matches(&relayed), direct, "SERIES: {relayed}");
    let series = uid_in(&direct[0], "(0020,000e)");
    let image_keys = [
        "QueryRetrieveLevel=IMAGE".to_string(),
        format!("StudyInstanceUID={study}"),
        format!("SeriesInstanceUID={series}"),
        "SOPInstanceUID".to_string(),
    ];
    let direct = find_matches(&findscu_keys("-S", "ROUTER", "QRSCP", qr, &image_keys).await);
    assert_eq!(direct.len(), 2, "{direct:#?}");
    let relayed = findscu_keys("-S", "VIEWER", "ROUTER", port.get(), &image_keys).await;
    assert_eq!(find_matches(&relayed), direct, "IMAGE: {relayed}");
}

/// `findscu` (`model`: `-P`, `-S`, `-W`) with these keys: what it printed.
async fn findscu_keys(
    model: &str,
    calling: &str,
    called: &str,
    port: u16,
    keys: &[String],
) -> String {
    let mut command = dcmtk_command("findscu");
    command.args([model, "-v", "-aet", calling, "-aec", called]);
    for key in keys {
        command.args(["-k", key]);
    }
    let out = command
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

/// The value of the UID element `tag` (as findscu prints it) in a match.
fn uid_in(found: &str, tag: &str) -> String {
    let line = found
        .lines()
        .find(|l| l.starts_with(tag))
        .unwrap_or_else(|| panic!("{tag} in {found}"));
    line.split('[')
        .nth(1)
        .and_then(|v| v.split(']').next())
        .unwrap_or_else(|| panic!("a value in {line}"))
        .trim_end_matches(['\0', ' '])
        .to_string()
}

/// The Study Instance UIDs of the matches findscu printed, sorted.
fn studies(text: &str) -> Vec<String> {
    let mut out: Vec<String> = find_matches(text)
        .iter()
        .flat_map(|m| {
            m.lines()
                .filter(|l| l.contains("(0020,000d)"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

/// Starts a `dcmqrscp` called `ae_title` on `port`, in its own folder.
async fn archive(engine: &TestEngine, ae_title: &str, port: Port) -> Peer {
    dcmqrscp(
        &engine.folder(&format!("qr-{ae_title}")),
        ae_title,
        port,
        &[],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn dcmqrscp_and_pynetdicoms_qrscp_with_overlapping_studies_give_one_merged_answer_and_a_failed_one_is_reported()
 {
    let (port, qr1, qr2) = (Port::reserve(), Port::reserve(), Port::reserve());
    let (p1, p2) = (qr1.get(), qr2.get());
    let text = production(port.get(), &[("QRSCP1", p1), ("QRSCP2", p2)]);
    let engine = TestEngine::start(&[("radiology", "query", &text)]).await;
    let first = archive(&engine, "QRSCP1", qr1).await;
    let _second = start_qrscp("QRSCP2", qr2, &engine.folder("qrscp")).await;
    let input = engine.folder("input");
    let ct = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 2, 64);
    let mr = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 2, 64);
    let ct_files: Vec<PathBuf> = paths_of(&ct);
    let mr_files: Vec<PathBuf> = paths_of(&mr);
    // The CT study is in both archives, the MR study only in the second.
    assert!(storescu("QRSCP1", p1, &ct_files, &[]).await.ok);
    assert!(storescu("QRSCP2", p2, &ct_files, &[]).await.ok);
    assert!(storescu("QRSCP2", p2, &mr_files, &[]).await.ok);

    // The archives differ in Retrieve AE Title: compare the studies.
    let mut union = studies(&findscu("-S", "STUDY", "ROUTER", "QRSCP1", p1).await);
    union.extend(studies(
        &findscu("-S", "STUDY", "ROUTER", "QRSCP2", p2).await,
    ));
    union.sort();
    union.dedup();
    assert_eq!(union.len(), 2, "{union:#?}");
    let merged = findscu("-S", "STUDY", "VIEWER", "ROUTER", port.get()).await;
    assert!(merged.contains("Final Find Response (Success)"), "{merged}");
    assert_eq!(
        find_matches(&merged).len(),
        2,
        "one match per study: {merged}"
    );
    assert_eq!(studies(&merged), union, "{merged}");

    // One archive down: the other's matches, then a failure naming it.
    drop(first);
    let partial = findscu("-S", "STUDY", "VIEWER", "ROUTER", port.get()).await;
    assert_eq!(find_matches(&partial).len(), 2, "{partial}");
    assert!(
        partial.contains("Final Find Response (Failed: UnableToProcess)"),
        "{partial}"
    );

    // Each query is in the trace: level, matches, status, one delivery
    // per upstream; its keys only in `show`; nothing to send again.
    let ns = ["--namespace", "radiology"];
    engine
        .wait_until("both queries in the trace", async || {
            let list = engine
                .json(&[&ns[..], &["messages", "list", "--json"]].concat())
                .await;
            list.as_array().is_some_and(|l| l.len() == 2)
        })
        .await;
    let list = engine
        .json(&[&ns[..], &["messages", "list", "--json"]].concat())
        .await;
    let (latest, earlier) = (&list[0], &list[1]);
    assert_eq!(earlier["status"], "delivered", "{earlier:#}");
    assert_eq!(latest["status"], "failed", "{latest:#}");
    assert_eq!(latest["query"]["level"], "STUDY");
    assert_eq!(latest["query"]["matches"], 2);
    assert_eq!(latest["query"]["status"], 0xC001);
    let deliveries = latest["deliveries"].as_array().unwrap();
    assert_eq!(deliveries[0]["target"]["item"], "TO-QRSCP1");
    assert_eq!(deliveries[0]["status"], "failed");
    assert_eq!(deliveries[1]["status"], "delivered");
    let text = engine
        .command(&[&ns[..], &["messages", "list"]].concat())
        .await;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("(query: STUDY level, 2 matches)"), "{text}");
    assert!(!text.contains("PatientName"), "no keys in the list: {text}");
    let id = latest["id"].to_string();
    let show = engine
        .command(&[&ns[..], &["messages", "show", &id]].concat())
        .await;
    let show = String::from_utf8_lossy(&show.stdout).into_owned();
    for expected in [
        "STUDY level, 2 matches",
        "PatientName (returned)",
        "Upstreams:",
        "TO-QRSCP1: failed",
    ] {
        assert!(show.contains(expected), "{expected:?} in {show}");
    }
    let resend = engine
        .command(&[&ns[..], &["messages", "resend", &id]].concat())
        .await;
    let refused = String::from_utf8_lossy(&resend.stderr).into_owned();
    assert!(
        !resend.status.success() && refused.contains("is a query"),
        "{refused}"
    );
}

/// A Part 10 CT file of patient `name` (raw bytes, in `charset`).
async fn write_named(dir: &Path, file: &str, charset: &str, name: &[u8], n: u32) -> PathBuf {
    let mut dump = format!(
        "(0002,0010) UI [1.2.840.10008.1.2.1]\n(0008,0005) CS [{charset}]\n\
         (0008,0016) UI [1.2.840.10008.5.1.4.1.1.2]\n(0008,0018) UI [1.2.826.0.1.3680043.8.498.7{n}.1]\n\
         (0008,0060) CS [CT]\n(0010,0020) LO [PID{n}]\n(0020,000d) UI [1.2.826.0.1.3680043.8.498.7{n}]\n\
         (0020,000e) UI [1.2.826.0.1.3680043.8.498.7{n}.2]\n"
    )
    .into_bytes();
    dump.extend_from_slice(b"(0010,0010) PN [");
    dump.extend_from_slice(name);
    dump.extend_from_slice(b"]\n");
    let path = dir.join(format!("{file}.dcm"));
    dump2dcm(&dump, &path, &["+te", "-g"]).await;
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn latin_1_and_utf_8_names_come_back_as_the_archive_sent_them() {
    names_come_back_untouched(&[IMPLICIT, EXPLICIT], &[IMPLICIT, EXPLICIT]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn between_implicit_and_explicit_vr_associations_the_query_is_re_encoded_and_names_untouched()
{
    names_come_back_untouched(&[IMPLICIT], &[EXPLICIT]).await;
}

/// The viewer on `viewer`'s transfer syntaxes, the archive's association
/// on `upstream`'s: Latin-1 and UTF-8 names come back byte for byte.
async fn names_come_back_untouched(viewer: &[&str], upstream: &[&str]) {
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    let qr = qr_port.get();
    let text = production_in(port.get(), &[("QRSCP", qr)], viewer, upstream);
    let engine = TestEngine::start(&[("radiology", "query", &text)]).await;
    let _dcmqrscp = archive(&engine, "QRSCP", qr_port).await;
    let input = engine.folder("input");
    let files = [
        write_named(&input, "latin1", "ISO_IR 100", b"M\xdcLLER^J\xf6RG", 1).await,
        write_named(&input, "utf8", "ISO_IR 192", "GÖTZ^ÄNNE".as_bytes(), 2).await,
    ];
    let stored = storescu("QRSCP", qr, &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 2, "{stored}");
    let direct = findscu("-P", "PATIENT", "ROUTER", "QRSCP", qr).await;
    let relayed = findscu("-P", "PATIENT", "VIEWER", "ROUTER", port.get()).await;
    assert_eq!(find_matches(&direct).len(), 2, "{direct}");
    assert_eq!(find_matches(&relayed), find_matches(&direct), "{relayed}");
    assert!(relayed.contains("GÖTZ^ÄNNE"), "{relayed}");
    if viewer == [IMPLICIT] {
        // The upstream association offers explicit VR only: the matches
        // were re-encoded for the viewer.
        assert!(
            relayed.contains("Used TransferSyntax: Little Endian Implicit"),
            "{relayed}"
        );
    }
    // The Latin-1 bytes themselves, untouched (not transcoded).
    let raw = dcmtk_command("findscu")
        .args(["-P", "-v", "-aet", "VIEWER", "-aec", "ROUTER"])
        .args(["-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientName"])
        .args(["127.0.0.1", &port.get().to_string()])
        .output()
        .await
        .unwrap();
    let printed = [raw.stdout, raw.stderr].concat();
    let latin_1: &[u8] = b"M\xdcLLER^J\xf6RG";
    assert!(printed.windows(latin_1.len()).any(|w| w == latin_1));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_association_kept_open_serves_the_next_queries_and_one_the_upstream_closed_is_replaced()
{
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    let qr = qr_port.get();
    let text = production(port.get(), &[("QRSCP", qr)]).replace(
        "type = \"dicom-query\"",
        "type = \"dicom-query\"\nkeep_open = \"60s\"",
    );
    let engine = TestEngine::start(&[("radiology", "query", &text)]).await;
    let dcmqrscp = archive(&engine, "QRSCP", qr_port).await;
    let input = engine.folder("input");
    let ct = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 2, 64);
    let files: Vec<PathBuf> = paths_of(&ct);
    assert!(storescu("QRSCP", qr, &files, &[]).await.ok);
    let direct = find_matches(&findscu("-S", "STUDY", "ROUTER", "QRSCP", qr).await);
    assert_eq!(direct.len(), 1, "{direct:#?}");
    let ask = async || find_matches(&findscu("-S", "STUDY", "VIEWER", "ROUTER", port.get()).await);
    for _ in 0..3 {
        assert_eq!(ask().await, direct);
    }
    // Three queries, one association, still open for the next.
    assert_eq!(established_to(qr), 1);

    // dcmqrscp's worker for that association dies: the next query finds
    // the association closed and asks again on a new one.
    kill_children(dcmqrscp.id().expect("dcmqrscp runs"));
    engine
        .wait_until("the kept association closed", async || {
            established_to(qr) == 0
        })
        .await;
    assert_eq!(ask().await, direct, "{}", engine.log());
    assert_eq!(established_to(qr), 1);
}
