use super::*;
use crate::message::DeliveryStatus;
use crate::store::test_header as header;
use crate::store::{Bodies, BodyTrailer, GroupCommit, Store};

fn ns() -> NamespaceId {
    NamespaceId::new("demo").unwrap()
}

#[test]
fn a_message_moves_through_its_states() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let m = store.messages(&ns()).unwrap();
    let out = ItemAddress::new("p", "OUT");
    let id = store.next_message_id().unwrap();
    m.accept(id, header(1), std::slice::from_ref(&out)).unwrap();
    assert_eq!(m.pending(&out, None, 10).unwrap(), vec![id]);
    assert_eq!(m.get(id).unwrap().status(), DeliveryStatus::Queued);

    let r = m.claim(id, &out).unwrap().unwrap();
    assert_eq!(r.status(), DeliveryStatus::InFlight);
    assert!(m.claim(id, &out).unwrap().is_none(), "claimed once");
    assert!(m.pending(&out, None, 10).unwrap().is_empty());

    m.retry_later(id, &out, "connection refused", 0).unwrap();
    assert_eq!(m.pending(&out, None, 10).unwrap(), vec![id]);
    m.claim(id, &out).unwrap().unwrap();
    let r = m.failed(id, &out, "status A700").unwrap();
    assert_eq!(r.status(), DeliveryStatus::Failed);
    assert_eq!(r.deliveries[0].attempts, 2);
    assert_eq!(m.queue_depth(&out).unwrap(), 0);

    let failed = MessageFilter {
        status: Some(DeliveryStatus::Failed),
        ..Default::default()
    };
    assert_eq!(m.list(&failed).unwrap().len(), 1);
    assert_eq!(m.resend(id, false).unwrap(), vec![out.clone()]);
    m.claim(id, &out).unwrap().unwrap();
    let r = m.delivered(id, &out, "").unwrap();
    assert_eq!(r.status(), DeliveryStatus::Delivered);
    assert!(m.list(&failed).unwrap().is_empty());
    assert!(r.events.len() >= 4, "{:?}", r.events);
    let counts = store.item_counts(&ns(), &out);
    assert_eq!(
        (counts.received, counts.delivered, counts.failed),
        (1, 1, 1),
        "queued once, failed, resent and delivered"
    );
    assert_eq!(
        store
            .item_counts(&ns(), &ItemAddress::new("p", "IN"))
            .received,
        1
    );
}

#[test]
fn in_flight_goes_back_to_queued_after_a_restart() {
    let dir = crate::store::private_tempdir();
    let out = ItemAddress::new("p", "OUT");
    let id;
    {
        let store = Store::open(dir.path()).unwrap();
        let m = store.messages(&ns()).unwrap();
        id = store.next_message_id().unwrap();
        m.accept(id, header(1), std::slice::from_ref(&out)).unwrap();
        m.claim(id, &out).unwrap().unwrap();
        store.sync().unwrap();
    }
    let store = crate::store::tests::reopen(dir.path());
    let m = store.messages(&ns()).unwrap();
    assert_eq!(m.requeue_in_flight().unwrap(), 1);
    assert_eq!(m.pending(&out, None, 10).unwrap(), vec![id]);
    assert_eq!(m.get(id).unwrap().status(), DeliveryStatus::Queued);
    assert!(store.next_message_id().unwrap() > id, "ids keep increasing");
}

#[test]
fn a_process_routes_in_one_step() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let m = store.messages(&ns()).unwrap();
    let (p, a, b) = (
        ItemAddress::new("p", "ROUTE"),
        ItemAddress::new("p", "A"),
        ItemAddress::new("p", "B"),
    );
    let id = store.next_message_id().unwrap();
    m.accept(id, header(1), std::slice::from_ref(&p)).unwrap();
    m.claim(id, &p).unwrap().unwrap();
    let r = m.route(id, &p, &[a.clone(), b.clone()], "").unwrap();
    assert_eq!(r.deliveries.len(), 3);
    assert_eq!(m.queue_depth(&p).unwrap(), 0);
    assert_eq!(m.pending(&a, None, 5).unwrap(), vec![id]);
    assert_eq!(m.pending(&b, None, 5).unwrap(), vec![id]);
    assert_eq!(m.queues().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_share_commits_and_bodies_carry_their_header() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let bodies = Bodies::open(dir.path()).unwrap();
    let commit = GroupCommit::spawn(store.clone(), bodies.clone());
    let out = ItemAddress::new("p", "OUT");
    let mut tasks = Vec::new();
    for n in 0..20u64 {
        let (store, bodies, commit, out) =
            (store.clone(), bodies.clone(), commit.clone(), out.clone());
        tasks.push(tokio::spawn(async move {
            let id = store.next_message_id().unwrap();
            let mut trailer = BodyTrailer {
                id,
                namespace: ns(),
                header: header(n),
                targets: vec![out.clone()],
            };
            let bodies2 = bodies.clone();
            let store2 = store.clone();
            tokio::task::spawn_blocking(move || {
                bodies2.write(&b"DATA"[..], &mut trailer).unwrap();
                store2
                    .messages(&ns())
                    .unwrap()
                    .accept(id, trailer.header.clone(), &trailer.targets)
                    .unwrap();
            })
            .await
            .unwrap();
            commit.sync().await.unwrap();
            id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let m = store.messages(&ns()).unwrap();
    assert_eq!(m.pending(&out, None, 100).unwrap().len(), 20);
    let header = m.get(ids[3]).unwrap().header;
    let trailer = Bodies::read_trailer(&bodies.path(&header)).unwrap();
    assert_eq!(trailer.id, ids[3]);
    assert_eq!(trailer.targets, vec![out]);
    let mut data = String::new();
    std::io::Read::read_to_string(&mut bodies.open_data_set(&header).unwrap(), &mut data).unwrap();
    assert_eq!(data, "DATA");
}

#[test]
fn messages_come_back_from_their_body_files() {
    let dir = crate::store::private_tempdir();
    let out = ItemAddress::new("p", "OUT");
    let id;
    {
        let store = Store::open(dir.path()).unwrap();
        let bodies = Bodies::open(dir.path()).unwrap();
        id = store.next_message_id().unwrap();
        let mut trailer = BodyTrailer {
            id,
            namespace: ns(),
            header: header(1),
            targets: vec![out.clone()],
        };
        bodies.write(&b"DATA"[..], &mut trailer).unwrap();
        // the record never reaches the store
    }
    // The store is lost altogether.
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    let store = crate::store::tests::reopen(dir.path());
    let bodies = Bodies::open(dir.path()).unwrap();
    std::fs::write(bodies.dir().join("cut-short.part"), b"half a data set").unwrap();
    let done = crate::store::recover::restore_missing(&store, &bodies).unwrap();
    assert_eq!((done.restored, done.removed_partial), (1, 1));
    let m = store.messages(&ns()).unwrap();
    assert_eq!(m.pending(&out, None, 10).unwrap(), vec![id]);
    assert_eq!(m.get(id).unwrap().header.sop_instance_uid, "1.2.3.1");
    assert_eq!(
        crate::store::recover::restore_missing(&store, &bodies)
            .unwrap()
            .restored,
        0
    );
    assert!(store.next_message_id().unwrap() > id);
}

#[test]
fn ids_stay_above_restored_bodies() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    store.ensure_message_ids_above(MessageId(5000)).unwrap();
    assert!(store.next_message_id().unwrap() > MessageId(5000));
}

#[test]
fn in_flight_of_one_item_goes_back_to_its_queue_only() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let m = store.messages(&ns()).unwrap();
    let (out, other) = (ItemAddress::new("p", "OUT"), ItemAddress::new("p", "OTHER"));
    let id = store.next_message_id().unwrap();
    m.accept(id, header(1), &[out.clone(), other.clone()])
        .unwrap();
    m.claim(id, &out).unwrap().unwrap();
    m.claim(id, &other).unwrap().unwrap();

    assert_eq!(m.requeue_in_flight_of(&out).unwrap(), 1);
    assert_eq!(m.pending(&out, None, 10).unwrap(), vec![id]);
    assert!(
        m.pending(&other, None, 10).unwrap().is_empty(),
        "the other item still holds its claim"
    );
    assert_eq!(m.requeue_in_flight_of(&out).unwrap(), 0);
}

#[test]
fn pooled_spool_files_become_bodies_and_unused_ones_go_on_start() {
    let dir = crate::store::private_tempdir();
    let out = ItemAddress::new("p", "OUT");
    let store = Store::open(dir.path()).unwrap();
    let bodies = Bodies::open(dir.path()).unwrap();
    // The first call finds the pool empty and starts filling it.
    let mut spool = bodies.take_spool_file();
    for _ in 0..500 {
        if spool.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        spool = bodies.take_spool_file();
    }
    let spool = spool.expect("the pool was never filled");
    assert_eq!(spool.parent(), Some(bodies.spool_dir()));
    assert_eq!(std::fs::metadata(&spool).unwrap().len(), 0);
    std::fs::write(&spool, b"DATA").unwrap();
    let id = store.next_message_id().unwrap();
    let mut trailer = BodyTrailer {
        id,
        namespace: ns(),
        header: header(1),
        targets: vec![out.clone()],
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&spool)
        .unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).unwrap();
    bodies.adopt(&spool, file, true, &mut trailer).unwrap();
    let restored = Bodies::read_trailer(&spool).unwrap();
    assert_eq!(restored.header.body, trailer.header.body);
    // The record never reached the store: on start the body is restored
    // from its trailer, and the unused (empty) pool files are removed.
    let unused = std::fs::read_dir(bodies.dir()).unwrap().count() - 1;
    assert!(unused > 0);
    let done = crate::store::recover::restore_missing(&store, &bodies).unwrap();
    assert_eq!((done.restored, done.removed_partial), (1, unused));
    let m = store.messages(&ns()).unwrap();
    assert_eq!(m.pending(&out, None, 10).unwrap(), vec![id]);
}

/// What a crash between two of the ordered writes can leave behind: an
/// entry without its record, an entry of a finished delivery. Each is
/// removed by whoever finds it, and nothing else changes.
#[test]
fn entries_left_by_a_crash_between_writes_are_removed() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let m = store.messages(&ns()).unwrap();
    let out = ItemAddress::new("p", "OUT");
    let entry = encode(&QueueEntry {
        in_flight: false,
        not_before: 0,
    });

    // Entry written, record not (accept cut short).
    let orphan = store.next_message_id().unwrap();
    m.queue(&out)
        .unwrap()
        .insert(orphan.0.to_be_bytes(), entry.as_slice())
        .unwrap();
    assert!(m.claim(orphan, &out).unwrap().is_none());
    assert_eq!(m.queue_depth(&out).unwrap(), 0);

    // Record says delivered, entry not yet removed (delivered cut short).
    let done = store.next_message_id().unwrap();
    m.accept(done, header(1), std::slice::from_ref(&out))
        .unwrap();
    m.claim(done, &out).unwrap().unwrap();
    m.delivered(done, &out, "").unwrap();
    m.queue(&out)
        .unwrap()
        .insert(done.0.to_be_bytes(), entry.as_slice())
        .unwrap();
    assert!(m.claim(done, &out).unwrap().is_none());
    assert_eq!(m.queue_depth(&out).unwrap(), 0);
    assert_eq!(m.get(done).unwrap().status(), DeliveryStatus::Delivered);

    // The same found by the requeue on start (the entry was in flight).
    let in_flight = encode(&QueueEntry {
        in_flight: true,
        not_before: 0,
    });
    m.queue(&out)
        .unwrap()
        .insert(done.0.to_be_bytes(), in_flight.as_slice())
        .unwrap();
    m.requeue_in_flight().unwrap();
    assert_eq!(m.queue_depth(&out).unwrap(), 0);
    assert_eq!(m.get(done).unwrap().status(), DeliveryStatus::Delivered);
}

#[test]
fn a_query_is_recorded_listed_and_never_sent_again() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let m = store.messages(&ns()).unwrap();
    let id = store.next_message_id().unwrap();
    let trace = crate::message::QueryTrace {
        level: "WORKLIST".into(),
        keys: Vec::new(),
        matches: 0,
        status: 0,
        error_comment: None,
        first_match_ms: None,
        duration_ms: 3,
    };
    let upstream = crate::message::UpstreamOutcome {
        target: ItemAddress::new("p", "MWL"),
        matches: 0,
        status: Some(0),
        error_comment: None,
        duration_ms: 2,
    };
    let record = MessageRecord::query(id, ns(), header(1), trace, &[upstream]);
    m.record(&record).unwrap();
    assert_eq!(m.get(id).unwrap(), record);
    assert_eq!(m.list(&MessageFilter::default()).unwrap(), vec![record]);
    assert!(m.queues().unwrap().is_empty(), "nothing is queued");
    assert!(matches!(m.resend(id, true), Err(MessageError::Query(_))));
    assert!(!m.set_purged(id, true).unwrap());
}

#[test]
fn a_listing_pages_from_newest_to_oldest_by_key() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let m = store.messages(&ns()).unwrap();
    let out = ItemAddress::new("p", "OUT");
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = store.next_message_id().unwrap();
        m.accept(id, header(n), std::slice::from_ref(&out)).unwrap();
        ids.push(id);
    }
    let page = |before| {
        m.list(&MessageFilter {
            limit: Some(2),
            before,
            ..MessageFilter::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect::<Vec<_>>()
    };
    let out = ItemAddress::new("p", "OUT");
    assert_eq!(
        m.oldest_queued(&out).unwrap(),
        Some(m.get(ids[0]).unwrap().header.received_at)
    );
    assert_eq!(
        m.oldest_queued(&ItemAddress::new("p", "NONE")).unwrap(),
        None
    );
    // Reading at most 2 messages: a rare match ends the page early, saying
    // where to go on.
    let rare = MessageFilter {
        sop_class: Some("1.2.3".into()),
        scan: Some(2),
        ..MessageFilter::default()
    };
    assert_eq!(m.list_page(&rare).unwrap(), (vec![], Some(ids[3])));
    assert_eq!(
        m.list_page(&MessageFilter {
            before: Some(ids[1]),
            ..rare
        })
        .unwrap(),
        (vec![], None),
        "the last message read is the oldest: nothing further"
    );
    assert_eq!(page(None), vec![ids[4], ids[3]]);
    assert_eq!(page(Some(ids[3])), vec![ids[2], ids[1]]);
    assert_eq!(page(Some(ids[1])), vec![ids[0]]);
    assert!(page(Some(ids[0])).is_empty());
    let of = |f: MessageFilter| m.list(&f).unwrap().len();
    let sop_class = m.get(ids[0]).unwrap().header.sop_class_uid;
    assert_eq!(
        of(MessageFilter {
            sop_class: Some(sop_class),
            item: Some("OUT".into()),
            ..MessageFilter::default()
        }),
        5
    );
    assert_eq!(
        of(MessageFilter {
            item: Some("ELSEWHERE".into()),
            ..MessageFilter::default()
        }),
        0
    );
}
