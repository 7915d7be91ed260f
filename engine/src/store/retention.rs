//! Retention of body files (one pass; the engine runs it every minute): the body of a message delivered to every target
//! is removed once it is older than the configured age, or, oldest first,
//! while the body folder is larger than the configured size. Headers (and
//! the trace) are kept; the record notes that the body is gone. Bodies of
//! messages still queued, in flight or failed are never removed. The files
//! of removed bodies go to the spool pool for reuse, as far as it has room
//! ([`Bodies::recycle`]); the size budget counts only bodies.
//!
//! A pass reads the messages oldest first, one record at a time, and stops
//! at the first delivered one it may keep: newer ones may be kept too. The
//! next pass starts at the oldest message that still had a body, so a pass
//! reads what arrived since, not the whole history (which only grows: the
//! headers stay). Every hour a pass starts from the beginning again, for
//! the messages written under an older id than where the last pass started
//! (a body still being written as the pass went by, a message restored from
//! its body's trailer).

use std::collections::BTreeMap;
use std::iter::Peekable;
use std::time::Duration;

use tracing::{info, warn};

use super::quarantine::quarantine_undecodable;
use super::{Bodies, Store};
use crate::ids::NamespaceId;
use crate::message::{DeliveryStatus, MessageError, MessageId, MessageRecord, now_ms};

/// How long and how much to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetentionPolicy {
    pub max_age: Option<Duration>,
    pub max_total_bytes: Option<u64>,
}

/// Passes from the beginning: the first, then one in this many.
const FULL_PASS_EVERY: u32 = 60;

/// Retention over the engine's life: the policy and where each namespace's
/// next pass starts.
#[derive(Debug)]
pub struct Retention {
    policy: RetentionPolicy,
    from: BTreeMap<NamespaceId, MessageId>,
    passes: u32,
}

impl Retention {
    #[must_use]
    pub fn new(policy: RetentionPolicy) -> Self {
        Self {
            policy,
            from: BTreeMap::new(),
            passes: 0,
        }
    }

    /// One pass; returns how many bodies were removed.
    ///
    /// # Errors
    /// Store errors.
    pub fn pass(&mut self, store: &Store, bodies: &Bodies) -> Result<usize, MessageError> {
        if self.passes.is_multiple_of(FULL_PASS_EVERY) {
            self.from.clear();
        }
        self.passes = self.passes.wrapping_add(1);
        let now = now_ms();
        // Recycled files waiting for reuse are in the folder but are no
        // message's body.
        let mut total: u64 = bodies
            .list()
            .map(|l| l.iter().map(|(_, s)| s).sum::<u64>())
            .unwrap_or(0)
            .saturating_sub(bodies.recycled_bytes());
        let mut oldest = OldestFirst::open(store, &self.from)?;
        // Per namespace: the first message read that still has a body, or
        // past the last one read.
        let mut next_from: BTreeMap<NamespaceId, MessageId> = BTreeMap::new();
        let mut with_body: BTreeMap<NamespaceId, MessageId> = BTreeMap::new();
        let mut purged = 0;
        while let Some((ns, read)) = oldest.next() {
            let r = match read {
                Ok(r) => r,
                // One record that cannot be decoded stops nothing: it goes
                // to quarantine and the pass goes on without it.
                Err(MessageError::Corrupt { .. }) => {
                    quarantine_undecodable(store)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            next_from.insert(ns.clone(), MessageId(r.id.0.saturating_add(1)));
            if !r.has_body() || r.body_purged {
                continue;
            }
            with_body.entry(ns.clone()).or_insert(r.id);
            if r.status() != DeliveryStatus::Delivered {
                continue;
            }
            let too_old = self.policy.max_age.is_some_and(|age| {
                now.saturating_sub(r.header.received_at)
                    > u64::try_from(age.as_millis()).unwrap_or(u64::MAX)
            });
            let too_big = self.policy.max_total_bytes.is_some_and(|max| total > max);
            if !too_old && !too_big {
                // Newer messages are younger, and the folder only shrinks.
                break;
            }
            if let Some(size) = purge(store, bodies, &ns, &r)? {
                total = total.saturating_sub(size);
                purged += 1;
            }
        }
        if let Err(error) = bodies.publish_recycled() {
            warn!(%error, "Could not offer recycled body files for reuse; they wait for the next pass.");
        }
        next_from.extend(with_body);
        self.from.extend(next_from);
        if purged > 0 {
            info!(
                count = purged,
                "Bodies of delivered messages purged by retention."
            );
        }
        Ok(purged)
    }
}

/// One pass of retention from the beginning; returns how many bodies were
/// removed.
#[cfg(test)]
pub(crate) fn purge_once(
    store: &Store,
    bodies: &Bodies,
    policy: RetentionPolicy,
) -> Result<usize, MessageError> {
    Retention::new(policy).pass(store, bodies)
}

/// Removes the body of a delivered message (its file recycled, see
/// [`Bodies::recycle`]); returns its size, or `None` when it was kept
/// (resent since it was read, or the file would not go).
fn purge(
    store: &Store,
    bodies: &Bodies,
    ns: &NamespaceId,
    r: &MessageRecord,
) -> Result<Option<u64>, MessageError> {
    let messages = store.messages(ns)?;
    // Marked only if still delivered everywhere: a resend since the read
    // keeps its body.
    if !messages.set_purged(r.id, true)? {
        return Ok(None);
    }
    let size = std::fs::metadata(bodies.path(&r.header))
        .map(|m| m.len())
        .unwrap_or(0);
    if let Err(e) = bodies.recycle(&r.header) {
        warn!(message_id = %r.id, error = %e, "Could not remove a body file; it stays, and so does its message's resend.");
        messages.set_purged(r.id, false)?;
        return Ok(None);
    }
    Ok(Some(size))
}

type Records = Box<dyn Iterator<Item = Result<MessageRecord, MessageError>>>;

/// The messages of every namespace merged into one stream, oldest first
/// (message ids are the store's, increasing with arrival).
struct OldestFirst {
    streams: Vec<(NamespaceId, Peekable<Records>)>,
}

impl OldestFirst {
    fn open(store: &Store, from: &BTreeMap<NamespaceId, MessageId>) -> Result<Self, MessageError> {
        let mut streams = Vec::new();
        for ns in store.message_namespaces() {
            let start = from.get(&ns).copied().unwrap_or(MessageId(0));
            let records: Records = Box::new(store.messages(&ns)?.oldest_first(start)?);
            streams.push((ns, records.peekable()));
        }
        Ok(Self { streams })
    }

    /// The oldest message not read yet, with its namespace. An error comes
    /// first (it has no id to order it by).
    fn next(&mut self) -> Option<(NamespaceId, Result<MessageRecord, MessageError>)> {
        let (ns, stream) = self
            .streams
            .iter_mut()
            .filter_map(|(ns, s)| {
                let order = match s.peek()? {
                    Ok(r) => r.id.0,
                    Err(_) => 0,
                };
                Some((order, ns, s))
            })
            .min_by_key(|(order, _, _)| *order)
            .map(|(_, ns, s)| (ns.clone(), s))?;
        stream.next().map(|read| (ns, read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ItemAddress, MessageQueues};
    use crate::store::BodyTrailer;

    #[test]
    fn only_bodies_of_delivered_messages_are_purged_and_headers_stay() {
        let (_dir, store, bodies) = opened();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let ids: Vec<MessageId> = (0..3)
            .map(|_| queued_one(&store, &bodies, &m, 0).0)
            .collect();
        for id in &ids[..2] {
            deliver(&m, *id);
        }
        let policy = RetentionPolicy {
            max_age: None,
            max_total_bytes: Some(0),
        };
        assert_eq!(purge_once(&store, &bodies, policy).unwrap(), 2);
        for id in &ids[..2] {
            let r = m.get(*id).unwrap();
            assert!(r.body_purged);
            assert!(!bodies.path(&r.header).exists());
            assert!(m.resend(*id, true).is_err(), "no body, no resend");
        }
        let queued = m.get(ids[2]).unwrap();
        assert!(!queued.body_purged && bodies.path(&queued.header).exists());
        assert_eq!(purge_once(&store, &bodies, policy).unwrap(), 0);
    }

    /// A purged body's file stays in the folder for reuse (see
    /// `Bodies::recycle`), and the size budget counts only bodies: a second
    /// pass with room for one body purges nothing more.
    #[test]
    fn purged_bodies_are_recycled_and_not_counted_against_the_size_budget() {
        let (_dir, store, bodies) = opened();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let (_, first) = delivered_one(&store, &bodies, &m);
        let (second_id, second) = delivered_one(&store, &bodies, &m);
        let first_size = std::fs::metadata(&first).unwrap().len();
        let room_for_one = RetentionPolicy {
            max_age: None,
            max_total_bytes: Some(std::fs::metadata(&second).unwrap().len()),
        };
        assert_eq!(purge_once(&store, &bodies, room_for_one).unwrap(), 1);
        assert!(!first.exists());
        assert_eq!(bodies.recycled_bytes(), first_size);
        assert_eq!(
            bodies.list().unwrap().len(),
            2,
            "the recycled file and the second body"
        );
        assert_eq!(purge_once(&store, &bodies, room_for_one).unwrap(), 0);
        assert!(second.exists() && !m.get(second_id).unwrap().body_purged);
    }

    /// A delivered message with a body, in a fresh store.
    fn delivered_one(
        store: &Store,
        bodies: &Bodies,
        m: &crate::store::Messages,
    ) -> (MessageId, std::path::PathBuf) {
        let (id, path) = queued_one(store, bodies, m, 0);
        deliver(m, id);
        (id, path)
    }

    /// A message with a 4-byte body queued for OUT, received `age_ms` ago.
    fn queued_one(
        store: &Store,
        bodies: &Bodies,
        m: &crate::store::Messages,
        age_ms: u64,
    ) -> (MessageId, std::path::PathBuf) {
        let id = store.next_message_id().unwrap();
        (id, write_one(bodies, m, id, age_ms))
    }

    /// Message `id`'s body and record, queued for OUT, received `age_ms`
    /// ago; returns the body's path.
    fn write_one(
        bodies: &Bodies,
        m: &crate::store::Messages,
        id: MessageId,
        age_ms: u64,
    ) -> std::path::PathBuf {
        let mut header = crate::store::test_header(id.0);
        header.received_at = now_ms() - age_ms;
        let mut trailer = BodyTrailer {
            id,
            namespace: m.namespace().clone(),
            header,
            targets: vec![ItemAddress::new("p", "OUT")],
        };
        let path = bodies.write(&b"DATA"[..], &mut trailer).unwrap();
        m.accept(id, trailer.header, &trailer.targets).unwrap();
        path
    }

    /// A store and its bodies in a private folder, kept while the first
    /// lives.
    fn opened() -> (tempfile::TempDir, Store, Bodies) {
        let dir = crate::store::private_tempdir();
        let store = Store::open(dir.path()).unwrap();
        let bodies = Bodies::open(dir.path()).unwrap();
        (dir, store, bodies)
    }

    fn deliver(m: &crate::store::Messages, id: MessageId) {
        let out = ItemAddress::new("p", "OUT");
        m.claim(id, &out).unwrap().unwrap();
        m.delivered(id, &out, "").unwrap();
    }

    #[test]
    fn a_pass_goes_on_where_a_body_was_left_and_purges_what_was_delivered_since() {
        let (_dir, store, bodies) = opened();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let mut retention = Retention::new(ALL);
        let (first, first_path) = queued_one(&store, &bodies, &m, 0);
        let (early, early_path) = delivered_one(&store, &bodies, &m);
        assert_eq!(retention.pass(&store, &bodies).unwrap(), 1);
        assert!(!early_path.exists() && first_path.exists());
        // Delivered since: the next pass starts at the one it kept.
        deliver(&m, first);
        let (_, late_path) = delivered_one(&store, &bodies, &m);
        assert_eq!(retention.pass(&store, &bodies).unwrap(), 2);
        assert!(!first_path.exists() && !late_path.exists());
        assert!(m.get(first).unwrap().body_purged && m.get(early).unwrap().body_purged);
        assert_eq!(retention.pass(&store, &bodies).unwrap(), 0);
    }

    #[test]
    fn a_message_written_behind_the_pass_is_purged_by_the_next_pass_from_the_beginning() {
        let (_dir, store, bodies) = opened();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let mut retention = Retention::new(ALL);
        // An id taken before the pass, its record written after it (a body
        // still being written as the pass went by).
        let slow = store.next_message_id().unwrap();
        delivered_one(&store, &bodies, &m);
        assert_eq!(retention.pass(&store, &bodies).unwrap(), 1);
        let slow_path = write_one(&bodies, &m, slow, 0);
        deliver(&m, slow);
        let mut passes = 1;
        while slow_path.exists() {
            assert!(passes <= FULL_PASS_EVERY, "never purged");
            retention.pass(&store, &bodies).unwrap();
            passes += 1;
        }
        assert_eq!(passes, FULL_PASS_EVERY + 1, "purged by the full pass only");
    }

    #[test]
    fn the_oldest_bodies_go_first_across_namespaces() {
        let (_dir, store, bodies) = opened();
        let a = store.messages(&NamespaceId::new("a").unwrap()).unwrap();
        let b = store.messages(&NamespaceId::new("b").unwrap()).unwrap();
        let mut paths = Vec::new();
        for m in [&a, &b, &a, &b] {
            let (id, path) = queued_one(&store, &bodies, m, 0);
            deliver(m, id);
            paths.push(path);
        }
        let size = std::fs::metadata(&paths[0]).unwrap().len();
        // Room for two bodies: the two oldest go, one from each namespace.
        let two = RetentionPolicy {
            max_age: None,
            max_total_bytes: Some(2 * size),
        };
        assert_eq!(Retention::new(two).pass(&store, &bodies).unwrap(), 2);
        let left: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(left, [false, false, true, true]);
    }

    #[test]
    fn by_age_an_hour_old_body_goes_and_a_minute_old_one_stays() {
        let (_dir, store, bodies) = opened();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let (old_id, old) = queued_one(&store, &bodies, &m, 3_600_000);
        let (young_id, young) = queued_one(&store, &bodies, &m, 60_000);
        deliver(&m, old_id);
        deliver(&m, young_id);
        let ten_minutes = RetentionPolicy {
            max_age: Some(Duration::from_secs(600)),
            max_total_bytes: None,
        };
        assert_eq!(
            Retention::new(ten_minutes).pass(&store, &bodies).unwrap(),
            1
        );
        assert!(!old.exists() && young.exists());
    }

    const ALL: RetentionPolicy = RetentionPolicy {
        max_age: None,
        max_total_bytes: Some(0),
    };

    #[test]
    fn a_resent_message_keeps_its_body_and_a_purged_one_is_not_resent() {
        let (_dir, store, bodies) = opened();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let (id, path) = delivered_one(&store, &bodies, &m);
        m.resend(id, true).unwrap();
        assert!(!m.set_purged(id, true).unwrap(), "queued again: kept");
        assert_eq!(purge_once(&store, &bodies, ALL).unwrap(), 0);
        assert!(path.exists());

        let (id, path) = delivered_one(&store, &bodies, &m);
        assert!(m.set_purged(id, true).unwrap());
        assert!(matches!(
            m.resend(id, true),
            Err(MessageError::BodyPurged(_))
        ));
        assert!(path.exists(), "the caller removes the file");
    }

    #[test]
    fn a_body_that_cannot_be_removed_is_not_marked_purged() {
        let (_dir, store, bodies) = opened();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let (id, path) = delivered_one(&store, &bodies, &m);
        // A directory where the file was: removing it fails (even as root).
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir_all(path.join("in-the-way")).unwrap();
        assert_eq!(purge_once(&store, &bodies, ALL).unwrap(), 0);
        assert!(!m.get(id).unwrap().body_purged);
    }

    #[test]
    fn retention_racing_resend_never_leaves_a_queued_message_without_its_body() {
        let (_dir, store, bodies) = opened();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        for _ in 0..200 {
            let (id, path) = delivered_one(&store, &bodies, &m);
            let (s, b) = (store.clone(), bodies.clone());
            let purge = std::thread::spawn(move || purge_once(&s, &b, ALL).unwrap());
            let resent = m.resend(id, true);
            purge.join().unwrap();
            let r = m.get(id).unwrap();
            match resent {
                Ok(_) => assert!(
                    path.exists() && !r.body_purged && r.status() == DeliveryStatus::Queued,
                    "{r:?}"
                ),
                Err(e) => assert!(matches!(e, MessageError::BodyPurged(_)), "{e}"),
            }
            // Deliver it again so the next round starts clean.
            if r.status() == DeliveryStatus::Queued {
                deliver(&m, id);
            }
        }
    }
}
