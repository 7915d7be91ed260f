//! Queries (C-FIND) as a plugin sees them, since contract 1.1.0: a plugin
//! that implements [`QueryHook`] and is exported with
//! [`crate::export_query_plugin!`] is asked about every query passing
//! through its process before it goes upstream, and about every match
//! before it goes back to the requester.

use std::fmt;

use crate::{AttributeSource, Attributes, PathStep, Plugin, Result, Tag};

/// What the engine knows about a query before the plugin looks at its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryHeader {
    /// The query's unique id (its message id in the trace).
    pub query_id: String,
    /// The service that took the query.
    pub source: String,
    /// AE title of the peer that asks.
    pub calling_ae_title: String,
    /// AE title the peer called.
    pub called_ae_title: String,
    /// The information model: Modality Worklist, Patient or Study Root FIND.
    pub sop_class_uid: String,
    /// Transfer syntax of the identifier and the matches.
    pub transfer_syntax_uid: String,
}

/// A query: its header and its identifier (the keys), read lazily through
/// the [`Attributes`] methods.
pub struct Query<'a> {
    header: &'a QueryHeader,
    keys: Attributes<'a>,
}

/// One match an upstream gave: the query's header and the match, read
/// lazily through the [`Attributes`] methods.
pub struct Match<'a> {
    header: &'a QueryHeader,
    found: Attributes<'a>,
}

macro_rules! query_view {
    ($name:ident, $field:ident) => {
        impl<'a> $name<'a> {
            /// Over a header and an attribute source (used by the glue and [`crate::testing`]).
            #[must_use]
            pub fn new(header: &'a QueryHeader, source: &'a dyn AttributeSource) -> Self {
                $name {
                    header,
                    $field: Attributes::new(source),
                }
            }

            /// The query's header.
            #[must_use]
            pub fn header(&self) -> &QueryHeader {
                self.header
            }
        }

        impl<'a> std::ops::Deref for $name<'a> {
            type Target = Attributes<'a>;
            fn deref(&self) -> &Attributes<'a> {
                &self.$field
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("header", self.header)
                    .finish_non_exhaustive()
            }
        }
    };
}

query_view!(Query, keys);
query_view!(Match, found);

/// A change to a query's identifier or to a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEdit {
    /// Set (or replace) an attribute: at the top level (empty `path`) or
    /// inside sequence items, which are created when missing.
    Set {
        /// Sequence steps to the item holding the attribute.
        path: Vec<PathStep>,
        /// The attribute.
        tag: Tag,
        /// Its VR, two upper-case letters (not SQ or a binary VR).
        vr: String,
        /// One string per value; none for an empty (universal) key.
        values: Vec<String>,
    },
    /// Remove an attribute (nothing happens if it is absent).
    Remove {
        /// Sequence steps to the item holding the attribute.
        path: Vec<PathStep>,
        /// The attribute.
        tag: Tag,
    },
}

fn set<I, S>(path: &[PathStep], tag: Tag, vr: &str, values: I) -> KeyEdit
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    KeyEdit::Set {
        path: path.to_vec(),
        tag,
        vr: vr.to_string(),
        values: values.into_iter().map(Into::into).collect(),
    }
}

/// What to do with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryDecision {
    /// Ask the upstreams, with these edits applied to the identifier first.
    Ask(Vec<KeyEdit>),
    /// Do not ask: the requester gets no match and C001H (unable to
    /// process) with this text as Error Comment.
    Refuse(String),
}

impl QueryDecision {
    /// Ask as it is.
    #[must_use]
    pub fn ask() -> Self {
        QueryDecision::Ask(Vec::new())
    }

    /// Refuse with a reason.
    pub fn refuse(reason: impl Into<String>) -> Self {
        QueryDecision::Refuse(reason.into())
    }

    /// Adds an edit that sets the top-level key `tag` (no effect on a refusal).
    #[must_use]
    pub fn set<I, S>(self, tag: Tag, vr: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.edit(set(&[], tag, vr, values))
    }

    /// Adds an edit that sets `tag` inside sequence items (no effect on a refusal).
    #[must_use]
    pub fn set_in<I, S>(self, path: &[PathStep], tag: Tag, vr: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.edit(set(path, tag, vr, values))
    }

    /// Adds an edit (no effect on a refusal).
    #[must_use]
    pub fn edit(mut self, edit: KeyEdit) -> Self {
        if let QueryDecision::Ask(edits) = &mut self {
            edits.push(edit);
        }
        self
    }
}

/// What to do with one match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchDecision {
    /// Send it to the requester, with these edits applied.
    Keep(Vec<KeyEdit>),
    /// Leave it out.
    Drop,
}

impl MatchDecision {
    /// Keep it as it is.
    #[must_use]
    pub fn keep() -> Self {
        MatchDecision::Keep(Vec::new())
    }

    /// Leave it out.
    #[must_use]
    pub fn drop() -> Self {
        MatchDecision::Drop
    }

    /// Adds an edit that sets the top-level attribute `tag` (no effect on a drop).
    #[must_use]
    pub fn set<I, S>(self, tag: Tag, vr: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.edit(set(&[], tag, vr, values))
    }

    /// Adds an edit (no effect on a drop).
    #[must_use]
    pub fn edit(mut self, edit: KeyEdit) -> Self {
        if let MatchDecision::Keep(edits) = &mut self {
            edits.push(edit);
        }
        self
    }
}

/// A plugin that also sees the queries passing through its process. Both
/// hooks have defaults that change nothing; export the plugin with
/// [`crate::export_query_plugin!`].
pub trait QueryHook: Plugin {
    /// Decides what happens to a query before it goes upstream.
    ///
    /// # Errors
    /// Fails this query only (C001H, the text as Error Comment).
    fn query(&self, _query: &Query<'_>) -> Result<QueryDecision> {
        Ok(QueryDecision::ask())
    }

    /// Decides what happens to one match before it goes to the requester.
    ///
    /// # Errors
    /// Fails the query (C001H) after the matches already sent.
    fn filter_match(&self, _found: &Match<'_>) -> Result<MatchDecision> {
        Ok(MatchDecision::keep())
    }
}

/// Exports a [`Plugin`] that also implements [`QueryHook`]: the component
/// targets the world `query-router` (contract 1.1.0 and later). Use it
/// instead of [`crate::export_plugin!`], once, at the top level of the
/// plugin crate. On native targets it expands to nothing.
#[macro_export]
macro_rules! export_query_plugin {
    ($plugin:ty) => {
        $crate::__export!($plugin, query, filter_match);
    };
}
