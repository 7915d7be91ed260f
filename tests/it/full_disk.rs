//! A full disk: with the data directory on a small tmpfs, C-STOREs are
//! refused with A700 once free space falls below the floor (said once in the
//! log, not once per message), C-ECHO is still answered, and once space is
//! freed C-STOREs succeed again without a restart; everything acknowledged
//! before and after is delivered. With no floor, the store's own log hits
//! the full disk, and the store is reopened in place once space is back.

use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::dcmtk::{Archive, echoscu, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, paths_of, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, Production};
use integration_tests::uids::EXPLICIT;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` when this user cannot mount (not root).
    fn mount(at: &Path, size_mib: u64) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size_mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _unmounted = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Bytes free on the file system of `path`.
fn available(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df prints the free bytes")
}

/// A store-and-forward engine (C-ECHO from ECHOSCU too) whose data
/// directory is a 64 MiB tmpfs, with this free-space floor; `None` when
/// this user cannot mount (a test then says it is skipped; root never may).
async fn engine_on_tmpfs(
    port: &Port,
    archive_port: &Port,
    floor_mib: &str,
) -> Option<(TestEngine, Tmpfs)> {
    let production = Production::store_and_forward(port.get(), archive_port.get())
        .association(Association::verification("ECHOSCU", "ROUTER"))
        .to_string();
    let mut mounted = None;
    let engine = TestEngine::start_with(
        &[("test", "forward", &production)],
        &["--min-free-space-mib", floor_mib],
        |data| mounted = Tmpfs::mount(data, 64),
    )
    .await;
    let Some(tmpfs) = mounted else {
        // Only a user who cannot mount may skip it: never root (CI).
        let root = Command::new("id").arg("-u").output().expect("id");
        assert_ne!(
            String::from_utf8_lossy(&root.stdout).trim(),
            "0",
            "root could not mount a tmpfs"
        );
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return None;
    };
    Some((engine, tmpfs))
}

#[tokio::test(flavor = "multi_thread")]
async fn below_the_free_space_floor_c_stores_are_refused_and_accepted_again_once_space_is_freed() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let Some((engine, _tmpfs)) = engine_on_tmpfs(&port, &archive_port, "16").await else {
        return;
    };
    let data = engine.data_dir();
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 6, 64 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);

    // Room: acknowledged (the archive is down, so they wait on this disk).
    let stored = storescu("ROUTER", port.get(), &files[..2], &[]).await;
    assert!(stored.ok && stored.acknowledged() == 2, "{stored}");

    // Below the floor: refused, and said once.
    let filler = data.join("filler");
    let fill = available(&data).saturating_sub(8 << 20);
    std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();
    for file in &files[2..4] {
        let refused = storescu("ROUTER", port.get(), std::slice::from_ref(file), &[]).await;
        assert_eq!(refused.acknowledged(), 0, "{refused}");
        assert!(
            refused.output.contains("Refused: OutOfResources"),
            "{refused}"
        );
    }
    assert!(echoscu("ECHOSCU", "ROUTER", port.get(), &[]).await.ok);
    assert_eq!(engine.log_count("Low on disk space"), 1, "{}", engine.log());

    // Space again: accepted, no restart.
    std::fs::remove_file(&filler).unwrap();
    let stored = storescu("ROUTER", port.get(), &files[4..], &[]).await;
    assert!(stored.ok && stored.acknowledged() == 2, "{stored}");
    assert_eq!(
        engine.log_count("Disk space is back"),
        1,
        "{}",
        engine.log()
    );

    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let acknowledged: Vec<String> = sent[..2]
        .iter()
        .chain(&sent[4..])
        .map(|(_, u)| u.clone())
        .collect();
    archive.wait_for(&acknowledged, &engine, "test").await;
    assert!(!archive.received().contains_key(&sent[2].1));
    drop(archive);
    drop(engine);
}

/// Fills the file system of `dir` to the last byte; returns the filler.
fn fill_to_the_byte(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    for chunk in [1 << 16, 1] {
        while file.write_all(&vec![0u8; chunk]).is_ok() {}
    }
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_store_fails_on_a_full_disk_it_is_reopened_once_space_is_freed_without_a_restart()
{
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    // No floor: the disk fills to the byte under the store's own writes.
    let Some((engine, _tmpfs)) = engine_on_tmpfs(&port, &archive_port, "0").await else {
        return;
    };
    let data = engine.data_dir();
    let input = engine.folder("input");
    let sent = write_instances(&input, "ct", Modality::Ct, EXPLICIT, 5, 16 * 1024);
    let files: Vec<PathBuf> = paths_of(&sent);

    // Acknowledged; the archive is down, so their lane keeps writing retries.
    let stored = storescu("ROUTER", port.get(), &files[..2], &[]).await;
    assert!(stored.ok && stored.acknowledged() == 2, "{stored}");

    // Another program fills the disk: sled's next log write fails.
    let filler = fill_to_the_byte(&data);
    let refused = storescu("ROUTER", port.get(), &files[2..3], &[]).await;
    assert_eq!(refused.acknowledged(), 0, "{refused}");
    engine
        .wait_for_log("The store has stopped writing", 1)
        .await;
    assert!(echoscu("ECHOSCU", "ROUTER", port.get(), &[]).await.ok);

    // Space again: the store is reopened in place, C-STOREs are taken in.
    std::fs::remove_file(&filler).unwrap();
    engine.wait_for_log("was reopened: it works again", 1).await;
    let stored = storescu("ROUTER", port.get(), &files[3..], &[]).await;
    assert!(
        stored.ok && stored.acknowledged() == 2,
        "{stored}\n{}",
        engine.log()
    );

    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let acknowledged: Vec<String> = sent[..2]
        .iter()
        .chain(&sent[3..])
        .map(|(_, u)| u.clone())
        .collect();
    archive.wait_for(&acknowledged, &engine, "test").await;
    assert_eq!(
        engine.log_count("The store has stopped writing"),
        1,
        "{}",
        engine.log()
    );
    drop(archive);
    drop(engine);
}
