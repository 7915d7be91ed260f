use super::*;
use crate::message::MessageQueues;
use crate::store::BodyTrailer;
use crate::store::recover::restore_missing;

fn ns() -> NamespaceId {
    NamespaceId::new("demo").unwrap()
}

fn out() -> ItemAddress {
    ItemAddress::new("p", "OUT")
}

/// A body written with its trailer, its record never stored.
fn body(store: &Store, bodies: &Bodies, n: u64) -> (MessageId, PathBuf) {
    let id = store.next_message_id().unwrap();
    let mut trailer = BodyTrailer {
        id,
        namespace: ns(),
        header: crate::store::test_header(n),
        targets: vec![out()],
    };
    let path = bodies.write(&b"DATA"[..], &mut trailer).unwrap();
    (id, path)
}

/// Sets the two version digits at the end of a body file.
fn set_trailer_version(path: &Path, version: &[u8; 2]) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = bytes.len();
    bytes[n - 2..].copy_from_slice(version);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn an_unreadable_trailer_is_quarantined_never_deleted_and_comes_back() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let bodies = Bodies::open(dir.path()).unwrap();
    let (newer, newer_path) = body(&store, &bodies, 1);
    set_trailer_version(&newer_path, b"02");
    let (_, damaged_path) = body(&store, &bodies, 2);
    // The JSON of the trailer is damaged; magic and version are intact.
    let mut bytes = std::fs::read(&damaged_path).unwrap();
    bytes[4] = b'#';
    std::fs::write(&damaged_path, &bytes).unwrap();
    std::fs::write(bodies.dir().join("cut-short.part"), b"half a data set").unwrap();
    let original = std::fs::read(&newer_path).unwrap();

    let done = restore_missing(&store, &bodies).unwrap();
    assert_eq!(
        (done.restored, done.removed_partial, done.quarantined_bodies),
        (0, 1, 2)
    );
    let quarantine = Quarantine::new(dir.path());
    let listed = quarantine.bodies().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let newer_name = newer_path.file_name().unwrap().to_str().unwrap();
    let entry = listed.iter().find(|b| b.name == newer_name).unwrap();
    assert!(entry.reason.contains("format version \"02\""), "{entry:?}");
    assert_eq!(
        std::fs::read(quarantine.dir().join(newer_name)).unwrap(),
        original,
        "moved, byte for byte"
    );
    assert!(!newer_path.exists() && !damaged_path.exists());

    // Still unreadable: it stays where it is.
    let e = restore(&store, &bodies, &quarantine, newer_name).unwrap_err();
    assert!(matches!(e, RestoreError::StillUnreadable { .. }), "{e}");
    assert!(quarantine.dir().join(newer_name).exists());
    assert!(matches!(
        restore(&store, &bodies, &quarantine, "../store").unwrap_err(),
        RestoreError::NotQuarantined { .. }
    ));

    // Readable again (say, by a newer engine): back and queued.
    set_trailer_version(&quarantine.dir().join(newer_name), b"01");
    let back = restore(&store, &bodies, &quarantine, newer_name).unwrap();
    assert_eq!((back.id, back.queued_for), (newer, vec![out()]));
    assert!(newer_path.exists());
    let m = store.messages(&ns()).unwrap();
    assert_eq!(m.pending(&out(), None, 10).unwrap(), vec![newer]);
    assert_eq!(quarantine.bodies().unwrap().len(), 1);
}

#[test]
fn an_undecodable_record_is_set_aside_and_its_message_restored_from_the_body() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let bodies = Bodies::open(dir.path()).unwrap();
    let (id, path) = body(&store, &bodies, 1);
    let trailer = Bodies::read_trailer(&path).unwrap();
    let m = store.messages(&ns()).unwrap();
    m.accept(id, trailer.header.clone(), &trailer.targets)
        .unwrap();
    let (other, _) = body(&store, &bodies, 2);
    let header = Bodies::read_trailer(&bodies.dir().join(format!("{}.dcm", other.0)))
        .unwrap()
        .header;
    m.accept(other, header, &[out()]).unwrap();
    store
        .tree("demo/messages")
        .unwrap()
        .insert(id.0.to_be_bytes(), &b"\x01{not json"[..])
        .unwrap();
    assert!(m.list(&crate::message::MessageFilter::default()).is_err());

    let done = restore_missing(&store, &bodies).unwrap();
    assert_eq!((done.quarantined_records, done.restored), (1, 1));
    let listed = records(&store).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].tree.as_str(), listed[0].key), ("messages", id.0));
    assert_eq!(m.get(id).unwrap().header.sop_instance_uid, "1.2.3.1");
    assert_eq!(m.pending(&out(), None, 10).unwrap(), vec![id, other]);
}

#[test]
fn retention_goes_on_past_an_undecodable_record() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let bodies = Bodies::open(dir.path()).unwrap();
    let m = store.messages(&ns()).unwrap();
    let mut ids = Vec::new();
    for n in 0..2 {
        let (id, path) = body(&store, &bodies, n);
        let trailer = Bodies::read_trailer(&path).unwrap();
        m.accept(id, trailer.header, &trailer.targets).unwrap();
        m.claim(id, &out()).unwrap().unwrap();
        m.delivered(id, &out(), "").unwrap();
        ids.push(id);
    }
    store
        .tree("demo/messages")
        .unwrap()
        .insert(ids[0].0.to_be_bytes(), &b"\x07"[..])
        .unwrap();
    let policy = crate::store::retention::RetentionPolicy {
        max_age: None,
        max_total_bytes: Some(0),
    };
    assert_eq!(
        crate::store::retention::purge_once(&store, &bodies, policy).unwrap(),
        1
    );
    assert!(m.get(ids[1]).unwrap().body_purged);
    assert_eq!(records(&store).unwrap().len(), 1);
}
