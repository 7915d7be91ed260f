use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_object::InMemDicomObject;

use super::config::WasmRouterConfig;
use super::edit;
use super::source::DicomSource;
use crate::component::ItemConfig;
use crate::plugin::{AttributeEdit, AttributeSource, PathStep, SetAttribute};

#[test]
fn config_reads_the_plugin_table_as_json_with_defaults() {
    let c: WasmRouterConfig = toml::from_str(
        r#"
        plugin = "plugins/x.wasm"
        config = { routes = { CT = ["A"] }, n = 3 }
        targets = ["A"]
        "#,
    )
    .unwrap();
    assert_eq!(c.config, r#"{"n":3,"routes":{"CT":["A"]}}"#);
    assert_eq!((c.timeout_ms, c.max_memory_bytes), (10, 16 << 20));
    assert_eq!(
        c.plugin_path(std::path::Path::new("/p/default")),
        std::path::Path::new("/p/default/plugins/x.wasm")
    );
    assert!(c.check().is_empty());
    let bare: WasmRouterConfig = toml::from_str(r#"plugin = "x.wasm""#).unwrap();
    assert_eq!(bare.config, "{}");
}

#[test]
fn config_refuses_unknown_fields_and_silly_limits() {
    let err = toml::from_str::<WasmRouterConfig>("plugin = \"x.wasm\"\ntimeout = 5").unwrap_err();
    assert!(err.to_string().contains("unknown field `timeout`"), "{err}");
    let c: WasmRouterConfig =
        toml::from_str("plugin = \"x.wasm\"\ntimeout_ms = 0\nmax_memory_bytes = 10").unwrap();
    let fields: Vec<String> = c.check().into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["timeout_ms", "max_memory_bytes"]);
}

fn set(tag: u32, vr: &str, values: &[&str]) -> AttributeEdit {
    AttributeEdit::Set(SetAttribute {
        tag,
        vr: vr.into(),
        values: values.iter().map(|v| (*v).to_string()).collect(),
    })
}

#[test]
fn edits_set_typed_values_and_remove() {
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        Tag(0x0010, 0x0010),
        VR::PN,
        PrimitiveValue::from("Doe^Jane"),
    ));
    edit::apply(
        &mut obj,
        &[
            set(0x0008_0080, "LO", &["ANON"]),
            set(0x0008_0008, "CS", &["ORIGINAL", "PRIMARY"]),
            set(0x0028_0010, "US", &["512"]),
            set(0x0018_0050, "DS", &["1.25"]),
            AttributeEdit::Remove(0x0010_0010),
        ],
    )
    .unwrap();
    assert_eq!(
        obj.get(Tag(0x0008, 0x0080)).unwrap().to_str().unwrap(),
        "ANON"
    );
    assert_eq!(
        obj.get(Tag(0x0008, 0x0008)).unwrap().to_str().unwrap(),
        "ORIGINAL\\PRIMARY"
    );
    assert_eq!(
        obj.get(Tag(0x0028, 0x0010))
            .unwrap()
            .to_int::<u16>()
            .unwrap(),
        512
    );
    assert!(obj.get(Tag(0x0010, 0x0010)).is_none());
}

#[test]
fn invalid_edits_are_refused_with_a_reason() {
    for (edit, expected) in [
        (set(0x7FE0_0010, "OB", &[]), "pixel data"),
        (set(0x0002_0010, "UI", &["1.2"]), "file meta"),
        (set(0x0008_0080, "XX", &["a"]), "not a VR"),
        (set(0x0008_1140, "SQ", &[]), "SQ values cannot be set"),
        (set(0x0028_0010, "US", &["big"]), "not a valid US value"),
        (set(0x0008_0080, "LO", &["a\\b"]), "backslash"),
        (AttributeEdit::Remove(0x0008_0000), "group lengths"),
    ] {
        let err = edit::validate(std::slice::from_ref(&edit)).unwrap_err();
        assert!(err.to_string().contains(expected), "{edit:?}: {err}");
    }
}

#[test]
fn the_source_answers_multi_values_sequences_and_nested_items() {
    let mut item = InMemDicomObject::new_empty();
    item.put(DataElement::new(
        Tag(0x0008, 0x0100),
        VR::SH,
        PrimitiveValue::from("T-D0050"),
    ));
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        Tag(0x0008, 0x0008),
        VR::CS,
        PrimitiveValue::Strs(
            ["ORIGINAL".to_string(), "PRIMARY ".to_string()]
                .into_iter()
                .collect(),
        ),
    ));
    obj.put(DataElement::new(
        Tag(0x0028, 0x0010),
        VR::US,
        PrimitiveValue::from(512_u16),
    ));
    obj.put(DataElement::new(
        Tag(0x0009, 0x1001),
        VR::OB,
        PrimitiveValue::from(vec![1_u8, 2]),
    ));
    obj.put(DataElement::new(
        Tag(0x0008, 0x1032),
        VR::SQ,
        DataSetSequence::from(vec![item]),
    ));
    let source = DicomSource::in_memory(obj);

    let image_type = source.attribute(&[], 0x0008_0008).unwrap().unwrap();
    assert_eq!(
        (image_type.vr.as_str(), image_type.values.as_slice()),
        ("CS", &["ORIGINAL".to_string(), "PRIMARY".to_string()][..])
    );
    assert_eq!(
        source.attribute(&[], 0x0028_0010).unwrap().unwrap().values,
        ["512"]
    );
    assert!(
        source
            .attribute(&[], 0x0009_1001)
            .unwrap()
            .unwrap()
            .values
            .is_empty()
    );
    let seq = source.attribute(&[], 0x0008_1032).unwrap().unwrap();
    assert_eq!((seq.vr.as_str(), seq.items), ("SQ", 1));
    let step = PathStep {
        sequence: 0x0008_1032,
        item: 0,
    };
    assert_eq!(
        source
            .attribute(&[step], 0x0008_0100)
            .unwrap()
            .unwrap()
            .values,
        ["T-D0050"]
    );
    let past_end = PathStep {
        sequence: 0x0008_1032,
        item: 1,
    };
    assert_eq!(source.attribute(&[past_end], 0x0008_0100).unwrap(), None);
    assert_eq!(source.attribute(&[], 0x0010_0010).unwrap(), None);
}

#[test]
fn an_unreadable_body_is_an_error_not_an_absent_attribute() {
    let dir = crate::store::private_tempdir();
    let path = dir.path().join("junk");
    std::fs::write(&path, b"junk").unwrap();
    let source = DicomSource::part10(&path);
    assert!(source.attribute(&[], 0x0008_0060).is_err());
}

#[test]
fn an_edited_copy_reads_only_the_data_set_of_a_body_and_drops_stale_group_lengths() {
    use dicom_encoding::TransferSyntaxIndex;
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    const EXPLICIT: &str = "1.2.840.10008.1.2.1";
    let ts = TransferSyntaxRegistry.get(EXPLICIT).unwrap();
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        Tag(0x0008, 0x0000),
        VR::UL,
        PrimitiveValue::from(42_u32),
    ));
    obj.put(DataElement::new(
        Tag(0x0008, 0x0016),
        VR::UI,
        PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2"),
    ));
    obj.put(DataElement::new(
        Tag(0x0008, 0x0018),
        VR::UI,
        PrimitiveValue::from("1.2.3"),
    ));
    obj.put(DataElement::new(
        Tag(0x0010, 0x0010),
        VR::PN,
        PrimitiveValue::from("Doe^Jane"),
    ));
    let mut body = Vec::new();
    obj.write_dataset_with_ts(&mut body, ts).unwrap();
    let size = body.len() as u64;
    body.extend_from_slice(b"a trailer that is not DICOM");
    let dir = crate::store::private_tempdir();
    let path = dir.path().join("1.dcm");
    std::fs::write(&path, &body).unwrap();

    let edits = [
        set(0x0008_0018, "UI", &["2.25.1"]),
        AttributeEdit::Remove(0x0010_0010),
    ];
    let copy = edit::edited_copy(&path, Some(size), EXPLICIT, &edits).unwrap();
    assert_eq!(copy.sop_instance_uid.as_deref(), Some("2.25.1"));
    assert_eq!(
        copy.sop_class_uid.as_deref(),
        Some("1.2.840.10008.5.1.4.1.1.2")
    );
    let back = InMemDicomObject::read_dataset_with_ts(&copy.bytes[..], ts).unwrap();
    assert!(back.get(Tag(0x0010, 0x0010)).is_none());
    assert!(back.get(Tag(0x0008, 0x0000)).is_none());
    assert_eq!(
        back.get(Tag(0x0008, 0x0018)).unwrap().to_str().unwrap(),
        "2.25.1"
    );
    // The body read by the plugin stops at the data set too.
    let source = DicomSource::body(&path, size, EXPLICIT);
    assert_eq!(
        source.attribute(&[], 0x0010_0010).unwrap().unwrap().values,
        ["Doe^Jane"]
    );
}
