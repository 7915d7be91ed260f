//! The plugin host with real components built from plugins/: a plugin that
//! loops, traps, panics, allocates without bound, errs or names an unknown
//! target fails only its own message while the others are routed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use integration_tests::instances::{Instance, Modality};
use integration_tests::plugins::plugin;
use switchboard::plugin::cache::ComponentCache;
use switchboard::plugin::{
    AttributeEdit, AttributeSource, AttributeValue, CallError, CallOptions, Decision, Forward,
    KeyEdit, KeyPath, MatchDecision, MessageHeader, PathStep, Plugin, PluginEngine, PluginError,
    QueryDecision, QueryHeader, SetAttribute, SetKey,
};
use switchboard::processes::wasm_router::{
    DicomSource, RouteRequest, WasmRouter, WasmRouterConfig,
};

const GOOD_MESSAGES: usize = 1_000;

fn cache() -> ComponentCache {
    ComponentCache::new(PluginEngine::shared().expect("plugin engine"), None)
}

fn load(name: &str, config: &str, options: CallOptions) -> Result<Plugin, PluginError> {
    Plugin::load_file(&cache(), &plugin(name), config, options)
}

fn header(id: usize) -> MessageHeader {
    MessageHeader {
        message_id: format!("m{id}"),
        source: "SCP".into(),
        calling_ae_title: "MODALITY".into(),
        called_ae_title: "ROUTER".into(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        sop_instance_uid: format!("1.2.3.{id}"),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
        targets: vec!["ARCHIVE".into(), "BACKUP".into()],
    }
}

fn patient(id: &str) -> Arc<dyn AttributeSource> {
    let mut map = BTreeMap::new();
    map.insert(
        0x0010_0020,
        AttributeValue {
            vr: "LO".into(),
            values: vec![id.into()],
            items: 0,
        },
    );
    Arc::new(map)
}

/// Routes GOOD_MESSAGES good messages with one `bad` one in the middle and
/// returns the bad one's error, asserting every other message was routed.
fn one_bad_among_many(plugin: &Plugin, bad: &str) -> CallError {
    let mut failures = Vec::new();
    for i in 0..=GOOD_MESSAGES {
        let id = if i == GOOD_MESSAGES / 2 { bad } else { "ok" };
        match plugin.route(&header(i), patient(id)) {
            Ok(Decision::Forward(Forward { targets, edits })) => {
                assert_eq!(targets, ["ARCHIVE", "BACKUP"], "message {i}");
                assert!(edits.is_empty());
            }
            Ok(other) => panic!("message {i}: unexpected decision {other:?}"),
            Err(e) => failures.push((i, e)),
        }
    }
    assert_eq!(
        failures.len(),
        1,
        "{bad}: only the bad message fails: {failures:?}"
    );
    let (index, error) = failures.remove(0);
    assert_eq!(
        index,
        GOOD_MESSAGES / 2,
        "{bad}: the failure is the bad message"
    );
    error
}

#[test]
fn an_endless_loop_is_stopped_at_its_deadline_and_fails_alone() {
    let plugin = load("test-misbehave", "{}", CallOptions::default()).unwrap();
    let error = one_bad_among_many(&plugin, "loop");
    assert_eq!(error, CallError::Timeout { deadline_ms: 10 });
    assert!(error.to_string().contains("deadline of 10 ms"), "{error}");
}

#[test]
fn a_trap_fails_alone() {
    let plugin = load("test-misbehave", "{}", CallOptions::default()).unwrap();
    let error = one_bad_among_many(&plugin, "trap");
    assert!(
        matches!(&error, CallError::Trap { reason, .. } if reason.contains("unreachable")),
        "{error}"
    );
}

#[test]
fn a_panic_fails_alone_with_its_message() {
    let plugin = load("test-misbehave", "{}", CallOptions::default()).unwrap();
    let error = one_bad_among_many(&plugin, "panic");
    assert!(error.to_string().contains("asked to panic"), "{error}");
}

#[test]
fn unbounded_allocation_hits_the_memory_cap_and_fails_alone() {
    // A deadline the allocation cannot reach: on a busy machine, growing
    // 16 MiB can take longer than the default 10 ms of CPU time, and then
    // the deadline, not the cap, would stop it.
    let options = CallOptions {
        deadline: std::time::Duration::from_secs(5),
        ..CallOptions::default()
    };
    let plugin = load("test-misbehave", "{}", options).unwrap();
    let error = one_bad_among_many(&plugin, "oom");
    assert_eq!(
        error,
        CallError::OutOfMemory {
            limit_bytes: 16 << 20
        }
    );
}

#[test]
fn an_unknown_target_is_an_invalid_decision_and_fails_alone() {
    let plugin = load("test-misbehave", "{}", CallOptions::default()).unwrap();
    let error = one_bad_among_many(&plugin, "unknown-target");
    assert!(
        matches!(&error, CallError::InvalidDecision(m) if m.contains("NO-SUCH-ITEM") && m.contains("ARCHIVE, BACKUP")),
        "{error}"
    );
}

#[test]
fn a_plugin_error_fails_alone() {
    let plugin = load("test-misbehave", "{}", CallOptions::default()).unwrap();
    let error = one_bad_among_many(&plugin, "error");
    assert_eq!(error, CallError::Plugin("refused on purpose".into()));
}

#[test]
fn fresh_instances_per_call_isolate_the_same_way() {
    let options = CallOptions {
        fresh_instance_per_call: true,
        ..CallOptions::default()
    };
    let plugin = load("test-misbehave", "{}", options).unwrap();
    for bad in ["trap", "oom", "loop"] {
        let mut failed = 0;
        for i in 0..50 {
            let id = if i == 25 { bad } else { "ok" };
            failed += usize::from(plugin.route(&header(i), patient(id)).is_err());
        }
        assert_eq!(failed, 1, "{bad}");
    }
}

#[test]
fn bad_messages_on_other_threads_do_not_disturb_good_ones() {
    let plugin = Arc::new(load("test-misbehave", "{}", CallOptions::default()).unwrap());
    let workers: Vec<_> = ["loop", "trap", "oom", "ok"]
        .into_iter()
        .map(|bad| {
            let plugin = Arc::clone(&plugin);
            std::thread::spawn(move || {
                let mut failed = 0;
                for i in 0..250 {
                    let id = if i % 50 == 7 { bad } else { "ok" };
                    failed += usize::from(plugin.route(&header(i), patient(id)).is_err());
                }
                (bad, failed)
            })
        })
        .collect();
    for w in workers {
        let (bad, failed) = w.join().unwrap();
        let expected = if bad == "ok" { 0 } else { 5 };
        assert_eq!(failed, expected, "{bad}");
    }
}

#[test]
fn init_errors_are_reported_at_load() {
    let err = load("test-misbehave", "\"fail\"", CallOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PluginError::Init(CallError::Plugin(m)) if m == "init failed on purpose"),
        "{err}"
    );
    let err = load(
        "route-by-modality",
        r#"{"routes": 3}"#,
        CallOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("route-by-modality config"),
        "{err}"
    );
}

#[test]
fn an_unknown_major_contract_version_is_refused() {
    let err = load("test-wrong-version", "{}", CallOptions::default()).unwrap_err();
    assert!(
        matches!(&err, PluginError::UnsupportedContract { found, supported: 1 } if found == "2.0.0"),
        "{err}"
    );
    assert!(
        err.to_string().contains("switchboard:router@2.0.0"),
        "{err}"
    );
}

#[test]
fn a_plugin_built_for_contract_1_0_loads_and_routes_as_before() {
    let first = load("test-contract-1-0", "{}", CallOptions::default()).unwrap();
    assert_eq!(first.info().contract_version, "1.0.0");
    assert!(!first.has_query_hook());
    let mut attributes = BTreeMap::new();
    attributes.insert(
        0x0008_0060,
        AttributeValue {
            vr: "CS".into(),
            values: vec!["CT".into()],
            items: 0,
        },
    );
    let decision = first.route(&header(1), Arc::new(attributes)).unwrap();
    let Decision::Forward(Forward { targets, edits }) = decision else {
        panic!("forwarded: {decision:?}");
    };
    assert_eq!(targets, ["ARCHIVE", "BACKUP"]);
    assert_eq!(
        edits,
        [AttributeEdit::Set(SetAttribute {
            tag: 0x0008_0080,
            vr: "LO".into(),
            values: vec!["CONTRACT 1.0 CT".into()],
        })]
    );
    let current = load(
        "route-by-modality",
        r#"{"routes": {"CT": ["ARCHIVE"]}}"#,
        CallOptions::default(),
    );
    assert_eq!(
        current.unwrap().info().contract_version,
        switchboard::plugin::CONTRACT_VERSION
    );
}

#[test]
fn a_plugin_with_the_query_hook_is_asked_about_queries_and_matches() {
    let header = QueryHeader {
        query_id: "q1".into(),
        source: "SCP".into(),
        calling_ae_title: "MR1".into(),
        called_ae_title: "ROUTER".into(),
        sop_class_uid: "1.2.840.10008.5.1.4.31".into(),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
    };
    let nothing = || -> Arc<dyn AttributeSource> { Arc::new(BTreeMap::new()) };
    let scope = load("worklist-scope", "{}", CallOptions::default()).unwrap();
    assert!(scope.has_query_hook());
    let station = KeyEdit::Set(SetKey {
        at: KeyPath {
            path: vec![PathStep {
                sequence: 0x0040_0100,
                item: 0,
            }],
            tag: 0x0040_0001,
        },
        vr: "AE".into(),
        values: vec!["MR1".into()],
    });
    assert_eq!(
        scope.query(&header, nothing()).unwrap(),
        QueryDecision::Ask(vec![station])
    );
    // No Scheduled Procedure Step: not the caller's station.
    assert_eq!(
        scope.filter_match(&header, nothing()).unwrap(),
        MatchDecision::Drop
    );
    // A plugin exported without the hook, and one built for 1.0.0, let
    // queries and matches pass.
    for (name, config) in [
        ("route-by-ae-title", r#"{"calling": {"MR1": ["ARCHIVE"]}}"#),
        ("test-contract-1-0", "{}"),
    ] {
        let plugin = load(name, config, CallOptions::default()).unwrap();
        assert_eq!(
            plugin.query(&header, nothing()).unwrap(),
            QueryDecision::Ask(Vec::new()),
            "{name}"
        );
        assert_eq!(
            plugin.filter_match(&header, nothing()).unwrap(),
            MatchDecision::Keep(Vec::new()),
            "{name}"
        );
    }
}

#[test]
fn corrupt_files_are_refused() {
    let dir = integration_tests::private_tempdir();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x0d\0\x01\0 definitely not a component").unwrap();
    let err = Plugin::load_file(&cache(), &junk, "{}", CallOptions::default()).unwrap_err();
    assert!(matches!(err, PluginError::InvalidComponent { .. }), "{err}");
    let missing = Plugin::load_file(
        &cache(),
        &dir.path().join("nope.wasm"),
        "{}",
        CallOptions::default(),
    );
    assert!(matches!(missing, Err(PluginError::Read { .. })));
}

#[test]
fn compiled_plugins_are_cached_on_disk_by_content_hash() {
    let dir = integration_tests::private_tempdir();
    let engine = PluginEngine::shared().unwrap();
    let wasm = std::fs::read(plugin("route-by-modality")).unwrap();
    let first = ComponentCache::new(engine.clone(), Some(dir.path().to_path_buf()));
    first.get(&wasm).unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = entries[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let hash = switchboard::plugin::cache::content_hash(&wasm);
    assert!(
        name.starts_with(&hash) && name.ends_with(".cwasm"),
        "{name}"
    );
    // A new cache (as after a restart) loads it from disk and it works.
    let second = ComponentCache::new(engine, Some(dir.path().to_path_buf()));
    let config = r#"{"routes": {"CT": ["ARCHIVE"]}}"#;
    let plugin = Plugin::load(&second, "m", &wasm, config, CallOptions::default()).unwrap();
    let mut map = BTreeMap::new();
    map.insert(
        0x0008_0060,
        AttributeValue {
            vr: "CS".into(),
            values: vec!["CT".into()],
            items: 0,
        },
    );
    let decision = plugin.route(&header(1), Arc::new(map)).unwrap();
    assert_eq!(
        decision.clone(),
        Decision::Forward(Forward {
            targets: vec!["ARCHIVE".into()],
            edits: vec![]
        })
    );
}

fn router(dir: &Path, toml_text: &str) -> WasmRouter {
    let config: WasmRouterConfig = toml::from_str(toml_text).unwrap();
    WasmRouter::load("ROUTER", &config, dir, &cache()).unwrap()
}

fn request() -> RouteRequest {
    RouteRequest {
        message_id: "m1".into(),
        source: "SCP".into(),
        calling_ae_title: "CT-SCANNER".into(),
        called_ae_title: "ROUTER".into(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        sop_instance_uid: "1.2.3".into(),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
    }
}

#[test]
fn a_wasm_process_routes_a_dicom_file_reading_only_what_the_plugin_asks() {
    let dir = integration_tests::private_tempdir();
    let wasm = dir.path().join("plugins");
    std::fs::create_dir(&wasm).unwrap();
    std::fs::copy(plugin("route-by-modality"), wasm.join("modality.wasm")).unwrap();
    std::fs::copy(plugin("route-by-ae-title"), wasm.join("aet.wasm")).unwrap();
    let ct = dir.path().join("ct.dcm");
    Instance::new(Modality::Ct).patient_id("42").write(&ct);

    let by_modality = router(
        dir.path(),
        r#"
        plugin = "plugins/modality.wasm"
        config = { routes = { CT = ["CT-ARCHIVE"] }, default = ["ARCHIVE"] }
        targets = ["CT-ARCHIVE", "ARCHIVE"]
        "#,
    );
    let source = Arc::new(DicomSource::part10(&ct));
    let decision = by_modality.route(&request(), Arc::clone(&source)).unwrap();
    assert_eq!(
        decision.clone(),
        Decision::Forward(Forward {
            targets: vec!["CT-ARCHIVE".into()],
            edits: vec![]
        })
    );
    assert!(source.is_loaded());

    let by_aet = router(
        dir.path(),
        r#"
        plugin = "plugins/aet.wasm"
        config = { calling = { CT-SCANNER = ["ARCHIVE"] } }
        targets = ["ARCHIVE"]
        timeout_ms = 50
        "#,
    );
    let source = Arc::new(DicomSource::part10(&ct));
    let decision = by_aet.route(&request(), Arc::clone(&source)).unwrap();
    assert_eq!(
        decision.clone(),
        Decision::Forward(Forward {
            targets: vec!["ARCHIVE".into()],
            edits: vec![]
        })
    );
    assert!(
        !source.is_loaded(),
        "a plugin that reads no attribute never reads the data set"
    );
}

#[test]
fn a_wasm_process_reports_a_missing_plugin_with_item_and_path() {
    let dir = integration_tests::private_tempdir();
    let config: WasmRouterConfig = toml::from_str("plugin = \"nope.wasm\"").unwrap();
    let err = WasmRouter::load("ROUTER", &config, dir.path(), &cache()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("process ROUTER: plugin ") && text.contains("nope.wasm"),
        "{text}"
    );
}

#[test]
fn tag_morph_edits_apply_to_the_forwarded_copy() {
    use dicom_core::Tag;
    use switchboard::processes::wasm_router::edit;
    let dir = integration_tests::private_tempdir();
    std::fs::copy(plugin("tag-morph"), dir.path().join("morph.wasm")).unwrap();
    let ct = dir.path().join("ct.dcm");
    Instance::new(Modality::Ct).patient_id("42").write(&ct);
    let morph = router(
        dir.path(),
        r#"
        plugin = "morph.wasm"
        config = { profile = "basic", set = [{ tag = "InstitutionName", value = "ANON" }] }
        targets = ["ARCHIVE"]
        "#,
    );
    let Decision::Forward(forward) = morph
        .route(&request(), Arc::new(DicomSource::part10(&ct)))
        .unwrap()
    else {
        panic!("tag-morph forwards");
    };
    assert_eq!(forward.targets, ["ARCHIVE"]);
    let original = dicom_object::open_file(&ct).unwrap();
    let mut copy = original.clone().into_inner();
    edit::apply(&mut copy, &forward.edits).unwrap();
    let text = |obj: &dicom_object::InMemDicomObject, tag| {
        obj.get(tag).map(|e| e.to_str().unwrap().to_string())
    };
    assert_eq!(text(&copy, Tag(0x0008, 0x0080)).as_deref(), Some("ANON"));
    assert_eq!(text(&copy, Tag(0x0010, 0x0010)).as_deref(), Some(""));
    assert_eq!(text(&copy, Tag(0x0012, 0x0062)).as_deref(), Some("YES"));
    assert!(
        text(&copy, Tag(0x0020, 0x000D))
            .unwrap()
            .starts_with("2.25.")
    );
    // The original is untouched.
    assert_eq!(
        text(&original, Tag(0x0010, 0x0010)).as_deref(),
        Some("Doe^Jane")
    );
}

#[test]
fn plugins_read_inside_sequences_through_the_host() {
    use dicom_core::value::{DataSetSequence, PrimitiveValue};
    use dicom_core::{DataElement, Tag, VR};
    let mut item = dicom_object::InMemDicomObject::new_empty();
    item.put(DataElement::new(
        Tag(0x0008, 0x0100),
        VR::SH,
        PrimitiveValue::from("T-D0050"),
    ));
    let mut obj = dicom_object::InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        Tag(0x0010, 0x0020),
        VR::LO,
        PrimitiveValue::from("nested"),
    ));
    obj.put(DataElement::new(
        Tag(0x0008, 0x1032),
        VR::SQ,
        DataSetSequence::from(vec![item.clone(), item]),
    ));
    let plugin = load("test-misbehave", "{}", CallOptions::default()).unwrap();
    let decision = plugin
        .route(&header(1), Arc::new(DicomSource::in_memory(obj)))
        .unwrap();
    assert_eq!(decision, Decision::Drop("code T-D0050 of 2 items".into()));
}

#[test]
fn plugin_logs_reach_the_engine_and_the_call_succeeds() {
    let plugin = load("test-misbehave", "{}", CallOptions::default()).unwrap();
    let decision = plugin.route(&header(1), patient("log")).unwrap();
    assert!(matches!(decision, Decision::Forward(_)));
}
