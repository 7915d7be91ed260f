//! `association test` negotiates a stored association against live peers:
//! per abstract syntax, accepted with which transfer syntax or rejected with
//! the reason; more than 128 contexts take several associations.

use std::time::Duration;

use integration_tests::data_dir::{HeldStore, data_dir_with, switchboard_in};
use integration_tests::dcmtk::Archive;
use integration_tests::net::Port;
use integration_tests::pynetdicom;
use integration_tests::scp::{TestScp, aet, association};
use integration_tests::text;
use integration_tests::uids::{
    CT_IMAGE_STORAGE, EXPLICIT, IMPLICIT, JPEG_BASELINE, MR_IMAGE_STORAGE, VERIFICATION,
};
use switchboard::association::model::{AssociationContext, PresentationContext, Uid};
use switchboard::dimse::probe::test_association;

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn against_pynetdicom_each_context_gets_its_answer() {
    let peer = pynetdicom::start_scp("PYSCP").await;
    let stored = association(
        "ENS-SCU",
        "PYSCP",
        &[
            (VERIFICATION, &[EXPLICIT, IMPLICIT]),
            (CT_IMAGE_STORAGE, &[JPEG_BASELINE]),
            (MR_IMAGE_STORAGE, &[IMPLICIT]),
        ],
    );
    let mut lines = Vec::new();
    let report = test_association(
        &format!("127.0.0.1:{}", peer.port()),
        &stored,
        TIMEOUT,
        None,
        |l| {
            lines.push(l.to_string());
        },
    )
    .await
    .expect("test");
    assert_eq!(report.associations, 1);
    let results: Vec<_> = report.contexts.iter().map(|c| c.result.clone()).collect();
    assert_eq!(
        results,
        vec![
            // pynetdicom picks by its own supported order [Implicit, Explicit].
            Ok(IMPLICIT.to_string()),
            Err("transfer-syntaxes-not-supported".to_string()),
            Err("abstract-syntax-not-supported".to_string()),
        ]
    );
    assert_eq!(report.accepted(), 1);
    assert_eq!(report.rejected(), 2);
    assert_eq!(
        lines.first().map(String::as_str),
        Some(">> A-ASSOCIATE-RQ PDU (3 presentation contexts)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_association_rejects_its_contexts_with_the_reason() {
    let peer = pynetdicom::start_scp("PYSCP").await;
    let stored = association("ENS-SCU", "NOT-PYSCP", &[(VERIFICATION, &[IMPLICIT])]);
    let report = test_association(
        &format!("127.0.0.1:{}", peer.port()),
        &stored,
        TIMEOUT,
        None,
        |_| {},
    )
    .await
    .expect("test");
    assert_eq!(
        report.contexts[0].result,
        Err(
            "association rejected-permanent by service-user: called AE title not recognized"
                .to_string()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn more_than_128_contexts_against_storescp_take_two_associations() {
    let out_dir = integration_tests::private_tempdir();
    let peer = Archive::start("ARCHIVE", Port::reserve(), out_dir.path()).await;
    let mut stored = AssociationContext::new(aet("ENS-SCU"), aet("ARCHIVE"));
    stored.presentation_contexts = switchboard::dictionary::storage_sop_classes()
        .filter(|c| !c.retired)
        .take(140)
        .map(|c| {
            PresentationContext::new(
                Uid::new(c.uid).expect("UID"),
                vec![
                    Uid::new(EXPLICIT).expect("UID"),
                    Uid::new(IMPLICIT).expect("UID"),
                ],
            )
            .expect("context")
        })
        .collect();
    assert_eq!(stored.presentation_contexts.len(), 140);
    let report = test_association(
        &format!("127.0.0.1:{}", peer.port()),
        &stored,
        TIMEOUT,
        None,
        |_| {},
    )
    .await
    .expect("test");
    assert_eq!(report.associations, 2);
    assert_eq!(report.contexts.len(), 140);
    // storescp accepts the storage classes it knows; every answer is in words.
    assert!(report.accepted() > 100, "{report:?}");
    for outcome in &report.contexts {
        if let Err(reason) = &outcome.result {
            assert!(
                reason.ends_with("not-supported") || reason.contains("rejection"),
                "{reason}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn against_our_own_scp_the_stored_order_shows() {
    let scp = TestScp::start(
        "ENS-SCP",
        vec![association(
            "ENS-SCU",
            "ENS-SCP",
            &[(VERIFICATION, &[EXPLICIT, IMPLICIT])],
        )],
        |_| {},
    )
    .await;
    // The requestor side proposes [Implicit, Explicit].
    let ours = association(
        "ENS-SCU",
        "ENS-SCP",
        &[
            (VERIFICATION, &[IMPLICIT, EXPLICIT]),
            (CT_IMAGE_STORAGE, &[IMPLICIT]),
        ],
    );
    let report = test_association(&scp.addr.to_string(), &ours, TIMEOUT, None, |_| {})
        .await
        .expect("test");
    assert_eq!(report.contexts[0].result, Ok(EXPLICIT.to_string()));
    assert_eq!(
        report.contexts[1].result,
        Err("abstract-syntax-not-supported".to_string())
    );
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_prints_per_context_results_and_fails_on_a_rejection() {
    let scp = TestScp::start(
        "ENS-SCP",
        vec![association(
            "ENS-SCU",
            "ENS-SCP",
            &[(VERIFICATION, &[EXPLICIT, IMPLICIT])],
        )],
        |_| {},
    )
    .await;
    let address = scp.addr.to_string();
    let args = [
        "association",
        "test",
        "--calling",
        "ENS-SCU",
        "--called",
        "ENS-SCP",
        &address,
    ];

    let all_ok = data_dir_with(vec![association(
        "ENS-SCU",
        "ENS-SCP",
        &[(VERIFICATION, &[IMPLICIT, EXPLICIT])],
    )]);
    let out = switchboard_in(all_ok.path(), &args).await;
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "accepted  Verification SOP Class (1.2.840.10008.1.1): Explicit VR Little Endian"
        ),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("Summary: 1 of 1 presentation contexts accepted, 0 rejected (1 association)"),
        "{stdout}"
    );

    let some_bad = data_dir_with(vec![association(
        "ENS-SCU",
        "ENS-SCP",
        &[(VERIFICATION, &[IMPLICIT]), (CT_IMAGE_STORAGE, &[IMPLICIT])],
    )]);
    let out = switchboard_in(some_bad.path(), &args).await;
    assert!(!out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "rejected  CT Image Storage (1.2.840.10008.5.1.4.1.1.2): abstract-syntax-not-supported"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("Summary: 1 of 2 presentation contexts accepted, 1 rejected"),
        "{stdout}"
    );

    // Through a running engine's admin socket: the same output.
    let held = HeldStore::hold(some_bad.path()).await;
    let again = switchboard_in(some_bad.path(), &args).await;
    assert_eq!(again.stdout, out.stdout, "{}", text(&again));
    assert!(!again.status.success());
    held.release().await;

    // Nothing stored for the pair: a clear error.
    let empty = data_dir_with(Vec::new());
    let out = switchboard_in(empty.path(), &args).await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no association ENS-SCU -> ENS-SCP"),
        "{}",
        text(&out)
    );
    scp.stop().await;
}
