//! Routing plugins for tests: built from source (never committed as
//! binaries), and small DICOM files to route.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

/// Every plugin crate under `plugins/`, examples and test fixtures.
pub const PLUGINS: &[&str] = &[
    "route-by-modality",
    "route-by-ae-title",
    "tag-morph",
    "filter",
    "test-misbehave",
    "test-wrong-version",
];

/// CT Image Storage.
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
/// MR Image Storage.
pub const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
/// Explicit VR Little Endian.
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf()
}

/// The target directory of this test build (`<target>/debug/deps/it-…` → `<target>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.ancestors()
        .nth(3)
        .expect("test executable lives in <target>/debug/deps")
        .to_path_buf()
}

static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Builds every plugin for `wasm32-wasip2` (release) once per test process
/// and returns the folder holding the `.wasm` files. Cargo makes this a
/// quick no-op when nothing changed (scripts/build-plugins builds the same
/// thing into the same place).
///
/// # Panics
/// When the build fails; the message says how to build by hand.
pub fn plugin_dir() -> PathBuf {
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(dir) = built.as_ref() {
        return dir.clone();
    }
    // The test build's own target dir: cargo has released its lock by the time
    // tests run, and scripts/build-plugins has usually built these already.
    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--release",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for p in PLUGINS {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().expect("run cargo to build the plugins");
    assert!(
        status.success(),
        "building the plugins for wasm32-wasip2 failed: run `rustup target add wasm32-wasip2` and `scripts/build-plugins`"
    );
    let dir = target.join("wasm32-wasip2").join("release");
    *built = Some(dir.clone());
    dir
}

/// The `.wasm` of one plugin crate, e.g. `plugin("route-by-modality")`.
pub fn plugin(name: &str) -> PathBuf {
    let path = plugin_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// Writes a small Part-10 file (Explicit VR LE) with these attributes
/// besides SOP Class/Instance UID. `elements` are (group, element, VR, value).
pub fn write_dicom(
    path: &Path,
    sop_class: &str,
    sop_instance: &str,
    elements: &[(u16, u16, VR, &str)],
) {
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        Tag(0x0008, 0x0016),
        VR::UI,
        PrimitiveValue::from(sop_class),
    ));
    obj.put(DataElement::new(
        Tag(0x0008, 0x0018),
        VR::UI,
        PrimitiveValue::from(sop_instance),
    ));
    for (g, e, vr, value) in elements {
        obj.put(DataElement::new(
            Tag(*g, *e),
            *vr,
            PrimitiveValue::from(*value),
        ));
    }
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(EXPLICIT_VR_LE)
                .media_storage_sop_class_uid(sop_class)
                .media_storage_sop_instance_uid(sop_instance),
        )
        .expect("build the file meta group");
    file.write_to_file(path).expect("write the DICOM file");
}

/// Writes a CT (Modality CT) or MR (Modality MR) file with this Patient ID.
pub fn write_image(path: &Path, modality: &str, patient_id: &str) {
    write_image_with_uid(path, modality, patient_id, "1.2.826.0.1.3680043.2.1125.1");
}

/// As [`write_image`], with this SOP Instance UID.
pub fn write_image_with_uid(path: &Path, modality: &str, patient_id: &str, sop_instance_uid: &str) {
    let sop_class = if modality == "CT" {
        CT_IMAGE_STORAGE
    } else {
        MR_IMAGE_STORAGE
    };
    write_dicom(
        path,
        sop_class,
        sop_instance_uid,
        &[
            (0x0008, 0x0060, VR::CS, modality),
            (0x0008, 0x0080, VR::LO, "General Hospital"),
            (0x0010, 0x0010, VR::PN, "Doe^Jane"),
            (0x0010, 0x0020, VR::LO, patient_id),
            (0x0020, 0x000D, VR::UI, "1.2.826.0.1.3680043.2.1125.2"),
        ],
    );
}
