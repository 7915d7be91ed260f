use std::time::Duration;

use super::config::RetryPolicy;
use crate::component::HumanDuration;

#[test]
fn back_off_grows_to_the_maximum_and_counts_attempts() {
    let p = RetryPolicy {
        initial_delay: HumanDuration::from_millis(500),
        factor: 2.0,
        max_delay: HumanDuration::from_secs(3),
        max_attempts: Some(4),
    };
    let delays: Vec<Duration> = (1..=5).map(|a| p.delay_after(a)).collect();
    assert_eq!(
        delays,
        [500, 1000, 2000, 3000, 3000].map(Duration::from_millis)
    );
    assert!(p.allows_another(3));
    assert!(!p.allows_another(4));
    let forever = RetryPolicy::default();
    assert!(forever.allows_another(u32::MAX - 1));
    assert_eq!(forever.delay_after(1000), Duration::from_secs(300));
}

/// A lane forgets a body's cached pages only when every other target's
/// delivery had ended (delivered or failed) when the message was taken.
#[test]
fn a_body_is_forgotten_only_by_the_last_delivery_to_end() {
    use crate::message::{DeliveryStatus, ItemAddress, MessageId, MessageRecord};
    let (me, other) = (ItemAddress::new("p", "OUT"), ItemAddress::new("p", "COPY"));
    let mut record = MessageRecord::received(
        MessageId(1),
        crate::ids::NamespaceId::new("demo").unwrap(),
        crate::store::test_header(1),
        &[me.clone(), other.clone()],
        1_000,
    );
    let ended = |record: &MessageRecord| super::operation::ended_elsewhere(record, &me);
    for (status, expected) in [
        (DeliveryStatus::Queued, false),
        (DeliveryStatus::InFlight, false),
        (DeliveryStatus::Delivered, true),
        (DeliveryStatus::Failed, true),
    ] {
        record.deliveries[1].status = status;
        assert_eq!(ended(&record), expected, "{status:?}");
    }
    record.deliveries.truncate(1);
    assert!(ended(&record), "the only target");
}
