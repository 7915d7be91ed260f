//! The transitions of a message's deliveries, without any store.

use super::record::Requeued;
use super::*;
use crate::ids::NamespaceId;

fn header() -> MessageHeader {
    MessageHeader {
        source: ItemAddress::new("p", "IN"),
        received_at: 1_000,
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        sop_instance_uid: "1.2.3.4".into(),
        transfer_syntax: "1.2.840.10008.1.2.1".into(),
        calling_ae_title: "SCU".into(),
        called_ae_title: "SCP".into(),
        origin: "127.0.0.1:1234".into(),
        size: 4,
        body: String::new(),
        sub_operation: None,
    }
}

fn out() -> ItemAddress {
    ItemAddress::new("p", "OUT")
}

fn received(targets: &[ItemAddress]) -> MessageRecord {
    MessageRecord::received(
        MessageId(7),
        NamespaceId::new("demo").unwrap(),
        header(),
        targets,
        1_000,
    )
}

#[test]
fn a_new_message_is_queued_for_each_target_and_says_so() {
    let r = received(&[out(), ItemAddress::new("p", "COPY")]);
    assert_eq!(r.status(), DeliveryStatus::Queued);
    assert_eq!(r.deliveries.len(), 2);
    assert_eq!(
        r.events[0].event,
        "received from 127.0.0.1:1234 (SCU → SCP), queued for OUT, COPY"
    );
    let none = received(&[]);
    assert_eq!(none.status(), DeliveryStatus::Delivered, "nowhere to go");
    assert!(none.events[0].event.ends_with("queued for no target"));
}

#[test]
fn a_delivery_goes_queued_in_flight_retried_delivered() {
    let mut r = received(&[out()]);
    assert!(r.claim(&out(), 2_000));
    assert_eq!(r.status(), DeliveryStatus::InFlight);
    r.retry_later(&out(), "connection refused", 3_000).unwrap();
    let d = r.delivery(&out()).unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Queued, 1));
    assert_eq!(d.last_error.as_deref(), Some("connection refused"));
    assert!(r.claim(&out(), 4_000));
    r.delivered(&out(), "remote answered B000H", 5_000).unwrap();
    let d = r.delivery(&out()).unwrap();
    assert_eq!(
        (d.status, d.attempts, d.updated_at),
        (DeliveryStatus::Delivered, 2, 5_000)
    );
    assert_eq!(d.reason.as_deref(), Some("remote answered B000H"));
    let events: Vec<&str> = r.events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events[1..],
        [
            "attempt 1 failed, will retry: connection refused",
            "delivered: remote answered B000H"
        ]
    );
    assert!(
        !r.claim(&out(), 6_000),
        "an ended delivery is not claimed again"
    );
}

#[test]
fn a_failed_delivery_can_be_resent_unless_its_body_is_gone() {
    let mut r = received(&[out()]);
    r.claim(&out(), 2_000);
    r.failed(&out(), "remote answered C000H", 3_000).unwrap();
    assert_eq!(r.status(), DeliveryStatus::Failed);
    assert_eq!(r.resendable(false).unwrap(), vec![out()]);
    r.resent(&out(), 4_000);
    let d = r.delivery(&out()).unwrap();
    assert_eq!(
        (d.status, d.attempts, &d.reason),
        (DeliveryStatus::Queued, 0, &None)
    );
    assert!(
        r.resendable(false).unwrap().is_empty(),
        "nothing failed any more"
    );
    r.claim(&out(), 5_000);
    r.delivered(&out(), "", 6_000).unwrap();
    assert!(r.resendable(false).unwrap().is_empty());
    assert_eq!(
        r.resendable(true).unwrap(),
        vec![out()],
        "asked by id: sent again"
    );
    r.body_purged = true;
    assert!(matches!(
        r.resendable(true),
        Err(MessageError::BodyPurged(MessageId(7)))
    ));
}

#[test]
fn requeue_puts_back_only_what_is_in_flight() {
    let mut r = received(&[out()]);
    assert_eq!(r.requeue(&out(), 2_000), Requeued::Unchanged);
    r.claim(&out(), 2_000);
    assert_eq!(r.requeue(&out(), 3_000), Requeued::Queued);
    assert_eq!(r.status(), DeliveryStatus::Queued);
    assert_eq!(
        r.delivery(&out()).unwrap().attempts,
        0,
        "no attempt counted"
    );
    r.claim(&out(), 4_000);
    r.delivered(&out(), "", 5_000).unwrap();
    assert_eq!(r.requeue(&out(), 6_000), Requeued::Ended);
    assert_eq!(
        r.requeue(&ItemAddress::new("p", "GONE"), 6_000),
        Requeued::Unchanged
    );
}

#[test]
fn routing_ends_the_process_delivery_and_queues_the_targets() {
    let route = ItemAddress::new("p", "ROUTE");
    let mut r = received(std::slice::from_ref(&route));
    r.claim(&route, 2_000);
    r.routed(&route, &[out()], "", 3_000);
    assert_eq!(
        r.delivery(&route).unwrap().status,
        DeliveryStatus::Delivered
    );
    assert_eq!(r.delivery(&out()).unwrap().status, DeliveryStatus::Queued);
    assert_eq!(r.events.last().unwrap().event, "routed to OUT");

    let mut dropped = received(std::slice::from_ref(&route));
    dropped.routed(&route, &[], "SR is not archived", 3_000);
    assert_eq!(dropped.status(), DeliveryStatus::Delivered);
    assert_eq!(
        dropped.events.last().unwrap().event,
        "dropped: SR is not archived"
    );
}

#[test]
fn a_change_for_a_target_without_delivery_is_an_error_and_changes_nothing() {
    let mut r = received(&[out()]);
    let before = r.clone();
    let stranger = ItemAddress::new("p", "STRANGER");
    assert!(matches!(
        r.delivered(&stranger, "", 2_000),
        Err(MessageError::NoDelivery { .. })
    ));
    assert!(r.failed(&stranger, "x", 2_000).is_err());
    assert!(r.retry_later(&stranger, "x", 2_000).is_err());
    assert_eq!(r, before);
}

#[test]
fn filters_match_production_status_and_time() {
    let mut r = received(&[out()]);
    r.claim(&out(), 2_000);
    r.failed(&out(), "x", 3_000).unwrap();
    let f = |production: Option<&str>, status, since| MessageFilter {
        production: production.map(str::to_string),
        status,
        since,
        ..MessageFilter::default()
    };
    assert!(f(Some("p"), Some(DeliveryStatus::Failed), Some(1_000)).matches(&r));
    assert!(!f(Some("other"), None, None).matches(&r));
    assert!(!f(None, Some(DeliveryStatus::Delivered), None).matches(&r));
    assert!(!f(None, None, Some(1_001)).matches(&r));
    assert_eq!("in-flight".parse(), Ok(DeliveryStatus::InFlight));
    assert!("lost".parse::<DeliveryStatus>().is_err());
}

#[test]
fn a_delivery_retried_for_days_keeps_a_small_record() {
    let copy = ItemAddress::new("p", "COPY");
    let mut r = received(&[out(), copy.clone()]);
    for n in 0..1_000u64 {
        for target in [out(), copy.clone()] {
            assert!(r.claim(&target, n));
            r.retry_later(&target, &format!("connection refused ({n})"), n)
                .unwrap();
        }
    }
    let events: Vec<&str> = r
        .events
        .iter()
        .filter(|e| e.item == out())
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(
        events,
        [
            "attempt 1 failed, will retry: connection refused (0)",
            "attempts 2–1000 failed, will retry; the last: connection refused (999)"
        ]
    );
    assert_eq!(r.events.len(), 5, "received, and two lines per target");
    assert_eq!(r.delivery(&copy).unwrap().attempts, 1_000);
    r.claim(&out(), 2_000);
    r.delivered(&out(), "", 2_000).unwrap();
    assert_eq!(r.events.last().unwrap().event, "delivered");
}

#[test]
fn a_delivered_delivery_is_never_marked_failed_afterwards() {
    let mut r = received(&[out()]);
    assert!(r.claim(&out(), 2_000));
    r.delivered(&out(), "", 3_000).unwrap();
    r.failed(
        &out(),
        "not acknowledged to the sender: commit failed",
        4_000,
    )
    .unwrap();
    let d = r.delivery(&out()).unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Delivered, 1));
    assert_eq!(r.status(), DeliveryStatus::Delivered);
}

fn query(upstreams: &[UpstreamOutcome]) -> MessageRecord {
    let trace = QueryTrace {
        level: "STUDY".into(),
        keys: vec![QueryKey {
            keyword: "PatientName".into(),
            value: "DOE^J*".into(),
        }],
        matches: 3,
        status: 0xC001,
        error_comment: Some("upstream 2: connection refused".into()),
        first_match_ms: Some(5),
        duration_ms: 40,
    };
    MessageRecord::query(
        MessageId(8),
        NamespaceId::new("demo").unwrap(),
        header(),
        trace,
        upstreams,
    )
}

#[test]
fn a_query_is_a_message_without_a_body_with_one_delivery_per_upstream() {
    let pacs = |item: &str, status, comment: Option<&str>| UpstreamOutcome {
        target: ItemAddress::new("p", item),
        matches: 3,
        status,
        error_comment: comment.map(Into::into),
        duration_ms: 30,
    };
    let r = query(&[
        pacs("PACS-A", Some(0x0000), None),
        pacs("PACS-B", Some(0xC001), Some("connection refused")),
        pacs("PACS-C", None, None),
    ]);
    let statuses: Vec<_> = r.deliveries.iter().map(|d| d.status).collect();
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Failed
        ]
    );
    assert_eq!(r.status(), DeliveryStatus::Failed);
    assert_eq!(
        r.deliveries[1].reason.as_deref(),
        Some("connection refused")
    );
    assert!(
        r.events[0].event.contains("STUDY level, 1 key"),
        "{:?}",
        r.events
    );
    assert!(
        r.events[2]
            .event
            .contains("failed with C001H after 30 ms: connection refused")
    );
    assert!(
        r.events[4]
            .event
            .starts_with("answered: 3 matches, final status C001H after 40 ms")
    );
    assert!(!r.has_body());
    assert!(matches!(
        r.resendable(true),
        Err(MessageError::Query(MessageId(8)))
    ));
    let mut r = query(&[pacs("PACS-A", Some(0x0000), None)]);
    assert_eq!(r.status(), DeliveryStatus::Delivered);
    assert!(!r.purge(), "retention has no body to remove");
}
