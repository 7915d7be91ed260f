//! How a worker (a process or an operation) takes the messages queued for
//! it: in arrival order, each claimed (in flight) as it is handed out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::message::{ItemAddress, MessageError, MessageId, MessageQueues, MessageRecord, now_ms};

/// What [`QueueReader::next`] found.
#[derive(Debug)]
pub enum Next {
    /// A message claimed for this item (now in flight).
    Message(Box<MessageRecord>),
    /// Nothing arrived within the idle time.
    Idle,
    /// The item must stop.
    Shutdown,
}

/// Takes an item's pending messages in arrival order, claiming each
/// (in flight) as it hands it out. Cancel-safe: nothing is claimed while it
/// waits.
#[derive(Debug)]
pub struct QueueReader {
    messages: Arc<dyn MessageQueues>,
    address: ItemAddress,
    inbox: Arc<Notify>,
    shutdown: CancellationToken,
    buffer: VecDeque<MessageId>,
    /// The last id read from the store; the next scan starts after it. Reset
    /// to the start when the queue runs dry, so that messages put back
    /// (retries, resends) are found again.
    cursor: Option<MessageId>,
}

/// How many queue entries one scan reads.
const SCAN_BATCH: usize = 256;
/// Safety net: rescan at least this often even without a wake-up.
const RESCAN: Duration = Duration::from_secs(5);

impl QueueReader {
    /// A reader of `address`'s queue, woken by `inbox`, stopping when
    /// `shutdown` fires.
    pub fn new(
        messages: Arc<dyn MessageQueues>,
        address: ItemAddress,
        inbox: Arc<Notify>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            messages,
            address,
            inbox,
            shutdown,
            buffer: VecDeque::new(),
            cursor: None,
        }
    }

    /// Forgets what it read ahead: the next scan starts from the oldest
    /// pending message (after a retry, so that it goes first again).
    pub fn rewind(&mut self) {
        self.buffer.clear();
        self.cursor = None;
    }

    /// The next message, waiting for one up to `idle` (forever if `None`).
    ///
    /// # Errors
    /// Store errors.
    pub async fn next(&mut self, idle: Option<Duration>) -> Result<Next, MessageError> {
        let deadline = idle.map(|d| tokio::time::Instant::now() + d);
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(Next::Shutdown);
            }
            // Arm the wake-up before looking, so a poke between the scan and
            // the wait is not missed.
            let notified = self.inbox.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            while let Some(id) = self.buffer.pop_front() {
                if let Some(record) = self.messages.claim(id, &self.address)? {
                    return Ok(Next::Message(Box::new(record)));
                }
            }
            let found = self
                .messages
                .pending(&self.address, self.cursor, SCAN_BATCH)?;
            if let Some(last) = found.last() {
                self.cursor = Some(*last);
                self.buffer.extend(found);
                continue;
            }
            let was_scanning_from_start = self.cursor.is_none();
            self.cursor = None;
            if !was_scanning_from_start {
                continue;
            }
            // Nothing pending: sleep until poked, a back-off ends, the idle
            // time passes or shutdown.
            let retry_at = self.messages.next_retry_at(&self.address)?;
            let mut wait = RESCAN;
            if let Some(at) = retry_at {
                wait = wait.min(Duration::from_millis(at.saturating_sub(now_ms()).max(1)));
            }
            let sleep_until = match deadline {
                Some(d) => (tokio::time::Instant::now() + wait).min(d),
                None => tokio::time::Instant::now() + wait,
            };
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(Next::Shutdown),
                () = &mut notified => {}
                () = tokio::time::sleep_until(sleep_until) => {
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        return Ok(Next::Idle);
                    }
                }
            }
        }
    }
}
