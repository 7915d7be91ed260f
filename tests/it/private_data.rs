//! Patient data stays private: after C-STOREs nothing under the data
//! directory is open to another user, whatever the umask the engine was
//! started with; a data directory open to others is refused with the fix.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use integration_tests::dcmtk::storescu;
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, write_instances};
use integration_tests::net::Port;
use integration_tests::production::Production;
use integration_tests::uids::EXPLICIT;
use integration_tests::{switchboard_bin, text};

/// Every path under `dir` (itself included) with its mode.
fn modes(dir: &Path, out: &mut Vec<(PathBuf, u32)>) {
    let meta = std::fs::symlink_metadata(dir).expect("metadata");
    out.push((dir.to_path_buf(), meta.permissions().mode() & 0o7777));
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            modes(&entry.path(), out);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_under_the_data_directory_is_open_to_other_users() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let production = Production::store_and_forward(port.get(), archive_port.get()).to_string();
    let engine = TestEngine::start(&[("test", "forward", &production)]).await;
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 3, 4096);
    let files: Vec<PathBuf> = paths_of(&sent);
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 3, "{stored}");
    let mut all = Vec::new();
    modes(&engine.data_dir(), &mut all);
    assert!(all.len() > 10, "bodies, spool files, the store: {all:?}");
    let open: Vec<_> = all.iter().filter(|(_, m)| m & 0o077 != 0).collect();
    assert!(open.is_empty(), "open to others: {open:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_open_to_others_is_refused_with_the_chmod_that_fixes_it() {
    let root = integration_tests::private_tempdir();
    let data = root.path().join("data");
    let productions = root.path().join("productions");
    std::fs::create_dir_all(&productions).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = tokio::process::Command::new(switchboard_bin())
        .arg("--data-dir")
        .arg(&data)
        .arg("run")
        .arg("--productions")
        .arg(&productions)
        .output()
        .await
        .expect("run switchboard");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("chmod 700 {}", data.display())),
        "{}",
        text(&out)
    );
    assert!(!data.join("store").exists(), "nothing written");
}
