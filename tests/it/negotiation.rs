//! Negotiation from the stored associations as real requestors see it:
//! our transfer-syntax order wins, results 3 and 4 per context.

use integration_tests::dcmtk::echoscu;
use integration_tests::pynetdicom::run_python;
use integration_tests::scp::{TestScp, association};
use integration_tests::text;
use integration_tests::uids::{BIG_ENDIAN, CT_IMAGE_STORAGE, EXPLICIT, IMPLICIT, VERIFICATION};

async fn accepted_by_echoscu(stored: &[&str]) -> String {
    let scp = TestScp::start(
        "ENS-SCP",
        vec![association("ENS-SCU", "ENS-SCP", &[(VERIFICATION, stored)])],
        |_| {},
    )
    .await;
    // -pts 3 proposes [Implicit, Explicit LE, Explicit BE], in that order.
    let out = echoscu("ENS-SCU", "ENS-SCP", scp.addr.port(), &["-d", "-pts", "3"]).await;
    let all = out.to_string();
    assert!(out.ok, "{all}");
    scp.stop().await;
    all.lines()
        .find_map(|l| l.split("Accepted Transfer Syntax: =").nth(1))
        .unwrap_or_else(|| panic!("no accepted transfer syntax in {all}"))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_transfer_syntax_order_wins_for_echoscu() {
    // Proposed [Implicit, Explicit, Big]: the stored order decides.
    assert_eq!(
        accepted_by_echoscu(&[EXPLICIT, IMPLICIT]).await,
        "LittleEndianExplicit"
    );
    assert_eq!(
        accepted_by_echoscu(&[IMPLICIT, EXPLICIT]).await,
        "LittleEndianImplicit"
    );
    assert_eq!(
        accepted_by_echoscu(&[BIG_ENDIAN, IMPLICIT]).await,
        "BigEndianExplicit"
    );
}

const PROPOSE: &str = r#"
import sys, json
from pynetdicom import AE
ae = AE(ae_title="ENS-SCU")
ae.add_requested_context("1.2.840.10008.1.1", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2.4.50"])
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.4", ["1.2.840.10008.1.2"])
assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="ENS-SCP")
out = []
for cx in assoc.accepted_contexts + assoc.rejected_contexts:
    out.append({"abstract_syntax": str(cx.abstract_syntax), "result": cx.result, "transfer_syntax": str(cx.transfer_syntax[0]) if cx.result == 0 else None})
out.sort(key=lambda c: c["abstract_syntax"])
print(json.dumps(out))
if assoc.is_established:
    assoc.release()
"#;

#[tokio::test(flavor = "multi_thread")]
async fn pynetdicom_sees_results_0_3_and_4() {
    let scp = TestScp::start(
        "ENS-SCP",
        vec![association(
            "ENS-SCU",
            "ENS-SCP",
            &[
                (VERIFICATION, &[EXPLICIT, IMPLICIT]),
                (CT_IMAGE_STORAGE, &[EXPLICIT, IMPLICIT]),
            ],
        )],
        |_| {},
    )
    .await;
    let out = run_python(PROPOSE, &[&scp.port()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let results: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{}", text(&out)));
    let expected = serde_json::json!([
        {"abstract_syntax": "1.2.840.10008.1.1", "result": 0, "transfer_syntax": "1.2.840.10008.1.2.1"},
        {"abstract_syntax": "1.2.840.10008.5.1.4.1.1.2", "result": 4, "transfer_syntax": null},
        {"abstract_syntax": "1.2.840.10008.5.1.4.1.1.4", "result": 3, "transfer_syntax": null},
    ]);
    assert_eq!(results, expected, "{}", text(&out));
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn role_selection_and_user_identity_do_not_break_the_association() {
    let scp = TestScp::start(
        "ENS-SCP",
        vec![association(
            "ENS-SCU",
            "ENS-SCP",
            &[(VERIFICATION, &[IMPLICIT]), (CT_IMAGE_STORAGE, &[IMPLICIT])],
        )],
        |_| {},
    )
    .await;
    const SCRIPT: &str = r#"
import sys
from pynetdicom import AE, build_role
from pynetdicom.pdu_primitives import UserIdentityNegotiation
ae = AE(ae_title="ENS-SCU")
ae.add_requested_context("1.2.840.10008.1.1")
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2")
uid = UserIdentityNegotiation()
uid.user_identity_type = 2
uid.primary_field = b"alice"
uid.secondary_field = b"secret"
uid.positive_response_requested = True
roles = [build_role("1.2.840.10008.5.1.4.1.1.2", scu_role=True, scp_role=True)]
assoc = ae.associate("127.0.0.1", int(sys.argv[1]), ae_title="ENS-SCP", ext_neg=roles + [uid])
if assoc.is_established:
    print("established")
    status = assoc.send_c_echo()
    print("status 0x%04X" % status.Status)
    assoc.release()
else:
    print("failed")
"#;
    let out = run_python(SCRIPT, &[&scp.port()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("established") && stdout.contains("status 0x0000"),
        "{}",
        text(&out)
    );
    scp.stop().await;
}
