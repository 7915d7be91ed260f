//! Messages as the engine sees them, apart from how they are stored: ids,
//! item addresses, headers, records with one delivery per target, and the
//! pure transitions of a delivery (queued → in flight → delivered, failed or
//! queued again). A leaf: no I/O, no store, no runtime.
//!
//! - [`header`]: [`MessageId`], [`ItemAddress`], [`MessageHeader`], [`now_ms`].
//! - [`record`]: [`MessageRecord`], [`Delivery`], [`DeliveryStatus`],
//!   [`TraceEvent`] and the transitions, each one method.
//! - [`filter`]: [`MessageFilter`], what a listing asks for.
//! - [`time`]: times of the trace written and read in UTC.
//! - [`query`]: [`QueryTrace`], a query (C-FIND) as a message without a
//!   body, one delivery per upstream; [`retrieve`]: [`RetrieveTrace`], a
//!   C-MOVE through the engine likewise, with its instances.
//! - [`queues`]: [`MessageQueues`], the one interface through which items
//!   and the runtime reach messages and their queues; [`error`]:
//!   [`MessageError`].
//!   `store::Messages` implements it over the embedded store; a replicated
//!   log shared by several engines could implement it too.

pub mod error;
pub mod filter;
pub mod header;
pub mod query;
pub mod queues;
pub mod record;
pub mod retrieve;
pub mod time;

pub use error::MessageError;
pub use filter::MessageFilter;
pub use header::{ItemAddress, MessageHeader, MessageId, SubOperation, now_ms};
pub use query::{QueryKey, QueryTrace, UpstreamOutcome};
pub use queues::MessageQueues;
pub use record::{Delivery, DeliveryStatus, MessageRecord, TraceEvent};
pub use retrieve::{RetrieveTrace, UpstreamEnd};

#[cfg(test)]
mod tests;
