//! The running DICOM SCU operation.
//!
//! `max_associations` lanes share the item's queue. A lane keeps its
//! association open while messages keep coming (reusing it when it already
//! has an accepted context for the next message's SOP class and transfer
//! syntax) and releases it after `idle_release` without work.
//!
//! Contexts proposed come from the stored association (local AE title →
//! remote AE title) of the namespace, restricted to what the message needs:
//! its SOP class with its own transfer syntax (no transcoding), plus the
//! contexts the lane used before so that alternating classes share one
//! association.
//!
//! Failures:
//! - the remote is down, refuses the association, drops it, or answers
//!   "out of resources" (A7xxH): retried with exponential back-off. The
//!   delay grows with the operation's streak of such failures (not with one
//!   message's attempts, so fresh messages do not reset it) and is forgotten
//!   at the first delivery; the whole operation pauses for it, and the next
//!   attempt is the oldest pending message, so messages keep their order.
//!   Other operations are unaffected. A store read that fails is retried the
//!   same way;
//! - any other failure status, no acceptable context, no stored association,
//!   or a body file that is missing, unreadable or short: the message fails
//!   for this target, with the reason.
//!
//! A failure status is never recorded as delivered; a warning status is
//! delivered, with the warning noted.
//!
//! The same lanes deliver the sub-operations of C-MOVEs through the engine
//! for a `dicom-query` operation ([`Remote::MoveDestination`]): each goes
//! to the destination its message names, found in the AE directory when it
//! is sent, with the move's originator as its Move Originator, and the
//! move hears how it went.
//!
//! An operation with one configured remote also takes live sends
//! (`component::cut_through`): a large instance its service is still
//! receiving, offered while it arrives. A lane that is waiting for work
//! takes one before anything queued and streams it from the spool file as
//! it is written, aborting the association if the inbound transfer fails;
//! when the message is then taken from the queue, a live send that reached
//! the remote delivers it without a second transfer. Live sends leave the
//! back-off alone: a failed one is followed by the usual delivery.
//!
//! Once a message has reached every target (or failed for good), its
//! body's pages leave the page cache ([`crate::store::Bodies::forget_cached`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::dimse::tls::{Reloading, Stream};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::config::DicomScuConfig;
use crate::association::AeTitle;
use crate::component::cut_through::LiveStore;
use crate::component::retrieves::Delivery;
use crate::component::{
    BuildError, FieldError, ItemConfig, ItemContext, Next, QueueReader, RunningItem,
};
use crate::dimse::scu::{
    self, MAX_PRESENTATION_CONTEXTS, ProposedContext, ScuAssociation, ScuOptions,
};
use crate::dimse::status::StatusCategory;
use crate::message::{ItemAddress, MessageRecord, SubOperation, now_ms};
use crate::store::AeDirectory;

/// What became of one attempt.
#[derive(Debug)]
enum Outcome {
    Delivered(String),
    /// May pass: retry after a back-off.
    Retry(String),
    /// Will not pass by retrying.
    Fail(String),
}

/// Where an operation's messages go.
#[derive(Debug, Clone)]
pub(crate) enum Remote {
    /// The remote its configuration names.
    Configured,
    /// Each message's move destination (see the module).
    MoveDestination(AeDirectory),
}

/// The remote of one delivery: its AE title and address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Peer {
    ae_title: AeTitle,
    address: String,
    /// Whether it is reached over TLS (with the operation's settings).
    tls: bool,
}

/// State shared by the lanes of one operation.
struct Shared {
    config: DicomScuConfig,
    remote: Remote,
    cx: ItemContext,
    me: ItemAddress,
    /// The queue and the live sends, read by one lane at a time (tokio
    /// Mutex: held across the wait for the next message).
    reader: tokio::sync::Mutex<Intake>,
    /// The back-off after failures that concern the remote, not the
    /// message. std Mutex: never held across an await.
    backoff: Mutex<Backoff>,
    /// Set after a retry: the reader starts again from the oldest pending
    /// message (it may hold later ones it read ahead).
    rewind: AtomicBool,
    /// DICOM TLS to the remote, following its files.
    tls: Option<Reloading<crate::dimse::tls::ClientTls>>,
}

/// Where a lane's work comes from.
struct Intake {
    queue: QueueReader,
    /// Live sends (an operation with one configured remote).
    live: Option<tokio::sync::mpsc::Receiver<LiveStore>>,
}

/// A lane's next piece of work.
enum Work {
    Queued(Result<Next, crate::message::MessageError>),
    Live(LiveStore),
}

/// The operation's failure streak and the pause it imposes.
#[derive(Debug, Default)]
struct Backoff {
    /// Retried failures in a row, across messages; reset by a delivery.
    streak: u32,
    /// No lane starts an attempt before this.
    until: Option<Instant>,
}

impl ItemConfig for DicomScuConfig {
    fn check(&self) -> Vec<FieldError> {
        self.problems()
    }

    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        spawn(self.clone(), cx, Remote::Configured)
    }
}

/// Spawns the operation's lanes.
///
/// # Errors
/// TLS files that do not make a client ([`BuildError::Setup`]).
pub(crate) fn spawn(
    config: DicomScuConfig,
    cx: ItemContext,
    remote: Remote,
) -> Result<RunningItem, BuildError> {
    let tls = match &config.tls {
        Some(tls) => Some(
            tls.reloading()
                .map_err(|e| BuildError::Setup(Box::new(e)))?,
        ),
        None => None,
    };
    let where_to = match &remote {
        Remote::Configured => format!("{}@{}:{}", config.remote_ae_title, config.host, config.port),
        Remote::MoveDestination(_) => "each move's destination".to_string(),
    };
    let (registration, live) = match remote {
        Remote::Configured => {
            let (registration, live) = cx.cut_throughs.register(&cx.namespace, &cx.address());
            (Some(registration), Some(live))
        }
        Remote::MoveDestination(_) => (None, None),
    };
    let shared = Arc::new(Shared {
        remote,
        me: cx.address(),
        reader: tokio::sync::Mutex::new(Intake {
            queue: cx.queue_reader(),
            live,
        }),
        backoff: Mutex::new(Backoff::default()),
        rewind: AtomicBool::new(false),
        tls,
        config,
        cx,
    });
    let task = tokio::spawn(async move {
        info!(
            namespace = %shared.cx.namespace,
            item = %shared.cx.name,
            remote = %where_to,
            "DICOM operation started."
        );
        let mut lanes = tokio::task::JoinSet::new();
        for lane_no in 0..shared.config.max_associations.max(1) {
            lanes.spawn(lane(shared.clone(), lane_no));
        }
        while let Some(ended) = lanes.join_next().await {
            if let Err(e) = ended
                && e.is_panic()
            {
                // A lane that panics takes the operation down with it: the
                // runtime starts it again and queues what the lanes held,
                // rather than letting it run on with a lane less.
                lanes.abort_all();
                std::panic::resume_unwind(e.into_panic());
            }
        }
        drop(registration);
        info!(namespace = %shared.cx.namespace, item = %shared.cx.name, "DICOM operation stopped.");
    });
    Ok(RunningItem::task(task))
}

/// An open association and what it can carry.
struct Open {
    association: ScuAssociation<Stream>,
    peer: Peer,
}

async fn lane(shared: Arc<Shared>, lane_no: usize) {
    let cx = &shared.cx;
    let mut open: Option<Open> = None;
    // Contexts this lane proposed before, so one association can carry a mix.
    let mut known: Vec<(String, String)> = Vec::new();
    loop {
        // Respect a back-off pause.
        let pause = shared.backoff().until;
        if let Some(until) = pause
            && until > Instant::now()
        {
            if let Some(o) = open.take() {
                o.association.abort().await;
            }
            tokio::select! {
                () = cx.shutdown.cancelled() => break,
                () = tokio::time::sleep_until(until) => {}
            }
        }
        let idle = open.as_ref().map(|_| shared.config.idle_release.get());
        let next = match idle {
            Some(d) => tokio::time::timeout(d, shared.next_work(Some(d)))
                .await
                .unwrap_or(Work::Queued(Ok(Next::Idle))),
            None => shared.next_work(None).await,
        };
        let next = match next {
            Work::Queued(next) => next,
            Work::Live(live) => {
                send_live(&shared, &mut open, &mut known, live).await;
                continue;
            }
        };
        let record = match next {
            Ok(Next::Message(record)) => record,
            Ok(Next::Idle) => {
                if let Some(o) = open.take() {
                    debug!(item = %cx.name, lane = lane_no, "Releasing an idle association.");
                    o.association.release().await.ok();
                }
                continue;
            }
            Ok(Next::Shutdown) => break,
            Err(e) => {
                error!(item = %cx.name, error = %e, "Could not read the queue.");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let paused = shared.backoff().until.is_some_and(|u| u > Instant::now());
        if paused || cx.shutdown.is_cancelled() {
            // Another lane hit a failure meanwhile, or we are stopping: put
            // it back untouched.
            cx.messages.requeue(record.id, &shared.me).ok();
            continue;
        }
        let sent_live = match cx
            .cut_throughs
            .take(&cx.namespace, &shared.me, &record.header.body)
        {
            Some(live) => live.sent().await,
            None => None,
        };
        let mut body = None;
        let outcome = match sent_live {
            Some(note) if note.is_empty() => Outcome::Delivered(SENT_LIVE.into()),
            Some(note) => Outcome::Delivered(format!("{SENT_LIVE}; {note}")),
            None => deliver(&shared, &mut open, &mut known, &record, &mut body).await,
        };
        let ended = matches!(outcome, Outcome::Delivered(_) | Outcome::Fail(_));
        record_outcome(&shared, &record, outcome);
        if ended && ended_elsewhere(&record, &shared.me) {
            match body {
                Some(file) => cx.bodies.forget_cached_file(&file),
                None => cx.bodies.forget_cached(&record.header),
            }
        }
    }
    if let Some(o) = open.take() {
        o.association.release().await.ok();
    }
}

/// Whether every delivery of the message but this lane's had ended when it
/// was taken (another lane may end its own since: then neither forgets the
/// body's pages, which only costs memory).
pub(super) fn ended_elsewhere(record: &MessageRecord, me: &ItemAddress) -> bool {
    record
        .deliveries
        .iter()
        .all(|d| &d.target == me || !d.status.is_pending())
}

/// The note of a message delivered by a live send.
const SENT_LIVE: &str = "sent while it arrived (cut-through)";

impl Shared {
    /// The next live send or queued message: a live send first, since its
    /// sender is still sending.
    async fn next_work(&self, idle: Option<Duration>) -> Work {
        let mut intake = self.reader().await;
        let Intake { queue, live } = &mut *intake;
        match live {
            Some(live) => tokio::select! {
                biased;
                Some(store) = live.recv() => Work::Live(store),
                next = queue.next(idle) => Work::Queued(next),
            },
            None => Work::Queued(queue.next(idle).await),
        }
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.backoff.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queue reader, rewound to the oldest pending message if a retry
    /// asked for it.
    async fn reader(&self) -> tokio::sync::MutexGuard<'_, Intake> {
        let mut reader = self.reader.lock().await;
        if self.rewind.swap(false, Ordering::AcqRel) {
            reader.queue.rewind();
        }
        reader
    }
}

fn record_outcome(shared: &Shared, record: &MessageRecord, outcome: Outcome) {
    let cx = &shared.cx;
    let me = &shared.me;
    // How it ended for good, for the move it may belong to.
    let mut ended = None;
    let result = match outcome {
        Outcome::Delivered(note) => {
            debug!(item = %cx.name, message_id = %record.id, "Delivered.");
            *shared.backoff() = Backoff::default();
            ended = Some(if note.is_empty() {
                Delivery::Delivered
            } else {
                Delivery::Warning
            });
            cx.messages.delivered(record.id, me, &note)
        }
        Outcome::Fail(reason) => {
            error!(item = %cx.name, message_id = %record.id, sop_instance_uid = %record.header.sop_instance_uid, reason = %reason, "Message failed; it was not delivered.");
            ended = Some(Delivery::Failed);
            cx.messages.failed(record.id, me, &reason)
        }
        Outcome::Retry(err) => {
            let attempts = record
                .deliveries
                .iter()
                .find(|d| &d.target == me)
                .map_or(0, |d| d.attempts)
                + 1;
            let retry = &shared.config.retry;
            if retry.allows_another(attempts) {
                // The message is due (also after a restart) no later than
                // the pause ends, so that it is the first one taken then.
                let (delay, at) = {
                    let mut backoff = shared.backoff();
                    backoff.streak = backoff.streak.saturating_add(1);
                    let delay = retry.delay_after(backoff.streak);
                    let at = now_ms()
                        .saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                    backoff.until = Some(Instant::now() + delay + Duration::from_millis(1));
                    (delay, at)
                };
                shared.rewind.store(true, Ordering::Release);
                warn!(item = %cx.name, message_id = %record.id, attempt = attempts, retry_in = ?delay, error = %err, "Delivery failed; will retry.");
                cx.messages.retry_later(record.id, me, &err, at)
            } else {
                let reason = format!("gave up after {attempts} attempts: {err}");
                error!(item = %cx.name, message_id = %record.id, sop_instance_uid = %record.header.sop_instance_uid, reason = %reason, "Message failed; it was not delivered.");
                ended = Some(Delivery::Failed);
                cx.messages.failed(record.id, me, &reason)
            }
        }
    };
    if let Err(e) = result {
        error!(item = %cx.name, message_id = %record.id, error = %e, "Could not record the outcome.");
    }
    if let (Some(sub), Some(ended)) = (&record.header.sub_operation, ended) {
        cx.retrieves
            .ended(sub.retrieve, &record.header.sop_instance_uid, ended);
    }
}

/// Sends a queued message from its body file, which it leaves in `body`
/// once opened.
async fn deliver(
    shared: &Shared,
    open: &mut Option<Open>,
    known: &mut Vec<(String, String)>,
    record: &MessageRecord,
    body: &mut Option<Arc<std::fs::File>>,
) -> Outcome {
    let cx = &shared.cx;
    let h = &record.header;
    let (sop, ts) = (h.sop_class_uid.as_str(), h.transfer_syntax.as_str());
    let peer = match peer(shared, record.header.sub_operation.as_ref()) {
        Ok(peer) => peer,
        Err(outcome) => return outcome,
    };
    let o = match ready(shared, open, known, &peer, sop, ts).await {
        Ok(o) => o,
        Err(outcome) => return outcome,
    };
    // Opening is a quick metadata lookup next to the transfer; the sender
    // reads from the page cache where it runs, and on the blocking pool
    // what would wait for the disk.
    let path = cx.bodies.path(&record.header);
    let file = match std::fs::File::open(&path).and_then(|f| Ok((f.metadata()?.len(), f))) {
        Ok((len, _)) if len < h.size => {
            return Outcome::Fail(format!(
                "the body file {} is {len} bytes, shorter than the {} recorded",
                path.display(),
                h.size
            ));
        }
        Ok((_, f)) => Arc::clone(body.insert(Arc::new(f))),
        Err(e) => {
            return Outcome::Fail(format!(
                "the body file {} cannot be read: {e}",
                path.display()
            ));
        }
    };
    o.association.set_move_originator(
        h.sub_operation
            .as_ref()
            .map(|s| (s.originator_ae_title.clone(), s.originator_message_id)),
    );
    let sent = o
        .association
        .store_from_file(sop, &h.sop_instance_uid, ts, file, 0, h.size)
        .await;
    match sent {
        Err(scu::ScuError::Body(e)) => {
            abort(open).await;
            Outcome::Fail(format!("{} ({})", e, path.display()))
        }
        sent => answered(open, sent).await,
    }
}

/// Sends an instance while it arrives (see the module) on this lane's
/// association, and says how that went; the message, once queued, is
/// delivered by it or sent again.
async fn send_live(
    shared: &Shared,
    open: &mut Option<Open>,
    known: &mut Vec<(String, String)>,
    mut live: LiveStore,
) {
    let paused = shared.backoff().until.is_some_and(|u| u > Instant::now());
    if paused || shared.cx.shutdown.is_cancelled() || !live.start() {
        return;
    }
    let (sop, ts) = (live.sop_class_uid.as_str(), live.transfer_syntax.as_str());
    let outcome = match peer(shared, None) {
        Ok(peer) => match ready(shared, open, known, &peer, sop, ts).await {
            Ok(o) => {
                o.association.set_move_originator(None);
                let iuid = live.sop_instance_uid.clone();
                let sent = (o.association)
                    .store_growing(sop, &iuid, ts, &mut live.data)
                    .await;
                answered(open, sent).await
            }
            Err(outcome) => outcome,
        },
        Err(outcome) => outcome,
    };
    let sent = match outcome {
        Outcome::Delivered(note) => {
            debug!(item = %shared.cx.name, sop_instance_uid = %live.sop_instance_uid, "Sent while it arrived (cut-through).");
            Some(note)
        }
        Outcome::Retry(why) | Outcome::Fail(why) => {
            info!(item = %shared.cx.name, sop_instance_uid = %live.sop_instance_uid, reason = %why, "Not sent while it arrived (cut-through); if it is taken in, it is sent from its body.");
            None
        }
    };
    live.finish(sent);
}

/// What the remote's answer to a C-STORE means; on an error the
/// association, in an unknown state, is aborted.
async fn answered(
    open: &mut Option<Open>,
    sent: Result<crate::dimse::Status, scu::ScuError>,
) -> Outcome {
    match sent {
        Ok(status) => match status.category() {
            StatusCategory::Success => Outcome::Delivered(String::new()),
            StatusCategory::Warning => Outcome::Delivered(format!("remote answered {status}")),
            _ if status.code() & 0xFF00 == 0xA700 => {
                Outcome::Retry(format!("remote answered {status}"))
            }
            _ => Outcome::Fail(format!("remote answered {status}")),
        },
        Err(e) => {
            abort(open).await;
            Outcome::Retry(e.to_string())
        }
    }
}

async fn abort(open: &mut Option<Open>) {
    if let Some(o) = open.take() {
        o.association.abort().await;
    }
}

/// This lane's association to `peer`, open with an accepted context for
/// the SOP class and transfer syntax: the one it has when it can carry
/// them, else a new one (the old one released).
async fn ready<'o>(
    shared: &Shared,
    open: &'o mut Option<Open>,
    known: &mut Vec<(String, String)>,
    peer: &Peer,
    sop: &str,
    ts: &str,
) -> Result<&'o mut Open, Outcome> {
    let config = &shared.config;
    let reusable = open.as_ref().is_some_and(|o| {
        &o.peer == peer && o.association.accepted_context(sop, Some(ts)).is_some()
    });
    if !reusable {
        if let Some(o) = open.take() {
            o.association.release().await.ok();
        }
        let stored = stored_association(shared, peer)?;
        let allowed = |s: &str, t: &str| allowed_by(stored.as_ref(), shared, &peer.ae_title, s, t);
        allowed(sop, ts).map_err(Outcome::Fail)?;
        let pair = (sop.to_string(), ts.to_string());
        known.retain(|k| k != &pair);
        known.insert(0, pair);
        known.truncate(MAX_PRESENTATION_CONTEXTS);
        // Drop contexts the store no longer allows (or does not allow for
        // this remote).
        known.retain(|(s, t)| allowed(s, t).is_ok());
        let mut options = ScuOptions::new(config.local_ae_title.as_str(), peer.ae_title.as_str());
        options.presentation_contexts = known
            .iter()
            .map(|(s, t)| ProposedContext {
                abstract_syntax: s.clone(),
                transfer_syntaxes: vec![t.clone()],
            })
            .collect();
        options.max_pdu_length = config.max_pdu_length;
        options.connect_timeout = config.connect_timeout.get();
        options.response_timeout = config.response_timeout.get();
        options.write_timeout = config.write_timeout.get();
        options.tls = shared
            .tls
            .as_ref()
            .filter(|_| peer.tls)
            .map(Reloading::current);
        match scu::connect(&peer.address, &options).await {
            Ok(association) => {
                *open = Some(Open {
                    association,
                    peer: peer.clone(),
                });
            }
            Err(e) => return Err(Outcome::Retry(e.to_string())),
        }
    }
    let Some(o) = open.as_mut() else {
        return Err(Outcome::Retry("no association".into()));
    };
    if o.association.accepted_context(sop, Some(ts)).is_none() {
        let why = match o
            .association
            .contexts()
            .iter()
            .find(|c| c.abstract_syntax == sop)
        {
            Some(c) => format!("{:?}", c.result),
            None => "not proposed".to_string(),
        };
        // Keep the association for the other contexts; this message fails.
        return Err(Outcome::Fail(format!(
            "{} did not accept SOP class {} with transfer syntax {} ({why}); the message is not transcoded",
            peer.ae_title,
            crate::dimse::uids::uid_name_or_uid(sop),
            crate::dimse::uids::uid_name_or_uid(ts),
        )));
    }
    Ok(o)
}

/// Where this message goes: the configured remote, or its move's
/// destination in the AE directory (not there: it fails, with the reason;
/// the directory unreadable: retried).
fn peer(shared: &Shared, sub_operation: Option<&SubOperation>) -> Result<Peer, Outcome> {
    let config = &shared.config;
    let directory = match &shared.remote {
        Remote::Configured => {
            return Ok(Peer {
                ae_title: config.remote_ae_title.clone(),
                address: format!("{}:{}", config.host, config.port),
                tls: shared.tls.is_some(),
            });
        }
        Remote::MoveDestination(directory) => directory,
    };
    let Some(sub) = sub_operation else {
        return Err(Outcome::Fail(
            "not a sub-operation of a C-MOVE: nowhere to send it".into(),
        ));
    };
    let ae_title = AeTitle::new(&sub.destination)
        .map_err(|e| Outcome::Fail(format!("move destination {:?}: {e}", sub.destination)))?;
    match directory.get(&ae_title) {
        Ok(Some(entry)) if entry.tls && shared.tls.is_none() => Err(Outcome::Fail(format!(
            "move destination {ae_title} speaks TLS only (tls in the AE directory), and operation {} has no [tls] settings to reach it with; add them and resend",
            shared.me.item
        ))),
        Ok(Some(entry)) => Ok(Peer {
            address: entry.address(),
            tls: entry.tls,
            ae_title,
        }),
        Ok(None) => Err(Outcome::Fail(format!(
            "move destination {ae_title} is not in the AE directory of namespace {}; add it (switchboard ae add) and resend",
            shared.cx.namespace
        ))),
        Err(e) => Err(Outcome::Retry(format!("cannot read the AE directory: {e}"))),
    }
}

/// The stored association (local → remote), read once per association
/// opened; a retry when the store cannot be read (that may pass).
fn stored_association(
    shared: &Shared,
    peer: &Peer,
) -> Result<Option<crate::association::AssociationContext>, Outcome> {
    let local: &AeTitle = &shared.config.local_ae_title;
    shared
        .cx
        .associations
        .lookup(local, &peer.ae_title)
        .map_err(|e| Outcome::Retry(format!("cannot read the stored association: {e}")))
}

/// Whether a stored association lets us propose this SOP class with this
/// transfer syntax; the reason when not.
fn allowed_by(
    stored: Option<&crate::association::AssociationContext>,
    shared: &Shared,
    remote: &AeTitle,
    sop: &str,
    ts: &str,
) -> Result<(), String> {
    let config = &shared.config;
    let cx = &shared.cx;
    let local: &AeTitle = &config.local_ae_title;
    let stored = stored
        .ok_or_else(|| {
            format!(
                "no association {local} → {remote} is stored in namespace {}; create it (switchboard association create) and resend",
                cx.namespace
            )
        })?;
    let pc = stored.context_for(sop).ok_or_else(|| {
        format!(
            "the stored association {local} → {remote} has no presentation context for {}",
            crate::dimse::uids::uid_name_or_uid(sop)
        )
    })?;
    if pc.transfer_syntaxes.iter().any(|t| t.as_str() == ts) {
        Ok(())
    } else {
        Err(format!(
            "the stored association {local} → {remote} does not list transfer syntax {} for {}; the message is not transcoded",
            crate::dimse::uids::uid_name_or_uid(ts),
            crate::dimse::uids::uid_name_or_uid(sop)
        ))
    }
}
