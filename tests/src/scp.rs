//! A Switchboard SCP in this process, on 127.0.0.1:0 (no port to pick),
//! with its associations in a real sled store in a temp dir and what it
//! receives kept in memory for assertions.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::association::model::{AeTitle, AssociationContext, PresentationContext, Uid};
use switchboard::services::dicom_scp::{
    DicomScp, DicomScpConfig, Ingest, IngestError, IngestFuture, ReceivedInstance, ScpContext,
    SpooledData,
};
use tokio_util::sync::CancellationToken;

/// An AE title.
pub fn aet(title: &str) -> AeTitle {
    AeTitle::new(title).expect("valid AE title")
}

/// An association context for (calling, called) with these contexts.
pub fn association(
    calling: &str,
    called: &str,
    contexts: &[(&str, &[&str])],
) -> AssociationContext {
    let mut ctx = AssociationContext::new(aet(calling), aet(called));
    ctx.presentation_contexts = contexts
        .iter()
        .map(|(abstract_syntax, ts)| {
            PresentationContext::new(
                Uid::new(abstract_syntax).expect("UID"),
                ts.iter().map(|t| Uid::new(t).expect("UID")).collect(),
            )
            .expect("presentation context")
        })
        .collect();
    ctx
}

/// The namespace's stored associations, in a real sled store in a temp dir.
/// Each association the SCP serves looks them up afresh, so a `put` takes
/// effect on the next one.
#[derive(Clone)]
pub struct Associations(pub switchboard::store::Associations);

impl Associations {
    /// Stores `ctx`, replacing the pair's association if there is one.
    pub fn put(&self, ctx: AssociationContext) {
        self.0.put(ctx, true).expect("store the association");
    }
}

/// Received instances, kept in memory for assertions.
#[derive(Default)]
pub struct Received(pub Mutex<Vec<(ReceivedInstance, Vec<u8>)>>);

impl Ingest for Received {
    fn ingest(&self, instance: ReceivedInstance, data: SpooledData) -> IngestFuture<'_> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || data.complete())
                .await
                .map_err(IngestError::new)?
                .map_err(IngestError::new)?;
            let bytes = tokio::fs::read(&instance.spool_path)
                .await
                .map_err(IngestError::new)?;
            tokio::fs::remove_file(&instance.spool_path)
                .await
                .map_err(IngestError::new)?;
            self.0.lock().expect("lock").push((instance, bytes));
            Ok(switchboard::dimse::Status::SUCCESS)
        })
    }
}

/// A Switchboard SCP running in this process on 127.0.0.1:0.
pub struct TestScp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it negotiates from; edits apply to the next association.
    pub associations: Associations,
    /// What it received.
    pub received: Arc<Received>,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TestScp {
    /// Starts an SCP answering to `ae_title` with these associations, a
    /// recording ingest hook and `configure` applied to its settings.
    pub async fn start(
        ae_title: &str,
        initial: Vec<AssociationContext>,
        configure: impl FnOnce(&mut DicomScpConfig),
    ) -> Self {
        let mut config = DicomScpConfig::new(0, aet(ae_title));
        config.bind_address = "127.0.0.1".parse().expect("address");
        config.trace = true;
        configure(&mut config);
        let dir = crate::private_tempdir();
        let store =
            switchboard::store::Store::open(&dir.path().join("data")).expect("open the store");
        let associations = Associations(store.associations(&Default::default()));
        for ctx in initial {
            associations.put(ctx);
        }
        let received = Arc::new(Received::default());
        let cx = ScpContext {
            name: "TEST-SCP".into(),
            namespace: Default::default(),
            lookup: Arc::new(associations.0.clone()),
            ingest: Some(received.clone()),
            query: None,
            spool_dir: dir.path().join("spool"),
            spool_files: None,
        };
        let scp = DicomScp::bind(config, cx).await.expect("bind the SCP");
        let addr = scp.local_addr();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(scp.run(shutdown.clone(), Duration::from_secs(2)));
        Self {
            addr,
            associations,
            received,
            shutdown,
            handle,
            _dir: dir,
        }
    }

    /// `ENS-SCP`, answering C-ECHO from `ENS-SCU` in Implicit VR Little
    /// Endian, with `configure` applied to its settings.
    pub async fn echo(configure: impl FnOnce(&mut DicomScpConfig)) -> Self {
        let verification = association(
            "ENS-SCU",
            "ENS-SCP",
            &[(crate::uids::VERIFICATION, &[crate::uids::IMPLICIT])],
        );
        Self::start("ENS-SCP", vec![verification], configure).await
    }

    /// Asserts that DCMTK's echoscu, as `ENS-SCU`, gets a C-ECHO through.
    pub async fn assert_echo_works(&self) {
        let out = crate::dcmtk::echoscu("ENS-SCU", "ENS-SCP", self.addr.port(), &[]).await;
        assert!(out.ok, "{out}");
    }

    /// Its port, as a command-line argument.
    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Stops it and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("SCP task");
    }
}
