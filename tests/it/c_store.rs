//! C-STORE with real peers: DCMTK storescu and pynetdicom into our SCP (the
//! data set reaches the ingest hook byte for byte), and our SCU into DCMTK
//! storescp and a pynetdicom SCP.

use std::path::Path;

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::instances::{Instance, Modality};
use integration_tests::net::Port;
use integration_tests::pynetdicom::{self, run_python};
use integration_tests::scp::{TestScp, association};
use integration_tests::text;
use integration_tests::uids::{
    CT_IMAGE_STORAGE, EXPLICIT, IMPLICIT, MR_IMAGE_STORAGE, VERIFICATION,
};
use switchboard::dimse::scu::{ScuOptions, connect};
use switchboard::dimse::status::Status;

/// A CT instance with this UID, in this transfer syntax, with this much
/// pixel data.
fn ct(uid: &str, transfer_syntax: &str, pixel_bytes: usize) -> Instance {
    Instance::new(Modality::Ct)
        .sop_instance_uid(uid)
        .transfer_syntax(transfer_syntax)
        .pixel_data(pixel_bytes, 1)
}

fn storage_store() -> Vec<switchboard::association::model::AssociationContext> {
    vec![association(
        "ENS-SCU",
        "ENS-SCP",
        &[
            (VERIFICATION, &[IMPLICIT]),
            (CT_IMAGE_STORAGE, &[EXPLICIT, IMPLICIT]),
        ],
    )]
}

#[tokio::test(flavor = "multi_thread")]
async fn storescu_into_our_scp_reaches_the_ingest_hook() {
    let scp = TestScp::start("ENS-SCP", storage_store(), |c| c.max_pdu_length = 16384).await;
    let dir = integration_tests::private_tempdir();
    let file = dir.path().join("ct.dcm");
    let data_set = ct("1.2.826.0.1.3680043.2.3", EXPLICIT, 3 * 1024 * 1024).write(&file);
    let out = storescu("ENS-SCP", scp.addr.port(), &[file], &["-aet", "ENS-SCU"]).await;
    assert!(out.ok, "{out}");
    assert!(
        out.output.contains("Received Store Response (Success)"),
        "{out}"
    );
    let received = scp.received.0.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    let (instance, bytes) = &received[0];
    assert_eq!(instance.sop_instance_uid, "1.2.826.0.1.3680043.2.3");
    assert_eq!(instance.sop_class_uid, CT_IMAGE_STORAGE);
    assert_eq!(instance.transfer_syntax, EXPLICIT);
    assert_eq!(instance.calling_ae_title.as_str(), "ENS-SCU");
    assert_eq!(bytes.len(), data_set.len());
    assert!(
        bytes == &data_set,
        "the received data set differs from the file's"
    );
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_set_over_max_object_size_is_refused_and_the_next_one_taken() {
    let scp = TestScp::start("ENS-SCP", storage_store(), |c| {
        c.max_object_size = Some(100_000);
    })
    .await;
    let dir = integration_tests::private_tempdir();
    let (big, small) = (dir.path().join("big.dcm"), dir.path().join("small.dcm"));
    ct("1.2.826.0.1.3680043.2.31", EXPLICIT, 200_000).write(&big);
    let small_data_set = ct("1.2.826.0.1.3680043.2.32", EXPLICIT, 4096).write(&small);
    let out = storescu(
        "ENS-SCP",
        scp.addr.port(),
        &[big, small],
        // Go on after a refusal.
        &["-aet", "ENS-SCU", "--no-halt"],
    )
    .await;
    assert!(
        out.output
            .contains("Received Store Response (Refused: OutOfResources)")
            && out.output.contains("Received Store Response (Success)"),
        "{out}"
    );
    let received = scp.received.0.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "only the small one is taken in");
    assert_eq!(received[0].0.sop_instance_uid, "1.2.826.0.1.3680043.2.32");
    assert!(received[0].1 == small_data_set);
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn storescu_for_an_unstored_sop_class_is_refused_by_context() {
    let scp = TestScp::start(
        "ENS-SCP",
        vec![association(
            "ENS-SCU",
            "ENS-SCP",
            &[(MR_IMAGE_STORAGE, &[IMPLICIT])],
        )],
        |_| {},
    )
    .await;
    let dir = integration_tests::private_tempdir();
    let file = dir.path().join("ct.dcm");
    ct("1.2.826.0.1.3680043.2.4", EXPLICIT, 1024).write(&file);
    let out = storescu("ENS-SCP", scp.addr.port(), &[file], &["-aet", "ENS-SCU"]).await;
    // storescu finds no accepted context for CT and reports it.
    assert!(
        out.output
            .to_lowercase()
            .contains("no presentation context")
            || out.output.contains("No Acceptable Presentation Contexts"),
        "{out}"
    );
    assert!(scp.received.0.lock().expect("lock").is_empty());
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pynetdicom_store_into_our_scp() {
    let scp = TestScp::start("ENS-SCP", storage_store(), |_| {}).await;
    let dir = integration_tests::private_tempdir();
    let file = dir.path().join("ct.dcm");
    let data_set = ct("1.2.826.0.1.3680043.2.5", IMPLICIT, 100_000).write(&file);
    const SCRIPT: &str = r#"
import sys
from pydicom import dcmread
from pynetdicom import AE
ds = dcmread(sys.argv[2])
ae = AE(ae_title="ENS-SCU")
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2"])
assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="ENS-SCP")
status = assoc.send_c_store(ds)
print("status 0x%04X" % status.Status)
assoc.release()
"#;
    let out = run_python(SCRIPT, &[&scp.port(), &file.to_string_lossy()]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("status 0x0000"),
        "{}",
        text(&out)
    );
    let received = scp.received.0.lock().expect("lock").clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0.transfer_syntax, IMPLICIT);
    // pynetdicom re-encodes the data set; the pixel data must survive.
    assert!(
        received[0].1.len() >= data_set.len() - 64,
        "{} vs {}",
        received[0].1.len(),
        data_set.len()
    );
    scp.stop().await;
}

async fn store_with_our_scu(port: u16, called: &str, file: &Path, proposed: &[&str]) -> Status {
    let options = ScuOptions::new("ENS-SCU", called).with_context(CT_IMAGE_STORAGE, proposed);
    let mut association = connect(&format!("127.0.0.1:{port}"), &options)
        .await
        .expect("associate");
    let status = association.store_file(file).await.expect("store");
    association.release().await.expect("release");
    status
}

#[tokio::test(flavor = "multi_thread")]
async fn our_scu_into_dcmtk_storescp() {
    let out_dir = integration_tests::private_tempdir();
    let peer = Archive::start("ARCHIVE", Port::reserve(), out_dir.path()).await;
    let dir = integration_tests::private_tempdir();
    let file = dir.path().join("ct.dcm");
    let data_set = ct("1.2.826.0.1.3680043.2.6", EXPLICIT, 2 * 1024 * 1024).write(&file);
    let status = store_with_our_scu(peer.port(), "ARCHIVE", &file, &[EXPLICIT]).await;
    assert_eq!(status, Status::SUCCESS);
    // storescp wrote the instance; its data set matches ours.
    let written: Vec<_> = std::fs::read_dir(out_dir.path())
        .expect("out dir")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let bytes = std::fs::read(written[0].path()).expect("read");
    assert!(bytes.ends_with(&data_set[data_set.len() - 4096..]));
}

#[tokio::test(flavor = "multi_thread")]
async fn our_scu_into_pynetdicom() {
    let peer = pynetdicom::start_scp("PYSCP").await;
    let dir = integration_tests::private_tempdir();
    let file = dir.path().join("ct.dcm");
    ct("1.2.826.0.1.3680043.2.7", EXPLICIT, 300_000).write(&file);
    let status = store_with_our_scu(peer.port(), "PYSCP", &file, &[EXPLICIT]).await;
    assert_eq!(status, Status::SUCCESS);
}
