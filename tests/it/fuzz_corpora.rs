//! The fuzz targets' corpora (`fuzz/corpus/TARGET`) and the inputs of
//! crashes found and fixed (`fuzz/regressions/TARGET`), replayed through
//! the functions the targets run: CI needs no fuzzer to keep them fixed.

use std::path::Path;

/// Runs every file of the target's corpus and regressions through `run`;
/// how many there were.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(folder).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{} fails", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn the_pdu_corpus_reads_without_a_panic() {
    assert!(replay("pdu", switchboard::fuzzing::pdu_stream) >= 100);
}

#[test]
fn the_import_corpus_round_trips() {
    assert!(replay("import", switchboard::fuzzing::import_round_trip) >= 100);
}

#[test]
fn the_fragment_corpus_round_trips() {
    assert!(replay("fragment", switchboard::fuzzing::fragment_round_trip) >= 40);
}

#[test]
fn the_command_corpus_round_trips() {
    assert!(replay("command", switchboard::fuzzing::command_round_trip) >= 100);
}

#[test]
fn the_negotiation_corpus_is_answered_by_the_rules() {
    assert!(replay("negotiation", switchboard::fuzzing::negotiation) >= 100);
}

#[test]
fn the_data_set_corpus_reads_without_a_panic() {
    assert!(replay("data_set", switchboard::fuzzing::data_set) >= 100);
}

#[test]
fn the_production_corpus_loads_without_a_panic() {
    assert!(replay("production", switchboard::fuzzing::production_file) >= 100);
}

#[test]
fn the_admin_corpus_round_trips() {
    assert!(replay("admin", switchboard::fuzzing::admin_request) >= 100);
}
