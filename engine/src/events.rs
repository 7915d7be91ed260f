//! The event log: the engine's recent log events (starts, stops, reloads,
//! rejected files and associations, delivery failures, plugin faults), kept
//! in a ring in memory for the admin API and the portal. A `tracing` layer
//! records every event at INFO and above with its fields; the oldest go
//! when the ring is full. Nothing is written to disk here (the log on
//! stderr stays the record).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Events kept.
pub const CAPACITY: usize = 2_000;

static RING: Mutex<VecDeque<Event>> = Mutex::new(VecDeque::new());

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// `ERROR`, `WARN` or `INFO`.
    pub level: String,
    pub message: String,
    /// The namespace and item the event is about, when it says.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub item: String,
    /// Its other fields, `name=value` separated by spaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fields: String,
}

/// Which events a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFilter {
    /// This level and the more severe ones (`error`, `warn`, `info`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Events about this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// At most this many, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

fn severity(level: &str) -> u8 {
    match level.to_ascii_uppercase().as_str() {
        "ERROR" => 3,
        "WARN" => 2,
        _ => 1,
    }
}

impl EventFilter {
    /// Whether an event passes.
    pub fn matches(&self, e: &Event) -> bool {
        self.level
            .as_deref()
            .is_none_or(|l| severity(&e.level) >= severity(l))
            && self.item.as_deref().is_none_or(|i| e.item == i)
    }
}

/// The recorded events that pass `filter`, newest first.
pub fn recent(filter: &EventFilter) -> Vec<Event> {
    let ring = RING.lock().unwrap_or_else(PoisonError::into_inner);
    ring.iter()
        .rev()
        .filter(|e| filter.matches(e))
        .take(filter.limit.unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

fn record(event: Event) {
    let mut ring = RING.lock().unwrap_or_else(PoisonError::into_inner);
    if ring.len() >= CAPACITY {
        ring.pop_front();
    }
    ring.push_back(event);
}

/// The layer that records events at INFO and above.
pub fn layer<S: Subscriber>() -> impl Layer<S> {
    Recorder
}

struct Recorder;

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _cx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::INFO {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        record(Event {
            at: crate::message::now_ms(),
            level: level.to_string(),
            message: fields.message,
            namespace: fields.namespace,
            item: fields.item,
            fields: fields.rest,
        });
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    namespace: String,
    item: String,
    rest: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        self.record_str(field, &text);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "namespace" => self.namespace = value.to_string(),
            "item" => self.item = value.to_string(),
            name => self.other(name, value),
        }
    }
}

impl Fields {
    fn other(&mut self, name: &str, value: &str) {
        if !self.rest.is_empty() {
            self.rest.push(' ');
        }
        self.rest.push_str(name);
        self.rest.push('=');
        self.rest.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn events_at_info_and_above_are_kept_with_their_item() {
        let subscriber = tracing_subscriber::registry().with(layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(namespace = "n", item = "OUT", "Delivery test started.");
            tracing::warn!(
                item = "OUT",
                message_id = 7,
                error = "refused",
                "Delivery test failed."
            );
            tracing::debug!(item = "OUT", "Delivery test detail.");
        });
        let ours = |f: EventFilter| -> Vec<Event> {
            recent(&f)
                .into_iter()
                .filter(|e| e.message.starts_with("Delivery test"))
                .collect()
        };
        let all = ours(EventFilter::default());
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].message, "Delivery test failed.");
        assert_eq!(
            (all[0].level.as_str(), all[0].item.as_str()),
            ("WARN", "OUT")
        );
        assert_eq!(all[0].fields, "message_id=7 error=refused");
        assert_eq!(all[1].namespace, "n");
        let warnings = ours(EventFilter {
            level: Some("warn".into()),
            ..EventFilter::default()
        });
        assert_eq!(warnings.len(), 1);
        let other = ours(EventFilter {
            item: Some("IN".into()),
            ..EventFilter::default()
        });
        assert!(other.is_empty());
    }
}
