use dicom_ul::pdu::{
    AssociationRJResult, AssociationRJServiceProviderASCEReason, AssociationRJServiceUserReason,
    AssociationRJSource, AssociationRQ, PresentationContextProposed,
    PresentationContextResultReason as R, RequestorRoles, UserIdentity, UserIdentityType,
    UserVariableItem,
};

use super::*;
use crate::association::model::{PresentationContext, Uid};

const IMPLICIT: &str = "1.2.840.10008.1.2";
const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const BIG: &str = "1.2.840.10008.1.2.2";
const JPEG: &str = "1.2.840.10008.1.2.4.50";
const ECHO: &str = "1.2.840.10008.1.1";
const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const MR: &str = "1.2.840.10008.5.1.4.1.1.4";

fn aet(s: &str) -> AeTitle {
    AeTitle::new(s).unwrap()
}

fn uid(s: &str) -> Uid {
    Uid::new(s).unwrap()
}

fn stored(contexts: &[(&str, &[&str])]) -> AssociationContext {
    let mut ctx = AssociationContext::new(aet("ENS-SCU"), aet("ENS-SCP"));
    ctx.presentation_contexts = contexts
        .iter()
        .map(|(a, ts)| {
            PresentationContext::new(uid(a), ts.iter().map(|t| uid(t)).collect()).unwrap()
        })
        .collect();
    ctx
}

fn rq(calling: &str, called: &str, contexts: &[(u8, &str, &[&str])]) -> AssociationRQ {
    AssociationRQ {
        protocol_version: 1,
        calling_ae_title: calling.to_string(),
        called_ae_title: called.to_string(),
        application_context_name: "1.2.840.10008.3.1.1.1".to_string(),
        presentation_contexts: contexts
            .iter()
            .map(|(id, a, ts)| PresentationContextProposed {
                id: *id,
                abstract_syntax: a.to_string(),
                transfer_syntaxes: ts.iter().map(|t| t.to_string()).collect(),
            })
            .collect(),
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    }
}

fn served() -> Vec<AeTitle> {
    vec![aet("ENS-SCP"), aet("OTHER-SCP")]
}

fn run(rq: &AssociationRQ, store: Option<AssociationContext>) -> Negotiation {
    let served = served();
    let policy = Policy {
        served_ae_titles: &served,
        max_pdu_length: 65536,
        requestor_scp_role: RequestorScpRole::Never,
    };
    negotiate(rq, &policy, |_, _| Ok(store))
}

fn accepted(n: Negotiation) -> Accepted {
    match n {
        Negotiation::Accepted(a) => *a,
        Negotiation::Rejected(r) => panic!("expected acceptance, got {r}"),
    }
}

fn rejected(n: Negotiation) -> Rejection {
    match n {
        Negotiation::Rejected(r) => r,
        Negotiation::Accepted(a) => panic!("expected rejection, got {a:?}"),
    }
}

#[test]
fn verification_is_accepted_with_the_stored_transfer_syntax() {
    let a = accepted(run(
        &rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]),
        Some(stored(&[(ECHO, &[IMPLICIT])])),
    ));
    assert_eq!(a.contexts.len(), 1);
    assert_eq!(a.contexts[0].result, R::Acceptance);
    assert_eq!(a.contexts[0].transfer_syntax.as_deref(), Some(IMPLICIT));
    assert_eq!(a.calling_ae_title, aet("ENS-SCU"));
    assert_eq!(a.called_ae_title, aet("ENS-SCP"));
    assert_eq!(a.peer_max_pdu_length, 16384);
    assert_eq!(a.max_pdu_length, 65536);
    assert!(a.any_accepted());
    assert!(a.accepted_context(1).is_some());
    assert!(a.accepted_context(3).is_none());
}

#[test]
fn stored_order_wins_over_proposed_order() {
    // Proposed [Implicit, Explicit]; stored [Explicit, Implicit] → Explicit.
    let a = accepted(run(
        &rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT, EXPLICIT])]),
        Some(stored(&[(ECHO, &[EXPLICIT, IMPLICIT])])),
    ));
    assert_eq!(a.contexts[0].transfer_syntax.as_deref(), Some(EXPLICIT));

    // The reverse storage order picks Implicit for the same proposal.
    let a = accepted(run(
        &rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[EXPLICIT, IMPLICIT])]),
        Some(stored(&[(ECHO, &[IMPLICIT, EXPLICIT])])),
    ));
    assert_eq!(a.contexts[0].transfer_syntax.as_deref(), Some(IMPLICIT));
}

#[test]
fn first_stored_among_proposed_skips_unproposed_ones() {
    // Stored [JPEG, Big, Explicit, Implicit]; proposed [Implicit, Explicit] → Explicit.
    let a = accepted(run(
        &rq("ENS-SCU", "ENS-SCP", &[(1, CT, &[IMPLICIT, EXPLICIT])]),
        Some(stored(&[(CT, &[JPEG, BIG, EXPLICIT, IMPLICIT])])),
    ));
    assert_eq!(a.contexts[0].transfer_syntax.as_deref(), Some(EXPLICIT));
}

#[test]
fn abstract_syntax_not_stored_is_result_3() {
    let a = accepted(run(
        &rq(
            "ENS-SCU",
            "ENS-SCP",
            &[(1, ECHO, &[IMPLICIT]), (3, MR, &[IMPLICIT])],
        ),
        Some(stored(&[(ECHO, &[IMPLICIT])])),
    ));
    assert_eq!(a.contexts[0].result, R::Acceptance);
    assert_eq!(a.contexts[1].result, R::AbstractSyntaxNotSupported);
    assert_eq!(a.contexts[1].transfer_syntax, None);
    assert_eq!(a.contexts[1].id, 3);
}

#[test]
fn no_common_transfer_syntax_is_result_4() {
    let a = accepted(run(
        &rq("ENS-SCU", "ENS-SCP", &[(1, CT, &[JPEG])]),
        Some(stored(&[(CT, &[IMPLICIT, EXPLICIT])])),
    ));
    assert_eq!(a.contexts[0].result, R::TransferSyntaxesNotSupported);
    assert!(!a.any_accepted());
}

#[test]
fn empty_transfer_syntax_list_is_result_4() {
    let a = accepted(run(
        &rq("ENS-SCU", "ENS-SCP", &[(1, CT, &[])]),
        Some(stored(&[(CT, &[IMPLICIT])])),
    ));
    assert_eq!(a.contexts[0].result, R::TransferSyntaxesNotSupported);
}

#[test]
fn every_context_is_answered_in_proposed_order() {
    let a = accepted(run(
        &rq(
            "ENS-SCU",
            "ENS-SCP",
            &[
                (1, ECHO, &[IMPLICIT]),
                (3, CT, &[JPEG]),
                (5, MR, &[IMPLICIT]),
                (7, CT, &[EXPLICIT, IMPLICIT]),
            ],
        ),
        Some(stored(&[(ECHO, &[IMPLICIT]), (CT, &[IMPLICIT, EXPLICIT])])),
    ));
    let summary: Vec<_> = a
        .contexts
        .iter()
        .map(|c| (c.id, c.result.clone(), c.transfer_syntax.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, R::Acceptance, Some(IMPLICIT.to_string())),
            (3, R::TransferSyntaxesNotSupported, None),
            (5, R::AbstractSyntaxNotSupported, None),
            (7, R::Acceptance, Some(IMPLICIT.to_string())),
        ]
    );
}

#[test]
fn nul_padded_uids_from_the_wire_match() {
    let a = accepted(run(
        &rq(
            "ENS-SCU",
            "ENS-SCP",
            &[(1, "1.2.840.10008.1.1\0", &["1.2.840.10008.1.2\0"])],
        ),
        Some(stored(&[(ECHO, &[IMPLICIT])])),
    ));
    assert_eq!(a.contexts[0].result, R::Acceptance);
    assert_eq!(a.contexts[0].abstract_syntax, ECHO);
}

#[test]
fn called_ae_title_not_served_is_reason_7() {
    let r = rejected(run(
        &rq("ENS-SCU", "NOPE", &[(1, ECHO, &[IMPLICIT])]),
        Some(stored(&[(ECHO, &[IMPLICIT])])),
    ));
    assert_eq!(r.0.result, AssociationRJResult::Permanent);
    assert_eq!(
        r.0.source,
        AssociationRJSource::ServiceUser(
            AssociationRJServiceUserReason::CalledAETitleNotRecognized
        )
    );
    assert_eq!(
        r.to_string(),
        "rejected-permanent by service-user: called AE title not recognized"
    );
}

#[test]
fn the_store_is_not_consulted_for_an_unserved_called_title() {
    let served = served();
    let policy = Policy {
        served_ae_titles: &served,
        max_pdu_length: 65536,
        requestor_scp_role: RequestorScpRole::Never,
    };
    let mut called = false;
    let n = negotiate(
        &rq("ENS-SCU", "NOPE", &[(1, ECHO, &[IMPLICIT])]),
        &policy,
        |_, _| {
            called = true;
            Ok(None)
        },
    );
    assert!(matches!(n, Negotiation::Rejected(_)));
    assert!(!called);
}

#[test]
fn any_served_title_is_recognized() {
    let a = accepted(run(
        &rq("ENS-SCU", "OTHER-SCP", &[(1, ECHO, &[IMPLICIT])]),
        Some(stored(&[(ECHO, &[IMPLICIT])])),
    ));
    assert_eq!(a.called_ae_title, aet("OTHER-SCP"));
}

#[test]
fn unknown_calling_title_is_reason_3() {
    let r = rejected(run(&rq("WHO", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]), None));
    assert_eq!(
        r.0.source,
        AssociationRJSource::ServiceUser(
            AssociationRJServiceUserReason::CallingAETitleNotRecognized
        )
    );
    assert_eq!(
        r.to_string(),
        "rejected-permanent by service-user: calling AE title not recognized"
    );
}

#[test]
fn invalid_titles_are_not_recognized() {
    let store = Some(stored(&[(ECHO, &[IMPLICIT])]));
    let r = rejected(run(
        &rq("ENS-SCU", "", &[(1, ECHO, &[IMPLICIT])]),
        store.clone(),
    ));
    assert_eq!(r, Rejection::called_ae_title_not_recognized());
    let r = rejected(run(
        &rq("", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]),
        store.clone(),
    ));
    assert_eq!(r, Rejection::calling_ae_title_not_recognized());
    let r = rejected(run(
        &rq("A\\B", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]),
        store.clone(),
    ));
    assert_eq!(r, Rejection::calling_ae_title_not_recognized());
    let r = rejected(run(&rq("*", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]), store));
    assert_eq!(r, Rejection::calling_ae_title_not_recognized());
}

#[test]
fn lookup_receives_the_trimmed_pair() {
    let served = served();
    let policy = Policy {
        served_ae_titles: &served,
        max_pdu_length: 65536,
        requestor_scp_role: RequestorScpRole::Never,
    };
    let mut seen = None;
    let _ = negotiate(
        &rq(" ENS-SCU  ", "ENS-SCP ", &[(1, ECHO, &[IMPLICIT])]),
        &policy,
        |calling, called| {
            seen = Some((calling.clone(), called.clone()));
            Ok(None)
        },
    );
    assert_eq!(seen, Some((aet("ENS-SCU"), aet("ENS-SCP"))));
}

#[test]
fn store_failure_is_a_transient_rejection() {
    let served = served();
    let policy = Policy {
        served_ae_titles: &served,
        max_pdu_length: 65536,
        requestor_scp_role: RequestorScpRole::Never,
    };
    let n = negotiate(
        &rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]),
        &policy,
        |_, _| Err(LookupFailed("disk on fire".into())),
    );
    let r = rejected(n);
    assert_eq!(r.0.result, AssociationRJResult::Transient);
    assert_eq!(
        r.0.source,
        AssociationRJSource::ServiceProviderASCE(
            AssociationRJServiceProviderASCEReason::NoReasonGiven
        )
    );
}

#[test]
fn wrong_protocol_version_and_application_context() {
    let store = Some(stored(&[(ECHO, &[IMPLICIT])]));
    let mut bad = rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]);
    bad.protocol_version = 2;
    let r = rejected(run(&bad, store.clone()));
    assert_eq!(
        r.0.source,
        AssociationRJSource::ServiceProviderASCE(
            AssociationRJServiceProviderASCEReason::ProtocolVersionNotSupported
        )
    );
    // Only bit 0 is tested (PS3.8 §9.3.2).
    let mut newer = rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]);
    newer.protocol_version = 3;
    accepted(run(&newer, store.clone()));

    let mut bad = rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]);
    bad.application_context_name = "1.2.3".into();
    let r = rejected(run(&bad, store));
    assert_eq!(
        r.0.source,
        AssociationRJSource::ServiceUser(
            AssociationRJServiceUserReason::ApplicationContextNameNotSupported
        )
    );
}

#[test]
fn rejection_words() {
    assert_eq!(
        Rejection::local_limit_exceeded().to_string(),
        "rejected-transient by service-provider (presentation): local limit exceeded"
    );
    assert_eq!(
        Rejection::temporary_congestion().to_string(),
        "rejected-transient by service-provider (presentation): temporary congestion"
    );
    assert_eq!(
        context_result_words(&R::AbstractSyntaxNotSupported),
        "abstract-syntax-not-supported"
    );
    assert_eq!(
        context_result_words(&R::TransferSyntaxesNotSupported),
        "transfer-syntaxes-not-supported"
    );
}

#[test]
fn stored_max_pdu_length_overrides_the_service_setting() {
    let mut ctx = stored(&[(ECHO, &[IMPLICIT])]);
    ctx.max_pdu_length = Some(8192);
    let a = accepted(run(
        &rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]),
        Some(ctx),
    ));
    assert_eq!(a.max_pdu_length, 8192);
    let ac = a.to_pdu(&rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]));
    assert!(
        ac.user_variables
            .contains(&UserVariableItem::MaxLength(8192))
    );
}

#[test]
fn missing_max_length_means_unlimited_peer() {
    let mut r = rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]);
    r.user_variables.clear();
    let a = accepted(run(&r, Some(stored(&[(ECHO, &[IMPLICIT])]))));
    assert_eq!(a.peer_max_pdu_length, 0);
}

#[test]
fn ac_carries_our_identity_and_echoes_the_titles() {
    let r = rq(
        "ENS-SCU",
        "ENS-SCP",
        &[(1, ECHO, &[IMPLICIT]), (3, MR, &[EXPLICIT])],
    );
    let a = accepted(run(&r, Some(stored(&[(ECHO, &[IMPLICIT])]))));
    let ac = a.to_pdu(&r);
    assert_eq!(ac.called_ae_title, "ENS-SCP");
    assert_eq!(ac.calling_ae_title, "ENS-SCU");
    assert_eq!(ac.application_context_name, "1.2.840.10008.3.1.1.1");
    assert!(
        ac.user_variables
            .contains(&UserVariableItem::ImplementationClassUID(
                crate::uids::IMPLEMENTATION_CLASS_UID.into()
            ))
    );
    assert!(
        ac.user_variables
            .contains(&UserVariableItem::ImplementationVersionName(
                "SWITCHBOARD_01".into()
            ))
    );
    assert_eq!(ac.presentation_contexts.len(), 2);
    assert_eq!(ac.presentation_contexts[0].transfer_syntax, IMPLICIT);
    // A rejected context still carries a (not significant) transfer syntax item.
    assert_eq!(ac.presentation_contexts[1].transfer_syntax, EXPLICIT);
    // The AC encodes with dicom-ul's writer.
    let mut out = Vec::new();
    dicom_ul::pdu::write_pdu(&mut out, &dicom_ul::pdu::Pdu::AssociationAC(ac)).unwrap();
    assert_eq!(out[0], 0x02);
}

#[test]
fn role_selection_accepts_scu_and_declines_scp_for_a_storage_scp() {
    let mut r = rq("ENS-SCU", "ENS-SCP", &[(1, CT, &[IMPLICIT])]);
    r.user_variables
        .push(UserVariableItem::ScuScpRoleSelectionSubItem(
            CT.into(),
            RequestorRoles {
                scu: true,
                scp: true,
            },
        ));
    // A proposal for an abstract syntax that was not accepted gets no answer.
    r.user_variables
        .push(UserVariableItem::ScuScpRoleSelectionSubItem(
            MR.into(),
            RequestorRoles {
                scu: true,
                scp: false,
            },
        ));
    let a = accepted(run(&r, Some(stored(&[(CT, &[IMPLICIT])]))));
    assert_eq!(
        a.role_selections,
        vec![(
            CT.to_string(),
            RequestorRoles {
                scu: true,
                scp: false
            }
        )]
    );
    let ac = a.to_pdu(&r);
    assert!(
        ac.user_variables
            .contains(&UserVariableItem::ScuScpRoleSelectionSubItem(
                CT.into(),
                RequestorRoles {
                    scu: true,
                    scp: false
                }
            ))
    );
    // The association is not broken: the context is still accepted.
    assert!(a.accepted_context(1).is_some());
}

#[test]
fn role_selection_scp_role_when_the_service_supports_it() {
    let mut r = rq("ENS-SCU", "ENS-SCP", &[(1, CT, &[IMPLICIT])]);
    r.user_variables
        .push(UserVariableItem::ScuScpRoleSelectionSubItem(
            CT.into(),
            RequestorRoles {
                scu: false,
                scp: true,
            },
        ));
    let served = served();
    let policy = Policy {
        served_ae_titles: &served,
        max_pdu_length: 65536,
        requestor_scp_role: RequestorScpRole::Storage,
    };
    let a = accepted(negotiate(&r, &policy, |_, _| {
        Ok(Some(stored(&[(CT, &[IMPLICIT])])))
    }));
    assert_eq!(
        a.role_selections,
        vec![(
            CT.to_string(),
            RequestorRoles {
                scu: false,
                scp: true
            }
        )]
    );
}

#[test]
fn role_selection_is_decided_per_sop_class() {
    // A C-GET requester proposes the SCP role for what it retrieves (CT)
    // and, wrongly, for the information model itself: only the storage
    // class gets it.
    const GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";
    let mut r = rq(
        "ENS-SCU",
        "ENS-SCP",
        &[(1, GET, &[IMPLICIT]), (3, CT, &[IMPLICIT])],
    );
    for sop in [GET, CT] {
        r.user_variables
            .push(UserVariableItem::ScuScpRoleSelectionSubItem(
                sop.into(),
                RequestorRoles {
                    scu: true,
                    scp: true,
                },
            ));
    }
    let served = served();
    let policy = Policy {
        served_ae_titles: &served,
        max_pdu_length: 65536,
        requestor_scp_role: RequestorScpRole::Storage,
    };
    let a = accepted(negotiate(&r, &policy, |_, _| {
        Ok(Some(stored(&[(GET, &[IMPLICIT]), (CT, &[IMPLICIT])])))
    }));
    let roles = |scp| RequestorRoles { scu: true, scp };
    assert_eq!(
        a.role_selections,
        vec![
            (GET.to_string(), roles(false)),
            (CT.to_string(), roles(true))
        ]
    );
    assert!(!RequestorScpRole::Never.allows(CT));
}

#[test]
fn user_identity_is_ignored_unless_a_response_is_requested() {
    let mut r = rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]);
    r.user_variables
        .push(UserVariableItem::UserIdentityItem(UserIdentity::new(
            false,
            UserIdentityType::UsernamePassword,
            b"alice".to_vec(),
            b"secret".to_vec(),
        )));
    let a = accepted(run(&r, Some(stored(&[(ECHO, &[IMPLICIT])]))));
    assert!(!a.user_identity_response);
    assert!(
        !a.to_pdu(&r)
            .user_variables
            .iter()
            .any(|v| matches!(v, UserVariableItem::Unknown(0x59, _)))
    );

    let mut r = rq("ENS-SCU", "ENS-SCP", &[(1, ECHO, &[IMPLICIT])]);
    r.user_variables
        .push(UserVariableItem::UserIdentityItem(UserIdentity::new(
            true,
            UserIdentityType::Username,
            b"alice".to_vec(),
            Vec::new(),
        )));
    let a = accepted(run(&r, Some(stored(&[(ECHO, &[IMPLICIT])]))));
    assert!(a.user_identity_response);
    let ac = a.to_pdu(&r);
    assert!(
        ac.user_variables
            .contains(&UserVariableItem::Unknown(0x59, vec![0, 0]))
    );
    // It encodes and decodes: item 59H with a zero-length server response.
    let mut out = Vec::new();
    dicom_ul::pdu::write_pdu(&mut out, &dicom_ul::pdu::Pdu::AssociationAC(ac)).unwrap();
    let back = dicom_ul::pdu::read_pdu(&out[..], dicom_ul::pdu::MAXIMUM_PDU_SIZE, false)
        .unwrap()
        .unwrap();
    assert!(matches!(back, dicom_ul::pdu::Pdu::AssociationAC(_)));
}

#[test]
fn extended_negotiation_is_not_answered() {
    let mut r = rq("ENS-SCU", "ENS-SCP", &[(1, CT, &[IMPLICIT])]);
    r.user_variables
        .push(UserVariableItem::SopClassExtendedNegotiationSubItem(
            CT.into(),
            vec![1, 0, 1],
        ));
    let a = accepted(run(&r, Some(stored(&[(CT, &[IMPLICIT])]))));
    let ac = a.to_pdu(&r);
    assert!(
        !ac.user_variables
            .iter()
            .any(|v| matches!(v, UserVariableItem::SopClassExtendedNegotiationSubItem(..)))
    );
    assert!(a.accepted_context(1).is_some());
}

#[test]
fn no_contexts_at_all_still_answers() {
    let a = accepted(run(
        &rq("ENS-SCU", "ENS-SCP", &[]),
        Some(stored(&[(ECHO, &[IMPLICIT])])),
    ));
    assert!(a.contexts.is_empty());
    assert!(!a.any_accepted());
}
