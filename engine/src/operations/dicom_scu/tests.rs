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
