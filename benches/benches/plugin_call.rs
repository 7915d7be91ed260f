//! Route calls per second and p50/p99 latency of one plugin call for a
//! typical CT header with three attribute reads (the `filter` plugin with
//! three `drop_if` rules, all passing), in three instance strategies:
//!
//! - reuse: initialised instances kept warm in a small pool (the default);
//! - fresh: a new Store + instance + `init` per call (on-demand allocator);
//! - fresh+pool: the same with wasmtime's pooling allocator.
//!
//! Plus the cost of the lazy header read from a spooled data set, the part a
//! real message adds on top of the call.
//!
//! Run: `cargo bench -p benches --bench plugin_call` (builds the plugins).
//! Env `PLUGIN_BENCH_CALLS` changes the number of timed calls (default 20000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use integration_tests::plugins::plugin;
use switchboard::plugin::cache::ComponentCache;
use switchboard::plugin::{
    CallOptions, Decision, EngineOptions, MessageHeader, Plugin, PluginEngine,
};
use switchboard::processes::wasm_router::DicomSource;

const CONFIG: &str = r#"{"drop_if": [
    {"tag": "Modality", "equals": ["SR", "PR"]},
    {"tag": "ImageType", "contains": "LOCALIZER"},
    {"tag": "PatientID", "present": false}
]}"#;

fn ct_header() -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    let text = [
        (0x0008, 0x0016, VR::UI, "1.2.840.10008.5.1.4.1.1.2"),
        (0x0008, 0x0018, VR::UI, "1.2.826.0.1.3680043.2.1125.1.1"),
        (0x0008, 0x0020, VR::DA, "20240101"),
        (0x0008, 0x0060, VR::CS, "CT"),
        (0x0008, 0x0070, VR::LO, "ACME"),
        (0x0008, 0x0080, VR::LO, "General Hospital"),
        (0x0008, 0x1030, VR::LO, "CT CHEST W/O CONTRAST"),
        (0x0010, 0x0010, VR::PN, "Doe^Jane"),
        (0x0010, 0x0020, VR::LO, "123456"),
        (0x0010, 0x0030, VR::DA, "19700101"),
        (0x0010, 0x0040, VR::CS, "F"),
        (0x0018, 0x0050, VR::DS, "1.25"),
        (0x0020, 0x000D, VR::UI, "1.2.826.0.1.3680043.2.1125.2"),
        (0x0020, 0x000E, VR::UI, "1.2.826.0.1.3680043.2.1125.3"),
        (0x0020, 0x0013, VR::IS, "42"),
    ];
    for (g, e, vr, v) in text {
        obj.put(DataElement::new(Tag(g, e), vr, PrimitiveValue::from(v)));
    }
    obj.put(DataElement::new(
        Tag(0x0008, 0x0008),
        VR::CS,
        PrimitiveValue::Strs(
            ["ORIGINAL", "PRIMARY", "AXIAL"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
    ));
    obj.put(DataElement::new(
        Tag(0x0028, 0x0010),
        VR::US,
        PrimitiveValue::from(512_u16),
    ));
    obj.put(DataElement::new(
        Tag(0x0028, 0x0011),
        VR::US,
        PrimitiveValue::from(512_u16),
    ));
    obj
}

fn header(i: usize) -> MessageHeader {
    MessageHeader {
        message_id: format!("m{i}"),
        source: "SCP".into(),
        calling_ae_title: "CT-SCANNER".into(),
        called_ae_title: "ROUTER".into(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        sop_instance_uid: format!("1.2.3.{i}"),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
        targets: vec!["ARCHIVE".into()],
    }
}

struct Stats {
    calls_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn measure(mut call: impl FnMut(usize), calls: usize) -> Stats {
    for i in 0..calls / 10 {
        call(i); // warm up
    }
    let mut samples = Vec::with_capacity(calls);
    let start = Instant::now();
    for i in 0..calls {
        let t = Instant::now();
        call(i);
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Stats {
        calls_per_sec: calls as f64 / total.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

fn print(name: &str, s: &Stats) {
    println!(
        "{name:<34} {:>10.0} calls/s   p50 {:>8.2} µs   p99 {:>8.2} µs",
        s.calls_per_sec,
        s.p50.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6
    );
}

fn route_bench(engine: PluginEngine, fresh: bool, calls: usize) -> Stats {
    let cache = ComponentCache::new(engine, None);
    let options = CallOptions {
        fresh_instance_per_call: fresh,
        ..CallOptions::default()
    };
    let p = Plugin::load_file(&cache, &plugin("filter"), CONFIG, options).expect("load filter");
    let ct = ct_header();
    measure(
        |i| {
            let source = Arc::new(DicomSource::in_memory(ct.clone()));
            match p.route(&header(i), source) {
                Ok(Decision::Forward(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        },
        calls,
    )
}

fn main() {
    let calls: usize = std::env::var("PLUGIN_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    println!("plugin_call: filter plugin, CT header, 3 attribute reads, {calls} calls\n");

    let on_demand = PluginEngine::new(EngineOptions::default()).expect("engine");
    let pooled = PluginEngine::new(EngineOptions {
        pooling: true,
        ..EngineOptions::default()
    })
    .expect("pooling engine");

    print(
        "reuse (default)",
        &route_bench(on_demand.clone(), false, calls),
    );
    let reuse = Plugin::load_file(
        &ComponentCache::new(on_demand.clone(), None),
        &plugin("filter"),
        CONFIG,
        CallOptions::default(),
    )
    .expect("load filter");
    print(
        "fresh instance per call",
        &route_bench(on_demand, true, calls / 4),
    );
    print(
        "fresh instance per call + pooling",
        &route_bench(pooled, true, calls / 4),
    );

    // What a message adds: cloning the parsed header (included above) vs
    // reading it lazily from a spooled data set on disk.
    let dir = integration_tests::private_tempdir();
    let body = dir.path().join("body");
    let ts = TransferSyntaxRegistry
        .get("1.2.840.10008.1.2.1")
        .expect("explicit VR LE is built in");
    {
        let mut f = std::fs::File::create(&body).expect("create body");
        ct_header()
            .write_dataset_with_ts(&mut f, ts)
            .expect("write body");
    }
    let read = measure(
        |_| {
            let s = DicomSource::spooled(&body, "1.2.840.10008.1.2.1");
            s.header().expect("read header");
        },
        calls / 4,
    );
    print("header read from spooled body", &read);

    // The same header followed by 512 KiB of pixel data: the read stops at Pixel Data.
    let big = dir.path().join("big-body");
    {
        let mut obj = ct_header();
        obj.put(DataElement::new(
            Tag(0x7FE0, 0x0010),
            VR::OW,
            PrimitiveValue::from(vec![7_u8; 512 * 1024]),
        ));
        let mut f = std::fs::File::create(&big).expect("create body");
        obj.write_dataset_with_ts(&mut f, ts).expect("write body");
    }
    let read_big = measure(
        |_| {
            let s = DicomSource::spooled(&big, "1.2.840.10008.1.2.1");
            s.header().expect("read header");
        },
        calls / 4,
    );
    print("  … with 512 KiB pixel data after it", &read_big);
    let full = measure(
        |i| {
            let source = Arc::new(DicomSource::spooled(&big, "1.2.840.10008.1.2.1"));
            match reuse.route(&header(i), source) {
                Ok(Decision::Forward(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        },
        calls / 4,
    );
    print("route reading that body (per message)", &full);
    let clone_cost = measure(
        |_| drop(std::hint::black_box(ct_header().clone())),
        calls / 4,
    );
    print("(clone of the parsed header)", &clone_cost);
}
