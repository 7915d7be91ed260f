use super::*;
use crate::association::{
    AeTitle, AssociationContext, IMPLICIT_VR_LITTLE_ENDIAN, PairKey, PresentationContext, Uid,
    VERIFICATION,
};

fn ae(s: &str) -> AeTitle {
    AeTitle::new(s).unwrap()
}

fn ctx(calling: &str, called: &str, sops: &[&str]) -> AssociationContext {
    let mut c = AssociationContext::new(ae(calling), ae(called));
    for sop in sops {
        c.presentation_contexts.push(
            PresentationContext::new(
                Uid::new(sop).unwrap(),
                vec![Uid::new(IMPLICIT_VR_LITTLE_ENDIAN).unwrap()],
            )
            .unwrap(),
        );
    }
    c
}

fn ns(s: &str) -> NamespaceId {
    NamespaceId::new(s).unwrap()
}

#[test]
fn put_get_list_delete() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let a = store.associations(&ns("default"));
    let one = ctx("ENS-SCU", "MWL-SCP", &[VERIFICATION]);
    a.put(one.clone(), false).unwrap();
    assert_eq!(a.get(&one.key()).unwrap(), Some(one.clone()));
    assert!(matches!(
        a.put(one.clone(), false),
        Err(StoreError::AlreadyExists { .. })
    ));
    a.put(ctx("A", "B", &[]), false).unwrap();
    a.put(ctx("ENS", "Z", &[]), false).unwrap();
    let keys: Vec<String> = a
        .list()
        .unwrap()
        .iter()
        .map(|c| c.key().to_string())
        .collect();
    assert_eq!(keys, ["A -> B", "ENS -> Z", "ENS-SCU -> MWL-SCP"]);
    assert_eq!(a.delete(&one.key()).unwrap(), one);
    assert!(matches!(
        a.delete(&one.key()),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(a.list().unwrap().len(), 2);
}

/// Opens a store again after its last handle was dropped in this process.
/// sled's I/O threads may still hold the directory's lock for a moment after
/// the drop (longer on a busy machine), so `Locked` is retried.
pub(super) fn reopen(dir: &std::path::Path) -> Store {
    let start = std::time::Instant::now();
    loop {
        match Store::open(dir) {
            Err(StoreError::Locked { .. })
                if start.elapsed() < std::time::Duration::from_secs(10) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.unwrap(),
        }
    }
}

#[test]
fn data_survives_reopen() {
    let dir = crate::store::private_tempdir();
    let one = ctx("ENS-SCU", "MWL-SCP", &[VERIFICATION, "1.2.3"]);
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .associations(&ns("default"))
            .put(one.clone(), false)
            .unwrap();
    }
    let store = reopen(dir.path());
    assert_eq!(
        store.associations(&ns("default")).list().unwrap(),
        vec![one]
    );
}

#[test]
fn second_open_is_locked() {
    let dir = crate::store::private_tempdir();
    let _held = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
}

#[test]
fn namespaces_are_isolated() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let a = store.associations(&ns("a"));
    let b = store.associations(&ns("b"));
    a.put(ctx("X", "Y", &[VERIFICATION]), false).unwrap();
    b.put(ctx("X", "Y", &["1.2.3", "1.2.4"]), false).unwrap();
    let key = PairKey::new(ae("X"), ae("Y"));
    assert_eq!(a.get(&key).unwrap().unwrap().presentation_contexts.len(), 1);
    assert_eq!(b.get(&key).unwrap().unwrap().presentation_contexts.len(), 2);
    a.delete(&key).unwrap();
    assert!(b.get(&key).unwrap().is_some());
    assert!(store.associations(&ns("c")).list().unwrap().is_empty());
}

#[test]
fn update_is_atomic_on_error() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let a = store.associations(&ns("default"));
    let one = ctx("A", "B", &[VERIFICATION]);
    a.put(one.clone(), false).unwrap();
    // A result that breaks the model is refused and nothing changes.
    let r: Result<_, StoreError> = a.update(&one.key(), |c| {
        c.name = "n".repeat(65);
        Ok(())
    });
    assert!(matches!(r, Err(StoreError::Invalid(_))));
    // The AE titles cannot change.
    let updated: AssociationContext = a
        .update::<StoreError, _>(&one.key(), |c| {
            c.name = "worklist".into();
            c.calling_ae_title = ae("OTHER");
            Ok(())
        })
        .unwrap();
    assert_eq!(updated.calling_ae_title, ae("A"));
    assert_eq!(a.list().unwrap().len(), 1);
    assert_eq!(a.get(&one.key()).unwrap().unwrap().name, "worklist");
    let missing = PairKey::new(ae("NO"), ae("PE"));
    let r: Result<_, StoreError> = a.update(&missing, |_| Ok(()));
    assert!(matches!(r, Err(StoreError::NotFound { .. })));
}

#[test]
fn lookup_prefers_exact_then_wildcards() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let a = store.associations(&ns("default"));
    let name = |c: Option<AssociationContext>| c.map(|c| c.name);
    let with_name = |calling: &str, called: &str, n: &str| {
        let mut c = ctx(calling, called, &[VERIFICATION]);
        c.name = n.into();
        c
    };
    assert_eq!(name(a.lookup(&ae("M"), &ae("S")).unwrap()), None);
    a.put(with_name("*", "*", "any"), false).unwrap();
    assert_eq!(name(a.lookup(&ae("M"), &ae("S")).unwrap()).unwrap(), "any");
    a.put(with_name("*", "S", "to-s"), false).unwrap();
    assert_eq!(name(a.lookup(&ae("M"), &ae("S")).unwrap()).unwrap(), "to-s");
    a.put(with_name("M", "*", "from-m"), false).unwrap();
    assert_eq!(
        name(a.lookup(&ae("M"), &ae("S")).unwrap()).unwrap(),
        "from-m"
    );
    a.put(with_name("M", "S", "exact"), false).unwrap();
    assert_eq!(
        name(a.lookup(&ae("M"), &ae("S")).unwrap()).unwrap(),
        "exact"
    );
    assert_eq!(name(a.lookup(&ae("Q"), &ae("R")).unwrap()).unwrap(), "any");
}

/// A context read again comes from what was decoded before, as long as
/// the stored bytes are the same: every change is seen at once, whoever
/// made it, and a namespace never sees another's.
#[test]
fn a_context_read_again_is_what_is_stored_now() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let (a, b) = (store.associations(&ns("a")), store.associations(&ns("b")));
    let name = |c: Option<AssociationContext>| c.map(|c| c.name);
    let mut one = ctx("M", "S", &[VERIFICATION]);
    one.name = "first".into();
    a.put(one.clone(), false).unwrap();
    for _ in 0..2 {
        assert_eq!(name(a.get(&one.key()).unwrap()).as_deref(), Some("first"));
    }
    assert_eq!(name(b.get(&one.key()).unwrap()), None, "another namespace");
    one.name = "second".into();
    b.put(one.clone(), false).unwrap();
    assert_eq!(name(b.get(&one.key()).unwrap()).as_deref(), Some("second"));
    assert_eq!(name(a.get(&one.key()).unwrap()).as_deref(), Some("first"));
    a.put(one.clone(), true).unwrap();
    assert_eq!(
        name(a.lookup(&ae("M"), &ae("S")).unwrap()).as_deref(),
        Some("second")
    );
    // Written past the API (as a newer engine or a damaged file might):
    // read as it is now, not as it was.
    let tree = store.tree("a/associations").unwrap();
    let key = keys::pair_key(&one.key());
    tree.insert(&key, &b"\x01{}"[..]).unwrap();
    assert!(a.get(&one.key()).is_err(), "no longer a valid context");
    tree.remove(&key).unwrap();
    assert_eq!(name(a.get(&one.key()).unwrap()), None, "deleted");
}

#[test]
fn stored_values_carry_a_version_byte() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let one = ctx("A", "B", &[VERIFICATION]);
    store
        .associations(&ns("default"))
        .put(one.clone(), false)
        .unwrap();
    let tree = store.tree("default/associations").unwrap();
    let raw = tree.get(keys::pair_key(&one.key())).unwrap().unwrap();
    assert_eq!(raw[0], 1);
    assert!(serde_json::from_slice::<serde_json::Value>(&raw[1..]).is_ok());
    // An unknown version is reported, not misread.
    let mut bad = raw.to_vec();
    bad[0] = 9;
    tree.insert(keys::pair_key(&one.key()), bad).unwrap();
    let err = store
        .associations(&ns("default"))
        .get(&one.key())
        .unwrap_err();
    assert!(err.to_string().contains("format version 9"), "{err}");
}

#[test]
fn concurrent_updates_are_all_kept() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let a = store.associations(&ns("default"));
    let one = ctx("A", "B", &[]);
    a.put(one.clone(), false).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let a = a.clone();
            let key = one.key();
            std::thread::spawn(move || {
                for i in 0..10 {
                    let sop = Uid::new(&format!("1.2.{t}.{i}")).unwrap();
                    a.update::<StoreError, _>(&key, |c| {
                        c.presentation_contexts.push(
                            PresentationContext::new(
                                sop.clone(),
                                vec![Uid::implicit_vr_little_endian()],
                            )
                            .unwrap(),
                        );
                        Ok(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Each read-modify-write saw the others' results: none was lost.
    assert_eq!(
        a.get(&one.key())
            .unwrap()
            .unwrap()
            .presentation_contexts
            .len(),
        40
    );
}

/// A real sync failure: `fdatasync` of a pipe fails (EINVAL), as a body's
/// would on a failing disk. From then on the store and the bodies refuse to
/// acknowledge or write, also what a retry would find already in memory.
#[test]
fn one_failed_sync_refuses_every_later_write_until_restart() {
    use crate::message::MessageId;
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let bodies = store.bodies().unwrap();
    let a = store.associations(&ns("default"));
    let one = ctx("ENS-SCU", "MWL-SCP", &[VERIFICATION]);
    a.put(one.clone(), false).unwrap();
    store.sync().unwrap();

    let (_reader, writer) = std::io::pipe().unwrap();
    let pipe = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
    let trailer = BodyTrailer {
        id: MessageId(1),
        namespace: ns("default"),
        header: crate::store::test_header(1),
        targets: Vec::new(),
    };
    let spool = bodies.dir().join("spooled.part");
    assert!(bodies.sync_file(&pipe, &spool).is_err());

    let refused = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        assert!(
            text.contains("refuses writes since a sync to disk failed"),
            "{text}"
        );
    };
    refused(&store.sync().unwrap_err());
    refused(
        &bodies
            .write(&b"DATA"[..], &mut trailer.clone())
            .unwrap_err(),
    );
    refused(&bodies.sync_dir().unwrap_err());
    // The SCP asks before it spools a C-STORE, and answers A700.
    refused(&bodies.refuses().unwrap());
    // Unchanged or not, an edit is refused: nothing reads as stored.
    refused(&a.put(one.clone(), true).unwrap_err());
    refused(&a.delete(&one.key()).unwrap_err());
    assert_eq!(a.get(&one.key()).unwrap(), Some(one), "reads still work");
    drop((a, bodies, store));
    // A restart reads what is on disk and starts afresh.
    let store = reopen(dir.path());
    store.sync().unwrap();
    store.bodies().unwrap().sync_dir().unwrap();
}

#[test]
fn a_new_data_dir_is_private_and_one_open_to_others_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = crate::store::private_tempdir();
    let data = dir.path().join("data");
    drop(Store::open(&data).unwrap());
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = Store::open(&data).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, StoreError::NotPrivate { mode: 0o755, .. }),
        "{text}"
    );
    assert!(
        text.contains(&format!("chmod 700 {}", data.display())),
        "{text}"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    drop(reopen(&data));
}

/// A tmpfs of `mib` MiB mounted at `at` for one test (root only), unmounted
/// when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, mib: u64) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success())
            .then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _unmounted = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system of `dir` to the last byte; returns the filler.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    for chunk in [1 << 16, 1] {
        while file.write_all(&vec![0u8; chunk]).is_ok() {}
    }
    path
}

#[test]
fn a_store_sled_gave_up_on_when_the_disk_filled_is_reopened_with_nothing_lost() {
    use crate::message::{ItemAddress, MessageId, MessageQueues};
    let dir = crate::store::private_tempdir();
    let Some(_fs) = Tmpfs::mount(&dir.path().join("fs"), 8) else {
        let uid = std::process::Command::new("id").arg("-u").output().unwrap();
        assert_ne!(
            String::from_utf8_lossy(&uid.stdout).trim(),
            "0",
            "root could not mount"
        );
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    };
    let data = dir.path().join("fs/data");
    let store = Store::open(&data).unwrap();
    let bodies = store.bodies().unwrap();
    let messages = store.messages(&ns("full")).unwrap();
    let target = [ItemAddress::new("p", "OUT")];
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let id = messages.next_id().unwrap();
        messages.accept(id, test_header(n), &target).unwrap();
        acknowledged.push(id);
    }
    store.sync().unwrap();

    // Another program fills the disk; sled's next log writes fail.
    let filler = fill(&dir.path().join("fs"));
    let mut failed = false;
    for n in 20..5000 {
        let written = messages
            .next_id()
            .and_then(|id| messages.accept(id, test_header(n), &target))
            .and_then(|_| Ok(store.sync()?));
        if written.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "sled never hit the full disk");
    assert!(
        matches!(store.heal(&bodies).unwrap(), Health::Waiting(why) if why.contains("KiB free"))
    );
    std::fs::remove_file(filler).unwrap();
    // Space is back, but sled still refuses to write.
    assert!(!store.healthy());
    let id = messages.next_id().unwrap_or(MessageId(1_000_000));
    assert!(
        messages
            .accept(id, test_header(8888), &target)
            .and_then(|_| Ok(store.sync()?))
            .is_err()
    );

    let Health::Reopened(healed) = store.heal(&bodies).unwrap() else {
        panic!("not reopened");
    };
    assert_eq!(healed.requeued, 0);
    assert!(store.healthy());
    assert_eq!(store.heal(&bodies).unwrap(), Health::Working);
    for id in &acknowledged {
        let record = messages.get(*id).unwrap();
        assert!(record.deliveries[0].status.is_pending(), "{record:?}");
    }
    let id = messages.next_id().unwrap();
    messages.accept(id, test_header(9999), &target).unwrap();
    store.sync().unwrap();
    assert!(
        messages
            .pending(&target[0], None, 10_000)
            .unwrap()
            .contains(&id)
    );
}
