//! Association negotiation by our rules (PS3.8 §7.1, PS3.7 Annex D), as pure
//! logic: given an A-ASSOCIATE-RQ, the AE titles a listener serves and the
//! stored association context for the pair, decide the A-ASSOCIATE-RJ or the
//! A-ASSOCIATE-AC. No I/O; the store is reached through the `lookup` closure.
//!
//! The rules:
//! - protocol version without bit 0 → rejected-permanent, service-provider
//!   (ACSE), protocol-version-not-supported;
//! - an application context other than DICOM's → rejected-permanent,
//!   service-user, application-context-name-not-supported;
//! - a called AE title this listener does not serve → rejected-permanent,
//!   service-user, called-AE-title-not-recognized (7);
//! - no stored context for (calling, called) → rejected-permanent,
//!   service-user, calling-AE-title-not-recognized (3);
//! - the store failing → rejected-transient, service-provider (ACSE),
//!   no-reason-given: trying again later may work;
//! - otherwise each proposed presentation context is accepted with the
//!   transfer syntax that comes FIRST in the STORED order among those
//!   proposed (our preference, not the proposer's); abstract syntax not
//!   stored → abstract-syntax-not-supported (3); no common transfer syntax →
//!   transfer-syntaxes-not-supported (4).
//!
//! SCP/SCU role selection is answered per SOP class (the requestor's SCU
//! role is accepted, its SCP role only for the SOP classes the service sends
//! requests of, [`RequestorScpRole`]),
//! user identity is ignored unless a positive response is requested, when an
//! empty server response is sent; extended negotiation is not answered,
//! which the standard reads as "not supported". None of these ever breaks
//! the association.

use std::fmt;

use dicom_ul::pdu::{
    AssociationAC, AssociationRJ, AssociationRJResult, AssociationRJServiceProviderASCEReason,
    AssociationRJServiceProviderPresentationReason, AssociationRJServiceUserReason,
    AssociationRJSource, AssociationRQ, PresentationContextResult, PresentationContextResultReason,
    RequestorRoles, UserVariableItem,
};

use super::model::{AeTitle, AssociationContext};
use crate::uids::{
    APPLICATION_CONTEXT_NAME, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME,
};

/// The user-identity response sub-item type (PS3.7 §D.3.3.7.2).
pub const USER_IDENTITY_RESPONSE_ITEM: u8 = 0x59;

/// What a listener brings to a negotiation.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    /// The AE titles this listener answers to.
    pub served_ae_titles: &'a [AeTitle],
    /// The maximum PDU length we announce unless the stored context sets one.
    pub max_pdu_length: u32,
    /// For which SOP classes the service can take the SCU role on an
    /// inbound association, so accepts a requestor's proposal to be SCP.
    pub requestor_scp_role: RequestorScpRole,
}

/// The SOP classes for which a requestor may take the SCP role (role
/// selection, PS3.7 §D.3.3.4): those the service sends requests of on the
/// requestor's own association.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestorScpRole {
    /// None: a storage SCP only answers.
    #[default]
    Never,
    /// Storage SOP classes: the service sends C-STOREs back (C-GET).
    Storage,
}

impl RequestorScpRole {
    /// Whether the requestor may be SCP for `sop_class_uid`.
    pub fn allows(self, sop_class_uid: &str) -> bool {
        match self {
            RequestorScpRole::Never => false,
            RequestorScpRole::Storage => crate::dictionary::is_storage_sop_class(sop_class_uid),
        }
    }
}

/// The outcome of a negotiation.
#[derive(Debug, Clone, PartialEq)]
pub enum Negotiation {
    Rejected(Rejection),
    Accepted(Box<Accepted>),
}

/// A rejection: result, source and reason, with words for the log and the
/// CLI ("rejected-permanent by service-user: called AE title not recognized").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub AssociationRJ);

impl Rejection {
    pub fn new(result: AssociationRJResult, source: AssociationRJSource) -> Self {
        Self(AssociationRJ { result, source })
    }

    /// Rejected-permanent, service-user, called-AE-title-not-recognized (7).
    pub fn called_ae_title_not_recognized() -> Self {
        Self::new(
            AssociationRJResult::Permanent,
            AssociationRJSource::ServiceUser(
                AssociationRJServiceUserReason::CalledAETitleNotRecognized,
            ),
        )
    }

    /// Rejected-permanent, service-user, calling-AE-title-not-recognized (3).
    pub fn calling_ae_title_not_recognized() -> Self {
        Self::new(
            AssociationRJResult::Permanent,
            AssociationRJSource::ServiceUser(
                AssociationRJServiceUserReason::CallingAETitleNotRecognized,
            ),
        )
    }

    /// Rejected-transient, service-provider (presentation), local-limit-exceeded.
    pub fn local_limit_exceeded() -> Self {
        Self::new(
            AssociationRJResult::Transient,
            AssociationRJSource::ServiceProviderPresentation(
                AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
            ),
        )
    }

    /// Rejected-transient, service-provider (presentation), temporary-congestion:
    /// used when the listener is shutting down.
    pub fn temporary_congestion() -> Self {
        Self::new(
            AssociationRJResult::Transient,
            AssociationRJSource::ServiceProviderPresentation(
                AssociationRJServiceProviderPresentationReason::TemporaryCongestion,
            ),
        )
    }

    /// The A-ASSOCIATE-RJ to send.
    pub fn to_pdu(&self) -> AssociationRJ {
        self.0.clone()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let result = match self.0.result {
            AssociationRJResult::Permanent => "rejected-permanent",
            AssociationRJResult::Transient => "rejected-transient",
        };
        let source = match self.0.source {
            AssociationRJSource::ServiceUser(_) => "service-user",
            AssociationRJSource::ServiceProviderASCE(_) => "service-provider (ACSE)",
            AssociationRJSource::ServiceProviderPresentation(_) => {
                "service-provider (presentation)"
            }
        };
        write!(f, "{result} by {source}: {}", self.0.source)
    }
}

/// A presentation-context result in the standard's words.
pub fn context_result_words(reason: &PresentationContextResultReason) -> &'static str {
    match reason {
        PresentationContextResultReason::Acceptance => "acceptance",
        PresentationContextResultReason::UserRejection => "user-rejection",
        PresentationContextResultReason::NoReason => "no-reason (provider rejection)",
        PresentationContextResultReason::AbstractSyntaxNotSupported => {
            "abstract-syntax-not-supported"
        }
        PresentationContextResultReason::TransferSyntaxesNotSupported => {
            "transfer-syntaxes-not-supported"
        }
    }
}

/// The result for one proposed presentation context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextResult {
    pub id: u8,
    pub abstract_syntax: String,
    pub result: PresentationContextResultReason,
    /// The chosen transfer syntax when accepted.
    pub transfer_syntax: Option<String>,
}

impl ContextResult {
    pub fn is_accepted(&self) -> bool {
        self.result == PresentationContextResultReason::Acceptance
    }
}

/// An accepted association.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub calling_ae_title: AeTitle,
    pub called_ae_title: AeTitle,
    /// One per proposed context, in the proposed order.
    pub contexts: Vec<ContextResult>,
    /// The maximum PDU length we announce (and enforce when reading).
    pub max_pdu_length: u32,
    /// The maximum PDU length the requestor announced (0: unlimited).
    pub peer_max_pdu_length: u32,
    /// Role-selection answers, one per proposal for an accepted abstract syntax.
    pub role_selections: Vec<(String, RequestorRoles)>,
    /// Whether a user-identity response must be sent.
    pub user_identity_response: bool,
    /// The stored context the decision came from.
    pub association: AssociationContext,
}

impl Accepted {
    /// The accepted context with this ID.
    pub fn accepted_context(&self, id: u8) -> Option<&ContextResult> {
        self.contexts.iter().find(|c| c.id == id && c.is_accepted())
    }

    /// The SOP classes the requestor took the SCP role for (its C-GET
    /// brings them back to it), each with the transfer syntaxes accepted
    /// for it, in the proposed order.
    pub fn requestor_scp_contexts(&self) -> Vec<(String, Vec<String>)> {
        let mut found: Vec<(String, Vec<String>)> = Vec::new();
        for (sop, roles) in &self.role_selections {
            if !roles.scp {
                continue;
            }
            let syntaxes = self
                .contexts
                .iter()
                .filter(|c| c.is_accepted() && c.abstract_syntax == *sop)
                .filter_map(|c| c.transfer_syntax.clone());
            let mut unique = Vec::new();
            for ts in syntaxes {
                if !unique.contains(&ts) {
                    unique.push(ts);
                }
            }
            found.push((sop.clone(), unique));
        }
        found
    }

    /// The accepted context on which an instance of `sop_class_uid` in
    /// `transfer_syntax` can be sent to the requestor, which took the SCP
    /// role for it.
    pub fn requestor_scp_context(&self, sop_class_uid: &str, transfer_syntax: &str) -> Option<u8> {
        let scp = self
            .role_selections
            .iter()
            .any(|(sop, roles)| sop == sop_class_uid && roles.scp);
        let context = self.contexts.iter().find(|c| {
            c.is_accepted()
                && c.abstract_syntax == sop_class_uid
                && c.transfer_syntax.as_deref() == Some(transfer_syntax)
        });
        context.filter(|_| scp).map(|c| c.id)
    }

    /// Whether any context was accepted.
    pub fn any_accepted(&self) -> bool {
        self.contexts.iter().any(ContextResult::is_accepted)
    }

    /// The A-ASSOCIATE-AC to send in answer to `rq`.
    pub fn to_pdu(&self, rq: &AssociationRQ) -> AssociationAC {
        let presentation_contexts = self
            .contexts
            .iter()
            .map(|c| PresentationContextResult {
                id: c.id,
                reason: c.result.clone(),
                // Not significant when rejected (PS3.8 §9.3.3.2), but the item
                // must be present; echo the first proposed one.
                transfer_syntax: c.transfer_syntax.clone().unwrap_or_else(|| {
                    rq.presentation_contexts
                        .iter()
                        .find(|p| p.id == c.id)
                        .and_then(|p| p.transfer_syntaxes.first().cloned())
                        .unwrap_or_default()
                }),
            })
            .collect();
        let mut user_variables = vec![
            UserVariableItem::MaxLength(self.max_pdu_length),
            UserVariableItem::ImplementationClassUID(IMPLEMENTATION_CLASS_UID.to_string()),
        ];
        for (sop_class_uid, roles) in &self.role_selections {
            user_variables.push(UserVariableItem::ScuScpRoleSelectionSubItem(
                sop_class_uid.clone(),
                *roles,
            ));
        }
        user_variables.push(UserVariableItem::ImplementationVersionName(
            IMPLEMENTATION_VERSION_NAME.to_string(),
        ));
        if self.user_identity_response {
            // Server-response-length 0: we do not authenticate, and the
            // standard gives no server response for username identities.
            user_variables.push(UserVariableItem::Unknown(
                USER_IDENTITY_RESPONSE_ITEM,
                vec![0, 0],
            ));
        }
        AssociationAC {
            protocol_version: 1,
            calling_ae_title: rq.calling_ae_title.clone(),
            called_ae_title: rq.called_ae_title.clone(),
            application_context_name: APPLICATION_CONTEXT_NAME.to_string(),
            presentation_contexts,
            user_variables,
        }
    }
}

/// A failed store lookup (reported as a transient rejection); the store's
/// own error says why.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct LookupFailed(pub Box<dyn std::error::Error + Send + Sync>);

/// Negotiates an association.
///
/// `lookup(calling, called)` returns the stored context for the pair (the
/// store applies its own exact-then-wildcard order) and is only called when
/// the called AE title is served.
pub fn negotiate<F>(rq: &AssociationRQ, policy: &Policy<'_>, lookup: F) -> Negotiation
where
    F: FnOnce(&AeTitle, &AeTitle) -> Result<Option<AssociationContext>, LookupFailed>,
{
    if rq.protocol_version & 1 == 0 {
        return Negotiation::Rejected(Rejection::new(
            AssociationRJResult::Permanent,
            AssociationRJSource::ServiceProviderASCE(
                AssociationRJServiceProviderASCEReason::ProtocolVersionNotSupported,
            ),
        ));
    }
    if rq.application_context_name.trim_end_matches('\0').trim() != APPLICATION_CONTEXT_NAME {
        return Negotiation::Rejected(Rejection::new(
            AssociationRJResult::Permanent,
            AssociationRJSource::ServiceUser(
                AssociationRJServiceUserReason::ApplicationContextNameNotSupported,
            ),
        ));
    }
    let called = match AeTitle::new(&rq.called_ae_title) {
        Ok(called) if policy.served_ae_titles.contains(&called) => called,
        _ => return Negotiation::Rejected(Rejection::called_ae_title_not_recognized()),
    };
    let Ok(calling) = AeTitle::new(&rq.calling_ae_title) else {
        return Negotiation::Rejected(Rejection::calling_ae_title_not_recognized());
    };
    if calling.is_wildcard() {
        // `*` is a store key, never a real peer's title.
        return Negotiation::Rejected(Rejection::calling_ae_title_not_recognized());
    }
    let association = match lookup(&calling, &called) {
        Ok(Some(association)) => association,
        Ok(None) => return Negotiation::Rejected(Rejection::calling_ae_title_not_recognized()),
        Err(_) => {
            return Negotiation::Rejected(Rejection::new(
                AssociationRJResult::Transient,
                AssociationRJSource::ServiceProviderASCE(
                    AssociationRJServiceProviderASCEReason::NoReasonGiven,
                ),
            ));
        }
    };

    let contexts: Vec<ContextResult> = rq
        .presentation_contexts
        .iter()
        .map(|proposed| {
            let abstract_syntax = clean(&proposed.abstract_syntax);
            let (result, transfer_syntax) = match association.context_for(abstract_syntax) {
                None => (
                    PresentationContextResultReason::AbstractSyntaxNotSupported,
                    None,
                ),
                Some(stored) => {
                    let chosen = stored.transfer_syntaxes.iter().find(|ts| {
                        proposed
                            .transfer_syntaxes
                            .iter()
                            .any(|p| clean(p) == ts.as_str())
                    });
                    match chosen {
                        Some(ts) => (
                            PresentationContextResultReason::Acceptance,
                            Some(ts.to_string()),
                        ),
                        None => (
                            PresentationContextResultReason::TransferSyntaxesNotSupported,
                            None,
                        ),
                    }
                }
            };
            ContextResult {
                id: proposed.id,
                abstract_syntax: abstract_syntax.to_string(),
                result,
                transfer_syntax,
            }
        })
        .collect();

    let mut peer_max_pdu_length = 0;
    let mut role_selections = Vec::new();
    let mut user_identity_response = false;
    for item in &rq.user_variables {
        match item {
            UserVariableItem::MaxLength(len) => peer_max_pdu_length = *len,
            UserVariableItem::ScuScpRoleSelectionSubItem(sop_class_uid, proposed) => {
                let sop = clean(sop_class_uid);
                let accepted_here = contexts
                    .iter()
                    .any(|c| c.is_accepted() && c.abstract_syntax == sop);
                let already = role_selections.iter().any(|(s, _)| s == sop);
                if accepted_here && !already {
                    role_selections.push((
                        sop.to_string(),
                        RequestorRoles {
                            scu: proposed.scu,
                            scp: proposed.scp && policy.requestor_scp_role.allows(sop),
                        },
                    ));
                }
            }
            UserVariableItem::UserIdentityItem(identity) => {
                user_identity_response = identity.positive_response_requested();
            }
            _ => {}
        }
    }

    Negotiation::Accepted(Box::new(Accepted {
        calling_ae_title: calling,
        called_ae_title: called,
        contexts,
        max_pdu_length: association.max_pdu_length.unwrap_or(policy.max_pdu_length),
        peer_max_pdu_length,
        role_selections,
        user_identity_response,
        association,
    }))
}

fn clean(uid: &str) -> &str {
    uid.trim_end_matches('\0').trim()
}

#[cfg(test)]
mod tests;
