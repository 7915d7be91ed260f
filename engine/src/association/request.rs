//! The requestor's side of negotiation (PS3.8 §7.1, PS3.7 Annex D), as pure
//! logic beside the acceptor's ([`super::negotiation`]): the
//! A-ASSOCIATE-RQ that proposes a list of presentation contexts, and what an
//! A-ASSOCIATE-AC answered to each. No I/O: the SCU sends and reads the PDUs.

use dicom_ul::pdu::{
    AssociationAC, AssociationRQ, PresentationContextProposed, PresentationContextResultReason,
    RequestorRoles, UserVariableItem,
};

use crate::uids::{
    APPLICATION_CONTEXT_NAME, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME,
};

/// The most presentation contexts one A-ASSOCIATE-RQ can carry (odd IDs 1–255).
pub const MAX_PRESENTATION_CONTEXTS: usize = 128;

/// One presentation context to propose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedContext {
    pub abstract_syntax: String,
    pub transfer_syntaxes: Vec<String>,
}

/// A list of contexts that cannot be proposed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    #[error(
        "{0} presentation contexts proposed; at most {MAX_PRESENTATION_CONTEXTS} fit in one association"
    )]
    TooManyContexts(usize),
    #[error("no presentation context proposed")]
    NoContexts,
}

/// The A-ASSOCIATE-RQ from `calling` to `called` proposing `contexts` in
/// this order, with IDs 1, 3, 5, …, announcing `max_pdu_length` and our
/// implementation, and proposing to be SCP as well as SCU for the SOP
/// classes of `scp_roles` (role selection, PS3.7 §D.3.3.4: a C-GET
/// requester takes the instances it retrieves as C-STOREs).
///
/// # Errors
/// [`ProposalError`] for no contexts or more than fit.
pub fn association_rq(
    calling_ae_title: &str,
    called_ae_title: &str,
    contexts: &[ProposedContext],
    max_pdu_length: u32,
    scp_roles: &[String],
) -> Result<AssociationRQ, ProposalError> {
    if contexts.is_empty() {
        return Err(ProposalError::NoContexts);
    }
    if contexts.len() > MAX_PRESENTATION_CONTEXTS {
        return Err(ProposalError::TooManyContexts(contexts.len()));
    }
    Ok(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: calling_ae_title.to_string(),
        called_ae_title: called_ae_title.to_string(),
        application_context_name: APPLICATION_CONTEXT_NAME.to_string(),
        presentation_contexts: contexts
            .iter()
            .zip((0..=u8::MAX).filter(|id| id % 2 == 1))
            .map(|(pc, id)| PresentationContextProposed {
                id,
                abstract_syntax: pc.abstract_syntax.clone(),
                transfer_syntaxes: pc.transfer_syntaxes.clone(),
            })
            .collect(),
        user_variables: [
            UserVariableItem::MaxLength(max_pdu_length),
            UserVariableItem::ImplementationClassUID(IMPLEMENTATION_CLASS_UID.to_string()),
            UserVariableItem::ImplementationVersionName(IMPLEMENTATION_VERSION_NAME.to_string()),
        ]
        .into_iter()
        .chain(
            scp_roles
                .iter()
                .enumerate()
                .filter(|(i, sop)| !scp_roles[..*i].contains(sop))
                .map(|(_, sop)| {
                    UserVariableItem::ScuScpRoleSelectionSubItem(
                        sop.clone(),
                        RequestorRoles {
                            scu: true,
                            scp: true,
                        },
                    )
                }),
        )
        .collect(),
    })
}

/// The acceptor's answer for one proposed context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedContext {
    pub id: u8,
    pub abstract_syntax: String,
    pub proposed_transfer_syntaxes: Vec<String>,
    pub result: PresentationContextResultReason,
    /// The accepted transfer syntax.
    pub transfer_syntax: Option<String>,
    /// Whether the acceptor agreed that we take the SCP role for its SOP
    /// class (we proposed it and it answered yes); otherwise we are SCU
    /// only, the default.
    pub scp_role: bool,
}

impl NegotiatedContext {
    pub fn is_accepted(&self) -> bool {
        self.result == PresentationContextResultReason::Acceptance
    }
}

/// What an A-ASSOCIATE-AC says, read against the RQ it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedByPeer {
    /// One per proposed context, in proposed order; a context the AC does
    /// not mention counts as rejected with no reason.
    pub contexts: Vec<NegotiatedContext>,
    /// The largest PDU the acceptor takes (0: unlimited).
    pub peer_max_pdu_length: u32,
    pub peer_implementation_class_uid: Option<String>,
    pub peer_implementation_version_name: Option<String>,
}

/// Reads an A-ASSOCIATE-AC against the contexts its RQ proposed.
pub fn read_ac(proposed: &[PresentationContextProposed], ac: &AssociationAC) -> AcceptedByPeer {
    let mut accepted = AcceptedByPeer {
        contexts: Vec::with_capacity(proposed.len()),
        peer_max_pdu_length: 0,
        peer_implementation_class_uid: None,
        peer_implementation_version_name: None,
    };
    let mut scp_roles = Vec::new();
    for item in &ac.user_variables {
        match item {
            UserVariableItem::MaxLength(len) => accepted.peer_max_pdu_length = *len,
            UserVariableItem::ImplementationClassUID(uid) => {
                accepted.peer_implementation_class_uid = Some(uid.clone());
            }
            UserVariableItem::ImplementationVersionName(name) => {
                accepted.peer_implementation_version_name = Some(name.clone());
            }
            UserVariableItem::ScuScpRoleSelectionSubItem(sop, roles) if roles.scp => {
                scp_roles.push(sop.trim_end_matches('\0').trim().to_string());
            }
            _ => {}
        }
    }
    accepted.contexts = proposed
        .iter()
        .map(|p| {
            let answer = ac.presentation_contexts.iter().find(|r| r.id == p.id);
            let result = answer
                .map(|r| r.reason.clone())
                .unwrap_or(PresentationContextResultReason::NoReason);
            let transfer_syntax = answer
                .filter(|r| r.reason == PresentationContextResultReason::Acceptance)
                .map(|r| r.transfer_syntax.trim_end_matches('\0').trim().to_string());
            NegotiatedContext {
                id: p.id,
                abstract_syntax: p.abstract_syntax.clone(),
                proposed_transfer_syntaxes: p.transfer_syntaxes.clone(),
                result,
                transfer_syntax,
                scp_role: scp_roles.contains(&p.abstract_syntax),
            }
        })
        .collect();
    accepted
}

#[cfg(test)]
mod tests {
    use dicom_ul::pdu::PresentationContextResult;

    use super::*;

    fn context(abstract_syntax: &str, ts: &[&str]) -> ProposedContext {
        ProposedContext {
            abstract_syntax: abstract_syntax.to_string(),
            transfer_syntaxes: ts.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn contexts_get_odd_ids_in_order_and_our_identity() {
        let rq = association_rq(
            "SCU",
            "SCP",
            &[
                context("1.2.840.10008.1.1", &["1.2.840.10008.1.2"]),
                context("1.2.3", &["1.2.840.10008.1.2.1"]),
            ],
            16384,
            &[],
        )
        .unwrap();
        let ids: Vec<u8> = rq.presentation_contexts.iter().map(|p| p.id).collect();
        assert_eq!(ids, vec![1, 3]);
        assert_eq!(rq.application_context_name, APPLICATION_CONTEXT_NAME);
        assert!(
            rq.user_variables
                .contains(&UserVariableItem::MaxLength(16384))
        );
        assert!(
            rq.user_variables
                .contains(&UserVariableItem::ImplementationClassUID(
                    IMPLEMENTATION_CLASS_UID.to_string()
                ))
        );
        let many = vec![context("1.2.3", &["1.2.840.10008.1.2"]); MAX_PRESENTATION_CONTEXTS + 1];
        assert_eq!(
            association_rq("SCU", "SCP", &many, 0, &[]),
            Err(ProposalError::TooManyContexts(
                MAX_PRESENTATION_CONTEXTS + 1
            ))
        );
        assert_eq!(
            association_rq("SCU", "SCP", &[], 0, &[]),
            Err(ProposalError::NoContexts)
        );
        let all = association_rq("SCU", "SCP", &many[..MAX_PRESENTATION_CONTEXTS], 0, &[]).unwrap();
        assert_eq!(all.presentation_contexts.last().map(|p| p.id), Some(255));
    }

    #[test]
    fn the_answer_is_read_per_proposed_context() {
        let rq = association_rq(
            "SCU",
            "SCP",
            &[
                context("1.2.840.10008.1.1", &["1.2.840.10008.1.2"]),
                context("1.2.3", &["1.2.840.10008.1.2.1"]),
                context("1.2.4", &["1.2.840.10008.1.2.1"]),
            ],
            0,
            &["1.2.840.10008.1.1".to_string(), "1.2.3".to_string()],
        )
        .unwrap();
        // One role proposal per SOP class, SCU and SCP.
        let roles: Vec<&UserVariableItem> = rq
            .user_variables
            .iter()
            .filter(|v| matches!(v, UserVariableItem::ScuScpRoleSelectionSubItem(..)))
            .collect();
        assert_eq!(roles.len(), 2);
        let ac = AssociationAC {
            protocol_version: 1,
            calling_ae_title: "SCU".into(),
            called_ae_title: "SCP".into(),
            application_context_name: APPLICATION_CONTEXT_NAME.into(),
            presentation_contexts: vec![
                PresentationContextResult {
                    id: 1,
                    reason: PresentationContextResultReason::Acceptance,
                    transfer_syntax: "1.2.840.10008.1.2\0".into(),
                },
                PresentationContextResult {
                    id: 3,
                    reason: PresentationContextResultReason::AbstractSyntaxNotSupported,
                    transfer_syntax: "1.2.840.10008.1.2.1".into(),
                },
            ],
            user_variables: vec![
                UserVariableItem::MaxLength(32768),
                UserVariableItem::ImplementationVersionName("PEER_1".into()),
                // Yes for the first, no for the second.
                UserVariableItem::ScuScpRoleSelectionSubItem(
                    "1.2.840.10008.1.1\0".into(),
                    RequestorRoles {
                        scu: true,
                        scp: true,
                    },
                ),
                UserVariableItem::ScuScpRoleSelectionSubItem(
                    "1.2.3".into(),
                    RequestorRoles {
                        scu: true,
                        scp: false,
                    },
                ),
            ],
        };
        let read = read_ac(&rq.presentation_contexts, &ac);
        assert_eq!(read.peer_max_pdu_length, 32768);
        assert_eq!(
            read.peer_implementation_version_name.as_deref(),
            Some("PEER_1")
        );
        assert!(read.contexts[0].is_accepted());
        assert_eq!(
            read.contexts[0].transfer_syntax.as_deref(),
            Some("1.2.840.10008.1.2")
        );
        assert_eq!(
            read.contexts[1].result,
            PresentationContextResultReason::AbstractSyntaxNotSupported
        );
        assert_eq!(read.contexts[1].transfer_syntax, None);
        assert_eq!(
            read.contexts[2].result,
            PresentationContextResultReason::NoReason
        );
        let scp: Vec<bool> = read.contexts.iter().map(|c| c.scp_role).collect();
        assert_eq!(scp, [true, false, false]);
    }
}
