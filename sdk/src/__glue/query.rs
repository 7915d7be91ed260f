//! Guest glue of the query hook (contract 1.1.0): what
//! [`crate::export_query_plugin!`] calls, and the pass-through answers of a
//! plugin exported with [`crate::export_plugin!`].

use super::{HostSource, with_plugin};
use crate::{KeyEdit, Match, MatchDecision, Query, QueryDecision, QueryHeader, QueryHook};

use super::bindings::exports::switchboard::router::query_hook as hook;

pub use hook::Guest as HookGuest;
/// The query header as generated from WIT.
pub type WitQueryHeader = hook::QueryHeader;
/// The query decision as generated from WIT.
pub type WitQueryDecision = hook::QueryDecision;
/// The match decision as generated from WIT.
pub type WitMatchDecision = hook::MatchDecision;

fn header(h: WitQueryHeader) -> QueryHeader {
    QueryHeader {
        query_id: h.query_id,
        source: h.source,
        calling_ae_title: h.calling_ae_title,
        called_ae_title: h.called_ae_title,
        sop_class_uid: h.sop_class_uid,
        transfer_syntax_uid: h.transfer_syntax_uid,
    }
}

fn edits(edits: Vec<KeyEdit>) -> Vec<hook::KeyEdit> {
    let path = |path: Vec<crate::PathStep>| {
        path.into_iter()
            .map(|s| super::bindings::switchboard::router::types::PathStep {
                sequence: s.sequence.0,
                item: s.item,
            })
            .collect()
    };
    edits
        .into_iter()
        .map(|e| match e {
            KeyEdit::Set {
                path: p,
                tag,
                vr,
                values,
            } => hook::KeyEdit::Set(hook::SetKey {
                at: hook::KeyPath {
                    path: path(p),
                    tag: tag.0,
                },
                vr,
                values,
            }),
            KeyEdit::Remove { path: p, tag } => hook::KeyEdit::Remove(hook::KeyPath {
                path: path(p),
                tag: tag.0,
            }),
        })
        .collect()
}

/// The `query` export.
pub fn query<P: QueryHook>(h: WitQueryHeader) -> Result<WitQueryDecision, String> {
    let h = header(h);
    let decision = with_plugin::<P, _>(|p| p.query(&Query::new(&h, &HostSource)))?;
    Ok(match decision {
        QueryDecision::Ask(e) => hook::QueryDecision::Ask(edits(e)),
        QueryDecision::Refuse(reason) => hook::QueryDecision::Refuse(reason),
    })
}

/// The `filter-match` export.
pub fn filter_match<P: QueryHook>(h: WitQueryHeader) -> Result<WitMatchDecision, String> {
    let h = header(h);
    let decision = with_plugin::<P, _>(|p| p.filter_match(&Match::new(&h, &HostSource)))?;
    Ok(match decision {
        MatchDecision::Keep(e) => hook::MatchDecision::Keep(edits(e)),
        MatchDecision::Drop => hook::MatchDecision::Drop,
    })
}

/// The `query` export of a plugin without [`QueryHook`]: ask as it is.
///
/// # Errors
/// None; the signature is the export's.
pub fn pass_query<P>(_header: WitQueryHeader) -> Result<WitQueryDecision, String> {
    Ok(hook::QueryDecision::Ask(Vec::new()))
}

/// The `filter-match` export of a plugin without [`QueryHook`]: keep it.
///
/// # Errors
/// None; the signature is the export's.
pub fn pass_match<P>(_header: WitQueryHeader) -> Result<WitMatchDecision, String> {
    Ok(hook::MatchDecision::Keep(Vec::new()))
}
