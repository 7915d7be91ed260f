//! In-process tests of the SCP with our SCU and raw PDUs on 127.0.0.1: the
//! harness and the association state machine; `handlers.rs` tests the
//! DIMSE services.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dicom_ul::pdu::{
    AbortRQSource, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, Pdu,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::association::model::{AeTitle, AssociationContext, PresentationContext, Uid};
use crate::association::negotiation::LookupFailed;
use crate::dimse::pdu::PduStream;
use crate::dimse::scu::{ScuError, ScuOptions, connect};
use crate::dimse::status::Status;
use crate::ids::NamespaceId;

const IMPLICIT: &str = "1.2.840.10008.1.2";
const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const ECHO: &str = "1.2.840.10008.1.1";
const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";

fn aet(s: &str) -> AeTitle {
    AeTitle::new(s).unwrap()
}

fn association(contexts: &[(&str, &[&str])]) -> AssociationContext {
    let mut ctx = AssociationContext::new(aet("ENS-SCU"), aet("ENS-SCP"));
    ctx.presentation_contexts = contexts
        .iter()
        .map(|(a, ts)| {
            PresentationContext::new(
                Uid::new(a).unwrap(),
                ts.iter().map(|t| Uid::new(t).unwrap()).collect(),
            )
            .unwrap()
        })
        .collect();
    ctx
}

/// Ingest that records what it got and keeps the bytes.
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(ReceivedInstance, Vec<u8>)>>,
    fail: bool,
}

impl Ingest for Recorder {
    fn ingest(&self, instance: ReceivedInstance, data: SpooledData) -> IngestFuture<'_> {
        Box::pin(async move {
            if self.fail {
                return Err(IngestError("disk full".into()));
            }
            tokio::task::spawn_blocking(move || data.complete())
                .await
                .unwrap()
                .unwrap();
            let bytes = tokio::fs::read(&instance.spool_path).await.unwrap();
            tokio::fs::remove_file(&instance.spool_path).await.unwrap();
            self.got.lock().unwrap().push((instance, bytes));
            Ok(crate::dimse::Status::SUCCESS)
        })
    }
}

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    spool: tempfile::TempDir,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap();
    }
}

async fn start_with(
    config: impl FnOnce(&mut DicomScpConfig),
    stored: Option<AssociationContext>,
    ingest: Option<Arc<dyn Ingest>>,
) -> Running {
    start_scp(config, stored, ingest, None).await
}

async fn start_scp(
    config: impl FnOnce(&mut DicomScpConfig),
    stored: Option<AssociationContext>,
    ingest: Option<Arc<dyn Ingest>>,
    query: Option<Arc<dyn Query>>,
) -> Running {
    let mut cfg = DicomScpConfig::new(0, aet("ENS-SCP"));
    cfg.bind_address = "127.0.0.1".parse().unwrap();
    cfg.artim_timeout = Duration::from_secs(5);
    cfg.trace = true;
    config(&mut cfg);
    let spool = crate::store::private_tempdir();
    let stored = Arc::new(stored);
    let lookup = move |calling: &AeTitle, _called: &AeTitle| -> Result<_, LookupFailed> {
        Ok(stored
            .as_ref()
            .clone()
            .filter(|ctx| &ctx.calling_ae_title == calling || ctx.calling_ae_title.is_wildcard()))
    };
    let cx = ScpContext {
        name: "ECHO-SCP".into(),
        namespace: Default::default(),
        lookup: Arc::new(lookup),
        ingest,
        query,
        spool_dir: spool.path().join("spool"),
        spool_files: None,
    };
    let scp = DicomScp::bind(cfg, cx).await.unwrap();
    let addr = scp.local_addr();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(scp.run(shutdown.clone(), Duration::from_secs(1)));
    Running {
        addr,
        shutdown,
        handle,
        spool,
    }
}

async fn start(stored: Option<AssociationContext>) -> Running {
    start_with(|_| {}, stored, None).await
}

fn echo_options(calling: &str, called: &str) -> ScuOptions {
    ScuOptions::new(calling, called).with_context(ECHO, &[IMPLICIT])
}

async fn echo_ok(addr: SocketAddr) {
    let mut assoc = connect(&addr.to_string(), &echo_options("ENS-SCU", "ENS-SCP"))
        .await
        .unwrap();
    assert_eq!(assoc.echo().await.unwrap(), Status::SUCCESS);
    assoc.release().await.unwrap();
}

#[tokio::test]
async fn echo_is_answered_with_success_and_our_identity() {
    let scp = start(Some(association(&[(ECHO, &[IMPLICIT])]))).await;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let options = echo_options("ENS-SCU", "ENS-SCP").with_trace(Arc::new(move |l: &str| {
        sink.lock().unwrap().push(l.to_string())
    }));
    let mut assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    assert_eq!(
        assoc.peer_implementation(),
        (
            Some(crate::uids::IMPLEMENTATION_CLASS_UID),
            Some("SWITCHBOARD_01")
        )
    );
    assert_eq!(assoc.peer_max_pdu_length(), 131_072);
    for _ in 0..3 {
        assert_eq!(assoc.echo().await.unwrap(), Status::SUCCESS);
    }
    assoc.release().await.unwrap();
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines[0], ">> A-ASSOCIATE-RQ PDU");
    assert_eq!(lines[1], "<< A-ASSOCIATE-AC PDU");
    assert_eq!(lines[2], ">> C-ECHO-RQ Verification SOP Class");
    assert_eq!(
        lines[3],
        "<< C-ECHO-RSP Verification SOP Class, status #0000H[Success]"
    );
    assert_eq!(lines[lines.len() - 2], ">> A-RELEASE-RQ PDU");
    assert_eq!(lines[lines.len() - 1], "<< A-RELEASE-RP PDU");
    scp.stop().await;
}

#[tokio::test]
async fn rejections_carry_the_right_reason() {
    let scp = start(Some(association(&[(ECHO, &[IMPLICIT])]))).await;
    let err = connect(&scp.addr.to_string(), &echo_options("ENS-SCU", "NOPE"))
        .await
        .unwrap_err();
    let ScuError::Rejected(r) = err else {
        panic!("{err}")
    };
    assert_eq!(
        r.0.source,
        AssociationRJSource::ServiceUser(
            AssociationRJServiceUserReason::CalledAETitleNotRecognized
        )
    );
    let err = connect(&scp.addr.to_string(), &echo_options("STRANGER", "ENS-SCP"))
        .await
        .unwrap_err();
    let ScuError::Rejected(r) = err else {
        panic!("{err}")
    };
    assert_eq!(
        r.to_string(),
        "rejected-permanent by service-user: calling AE title not recognized"
    );
    echo_ok(scp.addr).await;
    scp.stop().await;
}

#[tokio::test]
async fn stored_transfer_syntax_order_is_preferred() {
    let scp = start(Some(association(&[(ECHO, &[EXPLICIT, IMPLICIT])]))).await;
    let options = ScuOptions::new("ENS-SCU", "ENS-SCP").with_context(ECHO, &[IMPLICIT, EXPLICIT]);
    let mut assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    assert_eq!(
        assoc.contexts()[0].transfer_syntax.as_deref(),
        Some(EXPLICIT)
    );
    assert_eq!(assoc.echo().await.unwrap(), Status::SUCCESS);
    assoc.release().await.unwrap();
    scp.stop().await;
}

#[tokio::test]
async fn limit_exceeded_is_a_transient_provider_rejection() {
    let scp = start_with(
        |c| c.max_associations = 1,
        Some(association(&[(ECHO, &[IMPLICIT])])),
        None,
    )
    .await;
    let first = connect(&scp.addr.to_string(), &echo_options("ENS-SCU", "ENS-SCP"))
        .await
        .unwrap();
    let err = connect(&scp.addr.to_string(), &echo_options("ENS-SCU", "ENS-SCP"))
        .await
        .unwrap_err();
    let ScuError::Rejected(r) = err else {
        panic!("{err}")
    };
    assert_eq!(r.0.result, AssociationRJResult::Transient);
    assert_eq!(
        r.0.source,
        AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded
        )
    );
    first.release().await.unwrap();
    // The slot is free again once the first association ended.
    let mut ok = None;
    for _ in 0..50 {
        match connect(&scp.addr.to_string(), &echo_options("ENS-SCU", "ENS-SCP")).await {
            Ok(a) => {
                ok = Some(a);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    ok.expect("a slot frees up").release().await.unwrap();
    scp.stop().await;
}

/// ENS-SCU associates with ENS-SCP over `s`, proposing `abstract_syntax`
/// in Implicit VR LE as presentation context 1, and is accepted.
async fn associate<S>(s: &mut PduStream<S>, abstract_syntax: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    s.write_pdu(&Pdu::AssociationRQ(dicom_ul::pdu::AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "ENS-SCU".into(),
        called_ae_title: "ENS-SCP".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![dicom_ul::pdu::PresentationContextProposed {
            id: 1,
            abstract_syntax: abstract_syntax.into(),
            transfer_syntaxes: vec![IMPLICIT.into()],
        }],
        user_variables: vec![],
    }))
    .await
    .unwrap();
    assert!(matches!(s.read_pdu().await.unwrap(), Pdu::AssociationAC(_)));
}

async fn raw(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// Reads what the server answers until it closes: the first PDU if any.
async fn answer(mut s: TcpStream) -> Option<Pdu> {
    let mut buf = Vec::new();
    let _unused = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    dicom_ul::pdu::read_pdu(&buf[..], dicom_ul::pdu::MAXIMUM_PDU_SIZE, false)
        .ok()
        .flatten()
}

fn is_provider_abort(pdu: &Option<Pdu>) -> bool {
    matches!(
        pdu,
        Some(Pdu::AbortRQ {
            source: AbortRQSource::ServiceProvider(_)
        })
    )
}

#[tokio::test]
async fn garbage_is_aborted_and_others_are_still_served() {
    let scp = start(Some(association(&[(ECHO, &[IMPLICIT])]))).await;

    let mut s = raw(scp.addr).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(is_provider_abort(&answer(s).await));

    let mut s = raw(scp.addr).await;
    s.write_all(&[0x01, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3])
        .await
        .unwrap();
    assert!(is_provider_abort(&answer(s).await));

    // P-DATA before association.
    let mut s = raw(scp.addr).await;
    let mut pdata = Vec::new();
    crate::dimse::pdata::encode_pdata(&mut pdata, 1, true, true, &[0; 10]);
    s.write_all(&pdata).await.unwrap();
    assert!(is_provider_abort(&answer(s).await));

    // Random bytes (a fixed pseudo-random sequence).
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    let mut s = raw(scp.addr).await;
    let _unused = s.write_all(&bytes).await;
    let _unused = answer(s).await;

    // A valid A-ASSOCIATE-RQ header whose body is garbage.
    let mut s = raw(scp.addr).await;
    s.write_all(&[0x01, 0, 0, 0, 0, 8, 9, 9, 9, 9, 9, 9, 9, 9])
        .await
        .unwrap();
    assert!(is_provider_abort(&answer(s).await));

    // A connection closed in the middle of a PDU header.
    let mut s = raw(scp.addr).await;
    s.write_all(&[0x01, 0]).await.unwrap();
    drop(s);

    echo_ok(scp.addr).await;
    scp.stop().await;
}

#[tokio::test]
async fn artim_closes_a_silent_connection() {
    let scp = start_with(
        |c| c.artim_timeout = Duration::from_millis(200),
        Some(association(&[(ECHO, &[IMPLICIT])])),
        None,
    )
    .await;
    let s = raw(scp.addr).await;
    assert_eq!(answer(s).await, None);
    echo_ok(scp.addr).await;
    scp.stop().await;
}

#[tokio::test]
async fn idle_association_is_aborted() {
    let scp = start_with(
        |c| c.idle_timeout = Duration::from_millis(200),
        Some(association(&[(ECHO, &[IMPLICIT])])),
        None,
    )
    .await;
    let mut assoc = connect(&scp.addr.to_string(), &echo_options("ENS-SCU", "ENS-SCP"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let err = assoc.echo().await.unwrap_err();
    assert!(
        matches!(
            err,
            ScuError::Aborted(_) | ScuError::Read(_) | ScuError::Write(_) | ScuError::Io(_)
        ),
        "{err}"
    );
    scp.stop().await;
}

#[tokio::test]
async fn shutdown_aborts_associations_after_the_grace_period() {
    let scp = start(Some(association(&[(ECHO, &[IMPLICIT])]))).await;
    let mut assoc = connect(&scp.addr.to_string(), &echo_options("ENS-SCU", "ENS-SCP"))
        .await
        .unwrap();
    assert_eq!(assoc.echo().await.unwrap(), Status::SUCCESS);
    scp.shutdown.cancel();
    scp.handle.await.unwrap();
    // The association was aborted; the port is closed.
    assert!(assoc.echo().await.is_err());
    assert!(TcpStream::connect(scp.addr).await.is_err());
}

#[tokio::test]
async fn dimse_on_a_rejected_context_aborts() {
    let scp = start(Some(association(&[(ECHO, &[IMPLICIT])]))).await;
    let options = echo_options("ENS-SCU", "ENS-SCP").with_context(CT, &[IMPLICIT]);
    let assoc = connect(&scp.addr.to_string(), &options).await.unwrap();
    assert!(!assoc.contexts()[1].is_accepted());
    drop(assoc);
    // Hand-made: associate, then a C-ECHO-RQ on context 3 (rejected).
    let mut s = PduStream::new(raw(scp.addr).await);
    s.write_pdu(&Pdu::AssociationRQ(dicom_ul::pdu::AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "ENS-SCU".into(),
        called_ae_title: "ENS-SCP".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![
            dicom_ul::pdu::PresentationContextProposed {
                id: 1,
                abstract_syntax: ECHO.into(),
                transfer_syntaxes: vec![IMPLICIT.into()],
            },
            dicom_ul::pdu::PresentationContextProposed {
                id: 3,
                abstract_syntax: CT.into(),
                transfer_syntaxes: vec![IMPLICIT.into()],
            },
        ],
        user_variables: vec![dicom_ul::pdu::UserVariableItem::MaxLength(16384)],
    }))
    .await
    .unwrap();
    assert!(matches!(s.read_pdu().await.unwrap(), Pdu::AssociationAC(_)));
    let cmd = crate::dimse::DimseCommand::EchoRq(crate::dimse::CEchoRq::new(1))
        .to_bytes()
        .unwrap();
    crate::dimse::pdata::send_command(&mut s, 3, &cmd)
        .await
        .unwrap();
    assert!(matches!(s.read_pdu().await.unwrap(), Pdu::AbortRQ { .. }));
    echo_ok(scp.addr).await;
    scp.stop().await;
}

#[test]
fn config_parses_from_toml_with_defaults_and_lists() {
    let cfg: DicomScpConfig = toml::from_str(
        r#"
        port = 11112
        ae_title = "ENS-SCP"
        "#,
    )
    .unwrap();
    assert_eq!(cfg.ae_title.to_vec(), vec![aet("ENS-SCP")]);
    assert_eq!(cfg.bind_address.to_string(), "0.0.0.0");
    assert_eq!(cfg.max_pdu_length, 131_072);
    assert!(cfg.validate().is_ok());

    let cfg: DicomScpConfig = toml::from_str(
        r#"
        port = 104
        bind_address = "127.0.0.1"
        ae_title = ["A", "B"]
        max_associations = 5
        artim_timeout = 2.5
        idle_timeout = 60
        trace = true
        targets = ["ROUTER"]
        "#,
    )
    .unwrap();
    assert_eq!(cfg.ae_title.to_vec(), vec![aet("A"), aet("B")]);
    assert_eq!(cfg.artim_timeout, Duration::from_millis(2500));
    assert_eq!(cfg.idle_timeout, Duration::from_secs(60));

    let err =
        toml::from_str::<DicomScpConfig>("port = 1\nae_title = \"A\"\nmax_pdu = 3").unwrap_err();
    assert!(err.to_string().contains("max_pdu"), "{err}");
    assert!(toml::from_str::<DicomScpConfig>("port = 1\nae_title = \"A\\\\B\"").is_err());

    let mut bad = DicomScpConfig::new(1, aet("*"));
    bad.max_associations = 0;
    bad.max_pdu_length = 10;
    bad.idle_timeout = Duration::ZERO;
    assert_eq!(bad.validate().unwrap_err().len(), 4);
}

#[tokio::test]
async fn bind_conflict_is_reported_before_running() {
    let scp = start(None).await;
    let mut cfg = DicomScpConfig::new(scp.addr.port(), aet("ENS-SCP"));
    cfg.bind_address = "127.0.0.1".parse().unwrap();
    let cx = ScpContext {
        name: "TWIN".into(),
        namespace: Default::default(),
        lookup: Arc::new(
            |_: &AeTitle, _: &AeTitle| -> Result<Option<AssociationContext>, LookupFailed> {
                Ok(None)
            },
        ),
        ingest: None,
        query: None,
        spool_dir: scp.spool.path().join("twin"),
        spool_files: None,
    };
    let err = DicomScp::bind(cfg, cx).await.unwrap_err();
    assert!(matches!(err, ScpError::Bind { .. }), "{err}");
    scp.stop().await;
}

#[test]
fn a_pair_stored_in_another_namespace_is_named_in_the_warning() {
    let here = NamespaceId::new("demo").unwrap();
    let note = super::association::elsewhere_note(
        &aet("ENS-SCU"),
        &aet("ENS-SCP"),
        &[NamespaceId::default()],
        &here,
    );
    assert_eq!(
        note,
        " ENS-SCU → ENS-SCP is defined in namespace default, this service is in namespace demo"
    );
    assert_eq!(
        super::association::elsewhere_note(&aet("A"), &aet("B"), &[], &here),
        ""
    );
}

mod c_find;
mod handlers;

/// A peer that sends requests but stops reading the responses (a full TCP
/// window) loses its own association after the write timeout; others are
/// served meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_stops_reading_blocks_only_its_own_association() {
    let scp = start_with(
        |c| c.write_timeout = Duration::from_millis(500),
        Some(association(&[(ECHO, &[IMPLICIT])])),
        None,
    )
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = PduStream::new(socket.connect(scp.addr).await.unwrap());
    // Our own writes wait longer than the test allows: only the SCP's
    // close can end the loop below in time.
    s.set_write_timeout(Duration::from_secs(300));
    associate(&mut s, ECHO).await;
    // C-ECHO-RQs, never reading a response, until the SCP gives up on us.
    // They go 64 to a write: one small segment per request would make the
    // SCP's socket drop segments whose memory outgrows its buffer, and the
    // retransmission back-off would then let requests in only seconds
    // apart, too slowly for the responses to ever fill its send buffer.
    let rq = crate::dimse::DimseCommand::EchoRq(crate::dimse::CEchoRq {
        message_id: 1,
        affected_sop_class_uid: ECHO.into(),
    })
    .to_bytes()
    .unwrap();
    let pdv_len = u32::try_from(rq.len() + 2).unwrap();
    let mut pdu = vec![0x04, 0x00];
    pdu.extend_from_slice(&(pdv_len + 4).to_be_bytes());
    pdu.extend_from_slice(&pdv_len.to_be_bytes());
    pdu.extend_from_slice(&[1, 0x03]);
    pdu.extend_from_slice(&rq);
    let batch = pdu.repeat(64);
    let mut sent = 0;
    let send = async {
        use tokio::io::AsyncWriteExt as _;
        while s.get_mut().write_all(&batch).await.is_ok() {
            sent += 64;
            if sent % 1024 == 0 {
                // Meanwhile another peer is served.
                echo_ok(scp.addr).await;
            }
        }
    };
    // The SCP blocks only once its send buffer, which the kernel grows to
    // megabytes, is full of responses: about 70,000 echoes, 2 s alone, far
    // longer on a loaded machine. The bound catches a hang, not a speed.
    assert!(
        tokio::time::timeout(Duration::from_secs(240), send)
            .await
            .is_ok(),
        "the SCP kept a peer that stopped reading for four minutes"
    );
    assert!(sent > 100, "{sent} requests before the SCP closed");
    echo_ok(scp.addr).await;
    scp.stop().await;
}
