//! C-ECHO against real peers: DCMTK echoscu and pynetdicom against our SCP,
//! and our `switchboard echo` against DCMTK storescp and a pynetdicom SCP,
//! including each rejection reason as the peer reports it.

use integration_tests::data_dir::{HeldStore, data_dir_with, switchboard_in};
use integration_tests::dcmtk::{Archive, Ran, echoscu};
use integration_tests::net::Port;
use integration_tests::pynetdicom;
use integration_tests::scp::{TestScp, association};
use integration_tests::uids::{EXPLICIT, IMPLICIT, VERIFICATION};
use integration_tests::{switchboard_bin, text};

fn echo_store() -> Vec<switchboard::association::model::AssociationContext> {
    vec![association(
        "ENS-SCU",
        "ENS-SCP",
        &[(VERIFICATION, &[IMPLICIT])],
    )]
}

async fn echoscu_to(scp: &TestScp, calling: &str, called: &str, extra: &[&str]) -> Ran {
    echoscu(calling, called, scp.addr.port(), extra).await
}

#[tokio::test(flavor = "multi_thread")]
async fn echoscu_is_answered() {
    let scp = TestScp::start("ENS-SCP", echo_store(), |_| {}).await;
    let out = echoscu_to(&scp, "ENS-SCU", "ENS-SCP", &["-d"]).await;
    let all = out.to_string();
    assert!(out.ok, "{all}");
    assert!(all.contains("Association Accepted"), "{all}");
    assert!(all.contains("Received Echo Response (Success)"), "{all}");
    // Our implementation class UID and version name, as DCMTK reads them.
    assert!(
        all.contains("2.25.139071283764512948372901288764519203845"),
        "{all}"
    );
    assert!(all.contains("SWITCHBOARD_01"), "{all}");
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn echoscu_sees_each_rejection_reason() {
    let scp = TestScp::start("ENS-SCP", echo_store(), |_| {}).await;

    let out = echoscu_to(&scp, "ENS-SCU", "NOPE", &[]).await;
    let all = out.to_string();
    assert!(!out.ok, "{all}");
    assert!(all.contains("Called AE Title Not Recognized"), "{all}");

    let out = echoscu_to(&scp, "STRANGER", "ENS-SCP", &[]).await;
    let all = out.to_string();
    assert!(!out.ok, "{all}");
    assert!(all.contains("Calling AE Title Not Recognized"), "{all}");
    assert!(all.contains("Rejected Permanent"), "{all}");
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn echoscu_sees_local_limit_exceeded() {
    let scp = TestScp::start("ENS-SCP", echo_store(), |c| c.max_associations = 1).await;
    // Hold the only slot with our own SCU.
    let options = switchboard::dimse::scu::ScuOptions::new("ENS-SCU", "ENS-SCP")
        .with_context(VERIFICATION, &[IMPLICIT]);
    let held = switchboard::dimse::scu::connect(&scp.addr.to_string(), &options)
        .await
        .expect("first association");
    let out = echoscu_to(&scp, "ENS-SCU", "ENS-SCP", &[]).await;
    let all = out.to_string();
    assert!(!out.ok, "{all}");
    assert!(all.contains("Rejected Transient"), "{all}");
    assert!(all.contains("Local Limit Exceeded"), "{all}");
    held.release().await.expect("release");
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_takes_effect_on_the_next_association() {
    let scp = TestScp::start("ENS-SCP", Vec::new(), |_| {}).await;
    let out = echoscu_to(&scp, "ENS-SCU", "ENS-SCP", &[]).await;
    assert!(!out.ok, "{out}");
    scp.associations.put(association(
        "ENS-SCU",
        "ENS-SCP",
        &[(VERIFICATION, &[IMPLICIT])],
    ));
    let out = echoscu_to(&scp, "ENS-SCU", "ENS-SCP", &[]).await;
    assert!(out.ok, "{out}");
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pynetdicom_echo_is_answered_and_rejections_read_right() {
    let scp = TestScp::start("ENS-SCP", echo_store(), |_| {}).await;
    let port = scp.addr.port();
    let out = pynetdicom::echo("ENS-SCU", "ENS-SCP", port).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("status 0x0000"),
        "{}",
        text(&out)
    );
    let out = pynetdicom::echo("ENS-SCU", "NOPE", port).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rejected result=1 source=1 reason=7"),
        "{}",
        text(&out)
    );
    let out = pynetdicom::echo("WHO", "ENS-SCP", port).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rejected result=1 source=1 reason=3"),
        "{}",
        text(&out)
    );
    scp.stop().await;
}

async fn switchboard_echo(args: &[&str]) -> std::process::Output {
    let data = integration_tests::private_tempdir();
    tokio::process::Command::new(switchboard_bin())
        .arg("--data-dir")
        .arg(data.path())
        .arg("echo")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run switchboard echo")
}

#[tokio::test(flavor = "multi_thread")]
async fn our_echo_against_dcmtk_storescp() {
    let out_dir = integration_tests::private_tempdir();
    let peer = Archive::start("ARCHIVE", Port::reserve(), out_dir.path()).await;
    let address = format!("127.0.0.1:{}", peer.port());
    let out = switchboard_echo(&[
        &address,
        "--calling",
        "ENS-SCU",
        "--called",
        "ARCHIVE",
        "--count",
        "3",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    for line in [
        ">> A-ASSOCIATE-RQ PDU",
        "<< A-ASSOCIATE-AC PDU",
        ">> C-ECHO-RQ Verification SOP Class",
        "<< C-ECHO-RSP Verification SOP Class, status #0000H[Success]",
        ">> A-RELEASE-RQ PDU",
        "<< A-RELEASE-RP PDU",
        "Echo succeeded: 3 of 3",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in {stdout}");
    }
    assert_eq!(stdout.matches("C-ECHO-RSP").count(), 3, "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn our_echo_against_pynetdicom() {
    let peer = pynetdicom::start_scp("PYSCP").await;
    let address = format!("127.0.0.1:{}", peer.port());
    let out = switchboard_echo(&[&address, "--calling", "ENS-SCU", "--called", "PYSCP"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Echo succeeded: 1 of 1"));

    let out = switchboard_echo(&[&address, "--calling", "ENS-SCU", "--called", "WRONG"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("rejected-permanent by service-user: called AE title not recognized"),
        "{all}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn our_echo_against_our_scp_reports_rejections_in_words() {
    let scp = TestScp::start("ENS-SCP", echo_store(), |_| {}).await;
    let address = scp.addr.to_string();
    let out = switchboard_echo(&[&address, "--calling", "ENS-SCU", "--called", "ENS-SCP"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = switchboard_echo(&[&address, "--calling", "NOBODY", "--called", "ENS-SCP"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("<< A-ASSOCIATE-RJ PDU (rejected-permanent by service-user: calling AE title not recognized)"), "{all}");
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn our_echo_to_nothing_fails() {
    // Reserved, so nothing listens there.
    let port = Port::reserve();
    let out = switchboard_echo(&[
        &format!("127.0.0.1:{port}"),
        "--calling",
        "A",
        "--called",
        "B",
        "--timeout",
        "5",
    ])
    .await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("could not connect"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn our_echo_proposes_the_stored_transfer_syntaxes() {
    // The peer accepts only Explicit VR LE for Verification.
    let scp = TestScp::start(
        "ENS-SCP",
        vec![association(
            "ENS-SCU",
            "ENS-SCP",
            &[(VERIFICATION, &[EXPLICIT])],
        )],
        |_| {},
    )
    .await;
    let address = scp.addr.to_string();
    let args = [
        "echo",
        &address,
        "--calling",
        "ENS-SCU",
        "--called",
        "ENS-SCP",
    ];

    // Nothing stored on our side: Implicit only, which the peer refuses.
    let empty = integration_tests::private_tempdir();
    let out = switchboard_in(empty.path(), &args).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("transfer-syntaxes-not-supported"),
        "{}",
        text(&out)
    );

    // Stored [Explicit, Implicit] for the pair: accepted with Explicit.
    let data = data_dir_with(vec![association(
        "ENS-SCU",
        "ENS-SCP",
        &[(VERIFICATION, &[EXPLICIT, IMPLICIT])],
    )]);
    let out = switchboard_in(data.path(), &args).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("accepted with Explicit VR Little Endian"),
        "{stdout}"
    );
    assert!(stdout.contains("from the stored association"), "{stdout}");

    // The same while an engine holds the data dir: read through its admin socket.
    let held = HeldStore::hold(data.path()).await;
    let again = switchboard_in(data.path(), &args).await;
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("accepted with Explicit VR Little Endian")
    );
    held.release().await;
    scp.stop().await;
}
