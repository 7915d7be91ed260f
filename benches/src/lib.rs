//! Benchmarks: Switchboard side by side with peers. The programs are in
//! `src/bin/`; this library holds what they share.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

/// CT Image Storage.
pub const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
/// Explicit VR Little Endian.
pub const EXPLICIT: &str = "1.2.840.10008.1.2.1";

/// Writes `count` Part 10 CT instances with about `bytes` of pixel data in
/// `frames` frames into `dir`, named `<tag>-NNNNN.dcm`, in series `group`.
///
/// # Errors
/// When the folder or a file cannot be written.
pub fn generate(
    dir: &Path,
    tag: &str,
    group: usize,
    count: usize,
    bytes: usize,
    frames: usize,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let series = format!("1.2.826.0.1.3680043.10.1143.{}.{group}", std::process::id());
    let mut out = Vec::new();
    let pixels: Vec<u8> = (0..bytes).map(|i| (i * 31 % 251) as u8).collect();
    for n in 1..=count {
        let uid = format!("{series}.{n}");
        let frame_bytes = bytes / frames;
        let side = (((frame_bytes / 2) as f64).sqrt() as u16).max(1);
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, PrimitiveValue::from(CT)),
            DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(uid.as_str()),
            ),
            DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")),
            DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")),
            DataElement::new(
                tags::PATIENT_NAME,
                VR::PN,
                PrimitiveValue::from("Bench^Mark"),
            ),
            DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(series.as_str()),
            ),
            DataElement::new(
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                PrimitiveValue::from(frames.to_string()),
            ),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(side)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(side)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::from(pixels.clone()),
            ),
        ]);
        let path = dir.join(format!("{tag}-{n:05}.dcm"));
        obj.with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(EXPLICIT)
                .media_storage_sop_class_uid(CT)
                .media_storage_sop_instance_uid(uid.as_str()),
        )?
        .write_to_file(&path)?;
        out.push(path);
    }
    Ok(out)
}

/// A free TCP port on 127.0.0.1.
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `127.0.0.1:port` every millisecond until it accepts a connection;
/// returns when it did.
///
/// # Errors
/// Nothing listens within `timeout`.
pub fn wait_tcp(port: u16, timeout: std::time::Duration) -> anyhow::Result<std::time::Instant> {
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(start.elapsed() < timeout, "nothing listens on {port}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(std::time::Instant::now())
}

/// Checks that DCMTK's `storescu` and `storescp` are installed where the
/// benchmarks run them, and returns the engine binary built next to the
/// running benchmark (same profile).
///
/// # Errors
/// A tool or the engine is missing.
pub fn dcmtk_and_engine() -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context as _;
    for tool in ["storescu", "storescp"] {
        anyhow::ensure!(
            std::path::Path::new("/usr/bin").join(tool).is_file(),
            "/usr/bin/{tool} is missing: sudo apt-get install dcmtk"
        );
    }
    let engine = std::env::current_exe()?
        .parent()
        .context("bench location")?
        .join("switchboard");
    anyhow::ensure!(
        engine.is_file(),
        "{} is missing: build the engine in the same profile",
        engine.display()
    );
    Ok(engine)
}
