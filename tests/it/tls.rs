//! DICOM TLS against DCMTK: `switchboard echo` and `association test` with
//! `--tls` to a `storescp +tls` that requires a client certificate,
//! certificates made with `openssl` here; a wrong CA, a wrong name and a
//! missing client certificate each fail with the reason.

use std::path::Path;

use integration_tests::data_dir::{data_dir_with, switchboard_in};
use integration_tests::dcmtk::dcmtk_command;
use integration_tests::net::Port;
use integration_tests::peer::Peer;
use integration_tests::scp::association;
use integration_tests::text;
use integration_tests::tls::Certificates;
use integration_tests::uids::{EXPLICIT, IMPLICIT, VERIFICATION};

/// `storescp +tls` as STORESCP on `port`, requiring a client certificate
/// signed by the CA of `certificates`.
async fn storescp_tls(certificates: &Certificates, port: Port, folder: &Path) -> Peer {
    std::fs::create_dir_all(folder).unwrap();
    let mut command = dcmtk_command("storescp");
    command
        .args(["-aet", "STORESCP", "-od"])
        .arg(folder)
        .arg("+tls")
        .arg(&certificates.server_key)
        .arg(&certificates.server_cert)
        .arg("+cf")
        .arg(&certificates.ca)
        .arg(port.get().to_string());
    Peer::start("storescp +tls", command, port).await
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn echo_and_association_test_speak_tls_and_say_why_a_handshake_fails() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = Certificates::make(&dir.path().join("pki"), "STORESCP", "ECHOSCU");
    let port = Port::reserve();
    let peer = storescp_tls(&certificates, port, &dir.path().join("received")).await;
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
