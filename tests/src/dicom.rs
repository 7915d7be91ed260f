//! DICOM peers for tests: an in-process Switchboard SCP on 127.0.0.1:0,
//! DCMTK and pynetdicom found (or reported missing with an install hint),
//! free ports and readiness checks.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use switchboard::association::model::{AeTitle, AssociationContext, PresentationContext, Uid};
use switchboard::services::dicom_scp::{
    DicomScp, DicomScpConfig, Ingest, IngestError, IngestFuture, ReceivedInstance, ScpContext,
    SpooledData,
};
use tokio_util::sync::CancellationToken;

pub const IMPLICIT: &str = "1.2.840.10008.1.2";
pub const EXPLICIT: &str = "1.2.840.10008.1.2.1";
pub const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
pub const VERIFICATION: &str = "1.2.840.10008.1.1";
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";

/// A DCMTK tool by absolute path (pynetdicom's console scripts shadow the
/// same names on PATH).
///
/// # Panics
/// When DCMTK is not installed, with how to install it.
pub fn dcmtk(tool: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(tool);
    assert!(
        path.is_file(),
        "{} is missing: install DCMTK (`sudo apt-get install dcmtk`) or run scripts/test as root",
        path.display()
    );
    path
}

/// A DCMTK command with Nagle disabled (DCMTK 3.6.7 leaves it on otherwise).
pub fn dcmtk_command(tool: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(dcmtk(tool));
    command.env("TCP_NODELAY", "1").kill_on_drop(true);
    command
}

/// The Python interpreter with pynetdicom: `SWITCHBOARD_PYTHON`, else
/// `<workspace>/.venv/bin/python`.
///
/// # Panics
/// When it is missing or lacks pynetdicom, with how to set it up.
pub fn python() -> PathBuf {
    let path = std::env::var_os("SWITCHBOARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let ok = std::process::Command::new(&path)
        .args(["-c", "import pynetdicom"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} with pynetdicom is missing: run `python3 -m venv .venv && .venv/bin/pip install 'pynetdicom>=3,<4'` \
         in the workspace, or set SWITCHBOARD_PYTHON (scripts/test does both)",
        path.display()
    );
    path
}

/// Runs a Python script with pynetdicom and returns its output.
pub async fn run_python(script: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run python")
}

/// A port that was free a moment ago (for peers that need a port number;
/// retry on conflict).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
}

/// Waits until something accepts TCP connections at `addr`.
///
/// # Panics
/// After `timeout`.
pub async fn wait_for_tcp(addr: SocketAddr, timeout: Duration) {
    let start = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "nothing listens on {addr} after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
            Ok(())
        })
    }
}

/// A Switchboard SCP running in this process on 127.0.0.1:0.
pub struct TestScp {
    pub addr: SocketAddr,
    pub associations: Associations,
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
        let dir = tempfile::tempdir().expect("temp dir");
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

    pub fn port(&self) -> String {
        self.addr.port().to_string()
    }

    /// Stops it and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("SCP task");
    }
}

/// A child process killed when dropped (DCMTK storescp, a pynetdicom SCP).
pub struct Peer {
    pub child: tokio::process::Child,
    pub port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _killed = self.child.start_kill();
    }
}

/// Starts DCMTK storescp with AE title `ae_title`, retrying on a port conflict.
pub async fn start_storescp(ae_title: &str, out_dir: &Path) -> Peer {
    for _ in 0..5 {
        let port = free_port();
        let child = dcmtk_command("storescp")
            .args(["-aet", ae_title])
            .arg("-od")
            .arg(out_dir)
            .arg(port.to_string())
            .spawn()
            .expect("start storescp");
        let mut peer = Peer { child, port };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return peer;
            }
            if let Ok(Some(_)) = peer.child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _killed = peer.child.start_kill();
    }
    panic!("storescp did not start");
}

/// Starts a pynetdicom SCP with AE title `ae_title` that accepts
/// Verification (Implicit and Explicit VR LE) and CT Image Storage (Explicit
/// VR LE only) and requires the called AE title to match.
pub async fn start_pynetdicom_scp(ae_title: &str) -> Peer {
    const SCRIPT: &str = r#"
import sys
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification, CTImageStorage
ae = AE(ae_title=sys.argv[1])
ae.require_called_aet = True
ae.add_supported_context(Verification, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
ae.add_supported_context(CTImageStorage, ["1.2.840.10008.1.2.1"])
def on_store(event):
    return 0x0000
ae.start_server(("127.0.0.1", int(sys.argv[2])), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])
"#;
    for _ in 0..5 {
        let port = free_port();
        let child = tokio::process::Command::new(python())
            .arg("-c")
            .arg(SCRIPT)
            .arg(ae_title)
            .arg(port.to_string())
            .kill_on_drop(true)
            .spawn()
            .expect("start the pynetdicom SCP");
        let mut peer = Peer { child, port };
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        for _ in 0..250 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return peer;
            }
            if let Ok(Some(_)) = peer.child.try_wait() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _killed = peer.child.start_kill();
    }
    panic!("the pynetdicom SCP did not start");
}

/// Output as text, for assertion messages.
pub fn text(output: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes a CT Image Storage Part-10 file in `transfer_syntax` (Implicit or
/// Explicit VR LE) with `pixel_bytes` bytes of pixel data, and returns the
/// encoded data set (what a C-STORE carries).
pub fn write_ct_file(
    path: &Path,
    sop_instance_uid: &str,
    transfer_syntax: &str,
    pixel_bytes: usize,
) -> Vec<u8> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    let pixels: Vec<u8> = (0..pixel_bytes).map(|i| (i * 7 % 256) as u8).collect();
    let side = 16u16;
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(CT_IMAGE_STORAGE),
        ),
        DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop_instance_uid),
        ),
        DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")),
        DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("Test^Patient"),
        ),
        DataElement::new(tags::PATIENT_ID, VR::LO, PrimitiveValue::from("ID-1")),
        DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.826.0.1.3680043.2.1"),
        ),
        DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.826.0.1.3680043.2.2"),
        ),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(side)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(side)),
        DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(pixels)),
    ]);
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(transfer_syntax)
                .media_storage_sop_class_uid(CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop_instance_uid),
        )
        .expect("meta group");
    file.write_to_file(path).expect("write the test file");
    let bytes = std::fs::read(path).expect("read the test file back");
    let group_length = u32::from_le_bytes(bytes[140..144].try_into().expect("4 bytes")) as usize;
    bytes[144 + group_length..].to_vec()
}

/// A data directory whose store holds these associations in the default
/// namespace (the store is closed again, so a command can open it).
pub fn data_dir_with(associations: Vec<AssociationContext>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = switchboard::store::Store::open(dir.path()).expect("open the store");
    let namespace = Default::default();
    for ctx in associations {
        store
            .associations(&namespace)
            .put(ctx, true)
            .expect("store");
    }
    drop(store);
    dir
}

/// Holds a data directory's store the way a running engine does, and serves
/// its admin socket, until dropped.
pub struct HeldStore {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl HeldStore {
    pub async fn hold(data_dir: &Path) -> Self {
        let store = switchboard::store::Store::open(data_dir).expect("open the store");
        let server = switchboard::admin::AdminServer::bind(
            &switchboard::admin::socket_path(data_dir),
            store,
        )
        .expect("bind the admin socket");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _served = server
                .run(async move {
                    let _stopped = rx.await;
                })
                .await;
        });
        Self {
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub async fn release(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _sent = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _joined = handle.await;
        }
    }
}

/// Runs `switchboard --data-dir DIR ARGS…`.
pub async fn switchboard_in(data_dir: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(crate::switchboard_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run switchboard")
}
