use std::time::Duration;

use super::call::validate;
use super::engine::ticks_for;
use super::{Decision, Forward, MessageHeader, cache};

fn header(targets: &[&str]) -> MessageHeader {
    MessageHeader {
        message_id: "m".into(),
        source: "S".into(),
        calling_ae_title: "A".into(),
        called_ae_title: "B".into(),
        sop_class_uid: String::new(),
        sop_instance_uid: String::new(),
        transfer_syntax_uid: String::new(),
        targets: targets.iter().map(|t| (*t).to_string()).collect(),
    }
}

fn forward(targets: &[&str]) -> Decision {
    Decision::Forward(Forward {
        targets: targets.iter().map(|t| (*t).to_string()).collect(),
        edits: Vec::new(),
    })
}

#[test]
fn decisions_naming_known_targets_pass_with_duplicates_removed() {
    let h = header(&["A", "B"]);
    assert_eq!(
        validate(forward(&["B", "A", "B"]), &h).unwrap(),
        forward(&["B", "A"])
    );
    assert_eq!(validate(forward(&[]), &h).unwrap(), forward(&[]));
    let drop = Decision::Drop("because".into());
    assert_eq!(validate(drop.clone(), &h).unwrap(), drop);
}

#[test]
fn unknown_targets_are_refused_naming_the_known_ones() {
    let err = validate(forward(&["A", "C"]), &header(&["A", "B"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid decision: unknown target \"C\" (this process's targets: A, B)"
    );
    let err = validate(forward(&["A"]), &header(&[])).unwrap_err();
    assert!(
        err.to_string().ends_with("(this process's targets: none)"),
        "{err}"
    );
}

#[test]
fn deadlines_round_to_at_least_one_tick() {
    assert_eq!(ticks_for(Duration::from_millis(10)), 10);
    assert_eq!(ticks_for(Duration::from_micros(10)), 1);
    assert_eq!(ticks_for(Duration::ZERO), 1);
}

#[test]
fn content_hashes_are_hex_sha256() {
    assert_eq!(
        cache::content_hash(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn thread_cpu_time_advances_with_work() {
    let start = super::engine::thread_cpu_time();
    let t = std::time::Instant::now();
    let mut x = 0u64;
    while t.elapsed() < Duration::from_millis(30) {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    let used = super::engine::thread_cpu_time().saturating_sub(start);
    assert!(used >= Duration::from_millis(5), "{used:?}");
}

#[test]
fn a_call_budget_runs_out_with_cpu_time_not_before() {
    use super::host::CallBudget;
    let spent = CallBudget::start(Duration::ZERO);
    assert_eq!(spent.remaining(), None);
    let fresh = CallBudget::start(Duration::from_secs(60));
    let left = fresh.remaining().unwrap();
    assert!(
        left <= Duration::from_secs(60) && left > Duration::from_secs(59),
        "{left:?}"
    );
}
