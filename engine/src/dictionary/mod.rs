//! The reference tables of the DICOM standard: SOP classes (PS3.6 Annex A),
//! transfer syntaxes (what dicom-rs can read and write) and the data
//! dictionary (PS3.6 §6–8).
//!
//! `dicom-dictionary-std` can look a UID or a tag up but cannot list them,
//! and has no display names or value multiplicities for data elements. So
//! [`sop_classes`] and [`data_elements`] are static tables generated at
//! development time by `scripts/gen-dictionary.py` from that crate's
//! sources and committed (`sop_classes.rs`, `data_elements.rs`: do not edit
//! them by hand). [`transfer_syntaxes`] comes from the transfer syntax
//! registry at run time, so it lists exactly what the engine can decode.
//!
//! [`filter`] is the search of the reference screens: a case-insensitive
//! substring over every displayed column ([`Row::cells`]). Everything here is
//! pure and has no I/O; the CLI (`cli/reference.rs`) only prints.

mod data_elements;
mod sop_classes;
mod transfer_syntaxes;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Serialize;

pub use transfer_syntaxes::{
    TransferSyntaxInfo, transfer_syntax, transfer_syntax_name, transfer_syntaxes,
};

/// What a name column shows for a syntactically valid UID that the
/// registry does not know (private SOP classes exist).
pub const UNKNOWN: &str = "(unknown)";

/// One SOP class (or meta SOP class) of the standard's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SopClass {
    /// The SOP class UID, e.g. `1.2.840.10008.5.1.4.1.1.2`.
    pub uid: &'static str,
    /// The name as PS3.6 writes it, e.g. `CT Image Storage`; retired classes
    /// end in `(Retired)`.
    pub name: &'static str,
    /// The keyword, e.g. `CTImageStorage`.
    pub keyword: &'static str,
    /// Whether the standard has retired it.
    pub retired: bool,
}

/// One data element of the standard data dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataElement {
    /// The tag as text, e.g. `(0010,0010)`; repeating groups and elements
    /// are written with `xx`, e.g. `(60xx,3000)`.
    pub tag: &'static str,
    /// The keyword, e.g. `PatientName`.
    pub keyword: &'static str,
    /// A readable name derived from the keyword, e.g. `Patient Name`.
    pub name: &'static str,
    /// The value representation, e.g. `PN`, or `OB or OW` where the
    /// standard allows several.
    pub vr: &'static str,
    /// The value multiplicity, e.g. `1`, `1-n`, `2-2n`.
    pub vm: &'static str,
    /// Whether the standard has retired it.
    pub retired: bool,
}

/// Every SOP class and meta SOP class of the standard, sorted by UID
/// (numerically, component by component).
pub fn sop_classes() -> &'static [SopClass] {
    sop_classes::SOP_CLASSES
}

/// The SOP class with this UID, if the registry knows it.
pub fn sop_class(uid: &str) -> Option<&'static SopClass> {
    static BY_UID: LazyLock<HashMap<&'static str, &'static SopClass>> =
        LazyLock::new(|| sop_classes().iter().map(|s| (s.uid, s)).collect());
    BY_UID.get(uid.trim()).copied()
}

/// The name of the SOP class with this UID, if the registry knows it.
pub fn sop_class_name(uid: &str) -> Option<&'static str> {
    sop_class(uid).map(|s| s.name)
}

/// The name of the SOP class with this UID, or [`UNKNOWN`].
pub fn sop_class_name_or_unknown(uid: &str) -> &'static str {
    sop_class_name(uid).unwrap_or(UNKNOWN)
}

/// The name of the transfer syntax with this UID, or [`UNKNOWN`].
pub fn transfer_syntax_name_or_unknown(uid: &str) -> &'static str {
    transfer_syntax_name(uid).unwrap_or(UNKNOWN)
}

/// Whether this UID is a storage SOP class: one whose instances are sent
/// with C-STORE (`CT Image Storage`, `Digital X-Ray Image Storage - For
/// Processing`, `Comprehensive SR Storage - Trial (Retired)`, …). Storage
/// Commitment and the DICOMDIR's `Media Storage Directory Storage` (media
/// only, never sent over the network) are not. Unknown UIDs are not.
pub fn is_storage_sop_class(uid: &str) -> bool {
    sop_class(uid).is_some_and(is_storage)
}

/// Every storage SOP class (see [`is_storage_sop_class`]), retired ones
/// included, in UID order. This is what "storage" means in a production's
/// `abstract_syntaxes`. There are more than the 128 presentation contexts one
/// association can propose, so an SCU must pick the ones it needs.
pub fn storage_sop_classes() -> impl Iterator<Item = &'static SopClass> {
    sop_classes().iter().filter(|s| is_storage(s))
}

fn is_storage(class: &SopClass) -> bool {
    const MEDIA_ONLY: &str = "Media Storage Directory Storage";
    let name = class.name.strip_suffix(" (Retired)").unwrap_or(class.name);
    // " - For Presentation", " - For Processing", " - Trial" qualify the class.
    let base = name.split(" - ").next().unwrap_or(name);
    base.ends_with(" Storage") && base != MEDIA_ONLY
}

/// Every data element of the standard data dictionary, sorted by tag.
pub fn data_elements() -> &'static [DataElement] {
    data_elements::DATA_ELEMENTS
}

/// A row of a reference table, as the screens show it.
pub trait Row {
    /// The column headers, in display order.
    const HEADERS: &'static [&'static str];

    /// The displayed text of each column, in the order of [`Row::HEADERS`].
    fn cells(&self) -> Vec<Cow<'static, str>>;
}

impl Row for SopClass {
    const HEADERS: &'static [&'static str] = &["UID", "Name", "Keyword"];

    fn cells(&self) -> Vec<Cow<'static, str>> {
        vec![self.uid.into(), self.name.into(), self.keyword.into()]
    }
}

impl Row for DataElement {
    const HEADERS: &'static [&'static str] = &["Tag", "Keyword", "Name", "VR", "VM", "Retired"];

    fn cells(&self) -> Vec<Cow<'static, str>> {
        vec![
            self.tag.into(),
            self.keyword.into(),
            self.name.into(),
            self.vr.into(),
            self.vm.into(),
            if self.retired { "retired" } else { "" }.into(),
        ]
    }
}

/// The rows with a column that contains `text`, ignoring case and runs of
/// white space; all rows when `text` is blank. Order is kept.
pub fn filter<'a, T: Row>(rows: &'a [T], text: &str) -> Vec<&'a T> {
    let needle = normalize(text);
    if needle.is_empty() {
        return rows.iter().collect();
    }
    rows.iter()
        .filter(|row| {
            row.cells()
                .iter()
                .any(|cell| normalize(cell).contains(&needle))
        })
        .collect()
}

/// Lower case, with each run of white space made one space and the ends trimmed.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

#[cfg(test)]
mod tests;
