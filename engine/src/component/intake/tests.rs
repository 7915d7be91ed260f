//! Intake with messages that cannot be accepted (the store refuses the
//! record): nothing is acknowledged and no body is left behind to come back
//! as a message nobody acknowledged.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::IntakeError;
use crate::component::{ItemContext, Listeners, Outputs};
use crate::ids::{ItemName, NamespaceId};
use crate::message::{
    ItemAddress, MessageError, MessageHeader, MessageId, MessageQueues, MessageRecord,
};
use crate::store::spool::SpoolWriter;
use crate::store::{GroupCommit, Messages, Store};

/// The store's messages, except that no record can be written.
#[derive(Debug)]
struct RefusesRecords(Messages);

fn refused() -> MessageError {
    MessageError::Backend("the store refuses the record".into())
}

impl MessageQueues for RefusesRecords {
    fn namespace(&self) -> &NamespaceId {
        self.0.namespace()
    }
    fn next_id(&self) -> Result<MessageId, MessageError> {
        self.0.next_id()
    }
    fn accept(
        &self,
        _: MessageId,
        _: MessageHeader,
        _: &[ItemAddress],
    ) -> Result<MessageRecord, MessageError> {
        Err(refused())
    }
    fn record(&self, _: &MessageRecord) -> Result<(), MessageError> {
        Err(refused())
    }
    fn pending(
        &self,
        target: &ItemAddress,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageId>, MessageError> {
        self.0.pending(target, after, limit)
    }
    fn next_retry_at(&self, target: &ItemAddress) -> Result<Option<u64>, MessageError> {
        self.0.next_retry_at(target)
    }
    fn claim(&self, _: MessageId, _: &ItemAddress) -> Result<Option<MessageRecord>, MessageError> {
        Err(refused())
    }
    fn delivered(
        &self,
        _: MessageId,
        _: &ItemAddress,
        _: &str,
    ) -> Result<MessageRecord, MessageError> {
        Err(refused())
    }
    fn retry_later(
        &self,
        _: MessageId,
        _: &ItemAddress,
        _: &str,
        _: u64,
    ) -> Result<MessageRecord, MessageError> {
        Err(refused())
    }
    fn requeue(&self, _: MessageId, _: &ItemAddress) -> Result<MessageRecord, MessageError> {
        Err(refused())
    }
    fn failed(
        &self,
        _: MessageId,
        _: &ItemAddress,
        _: &str,
    ) -> Result<MessageRecord, MessageError> {
        Err(refused())
    }
    fn route(
        &self,
        _: MessageId,
        _: &ItemAddress,
        _: &[ItemAddress],
        _: &str,
    ) -> Result<MessageRecord, MessageError> {
        Err(refused())
    }
    fn requeue_in_flight_of(&self, _: &ItemAddress) -> Result<usize, MessageError> {
        Err(refused())
    }
    fn queues(&self) -> Result<BTreeMap<ItemAddress, usize>, MessageError> {
        self.0.queues()
    }
}

fn context(store: &Store) -> ItemContext {
    let ns = NamespaceId::new("intake").unwrap();
    let bodies = store.bodies().unwrap();
    ItemContext {
        namespace: ns.clone(),
        production: ItemName::new("p").unwrap(),
        name: ItemName::new("IN").unwrap(),
        associations: store.associations(&ns),
        ae_directory: store.ae_directory(&ns),
        messages: Arc::new(RefusesRecords(store.messages(&ns).unwrap())),
        commit: GroupCommit::spawn(store.clone(), bodies.clone()),
        bodies,
        shutdown: CancellationToken::new(),
        grace: Duration::from_secs(1),
        inbox: Arc::new(Notify::new()),
        outputs: Outputs(Vec::new()),
        listeners: Listeners::default(),
        retrieves: crate::component::retrieves::Retrieves::default(),
        cut_throughs: crate::component::cut_through::CutThroughs::default(),
        queries: Vec::new(),
    }
}

fn header(size: u64) -> MessageHeader {
    MessageHeader {
        size,
        ..crate::store::test_header(1)
    }
}

fn files(store: &Store) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(store.data_dir().join("bodies"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
}

/// On a runtime with two workers, with nothing else arriving, the intake
/// runs on the association's own worker: a failure leaves no body either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spooled_instance_whose_record_is_refused_leaves_no_body() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let cx = context(&store);
    let spool = cx.bodies.spool_dir().join("incoming.part");
    let file = std::fs::File::create_new(&spool).unwrap();
    let mut writer = SpoolWriter::new(file);
    writer.write(b"DATA").unwrap();
    let taken = cx
        .take_in_spooled(&spool, writer.finish(), false, header(4))
        .await;
    assert!(matches!(taken, Err(IntakeError::Messages(_))), "{taken:?}");
    assert_eq!(files(&store), Vec::<std::path::PathBuf>::new());
}

#[tokio::test]
async fn a_read_instance_whose_record_is_refused_leaves_no_body() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let cx = context(&store);
    let mut data = Vec::new();
    data.write_all(b"DATA").unwrap();
    let taken = cx
        .take_in_reader(std::io::Cursor::new(data), header(4), Vec::new())
        .await;
    assert!(matches!(taken, Err(IntakeError::Messages(_))), "{taken:?}");
    assert_eq!(files(&store), Vec::<std::path::PathBuf>::new());
}

/// An intake blocks its worker only when it is the one thing happening and
/// another worker is left for everything else.
#[test]
fn an_intake_runs_inline_only_alone_with_another_worker() {
    use super::runs_inline;
    assert!(runs_inline(2, 0, 1));
    assert!(runs_inline(8, 0, 1));
    assert!(!runs_inline(1, 0, 1), "the only worker");
    assert!(!runs_inline(2, 1, 1), "another data set arriving");
    assert!(!runs_inline(2, 0, 2), "another intake running");
}
