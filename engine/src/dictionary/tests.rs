use std::collections::HashSet;

use super::transfer_syntaxes::uid_order;
use super::*;
use crate::association::{IMPLICIT_VR_LITTLE_ENDIAN, Uid, VERIFICATION};

const MODALITY_WORKLIST_FIND: &str = "1.2.840.10008.5.1.4.31";
const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1.99";
const PRIVATE_UID: &str = "1.2.826.0.1.3680043.9.7433.1.1";

fn uids<T>(rows: &[&T], uid: impl Fn(&T) -> &'static str) -> Vec<&'static str> {
    rows.iter().map(|r| uid(r)).collect()
}

// ---- SOP classes ----------------------------------------------------------

#[test]
fn sop_classes_are_the_whole_registry_with_valid_unique_sorted_uids() {
    let all = sop_classes();
    // 312 SOP classes and 9 meta SOP classes in dicom-dictionary-std 0.10.1.
    assert_eq!(all.len(), 321);
    let unique: HashSet<_> = all.iter().map(|s| s.uid).collect();
    assert_eq!(unique.len(), all.len());
    for pair in all.windows(2) {
        assert!(uid_order(pair[0].uid, pair[1].uid).is_lt(), "{pair:?}");
    }
    for class in all {
        Uid::new(class.uid).unwrap();
        assert!(
            !class.name.is_empty() && !class.keyword.is_empty(),
            "{class:?}"
        );
        assert_eq!(
            class.retired,
            class.name.ends_with("(Retired)"),
            "{class:?}"
        );
    }
}

#[test]
fn sop_classes_include_meta_sop_classes() {
    assert_eq!(
        sop_class_name("1.2.840.10008.5.1.1.18"),
        Some("Basic Color Print Management Meta SOP Class")
    );
}

#[test]
fn sop_class_name_knows_the_standard_and_not_private_uids() {
    assert_eq!(sop_class_name(VERIFICATION), Some("Verification SOP Class"));
    assert_eq!(sop_class_name(CT_IMAGE_STORAGE), Some("CT Image Storage"));
    let ct = sop_class(CT_IMAGE_STORAGE).unwrap();
    assert_eq!(ct.keyword, "CTImageStorage");
    assert!(!ct.retired);
    assert_eq!(sop_class_name(PRIVATE_UID), None);
    assert_eq!(sop_class_name(""), None);
    assert_eq!(sop_class_name_or_unknown(PRIVATE_UID), "(unknown)");
    assert_eq!(
        sop_class_name_or_unknown(VERIFICATION),
        "Verification SOP Class"
    );
}

#[test]
fn retired_sop_classes_are_flagged() {
    let pull = sop_class("1.2.840.10008.1.20.2").unwrap();
    assert!(pull.retired);
    assert_eq!(
        pull.name,
        "Storage Commitment Pull Model SOP Class (Retired)"
    );
}

// ---- storage SOP classes --------------------------------------------------

#[test]
fn storage_sop_classes_are_the_ones_sent_with_c_store() {
    for uid in [
        CT_IMAGE_STORAGE,
        "1.2.840.10008.5.1.4.1.1.1.1.1", // Digital X-Ray Image Storage - For Processing
        "1.2.840.10008.5.1.4.1.1.88.4",  // Comprehensive SR Storage - Trial (Retired)
        "1.2.840.10008.5.1.4.1.1.6",     // Ultrasound Image Storage (Retired)
        "1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture Image Storage
        "1.2.840.10008.5.1.4.1.1.104.1", // Encapsulated PDF Storage
    ] {
        assert!(is_storage_sop_class(uid), "{uid} should be storage");
    }
    for uid in [
        VERIFICATION,
        MODALITY_WORKLIST_FIND,
        "1.2.840.10008.1.20.1", // Storage Commitment Push Model SOP Class
        "1.2.840.10008.1.3.10", // Media Storage Directory Storage (media only)
        "1.2.840.10008.5.1.4.1.2.2.1", // Study Root Q/R - FIND
        PRIVATE_UID,
        "",
    ] {
        assert!(!is_storage_sop_class(uid), "{uid} should not be storage");
    }
}

#[test]
fn storage_sop_classes_lists_each_storage_class_once() {
    let storage: Vec<_> = storage_sop_classes().collect();
    assert!(storage.len() > 128, "{}", storage.len());
    assert!(storage.iter().all(|s| is_storage_sop_class(s.uid)));
    let everything = sop_classes()
        .iter()
        .filter(|s| is_storage_sop_class(s.uid))
        .count();
    assert_eq!(storage.len(), everything);
}

// ---- transfer syntaxes ----------------------------------------------------

#[test]
fn transfer_syntaxes_come_sorted_by_uid_without_duplicates() {
    let all = transfer_syntaxes();
    assert!(all.len() >= 40, "{}", all.len());
    for pair in all.windows(2) {
        assert!(uid_order(pair[0].uid, pair[1].uid).is_lt(), "{pair:?}");
    }
    assert_eq!(all[0].uid, IMPLICIT_VR_LITTLE_ENDIAN);
}

#[test]
fn transfer_syntax_flags_follow_the_standard() {
    let all = transfer_syntaxes();
    let get = |uid: &str| *all.iter().find(|t| t.uid == uid).unwrap();

    let implicit = get(IMPLICIT_VR_LITTLE_ENDIAN);
    assert_eq!(implicit.name, "Implicit VR Little Endian");
    assert!(!implicit.explicit_vr && !implicit.big_endian && !implicit.encapsulated);

    let explicit = get(EXPLICIT_VR_LITTLE_ENDIAN);
    assert!(explicit.explicit_vr && !explicit.big_endian && !explicit.encapsulated);

    let big = get(EXPLICIT_VR_BIG_ENDIAN);
    assert!(big.explicit_vr && big.big_endian && !big.encapsulated);

    let jpeg = get(JPEG_BASELINE);
    assert!(jpeg.explicit_vr && !jpeg.big_endian && jpeg.encapsulated);

    let deflated = get(DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN);
    assert!(deflated.explicit_vr && !deflated.encapsulated);

    // Implicit VR Little Endian is the only implicit VR transfer syntax.
    let implicit_ones: Vec<_> = all.iter().filter(|t| !t.explicit_vr).collect();
    assert_eq!(implicit_ones.len(), 1, "{implicit_ones:?}");
}

#[test]
fn transfer_syntax_name_knows_the_registry() {
    assert_eq!(
        transfer_syntax_name(IMPLICIT_VR_LITTLE_ENDIAN),
        Some("Implicit VR Little Endian")
    );
    assert_eq!(
        transfer_syntax_name_or_unknown(EXPLICIT_VR_LITTLE_ENDIAN),
        "Explicit VR Little Endian"
    );
    assert_eq!(transfer_syntax_name(PRIVATE_UID), None);
    assert_eq!(transfer_syntax_name_or_unknown(PRIVATE_UID), "(unknown)");
    // A SOP class is not a transfer syntax.
    assert_eq!(transfer_syntax_name(VERIFICATION), None);
}

// ---- data elements --------------------------------------------------------

#[test]
fn data_elements_are_the_whole_dictionary_with_unique_tags() {
    let all = data_elements();
    assert_eq!(all.len(), 5346);
    let unique: HashSet<_> = all.iter().map(|e| e.tag).collect();
    assert_eq!(unique.len(), all.len());
    for e in all {
        let tag = e.tag.as_bytes();
        assert!(
            tag.len() == 11 && tag[0] == b'(' && tag[5] == b',' && tag[10] == b')',
            "{e:?}"
        );
        assert!(!e.keyword.is_empty() && !e.name.is_empty(), "{e:?}");
        assert!(!e.vr.is_empty() && !e.vm.is_empty(), "{e:?}");
    }
}

#[test]
fn data_elements_carry_name_vr_vm_and_repeating_groups() {
    let find = |tag: &str| data_elements().iter().find(|e| e.tag == tag).unwrap();
    let patient = find("(0010,0010)");
    assert_eq!(
        (
            patient.keyword,
            patient.name,
            patient.vr,
            patient.vm,
            patient.retired
        ),
        ("PatientName", "Patient Name", "PN", "1", false)
    );
    let sop_instance = find("(0008,0018)");
    assert_eq!(sop_instance.name, "SOP Instance UID");
    let overlay = find("(60xx,3000)");
    assert_eq!((overlay.keyword, overlay.vr), ("OverlayData", "OB or OW"));
    let pixel = find("(7FE0,0010)");
    assert_eq!(pixel.vr, "OB or OW");
    let offending = find("(0000,0901)");
    assert_eq!(offending.vm, "1-n");
    assert!(find("(0000,0001)").retired);
}

// ---- filter ---------------------------------------------------------------

#[test]
fn worklist_finds_modality_worklist_find() {
    let found = filter(sop_classes(), "worklist");
    let uids = uids(&found, |s: &SopClass| s.uid);
    assert!(uids.contains(&MODALITY_WORKLIST_FIND), "{uids:?}");
    assert!(!uids.contains(&VERIFICATION));
}

#[test]
fn explicit_vr_little_finds_explicit_vr_little_endian() {
    let all = transfer_syntaxes();
    let found = filter(&all, "explicit vr little");
    let uids = uids(&found, |t: &TransferSyntaxInfo| t.uid);
    assert!(uids.contains(&EXPLICIT_VR_LITTLE_ENDIAN), "{uids:?}");
    assert!(!uids.contains(&IMPLICIT_VR_LITTLE_ENDIAN));
    assert!(!uids.contains(&EXPLICIT_VR_BIG_ENDIAN));
}

#[test]
fn patientname_finds_the_patient_name_element() {
    let found = filter(data_elements(), "patientname");
    let tags = uids(&found, |e: &DataElement| e.tag);
    assert!(tags.contains(&"(0010,0010)"), "{tags:?}");
    assert!(
        found
            .iter()
            .all(|e| e.keyword.to_lowercase().contains("patientname"))
    );
}

#[test]
fn filter_ignores_case_and_extra_white_space() {
    let all = transfer_syntaxes();
    for text in [
        "EXPLICIT VR LITTLE",
        "  explicit   vr\tlittle  ",
        "Explicit Vr Little",
    ] {
        let found = filter(&all, text);
        assert!(
            found.iter().any(|t| t.uid == EXPLICIT_VR_LITTLE_ENDIAN),
            "{text:?}"
        );
    }
}

#[test]
fn filter_matches_every_displayed_column() {
    // Tag column.
    assert!(
        filter(data_elements(), "0010,0010")
            .iter()
            .any(|e| e.keyword == "PatientName")
    );
    // Name column, words as a person writes them.
    assert!(
        filter(data_elements(), "patient name")
            .iter()
            .any(|e| e.tag == "(0010,0010)")
    );
    // VR column.
    assert!(
        filter(data_elements(), "OB or OW")
            .iter()
            .any(|e| e.tag == "(7FE0,0010)")
    );
    // UID column.
    let by_uid = filter(sop_classes(), "1.2.840.10008.5.1.4.31");
    assert!(by_uid.iter().any(|s| s.uid == MODALITY_WORKLIST_FIND));
    // Keyword column.
    assert_eq!(
        filter(sop_classes(), "ctimagestorage")[0].uid,
        CT_IMAGE_STORAGE
    );
    // Flag columns of transfer syntaxes are text too.
    let all = transfer_syntaxes();
    let big = filter(&all, "big endian");
    assert!(big.iter().any(|t| t.uid == EXPLICIT_VR_BIG_ENDIAN));
    assert!(
        filter(&all, "implicit")
            .iter()
            .any(|t| t.uid == IMPLICIT_VR_LITTLE_ENDIAN)
    );
    // The retired column.
    assert!(
        filter(data_elements(), "retired")
            .iter()
            .any(|e| e.tag == "(0000,0001)")
    );
}

#[test]
fn blank_filter_keeps_every_row_and_no_match_keeps_none() {
    assert_eq!(filter(sop_classes(), "").len(), sop_classes().len());
    assert_eq!(filter(data_elements(), "   ").len(), data_elements().len());
    assert!(filter(sop_classes(), "no such thing anywhere").is_empty());
}

#[test]
fn filter_keeps_the_table_order() {
    let found = filter(sop_classes(), "storage");
    for pair in found.windows(2) {
        assert!(uid_order(pair[0].uid, pair[1].uid).is_lt());
    }
}

#[test]
fn rows_have_one_cell_per_header() {
    assert_eq!(sop_classes()[0].cells().len(), SopClass::HEADERS.len());
    assert_eq!(data_elements()[0].cells().len(), DataElement::HEADERS.len());
    assert_eq!(
        transfer_syntaxes()[0].cells().len(),
        TransferSyntaxInfo::HEADERS.len()
    );
}

#[test]
fn uid_order_is_numeric_per_component() {
    assert!(uid_order("1.2.840.10008.1.2", "1.2.840.10008.1.2.1").is_lt());
    assert!(uid_order("1.2.840.10008.1.9", "1.2.840.10008.1.20").is_lt());
    assert!(uid_order("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.100").is_lt());
    assert!(uid_order("1.2", "1.2").is_eq());
}

// ---- the generated tables agree with dicom-dictionary-std's look-ups ------

#[test]
fn generated_sop_classes_agree_with_the_crate() {
    use dicom_core::dictionary::UidDictionary;
    use dicom_dictionary_std::StandardSopClassDictionary;

    let mut checked = 0;
    for class in sop_classes() {
        // The crate indexes SOP classes only, not meta SOP classes.
        let Some(entry) = StandardSopClassDictionary.by_uid(class.uid) else {
            assert!(class.name.contains("Meta SOP Class"), "{class:?}");
            continue;
        };
        assert_eq!(
            (entry.name, entry.alias, entry.retired),
            (class.name, class.keyword, class.retired)
        );
        checked += 1;
    }
    assert_eq!(checked, 312);
}

#[test]
fn generated_data_elements_agree_with_the_crate() {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, TagRange, VirtualVr};
    use dicom_dictionary_std::StandardDataDictionary;

    for element in data_elements() {
        let entry = StandardDataDictionary
            .by_name(element.keyword)
            .unwrap_or_else(|| panic!("{element:?} unknown to the crate"));
        let tag = match entry.tag_range() {
            TagRange::Single(t) => format!("({:04X},{:04X})", t.0, t.1),
            TagRange::Group100(t) => format!("({:02X}xx,{:04X})", t.0 >> 8, t.1),
            TagRange::Element100(t) => format!("({:04X},{:02X}xx)", t.0, t.1 >> 8),
            other => panic!("unexpected range {other:?}"),
        };
        assert_eq!(tag, element.tag, "{element:?}");
        if let VirtualVr::Exact(vr) = entry.vr() {
            assert_eq!(vr.to_string(), element.vr, "{element:?}");
        } else {
            assert!(element.vr.contains(" or "), "{element:?} {:?}", entry.vr());
        }
    }
}

#[test]
fn defined_terms_are_sorted_and_name_known_data_elements() {
    let sex = defined_terms("(0010,0040)").expect("Patient's Sex has Enumerated Values");
    assert_eq!(sex.lists[0].heading, "Enumerated Values");
    let values: Vec<&str> = sex.lists[0].values.iter().map(|(v, _)| *v).collect();
    assert_eq!(values, ["M", "F", "O"]);
    let modality = defined_terms("(0008,0060)").expect("Modality has Defined Terms");
    assert!(
        modality.lists[0]
            .values
            .contains(&("CT", "Computed Tomography"))
    );
    assert!(
        defined_terms("(0010,0010)").is_none(),
        "Patient's Name has none"
    );
    let all = defined_terms::DEFINED_TERMS;
    assert!(all.len() > 500, "{}", all.len());
    assert!(
        all.windows(2).all(|w| w[0].tag < w[1].tag),
        "sorted, unique"
    );
    for terms in all {
        assert!(
            data_elements().iter().any(|e| e.tag == terms.tag),
            "{} is in the data dictionary",
            terms.tag
        );
        assert!(terms.lists.iter().all(|l| !l.values.is_empty()));
    }
}
