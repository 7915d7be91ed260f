//! Cut-through forwarding: a large instance goes out to the remote while it
//! is still arriving. Shared by every item of the engine.
//!
//! A DICOM operation that sends to one configured remote offers itself
//! here ([`CutThroughs::register`]). A service receiving a C-STORE whose
//! data set passes its `cut_through_above` hands each such target a
//! [`LiveStore`] ([`CutThroughs::offer`]): the instance's identity and a
//! reader of its spool file as it is written. One of the operation's lanes
//! that is free sends it at once, before anything queued; a lane that is
//! not free is not waited for (the offer is declined and the instance goes
//! the usual way).
//!
//! The C-STORE is still acknowledged only once the instance is durable
//! here, and the message is queued for the operation as any other. The
//! lane that takes it from the queue looks up what became of the live send
//! ([`CutThroughs::take`], by the operation and the body's file name, which
//! is the spool file's): sent, and the message is delivered without being
//! sent again; failed or never started, and it is sent as usual. If the
//! inbound transfer fails, the reader fails, the outbound association is
//! aborted, and the remote keeps nothing.
//!
//! Nothing here is durable, and nothing needs to be: after a restart the
//! message is sent from its body as any other (at worst a second time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::dimse::pdata::{Extent, GrowingFile};
use crate::ids::NamespaceId;
use crate::message::ItemAddress;
use crate::store::spool::{Progress, SpoolFollower};

/// How long a live send's outcome waits for its message to be taken from
/// the queue; after that (the ingest failed, or the queue is long) it is
/// forgotten, and the message, if any, is sent as usual.
const KEPT: Duration = Duration::from_secs(600);

/// The operations that take live sends, and the live sends under way or
/// done (cheap to clone: one shared map).
#[derive(Debug, Clone, Default)]
pub struct CutThroughs(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    operations: HashMap<(NamespaceId, ItemAddress), mpsc::Sender<LiveStore>>,
    /// By operation and body file name.
    sends: HashMap<(NamespaceId, ItemAddress, String), (Instant, Arc<Live>)>,
}

/// An instance to send while it arrives.
#[derive(Debug)]
pub struct LiveStore {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax: String,
    /// The data set, as it is written.
    pub data: SpoolFollower,
    live: Arc<Live>,
}

impl LiveStore {
    /// Claims the send for the lane that took it: `false` when the message
    /// was taken from the queue first (it is then sent from there).
    pub fn start(&self) -> bool {
        self.live.leave_waiting(State::Started)
    }

    /// The send ended: `Some(note)` if the remote took the instance (the
    /// note says how, empty for success), `None` if not.
    pub fn finish(self, sent: Option<String>) {
        self.live.end(sent);
    }
}

impl Drop for LiveStore {
    /// A send dropped unfinished (its operation stopped) was not sent.
    fn drop(&mut self) {
        self.live.end(None);
    }
}

/// What a lane sends from: the spool file as the service writes it.
impl GrowingFile for SpoolFollower {
    fn file(&self) -> &Arc<std::fs::File> {
        SpoolFollower::file(self)
    }

    async fn grown_beyond(&mut self, at: u64) -> std::io::Result<Extent> {
        Ok(match SpoolFollower::grown_beyond(self, at).await? {
            Progress::Written(end) => Extent { end, whole: false },
            Progress::Whole(end) => Extent { end, whole: true },
        })
    }
}

/// The state of one live send, watched by the lane that takes its message.
#[derive(Debug)]
struct Live {
    state: watch::Sender<State>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Offered, not yet taken by a lane.
    Waiting,
    Started,
    /// The remote took it (with this note).
    Sent(String),
    NotSent,
}

impl Live {
    /// Moves a send still waiting for a lane to `state`; `false` if it
    /// was no longer waiting.
    fn leave_waiting(&self, state: State) -> bool {
        self.state.send_if_modified(|now| {
            let waiting = *now == State::Waiting;
            if waiting {
                *now = state;
            }
            waiting
        })
    }

    fn end(&self, sent: Option<String>) {
        self.state.send_if_modified(|state| {
            let open = matches!(state, State::Waiting | State::Started);
            if open {
                *state = sent.map_or(State::NotSent, State::Sent);
            }
            open
        });
    }
}

/// What became of a live send, for the lane that took its message from the
/// queue (see [`CutThroughs::take`]).
#[derive(Debug)]
pub struct Outcome(Arc<Live>);

impl Outcome {
    /// `Some(note)` if the remote took the instance; `None` if not, or if
    /// the send had not started (it is then called off).
    pub async fn sent(self) -> Option<String> {
        self.0.leave_waiting(State::NotSent);
        let mut state = self.0.state.subscribe();
        let ended = state
            .wait_for(|s| matches!(s, State::Sent(_) | State::NotSent))
            .await;
        match ended.as_deref() {
            Ok(State::Sent(note)) => Some(note.clone()),
            _ => None,
        }
    }
}

impl CutThroughs {
    /// Registers the operation at `address` as one that takes live sends;
    /// they arrive on the receiver until the registration is dropped.
    pub fn register(
        &self,
        namespace: &NamespaceId,
        address: &ItemAddress,
    ) -> (Registration, mpsc::Receiver<LiveStore>) {
        // One waiting at most: a send not taken at once is better sent from
        // the queue than late.
        let (sender, receiver) = mpsc::channel(1);
        let key = (namespace.clone(), address.clone());
        self.lock().operations.insert(key.clone(), sender.clone());
        (
            Registration {
                cut_throughs: self.clone(),
                key,
                sender,
            },
            receiver,
        )
    }

    /// Offers the operation at `target` an instance to send while it
    /// arrives, whose body will be the file `body`; `data` opens the
    /// reader. `false` when the target takes no live sends (not a DICOM
    /// operation with one remote) or none now.
    pub fn offer(
        &self,
        namespace: &NamespaceId,
        target: &ItemAddress,
        body: &str,
        identity: (&str, &str, &str),
        data: impl FnOnce() -> std::io::Result<SpoolFollower>,
    ) -> bool {
        let mut inner = self.lock();
        let key = (namespace.clone(), target.clone());
        let Some(sender) = inner.operations.get(&key) else {
            return false;
        };
        let Ok(permit) = sender.try_reserve() else {
            return false;
        };
        let Ok(data) = data() else {
            return false;
        };
        let (sop_class_uid, sop_instance_uid, transfer_syntax) = identity;
        let live = Arc::new(Live {
            state: watch::Sender::new(State::Waiting),
        });
        permit.send(LiveStore {
            sop_class_uid: sop_class_uid.to_string(),
            sop_instance_uid: sop_instance_uid.to_string(),
            transfer_syntax: transfer_syntax.to_string(),
            data,
            live: live.clone(),
        });
        let now = Instant::now();
        inner
            .sends
            .retain(|_, (at, _)| now.duration_since(*at) < KEPT);
        let (namespace, target) = key;
        inner
            .sends
            .insert((namespace, target, body.to_string()), (now, live));
        true
    }

    /// The live send of the message with body file `body` to the operation
    /// at `target`, if there was one; forgotten here.
    pub fn take(
        &self,
        namespace: &NamespaceId,
        target: &ItemAddress,
        body: &str,
    ) -> Option<Outcome> {
        let mut inner = self.lock();
        // Called for every message delivered: no key built when no live
        // send is on record (most of the time).
        if inner.sends.is_empty() {
            return None;
        }
        inner
            .sends
            .remove(&(namespace.clone(), target.clone(), body.to_string()))
            .map(|(_, live)| Outcome(live))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An operation registered for live sends; dropping it ends that.
#[derive(Debug)]
pub struct Registration {
    cut_throughs: CutThroughs,
    key: (NamespaceId, ItemAddress),
    sender: mpsc::Sender<LiveStore>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.cut_throughs.lock();
        // A successor of the same operation may have registered already.
        if inner
            .operations
            .get(&self.key)
            .is_some_and(|s| s.same_channel(&self.sender))
        {
            inner.operations.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dimse::pdata::send_data_growing;
    use crate::store::spool::SpoolWriter;

    fn follower(dir: &std::path::Path, name: &str) -> std::io::Result<SpoolFollower> {
        let path = dir.join(name);
        SpoolWriter::new(std::fs::File::create(&path)?).follow(&path)
    }

    #[tokio::test]
    async fn a_live_send_is_offered_to_a_registered_operation_and_its_outcome_found_once() {
        let dir = crate::store::private_tempdir();
        let cut = CutThroughs::default();
        let ns = NamespaceId::default();
        let out = ItemAddress::new("p", "OUT");
        let identity = ("1.2", "1.2.3", "1.2.840.10008.1.2.1");
        // Not registered: declined, and nothing opened.
        assert!(!cut.offer(&ns, &out, "a", identity, || unreachable!()));

        let (registration, mut live) = cut.register(&ns, &out);
        assert!(cut.offer(&ns, &out, "a", identity, || follower(dir.path(), "a")));
        // One waiting at most: the next is declined.
        assert!(!cut.offer(&ns, &out, "b", identity, || follower(dir.path(), "b")));
        let store = live.recv().await.unwrap();
        assert_eq!(store.sop_instance_uid, "1.2.3");
        assert!(store.start());
        // The queued message's lane waits for a send under way.
        let outcome = cut.take(&ns, &out, "a").unwrap();
        let waiting = tokio::spawn(outcome.sent());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        store.finish(Some(String::new()));
        assert_eq!(waiting.await.unwrap().as_deref(), Some(""));
        assert!(cut.take(&ns, &out, "a").is_none(), "found once");

        // Taken from the queue before a lane started it: called off.
        assert!(cut.offer(&ns, &out, "c", identity, || follower(dir.path(), "c")));
        let store = live.recv().await.unwrap();
        assert_eq!(cut.take(&ns, &out, "c").unwrap().sent().await, None);
        assert!(!store.start(), "a lane does not send it then");

        // A send dropped unfinished (its operation stopped) was not sent.
        assert!(cut.offer(&ns, &out, "d", identity, || follower(dir.path(), "d")));
        let store = live.recv().await.unwrap();
        assert!(store.start());
        drop(store);
        assert_eq!(cut.take(&ns, &out, "d").unwrap().sent().await, None);

        // Another namespace's operation of the same address is another.
        let other = NamespaceId::new("other").unwrap();
        assert!(!cut.offer(&other, &out, "e", identity, || follower(dir.path(), "e")));
        drop(registration);
        assert!(!cut.offer(&ns, &out, "f", identity, || follower(dir.path(), "f")));
    }

    #[test]
    fn a_successor_keeps_its_registration_when_its_predecessor_goes() {
        let cut = CutThroughs::default();
        let ns = NamespaceId::default();
        let out = ItemAddress::new("p", "OUT");
        let (old, _old_live) = cut.register(&ns, &out);
        let (_new, _new_live) = cut.register(&ns, &out);
        drop(old);
        assert!(cut.lock().operations.contains_key(&(ns, out)));
    }

    /// Sends a data set through `send_data_growing` while `write` writes
    /// it in fragments of `pieces` bytes (finishing it or not); returns
    /// what was sent and every PDV read back as (is_last, data).
    async fn send_while_written(
        pieces: &[usize],
        finish: bool,
    ) -> (
        Result<u64, crate::dimse::pdata::SendFileError>,
        Vec<(bool, Vec<u8>)>,
        Vec<u8>,
    ) {
        use crate::dimse::pdu::PduStream;
        use dicom_ul::pdu::Pdu;
        let dir = crate::store::private_tempdir();
        let path = dir.path().join("spool");
        let mut writer = SpoolWriter::new(std::fs::File::create(&path).unwrap());
        let mut follower = writer.follow(&path).unwrap();
        let (client, server) = tokio::io::duplex(1 << 16);
        let mut tx = PduStream::new(client);
        tx.set_limits(16384, 16384);
        let reader = tokio::spawn(async move {
            let mut rx = PduStream::new(server);
            rx.set_limits(16384, 0);
            let mut pdvs = Vec::new();
            while let Ok(Pdu::PData { data }) = rx.read_pdu().await {
                assert_eq!(data.len(), 1, "one PDV per PDU");
                pdvs.extend(data.into_iter().map(|v| (v.is_last, v.data)));
            }
            pdvs
        });
        let data: Vec<u8> = (0..pieces.iter().sum::<usize>())
            .map(|i| (i * 13) as u8)
            .collect();
        let written = data.clone();
        let pieces = pieces.to_vec();
        let writing = tokio::spawn(async move {
            let mut at = 0;
            for piece in pieces {
                writer.write(&written[at..at + piece]).unwrap();
                at += piece;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let spooled = writer.finish();
            if finish {
                let mut file = spooled.complete().unwrap();
                std::io::Write::write_all(&mut file, b"TRAILER").unwrap();
            }
        });
        let sent = send_data_growing(&mut tx, 1, &mut follower, &mut Vec::new()).await;
        writing.await.unwrap();
        drop(tx);
        (sent, reader.await.unwrap(), data)
    }

    /// A data set sent while it is written goes out whole and in order, in
    /// PDUs of the peer's maximum, the last one (only) flagged last, never
    /// with the trailer written after it; whatever the fragments, a data
    /// set of exactly one chunk, or none.
    #[tokio::test]
    async fn a_data_set_sent_while_it_is_written_arrives_whole() {
        let chunk = (1024 * 1024 / 16_378) * 16_378;
        for pieces in [
            vec![],
            vec![1000],
            vec![chunk],
            vec![131_066; 9],
            vec![16_000, 131_066, 7, chunk, chunk - 16_000 - 131_066 - 7 + 5],
        ] {
            let (sent, pdvs, data) = send_while_written(&pieces, true).await;
            assert_eq!(sent.unwrap(), data.len() as u64, "{pieces:?}");
            let joined: Vec<u8> = pdvs.iter().flat_map(|(_, d)| d.clone()).collect();
            assert!(
                joined == data,
                "{pieces:?}: {} bytes of {}",
                joined.len(),
                data.len()
            );
            let lasts: Vec<bool> = pdvs.iter().map(|(last, _)| *last).collect();
            assert_eq!(lasts.iter().filter(|l| **l).count(), 1, "{pieces:?}");
            assert_eq!(lasts.last(), Some(&true), "{pieces:?}");
            assert!(pdvs.iter().all(|(_, d)| d.len() <= 16_378), "{pieces:?}");
        }
    }

    /// A writer gone before the data set is whole fails the send, and the
    /// peer never got a PDV flagged last (the caller then aborts).
    #[tokio::test]
    async fn a_data_set_whose_writer_goes_away_is_never_sent_whole() {
        for pieces in [vec![131_066; 3], vec![131_066; 12]] {
            let (sent, pdvs, _) = send_while_written(&pieces, false).await;
            let Err(crate::dimse::pdata::SendFileError::File(e)) = sent else {
                panic!("{pieces:?}: {sent:?}");
            };
            assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
            assert!(pdvs.iter().all(|(last, _)| !last), "{pieces:?}");
        }
    }
}
