//! DICOM TLS against DCMTK: `switchboard echo` and `association test` with
//! `--tls` to a `storescp +tls` that requires a client certificate,
//! certificates made with `openssl` here; a wrong CA, a wrong name and a
//! missing client certificate each fail with the reason. A TLS service
//! takes `storescu +tls` and `echoscu +tls`, refuses plain TCP and a
//! requester without a certificate its CA signed; pynetdicom with an
//! `ssl.SSLContext` is a second peer both ways.

use std::path::Path;

use integration_tests::data_dir::{data_dir_with, switchboard_in};
use integration_tests::dcmtk::{Archive, dcmtk_command, echoscu, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{
    Modality, assert_same_instances, paths_of, uids_of, write_instances,
};
use integration_tests::net::Port;
use integration_tests::peer::Peer;
use integration_tests::production::Production;
use integration_tests::scp::association;
use integration_tests::text;
use integration_tests::tls::Certificates;
use integration_tests::uids::{EXPLICIT, IMPLICIT, VERIFICATION};

/// `storescp +tls` as `ae_title` on `port`, requiring a client
/// certificate signed by the CA of `certificates`.
async fn storescp_tls(
    ae_title: &str,
    certificates: &Certificates,
    port: Port,
    folder: &Path,
) -> Archive {
    Archive::start_with(ae_title, port, folder, &certificates.dcmtk_server()).await
}

/// Waits until a delivery attempt failed with `reason` in its error, and
/// checks that nothing reached the archive's `folder` (nothing is sent in
/// clear).
async fn delivery_refused_naming(engine: &TestEngine, reason: &str, folder: &Path) {
    engine
        .wait_until(&format!("a failed attempt naming {reason}"), async || {
            engine.messages("radiology").await.iter().any(|m| {
                m["deliveries"][0]["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains(reason))
            })
        })
        .await;
    assert!(
        std::fs::read_dir(folder).unwrap().next().is_none(),
        "nothing is sent in clear"
    );
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_and_association_test_speak_tls_and_say_why_a_handshake_fails() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = Certificates::make(&dir.path().join("pki"), "STORESCP", "ECHOSCU");
    let port = Port::reserve();
    let peer = storescp_tls(
        "STORESCP",
        &certificates,
        port,
        &dir.path().join("received"),
    )
    .await;
    let address = format!("127.0.0.1:{}", peer.port());
    let data = data_dir_with(vec![association(
        "ECHOSCU",
        "STORESCP",
        &[(VERIFICATION, &[EXPLICIT, IMPLICIT])],
    )]);
    let (ca, cert, key) = (
        path(&certificates.ca),
        path(&certificates.client_cert),
        path(&certificates.client_key),
    );
    let echo = |more: &[&str]| {
        let mut args = vec![
            "echo",
            address.as_str(),
            "--calling",
            "ECHOSCU",
            "--called",
            "STORESCP",
            "--timeout",
            "10",
        ];
        args.extend_from_slice(more);
        args.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let run = async |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        switchboard_in(data.path(), &args).await
    };

    let out = run(echo(&["--tls", "--ca", ca, "--cert", cert, "--key", key])).await;
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(printed.contains("TLS: TLSv1_"), "{printed}");
    assert!(
        printed.contains("peer O=Switchboard tests, CN=STORESCP"),
        "{printed}"
    );
    assert!(printed.contains("Echo succeeded: 1 of 1"), "{printed}");

    // The stored association's contexts, over TLS.
    let tested = run(vec![
        "association".into(),
        "test".into(),
        "--calling".into(),
        "ECHOSCU".into(),
        "--called".into(),
        "STORESCP".into(),
        address.clone(),
        "--tls".into(),
        "--ca".into(),
        ca.into(),
        "--cert".into(),
        cert.into(),
        "--key".into(),
        key.into(),
    ])
    .await;
    let printed = text(&tested);
    assert!(tested.status.success(), "{printed}");
    assert!(
        printed.contains("accepted  Verification SOP Class"),
        "{printed}"
    );

    // A server certificate the CA given did not sign.
    let other = path(&certificates.other_ca);
    let out = run(echo(&[
        "--tls", "--ca", other, "--cert", cert, "--key", key,
    ]))
    .await;
    let printed = text(&out);
    assert!(!out.status.success(), "{printed}");
    assert!(
        printed.contains(&format!("TLS with {address} failed"))
            && printed.contains("UnknownIssuer"),
        "{printed}"
    );
    // A name the certificate does not carry.
    let out = run(echo(&[
        "--tls",
        "--ca",
        ca,
        "--cert",
        cert,
        "--key",
        key,
        "--tls-name",
        "archive.example",
    ]))
    .await;
    let printed = text(&out);
    assert!(
        !out.status.success() && printed.contains("not valid for name \"archive.example\""),
        "{printed}"
    );
    // No client certificate: storescp requires one.
    let out = run(echo(&["--tls", "--ca", ca])).await;
    let printed = text(&out);
    assert!(
        !out.status.success() && printed.contains(&format!("TLS with {address} failed")),
        "{printed}"
    );
    // --tls without --ca says what is missing.
    let out = run(echo(&["--tls"])).await;
    let printed = text(&out);
    assert!(
        !out.status.success() && printed.contains("--tls needs --ca FILE"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_service_takes_dcmtk_over_tls_and_refuses_plain_tcp_and_unknown_clients() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let pki = tempfile::tempdir().unwrap();
    let c = Certificates::make(pki.path(), "ROUTER", "STORESCU");
    let text = Production::store_and_forward(port.get(), archive_port.get())
        .association(integration_tests::production::Association::verification(
            "ECHOSCU", "ROUTER",
        ))
        .to_string();
    let text = text + &c.service_tls("IN");
    let engine = TestEngine::start(&[("radiology", "tls", &text)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let tls = c.dcmtk_client();

    let echo = echoscu("ECHOSCU", "ROUTER", port.get(), &tls).await;
    assert!(echo.ok, "{echo}\n{}", engine.log());
    let instances = write_instances(
        &engine.folder("input"),
        "ct",
        Modality::Ct,
        EXPLICIT,
        5,
        4096,
    );
    let files: Vec<std::path::PathBuf> = paths_of(&instances);
    let stored = storescu("ROUTER", port.get(), &files, &tls).await;
    assert!(stored.ok && stored.acknowledged() == 5, "{stored}");
    let uids: Vec<String> = uids_of(&instances);
    archive.wait_for(&uids, &engine, "radiology").await;
    assert_same_instances(&instances, &archive.received(), "");

    // Plain TCP to the TLS port: refused, the engine says why.
    let plain = echoscu("ECHOSCU", "ROUTER", port.get(), &[]).await;
    assert!(!plain.ok, "{plain}");
    // TLS without a client certificate.
    let anonymous = echoscu(
        "ECHOSCU",
        "ROUTER",
        port.get(),
        &["+tla", "+cf", path(&c.ca)],
    )
    .await;
    assert!(!anonymous.ok, "{anonymous}");
    // A client certificate another CA signed: ours, made the same way.
    let other = tempfile::tempdir().unwrap();
    let o = Certificates::make(other.path(), "X", "STORESCU");
    let foreign = echoscu(
        "ECHOSCU",
        "ROUTER",
        port.get(),
        &[
            "+tls",
            path(&o.client_key),
            path(&o.client_cert),
            "+cf",
            path(&c.ca),
        ],
    )
    .await;
    assert!(!foreign.ok, "{foreign}");
    let log = engine.log();
    assert!(
        log.matches("TLS handshake failed; closing the connection.")
            .count()
            >= 2,
        "{log}"
    );
    // The service still serves.
    let again = echoscu("ECHOSCU", "ROUTER", port.get(), &tls).await;
    assert!(again.ok, "{again}");
}

/// `openssl x509 -noout -fingerprint -sha256` of a certificate file, as
/// a binding.
fn fingerprint(certificate: &Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(certificate)
        .output()
        .expect("run openssl");
    let printed = String::from_utf8(out.stdout).unwrap();
    let (_, hex) = printed.trim().split_once('=').expect("a fingerprint");
    format!("sha256:{hex}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_calling_ae_title_bound_to_a_certificate_takes_only_that_certificate() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let pki = tempfile::tempdir().unwrap();
    let c = Certificates::make(pki.path(), "ROUTER", "STORESCU");
    let production = Production::store_and_forward(port.get(), archive_port.get())
        .association(
            integration_tests::production::Association::storage("STORESCU", "ROUTER")
                .bound_to(&["cn:STORESCU"]),
        )
        .association(integration_tests::production::Association::verification(
            "OTHER", "ROUTER",
        ))
        .association(
            integration_tests::production::Association::verification("ECHOSCU", "ROUTER")
                .bound_to(&["cn:ECHOSCU", "san:echo.hospital.org"]),
        )
        .to_string();
    let production = production + &c.service_tls("IN");
    let engine = TestEngine::start(&[("radiology", "bound", &production)]).await;
    let archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let tls = c.dcmtk_client();

    // The certificate STORESCU is bound to, calling as STORESCU.
    let instances = write_instances(
        &engine.folder("input"),
        "ct",
        Modality::Ct,
        EXPLICIT,
        2,
        2048,
    );
    let files: Vec<std::path::PathBuf> = paths_of(&instances);
    let stored = storescu(
        "ROUTER",
        port.get(),
        &files,
        &[&["-aet", "STORESCU"], &tls[..]].concat(),
    )
    .await;
    assert!(stored.ok && stored.acknowledged() == 2, "{stored}");
    let uids: Vec<String> = uids_of(&instances);
    archive.wait_for(&uids, &engine, "radiology").await;

    // The same certificate calling as OTHER, whose association binds
    // nothing: STORESCU's certificate is STORESCU's.
    let other = echoscu("OTHER", "ROUTER", port.get(), &tls).await;
    assert!(!other.ok, "{other}");
    assert!(
        other.output.contains("Calling AE Title Not Recognized"),
        "{other}"
    );
    engine
        .wait_for_log(
            "The requester's certificate (O=Switchboard tests, CN=STORESCU) is bound to \
             calling AE title STORESCU, not to OTHER",
            1,
        )
        .await;
    // Calling as ECHOSCU, bound to other certificates.
    let echo = echoscu("ECHOSCU", "ROUTER", port.get(), &tls).await;
    assert!(
        !echo.ok && echo.output.contains("Calling AE Title Not Recognized"),
        "{echo}"
    );
    engine
        .wait_for_log(
            "is not one calling AE title ECHOSCU is bound to (cn:ECHOSCU, san:echo.hospital.org)",
            1,
        )
        .await;
    // Binding ECHOSCU to this certificate's fingerprint on the running
    // engine lets it call as ECHOSCU too; `association show` prints it.
    let binding = fingerprint(&c.client_cert);
    let edited = engine
        .command(&[
            "--namespace",
            "radiology",
            "association",
            "edit",
            "--calling",
            "ECHOSCU",
            "--called",
            "ROUTER",
            "--certificate",
            &binding,
        ])
        .await;
    assert!(edited.status.success(), "{}", text(&edited));
    let shown = engine
        .command(&[
            "--namespace",
            "radiology",
            "association",
            "show",
            "--calling",
            "ECHOSCU",
            "--called",
            "ROUTER",
        ])
        .await;
    assert!(
        text(&shown).contains(&format!("Certificates:    {binding}")),
        "{}",
        text(&shown)
    );
    let echo = echoscu("ECHOSCU", "ROUTER", port.get(), &tls).await;
    assert!(echo.ok, "{echo}\n{}", engine.log());
    // Export, delete and import again: the binding comes back with the
    // presentation contexts.
    let file = engine.folder("export").join("echoscu.txt");
    let pair = ["--calling", "ECHOSCU", "--called", "ROUTER"];
    let ns = ["--namespace", "radiology", "association"];
    for step in [
        vec!["export", "--output", path(&file)],
        vec!["delete"],
        vec!["import", path(&file)],
    ] {
        let args = [&ns[..], &step[..1], &pair[..], &step[1..]].concat();
        let out = engine.command(&args).await;
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let exported = std::fs::read_to_string(&file).unwrap();
    assert!(
        exported.contains(&format!("certificate {binding}")),
        "{exported}"
    );
    let echo = echoscu("ECHOSCU", "ROUTER", port.get(), &tls).await;
    assert!(echo.ok, "{echo}\n{}", engine.log());
    // A bad binding says how to write one and changes nothing.
    let bad = engine
        .command(&[
            "--namespace",
            "radiology",
            "association",
            "edit",
            "--calling",
            "ECHOSCU",
            "--called",
            "ROUTER",
            "--certificate",
            "STORESCU",
        ])
        .await;
    assert!(
        !bad.status.success() && text(&bad).contains("cn:NAME"),
        "{}",
        text(&bad)
    );
    let echo = echoscu("ECHOSCU", "ROUTER", port.get(), &tls).await;
    assert!(echo.ok, "{echo}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_go_out_over_tls_fail_with_the_reason_on_a_wrongly_signed_or_expired_certificate_and_go_once_it_is_fixed()
 {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let pki = tempfile::tempdir().unwrap();
    let c = Certificates::make(&pki.path().join("ours"), "ARCHIVE", "ROUTER");
    // The archive's first certificate: signed by a CA we do not trust.
    let wrong = Certificates::make(&pki.path().join("theirs"), "ARCHIVE", "X");
    let text = Production::new()
        .association(integration_tests::production::Association::storage(
            "STORESCU", "ROUTER",
        ))
        .association(integration_tests::production::Association::storage(
            "ROUTER", "ARCHIVE",
        ))
        .dicom_service(
            integration_tests::production::DicomService::new("IN", port.get(), "ROUTER")
                .targets(["OUT"]),
        )
        .dicom_operation(
            integration_tests::production::DicomOperation::archive(archive_port.get())
                .retry("200ms", 1.0, "200ms"),
        )
        .to_string();
    let text = text + &c.operation_tls("OUT");
    let engine = TestEngine::start(&[("radiology", "tls-out", &text)]).await;
    let folder = engine.folder("archive");
    // It still takes our client certificate.
    let wrongly_signed = Certificates {
        ca: c.ca.clone(),
        ..wrong
    };
    let archive = storescp_tls("ARCHIVE", &wrongly_signed, archive_port, &folder).await;
    let instances = write_instances(
        &engine.folder("input"),
        "ct",
        Modality::Ct,
        EXPLICIT,
        3,
        4096,
    );
    let files: Vec<std::path::PathBuf> = paths_of(&instances);
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok && stored.acknowledged() == 3, "{stored}");
    delivery_refused_naming(&engine, "UnknownIssuer", &folder).await;

    // Signed by our CA, but expired: still refused, with that reason.
    let archive_port = archive.stop().await;
    let expired = Certificates {
        server_cert: c.expired_server(),
        ..c.clone()
    };
    let archive = storescp_tls("ARCHIVE", &expired, archive_port, &folder).await;
    delivery_refused_naming(&engine, "Expired", &folder).await;

    // A valid certificate on the archive: the retries get through.
    let archive_port = archive.stop().await;
    let archive = storescp_tls("ARCHIVE", &c, archive_port, &folder).await;
    let uids: Vec<String> = uids_of(&instances);
    archive.wait_for(&uids, &engine, "radiology").await;
    assert_same_instances(&instances, &archive.received(), "");
}

/// A pynetdicom Study Root FIND SCP as QRSCP on argv[1], over TLS only
/// (certificate argv[2], key argv[3]), requiring a client certificate that
/// the CA argv[4] signed; one match, PatientName TLS^PEER.
const TLS_FIND_SCP: &str = r#"
import ssl, sys
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

port, cert, key, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
context.verify_mode = ssl.CERT_REQUIRED
context.load_cert_chain(cert, key)

def on_find(event):
    match = Dataset()
    match.QueryRetrieveLevel = "STUDY"
    match.StudyInstanceUID = "1.2.3.4"
    match.PatientName = "TLS^PEER"
    yield 0xFF00, match

ae = AE(ae_title="QRSCP")
ae.add_supported_context(FIND)
ae.start_server(("127.0.0.1", port), ssl_context=context,
                evt_handlers=[(evt.EVT_C_FIND, on_find)])
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_query_goes_upstream_over_tls_to_pynetdicom() {
    let (port, qr_port) = (Port::reserve(), Port::reserve());
    let pki = tempfile::tempdir().unwrap();
    let c = Certificates::make(pki.path(), "QRSCP", "ROUTER");
    let find = "1.2.840.10008.5.1.4.1.2.2.1";
    let text = Production::new()
        .association(integration_tests::production::Association::new(
            "FINDSCU",
            "ROUTER",
            &[find],
            &[EXPLICIT, IMPLICIT],
        ))
        .association(integration_tests::production::Association::new(
            "ROUTER",
            "QRSCP",
            &[find],
            &[EXPLICIT, IMPLICIT],
        ))
        .dicom_service(
            integration_tests::production::DicomService::new("IN", port.get(), "ROUTER")
                .targets(["TO-QRSCP"]),
        )
        .to_string();
    let text = format!(
        "{text}\n[[ae_directory]]\nae_title = \"QRSCP\"\nhost = \"127.0.0.1\"\nport = {}\ntls = true\n\n\
         [operations.TO-QRSCP]\ntype = \"dicom-query\"\nremote_ae_title = \"QRSCP\"\n\
         local_ae_title = \"ROUTER\"\n\n[operations.TO-QRSCP.tls]\nca = {:?}\n\
         certificate = {:?}\nprivate_key = {:?}\n",
        qr_port.get(),
        path(&c.ca),
        path(&c.client_cert),
        path(&c.client_key)
    );
    let engine = TestEngine::start(&[("radiology", "tls-query", &text)]).await;
    let mut command = tokio::process::Command::new(integration_tests::pynetdicom::python());
    command.args([
        "-c",
        TLS_FIND_SCP,
        &qr_port.get().to_string(),
        path(&c.server_cert),
        path(&c.server_key),
        path(&c.ca),
    ]);
    let _scp = Peer::start("pynetdicom's TLS find SCP", command, qr_port).await;
    let out = dcmtk_command("findscu")
        .args(["-S", "-v", "-aet", "FINDSCU", "-aec", "ROUTER"])
        .args([
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientName",
            "-k",
            "StudyInstanceUID",
        ])
        .args(["127.0.0.1", &port.get().to_string()])
        .output()
        .await
        .unwrap();
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(printed.contains("TLS^PEER"), "{printed}\n{}", engine.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_service_takes_a_replaced_certificate_without_a_restart_and_keeps_it_when_a_file_is_bad()
 {
    let port = Port::reserve();
    let pki = tempfile::tempdir().unwrap();
    let one = Certificates::make(&pki.path().join("one"), "ENS-SCP", "ECHOSCU");
    let two = Certificates::make(&pki.path().join("two"), "ENS-SCP", "ECHOSCU");
    let live = pki.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    let (cert, key, cas) = (
        live.join("cert.pem"),
        live.join("key.pem"),
        live.join("cas.pem"),
    );
    std::fs::copy(&one.server_cert, &cert).unwrap();
    std::fs::copy(&one.server_key, &key).unwrap();
    let both =
        std::fs::read_to_string(&one.ca).unwrap() + &std::fs::read_to_string(&two.ca).unwrap();
    std::fs::write(&cas, both).unwrap();
    let text = Production::echo("ECHOSCU", port.get()).to_string();
    let text = format!(
        "{text}\n[services.ECHO-SCP.tls]\ncertificate = {:?}\nprivate_key = {:?}\nclient_ca = {:?}\n",
        path(&cert),
        path(&key),
        path(&cas)
    );
    let engine = TestEngine::start(&[("radiology", "reload", &text)]).await;
    let echo = async |trusting: &Path| {
        echoscu(
            "ECHOSCU",
            "ENS-SCP",
            port.get(),
            &[
                "+tls",
                path(&one.client_key),
                path(&one.client_cert),
                "+cf",
                path(trusting),
            ],
        )
        .await
    };
    let first = echo(&one.ca).await;
    assert!(first.ok, "{first}\n{}", engine.log());

    // A new certificate from another CA, written over the old files.
    std::fs::copy(&two.server_key, &key).unwrap();
    std::fs::copy(&two.server_cert, &cert).unwrap();
    let old_trust = echo(&one.ca).await;
    assert!(
        !old_trust.ok,
        "the old certificate is still served: {old_trust}"
    );
    let new_trust = echo(&two.ca).await;
    assert!(new_trust.ok, "{new_trust}\n{}", engine.log());
    assert!(
        engine
            .log()
            .contains("TLS files changed; new connections use them.")
    );

    // A certificate file that is not one: the previous settings stay.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    let kept = echo(&two.ca).await;
    assert!(kept.ok, "{kept}\n{}", engine.log());
    let log = engine.log();
    assert!(
        log.contains("do not make valid settings; new connections keep the previous ones")
            && log.contains("cert.pem"),
        "{log}"
    );
}

/// C-ECHO by pynetdicom to ENS-SCP on 127.0.0.1:argv[1] over TLS, trusting
/// the CA argv[2], presenting certificate argv[3] with key argv[4]; prints
/// the status.
const TLS_ECHO: &str = r#"
import ssl, sys
from pynetdicom import AE
from pynetdicom.sop_class import Verification

port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
context.load_cert_chain(cert, key)
ae = AE(ae_title="ECHOSCU")
ae.add_requested_context(Verification)
assoc = ae.associate("127.0.0.1", port, ae_title="ENS-SCP", tls_args=(context, "127.0.0.1"))
if assoc.is_established:
    print("status", f"{assoc.send_c_echo().Status:04X}")
    assoc.release()
else:
    print("not established")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn pynetdicom_echoes_over_tls_with_an_ssl_context() {
    let port = Port::reserve();
    let pki = tempfile::tempdir().unwrap();
    let c = Certificates::make(pki.path(), "ENS-SCP", "ECHOSCU");
    let production = Production::echo("ECHOSCU", port.get()).to_string();
    let production = production + &c.service_tls("ECHO-SCP");
    let engine = TestEngine::start(&[("radiology", "tls-echo", &production)]).await;
    let out = integration_tests::pynetdicom::run_python(
        TLS_ECHO,
        &[
            &port.get().to_string(),
            path(&c.ca),
            path(&c.client_cert),
            path(&c.client_key),
        ],
    )
    .await;
    let printed = text(&out);
    assert!(
        printed.contains("status 0000"),
        "{printed}\n{}",
        engine.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tls_demo_runs_with_the_certificates_its_script_makes() {
    let port = Port::reserve();
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let production = std::fs::read_to_string(demo.join("productions/demo/tls-echo.toml"))
        .unwrap()
        .replace("port = 2762", &format!("port = {}", port.get()));
    let engine = TestEngine::start_with(&[("demo", "tls-echo", &production)], &[], |data| {
        // Where the demo runs it: the engine's working directory.
        let made = std::process::Command::new(demo.join("scripts/demo-certificates"))
            .arg(data.parent().unwrap().join("demo-tls"))
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", text(&made));
    })
    .await;
    let pki = engine.root().join("demo-tls");
    let file = |name: &str| pki.join(name).to_str().unwrap().to_string();
    let (key, cert, ca) = (file("client.key"), file("client.pem"), file("ca.pem"));
    let tls = ["+tls", key.as_str(), cert.as_str(), "+cf", ca.as_str()];
    let echo = echoscu("ENS-SCU", "TLS-SCP", port.get(), &tls).await;
    assert!(echo.ok, "{echo}\n{}", engine.log());
    let out = switchboard_in(
        &engine.data_dir(),
        &[
            "echo",
            &format!("127.0.0.1:{}", port.get()),
            "--calling",
            "ENS-SCU",
            "--called",
            "TLS-SCP",
            "--tls",
            "--ca",
            &ca,
            "--cert",
            &cert,
            "--key",
            &key,
        ],
    )
    .await;
    let printed = text(&out);
    assert!(
        out.status.success() && printed.contains("peer O=Switchboard demo, CN=localhost"),
        "{printed}"
    );
    // ENS-SCU's certificate calling as another title, and no TLS at all.
    let other = echoscu("OTHER", "TLS-SCP", port.get(), &tls).await;
    assert!(!other.ok, "{other}");
    let plain = echoscu("ENS-SCU", "TLS-SCP", port.get(), &[]).await;
    assert!(!plain.ok, "{plain}");
}
