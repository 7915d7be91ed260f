//! A native mock host: unit-test a plugin's logic with `cargo test`, no wasm.
//!
//! ```
//! use switchboard_sdk::testing::MockMessage;
//! use switchboard_sdk::{tags, PathStep};
//!
//! let item = MockMessage::new().with(tags::CODE_VALUE, "SH", ["T-D0050"]);
//! let message = MockMessage::new()
//!     .with(tags::MODALITY, "CS", ["CT"])
//!     .with_sequence(tags::PROCEDURE_CODE_SEQUENCE, vec![item]);
//! let path = [PathStep { sequence: tags::PROCEDURE_CODE_SEQUENCE, item: 0 }];
//! let m = message.message();
//! assert_eq!(m.attribute_in(&path, tags::CODE_VALUE).unwrap().first(), Some("T-D0050"));
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::{
    AttributeSource, AttributeValue, Decision, Level, Match, MatchDecision, Message, MessageHeader,
    PathStep, Plugin, Query, QueryDecision, QueryHeader, QueryHook, Result, Tag,
};

/// A message for tests: a header plus a map of attributes (with sequence items).
#[derive(Debug, Clone, Default)]
pub struct MockMessage {
    /// The header the plugin sees. `targets` is checked by [`MockMessage::route`].
    pub header: MessageHeader,
    attributes: BTreeMap<Tag, AttributeValue>,
    sequences: BTreeMap<Tag, Vec<MockMessage>>,
}

impl MockMessage {
    /// An empty message with a plausible header (CT Image Storage from `MODALITY` to `ROUTER`).
    #[must_use]
    pub fn new() -> Self {
        MockMessage {
            header: MessageHeader {
                message_id: "test-message".to_string(),
                source: "TEST-SERVICE".to_string(),
                calling_ae_title: "MODALITY".to_string(),
                called_ae_title: "ROUTER".to_string(),
                sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".to_string(),
                sop_instance_uid: "1.2.3.4.5".to_string(),
                transfer_syntax_uid: "1.2.840.10008.1.2.1".to_string(),
                targets: Vec::new(),
            },
            ..MockMessage::default()
        }
    }

    /// Adds (or replaces) an attribute.
    #[must_use]
    pub fn with<I, S>(mut self, tag: Tag, vr: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.attributes.insert(tag, AttributeValue::new(vr, values));
        self
    }

    /// Adds a sequence with these items.
    #[must_use]
    pub fn with_sequence(mut self, tag: Tag, items: Vec<MockMessage>) -> Self {
        let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
        self.attributes.insert(tag, AttributeValue::sequence(count));
        self.sequences.insert(tag, items);
        self
    }

    /// Changes the header.
    #[must_use]
    pub fn header(mut self, edit: impl FnOnce(&mut MessageHeader)) -> Self {
        edit(&mut self.header);
        self
    }

    /// Sets the targets the process may forward to.
    #[must_use]
    pub fn targets<I, S>(mut self, targets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.header.targets = targets.into_iter().map(Into::into).collect();
        self
    }

    /// The message as the plugin sees it.
    #[must_use]
    pub fn message(&self) -> Message<'_> {
        Message::new(&self.header, self)
    }

    /// Runs `plugin.route` on this message. Like the engine, it refuses a
    /// decision naming a target outside `header.targets` (when that list is not empty).
    ///
    /// # Errors
    /// The plugin's error, or the engine's refusal of an unknown target.
    pub fn route<P: Plugin>(&self, plugin: &P) -> Result<Decision> {
        let decision = plugin.route(&self.message())?;
        let known = &self.header.targets;
        if let Some(bad) = decision
            .targets()
            .iter()
            .find(|t| !known.is_empty() && !known.contains(t))
        {
            return Err(crate::Error::new(format!(
                "invalid decision: unknown target \"{bad}\" (this process's targets: {})",
                known.join(", ")
            )));
        }
        Ok(decision)
    }
}

impl MockMessage {
    /// The header a query hook sees: the message header's id, source, AE
    /// titles, SOP class and transfer syntax.
    #[must_use]
    pub fn query_header(&self) -> QueryHeader {
        let h = &self.header;
        QueryHeader {
            query_id: h.message_id.clone(),
            source: h.source.clone(),
            calling_ae_title: h.calling_ae_title.clone(),
            called_ae_title: h.called_ae_title.clone(),
            sop_class_uid: h.sop_class_uid.clone(),
            transfer_syntax_uid: h.transfer_syntax_uid.clone(),
        }
    }

    /// Runs `plugin.query` with this as the query's identifier.
    ///
    /// # Errors
    /// The plugin's error.
    pub fn query<P: QueryHook>(&self, plugin: &P) -> Result<QueryDecision> {
        plugin.query(&Query::new(&self.query_header(), self))
    }

    /// Runs `plugin.filter_match` with this as the match.
    ///
    /// # Errors
    /// The plugin's error.
    pub fn filter_match<P: QueryHook>(&self, plugin: &P) -> Result<MatchDecision> {
        plugin.filter_match(&Match::new(&self.query_header(), self))
    }
}

impl AttributeSource for MockMessage {
    fn attribute(&self, path: &[PathStep], tag: Tag) -> Option<AttributeValue> {
        match path.split_first() {
            None => self.attributes.get(&tag).cloned(),
            Some((step, rest)) => {
                let item = self
                    .sequences
                    .get(&step.sequence)?
                    .get(usize::try_from(step.item).ok()?)?;
                item.attribute(rest, tag)
            }
        }
    }
}

/// Builds a plugin from a configuration, as the engine's `init` would.
///
/// # Errors
/// The plugin's configuration error.
pub fn init<P: Plugin>(config: &str) -> Result<P> {
    P::init(config)
}

thread_local! {
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub(crate) fn record_log(level: Level, text: &str) {
    LOGS.with(|l| l.borrow_mut().push((level, text.to_string())));
}

/// Takes the lines logged with [`crate::log`] on this thread so far.
#[must_use]
pub fn take_logs() -> Vec<(Level, String)> {
    LOGS.with(|l| std::mem::take(&mut *l.borrow_mut()))
}
