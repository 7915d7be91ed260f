use std::path::Path;

use tokio_util::sync::CancellationToken;

use std::time::Duration;

use tokio::time::Instant;

use crate::component::Listeners;
use crate::config::raw::parse;
use crate::config::{ItemKind, compile};
use crate::ids::NamespaceId;
use crate::runtime::controller::{Controller, ReloadOutcome};
use crate::runtime::health::{FIRST_BACKOFF, HEALTHY_AFTER, Health, MAX_BACKOFF, backoff};
use crate::runtime::topology::{Shared, Wakers};
use crate::services::crash_test::starts;
use crate::store::{Bodies, GroupCommit, Store};

#[test]
fn the_pause_doubles_up_to_a_minute_and_a_healthy_run_resets_it() {
    assert_eq!(backoff(1), FIRST_BACKOFF);
    assert_eq!(backoff(2), FIRST_BACKOFF * 2);
    assert_eq!(backoff(3), FIRST_BACKOFF * 4);
    assert_eq!(backoff(7), MAX_BACKOFF);
    assert_eq!(backoff(u32::MAX), MAX_BACKOFF);

    let t0 = Instant::now();
    let mut h = Health::new(t0);
    assert_eq!(h.failed("a".into(), t0), FIRST_BACKOFF);
    h.restarted(t0 + FIRST_BACKOFF);
    assert_eq!(h.failed("b".into(), t0 + FIRST_BACKOFF), FIRST_BACKOFF * 2);
    let later = t0 + Duration::from_secs(600);
    h.restarted(later);
    assert_eq!(
        h.failed("c".into(), later + HEALTHY_AFTER),
        FIRST_BACKOFF,
        "it ran a minute: a fresh start"
    );
    assert_eq!((h.failures, h.last_failure.as_deref()), (3, Some("c")));
}

/// Lets spawned tasks run (time is paused: nothing else moves it).
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

fn health(controller: &Controller) -> Health {
    let r = controller.running().next().unwrap();
    r.items.values().next().unwrap().health.clone()
}

#[tokio::test(start_paused = true)]
async fn an_item_that_dies_is_started_again_after_a_pause_and_says_why() {
    let dir = crate::store::private_tempdir();
    let store = Store::open(dir.path()).unwrap();
    let bodies = Bodies::open(dir.path()).unwrap();
    let shared = Shared {
        commit: GroupCommit::spawn(store.clone(), bodies.clone()),
        store,
        bodies,
        wakers: Wakers::default(),
        grace: Duration::from_secs(1),
        listeners: Listeners::default(),
        retrieves: crate::component::retrieves::Retrieves::default(),
        cut_throughs: crate::component::cut_through::CutThroughs::default(),
    };
    let mut controller = Controller::new(shared, CancellationToken::new());
    let key = "an-item-that-dies";
    let text = format!(
        "version = 1\n[services.FLAKY]\ntype = \"crash-test\"\npanics = 2\nkey = \"{key}\"\n"
    );
    let raw = parse(
        Path::new("productions/demo/flaky.toml"),
        NamespaceId::new("demo").unwrap(),
        "flaky",
        &text,
    )
    .unwrap();
    let production = compile(raw).unwrap();
    assert_eq!(
        production.item(&"FLAKY".parse().unwrap()).map(|i| i.role()),
        Some(ItemKind::Service)
    );
    assert!(matches!(
        controller.apply(vec![production]).await,
        ReloadOutcome::Applied
    ));

    // The first start panics: seen, and a restart is due in a second.
    settle().await;
    assert!(controller.restart_ended().await);
    let h = health(&controller);
    assert_eq!(h.failures, 1);
    assert_eq!(
        h.last_failure.as_deref(),
        Some("panicked: asked to panic (start 1 of 2)")
    );
    assert!(
        !controller.restart_ended().await,
        "nothing before the pause ends"
    );
    assert_eq!(starts(key), 1);

    // Started again; it panics again; the pause doubles.
    tokio::time::advance(FIRST_BACKOFF).await;
    assert!(controller.restart_ended().await);
    assert_eq!(starts(key), 2);
    settle().await;
    assert!(controller.restart_ended().await);
    let h = health(&controller);
    assert_eq!(h.failures, 2);
    tokio::time::advance(FIRST_BACKOFF).await;
    assert!(
        !controller.restart_ended().await,
        "the second pause is two seconds"
    );
    tokio::time::advance(FIRST_BACKOFF).await;
    assert!(controller.restart_ended().await);
    settle().await;

    // The third start runs, and keeps running.
    assert_eq!(starts(key), 3);
    assert!(!controller.restart_ended().await);
    let h = health(&controller);
    assert_eq!((h.failures, h.restart_at), (2, None));
    let r = controller.running().next().unwrap();
    assert!(!r.items.values().next().unwrap().running.task.is_finished());
    controller.shutdown(Duration::from_secs(1)).await;
}
