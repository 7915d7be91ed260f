//! The visual trace of a message: a column per item it passed, a row per
//! event, and a wire from the item that handed the message on to the item
//! the event happened at. Pure layout; the page draws it.

use crate::admin::{AddressView, MessageView};

/// One cell of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Empty,
    /// The message on its way through this column; `left` when the hop
    /// goes right to left.
    Wire(bool),
    /// What happened at this column's item, and its outcome class
    /// (`delivered`, `failed`, `retrying`, `routed` or empty).
    Event(String, &'static str),
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Milliseconds after the message arrived.
    pub offset_ms: u64,
    pub cells: Vec<Cell>,
}

/// The whole trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The items, the source first, then in the order the message reached
    /// them.
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// The outcome class of an event's text.
fn outcome(event: &str) -> &'static str {
    if event.starts_with("delivered") {
        "delivered"
    } else if event.contains("will retry") {
        "retrying"
    } else if event.starts_with("failed") {
        "failed"
    } else if event.starts_with("received") || event.starts_with("routed") {
        "routed"
    } else {
        ""
    }
}

/// Lays out the trace of `m`.
pub fn layout(m: &MessageView) -> Trace {
    let source = &m.header.source;
    let mut items: Vec<&AddressView> = vec![source];
    for item in m
        .events
        .iter()
        .map(|e| &e.item)
        .chain(m.deliveries.iter().map(|d| &d.target))
    {
        if !items.contains(&item) {
            items.push(item);
        }
    }
    let column = |item: &AddressView| items.iter().position(|i| *i == item).unwrap_or(0);
    let columns = items
        .iter()
        .map(|i| {
            if i.production == source.production {
                i.item.clone()
            } else {
                format!("{}/{}", i.production, i.item)
            }
        })
        .collect();
    // Who handed the message to an item: the last process that routed it
    // there, else the source.
    let mut handed_by: Vec<usize> = vec![0; items.len()];
    let mut rows = Vec::new();
    for e in &m.events {
        let to = column(&e.item);
        let from = (to != 0).then(|| handed_by[to]);
        let cells = (0..items.len())
            .map(|c| match from {
                _ if c == to => Cell::Event(e.event.clone(), outcome(&e.event)),
                Some(f)
                    if (f < to && (f..to).contains(&c))
                        || (f > to && (to + 1..=f).contains(&c)) =>
                {
                    Cell::Wire(f > to)
                }
                _ => Cell::Empty,
            })
            .collect();
        if let Some(names) = e.event.strip_prefix("routed to ") {
            let names: Vec<&str> = names.split(", ").collect();
            for (c, item) in items.iter().enumerate() {
                if item.production == e.item.production && names.contains(&item.item.as_str()) {
                    handed_by[c] = to;
                }
            }
        }
        rows.push(Row {
            offset_ms: e.at.saturating_sub(m.header.received_at),
            cells,
        });
    }
    Trace { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::views::{DeliveryView, EventView, HeaderView};
    use crate::ids::NamespaceId;
    use crate::message::{DeliveryStatus, MessageId};

    fn at(item: &str) -> AddressView {
        AddressView {
            production: "p".into(),
            item: item.into(),
        }
    }

    fn event(ms: u64, item: &str, text: &str) -> EventView {
        EventView {
            at: 1_000 + ms,
            item: at(item),
            event: text.into(),
        }
    }

    #[test]
    fn hops_go_from_the_item_that_routed_to_the_item_that_delivered() {
        let m = MessageView {
            id: MessageId(7),
            namespace: NamespaceId::default(),
            status: DeliveryStatus::Failed,
            header: HeaderView {
                source: at("IN"),
                received_at: 1_000,
                sop_class_uid: String::new(),
                sop_instance_uid: String::new(),
                transfer_syntax: String::new(),
                calling_ae_title: String::new(),
                called_ae_title: String::new(),
                origin: String::new(),
                size: 0,
                body: String::new(),
            },
            deliveries: vec![DeliveryView {
                target: at("ARCHIVE"),
                status: DeliveryStatus::Failed,
                attempts: 1,
                last_error: None,
                reason: None,
                updated_at: 0,
            }],
            events: vec![
                event(
                    0,
                    "IN",
                    "received from 127.0.0.1 (A → B), queued for ROUTER",
                ),
                event(2, "ROUTER", "routed to ARCHIVE"),
                event(5, "ARCHIVE", "attempt 1 failed, will retry: refused"),
                event(9, "ARCHIVE", "failed: refused"),
            ],
            body_purged: false,
            query: None,
            retrieve: None,
            sub_operations: Vec::new(),
        };
        let t = layout(&m);
        assert_eq!(t.columns, ["IN", "ROUTER", "ARCHIVE"]);
        let e = |text: &str, class| Cell::Event(text.into(), class);
        assert_eq!(
            t.rows[1].cells,
            [
                Cell::Wire(false),
                e("routed to ARCHIVE", "routed"),
                Cell::Empty
            ]
        );
        assert_eq!(
            t.rows[3].cells,
            [
                Cell::Empty,
                Cell::Wire(false),
                e("failed: refused", "failed")
            ]
        );
        assert_eq!(
            t.rows[2].cells[2],
            e("attempt 1 failed, will retry: refused", "retrying")
        );
        assert_eq!(t.rows[3].offset_ms, 9);
        assert!(matches!(t.rows[0].cells[0], Cell::Event(_, "routed")));
        assert_eq!(t.rows[0].cells[1..], [Cell::Empty, Cell::Empty]);
    }
}
