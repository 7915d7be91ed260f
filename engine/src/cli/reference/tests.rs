use super::*;

fn cells(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| (*c).to_owned()).collect())
        .collect()
}

#[test]
fn table_aligns_columns_under_a_header() {
    let table = render_table(
        &["UID", "Name"],
        &cells(&[
            &["1.2.840.10008.1.1", "Verification SOP Class"],
            &["1.2", "x"],
        ]),
    );
    assert_eq!(
        table,
        "UID                Name\n\
         1.2.840.10008.1.1  Verification SOP Class\n\
         1.2                x\n"
    );
}

#[test]
fn table_has_no_trailing_spaces_and_counts_characters_not_bytes() {
    let table = render_table(
        &["A", "B", "C"],
        &cells(&[&["é", "", ""], &["ab", "c", ""]]),
    );
    assert_eq!(table, "A   B  C\né\nab  c\n");
}

#[test]
fn table_with_no_rows_is_the_header() {
    assert_eq!(render_table(&["Tag", "Keyword"], &[]), "Tag  Keyword\n");
}

#[test]
fn unknown_uid_only_for_a_valid_uid_that_matched_nothing() {
    let none: Vec<&dictionary::SopClass> = Vec::new();
    let uid = unknown_uid(&none, "1.2.826.0.1.3680043.9.7433.1.1").unwrap();
    assert_eq!(uid.as_str(), "1.2.826.0.1.3680043.9.7433.1.1");
    assert!(unknown_uid(&none, "no.uid").is_none());
    assert!(unknown_uid(&none, "1.02").is_none());
    let some = dictionary::filter(dictionary::sop_classes(), "1.2.840.10008.1.1");
    assert!(unknown_uid(&some, "1.2.840.10008.1.1").is_none());
}

#[test]
fn several_filter_words_are_one_text() {
    let args = ReferenceArgs {
        filter: vec!["explicit".into(), "vr".into(), "little".into()],
        json: false,
    };
    assert_eq!(args.text(), "explicit vr little");
}
