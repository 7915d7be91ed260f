//! Mis-encoded data sets on the routing path: a length that lies by four
//! gigabytes, implicit VR elements under an explicit transfer syntax, a UN
//! holding a sequence. The routing plugin reads what can be read, the
//! engine's memory stays at the size of the data, and every instance is
//! filed exactly as it was received.

use std::path::{Path, PathBuf};

use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Instance, Modality, data_set_bytes};
use integration_tests::plugins::plugin;
use integration_tests::production::{FileOperation, FileService, Process, Production};
use integration_tests::uids::{EXPLICIT, JPEG_BASELINE};

fn tag(group: u16, element: u16) -> Vec<u8> {
    [group.to_le_bytes(), element.to_le_bytes()].concat()
}

/// An explicit VR little endian element with a 16-bit length.
fn short(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let len = u16::try_from(value.len()).unwrap().to_le_bytes();
    [
        tag(group, element),
        vr.to_vec(),
        len.to_vec(),
        value.to_vec(),
    ]
    .concat()
}

/// An explicit VR little endian header with a 32-bit length (OB, SQ, UN…).
fn long_header(group: u16, element: u16, vr: &[u8; 2], len: u32) -> Vec<u8> {
    [
        tag(group, element),
        vr.to_vec(),
        vec![0, 0],
        len.to_le_bytes().to_vec(),
    ]
    .concat()
}

/// An implicit VR little endian element (or item, or delimiter).
fn implicit(group: u16, element: u16, len: u32, value: &[u8]) -> Vec<u8> {
    [
        tag(group, element),
        len.to_le_bytes().to_vec(),
        value.to_vec(),
    ]
    .concat()
}

/// A Part 10 file for a CT instance whose data set is `data_set`, as is.
fn write_part10(path: &Path, uid: &str, transfer_syntax: &str, data_set: &[u8]) {
    Instance::new(Modality::Ct)
        .sop_instance_uid(uid)
        .transfer_syntax(transfer_syntax)
        .write(path);
    let file = std::fs::read(path).unwrap();
    let meta = file.len() - data_set_bytes(path).len();
    std::fs::write(path, [&file[..meta], data_set].concat()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn mis_encoded_data_sets_are_routed_by_what_can_be_read_in_bounded_memory() {
    let root = integration_tests::private_tempdir();
    let (inbox, ct, other) = (
        root.path().join("inbox"),
        root.path().join("ct"),
        root.path().join("other"),
    );
    std::fs::create_dir_all(&inbox).unwrap();
    let text = Production::new()
        .file_service(FileService::new("INBOX", &inbox, ["BY-MODALITY"]).poll_interval("100ms"))
        .process(Process::wasm(
            "BY-MODALITY",
            &plugin("route-by-modality"),
            r#"{ routes = { CT = ["CT"] }, default = ["OTHER"] }"#,
            ["CT", "OTHER"],
        ))
        .file_operation(FileOperation::new("CT", &ct))
        .file_operation(FileOperation::new("OTHER", &other))
        .to_string();
    let engine = TestEngine::start(&[("test", "mis-encoded", &text)]).await;
    let before = engine.peak_memory_mib();

    let modality = short(0x0008, 0x0060, b"CS", b"CT");
    let cases: [(&str, &str, Vec<u8>); 3] = [
        // 36 bytes: Modality, then an OB claiming 4 GiB with 14 left.
        (
            "liar",
            EXPLICIT,
            [
                modality.clone(),
                long_header(0x0042, 0x0011, b"OB", 0xFFFF_FFF0),
                vec![0xAB; 14],
            ]
            .concat(),
        ),
        // Implicit VR elements (Modality among them) under JPEG Baseline.
        (
            "implicit",
            JPEG_BASELINE,
            [
                short(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0"),
                implicit(0x0008, 0x0060, 2, b"CT"),
                implicit(0x0010, 0x0010, 8, b"Doe^Jane"),
                short(0x0010, 0x0020, b"LO", b"ID-1"),
            ]
            .concat(),
        ),
        // A UN of undefined length holding an implicit VR sequence, then
        // Modality.
        (
            "un-sequence",
            EXPLICIT,
            [
                long_header(0x0008, 0x1140, b"UN", u32::MAX),
                implicit(0xFFFE, 0xE000, u32::MAX, &[]),
                implicit(0x0008, 0x1155, 8, b"1.2.3.4\0"),
                implicit(0xFFFE, 0xE00D, 0, &[]),
                implicit(0xFFFE, 0xE0DD, 0, &[]),
                modality,
            ]
            .concat(),
        ),
    ];
    let mut sent: Vec<(PathBuf, String)> = Vec::new();
    for (i, (name, ts, data_set)) in cases.iter().enumerate() {
        let uid = format!("1.2.826.0.1.3680043.10.1142.77.{}", i + 1);
        let staged = root.path().join(format!("{name}.dcm"));
        write_part10(&staged, &uid, ts, data_set);
        sent.push((staged.clone(), uid));
        std::fs::copy(&staged, inbox.join(format!("{name}.dcm"))).unwrap();
    }
    assert_eq!(cases[0].2.len(), 36);

    engine
        .wait_until("every instance filed", async || {
            sent.iter()
                .all(|(_, uid)| ct.join(format!("{uid}.dcm")).exists())
                && engine.all_delivered("test").await
        })
        .await;
    for (staged, uid) in &sent {
        let filed = ct.join(format!("{uid}.dcm"));
        assert!(
            data_set_bytes(staged) == data_set_bytes(&filed),
            "{uid} changed on the way"
        );
    }
    assert!(!other.exists() || std::fs::read_dir(&other).unwrap().count() == 0);
    let log = engine.log();
    assert!(
        log.contains("Data set read only in part")
            && log.contains("(0042,0011) at byte 10 says its value has 4294967280 bytes"),
        "{log}"
    );
    // The decoder used to size an allocation from the lying length (GiBs).
    let peak = engine.peak_memory_mib();
    assert!(
        peak < before + 256,
        "peak memory {peak} MiB (at start {before} MiB)"
    );
}
