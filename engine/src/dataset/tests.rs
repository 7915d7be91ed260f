use std::io::Cursor;

use dicom_core::Tag;

use super::walk::{self, Encoding, Stop};
use super::{DataSet, can_reencode, read, reencode};

const IMPLICIT: &str = "1.2.840.10008.1.2";
const EXPLICIT: &str = "1.2.840.10008.1.2.1";
const BIG: &str = "1.2.840.10008.1.2.2";
const JPEG: &str = "1.2.840.10008.1.2.4.50";
const UNDEFINED: u32 = 0xFFFF_FFFF;
const EXPLICIT_LE: Encoding = Encoding {
    explicit_vr: true,
    big_endian: false,
};

fn tag_bytes(group: u16, element: u16) -> Vec<u8> {
    [group.to_le_bytes(), element.to_le_bytes()].concat()
}

/// An explicit VR little endian element (the VR decides the header's form).
fn ex(group: u16, element: u16, vr: &str, value: &[u8]) -> Vec<u8> {
    let len = u32::try_from(value.len()).unwrap();
    [ex_header(group, element, vr, len), value.to_vec()].concat()
}

fn ex_header(group: u16, element: u16, vr: &str, len: u32) -> Vec<u8> {
    let mut b = tag_bytes(group, element);
    b.extend_from_slice(vr.as_bytes());
    if ["OB", "OW", "SQ", "UN", "UT"].contains(&vr) {
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&len.to_le_bytes());
    } else {
        b.extend_from_slice(&u16::try_from(len).unwrap().to_le_bytes());
    }
    b
}

/// An implicit VR little endian element.
fn im(group: u16, element: u16, value: &[u8]) -> Vec<u8> {
    let len = u32::try_from(value.len()).unwrap();
    [im_header(group, element, len), value.to_vec()].concat()
}

fn im_header(group: u16, element: u16, len: u32) -> Vec<u8> {
    [tag_bytes(group, element), len.to_le_bytes().to_vec()].concat()
}

fn item(contents: &[u8]) -> Vec<u8> {
    im(0xFFFE, 0xE000, contents)
}

fn read_all(bytes: &[u8], ts: &str, stop: Stop) -> DataSet {
    read(Cursor::new(bytes), bytes.len() as u64, ts, stop).unwrap()
}

fn text(data_set: &DataSet, group: u16, element: u16) -> Option<String> {
    data_set.object.get(Tag(group, element)).map(|e| {
        e.to_str()
            .unwrap()
            .trim_end_matches(['\0', ' '])
            .to_string()
    })
}

/// A well-formed data set: a name, a sequence of defined length with one
/// item of defined length, and pixel data.
fn clean_data_set() -> Vec<u8> {
    let inner = ex(0x0008, 0x1150, "UI", b"1.2.3\0");
    let items = item(&inner);
    [
        ex(0x0008, 0x0060, "CS", b"CT"),
        ex(0x0008, 0x1140, "SQ", &items),
        ex(0x0010, 0x0010, "PN", b"Doe^Jane"),
        ex(0x7FE0, 0x0010, "OW", &[1, 2, 3, 4]),
    ]
    .concat()
}

#[test]
fn a_clean_data_set_is_read_as_it_is_up_to_its_pixel_data() {
    let bytes = clean_data_set();
    let data_set = read_all(&bytes, EXPLICIT, Stop::BeforePixelData);
    assert_eq!((&data_set.cut, data_set.repairs.len()), (&None, 0));
    assert_eq!(text(&data_set, 0x0010, 0x0010).as_deref(), Some("Doe^Jane"));
    let seq = data_set.object.get(Tag(0x0008, 0x1140)).unwrap();
    let inner = &seq.items().unwrap()[0];
    assert_eq!(
        inner.get(Tag(0x0008, 0x1150)).unwrap().to_str().unwrap(),
        "1.2.3"
    );
    assert!(data_set.object.get(Tag(0x7FE0, 0x0010)).is_none());

    let whole = read_all(&bytes, EXPLICIT, Stop::End);
    assert!(whole.object.get(Tag(0x7FE0, 0x0010)).is_some());
}

#[test]
fn a_length_of_four_gigabytes_cuts_a_36_byte_data_set_where_it_lies() {
    // 16 + 12 + 8 bytes: a name, then an OB that claims 4 GiB.
    let bytes = [
        ex(0x0010, 0x0010, "PN", b"Doe^Jane"),
        ex_header(0x0042, 0x0011, "OB", 0xFFFF_FFF0),
        b"12345678".to_vec(),
    ]
    .concat();
    assert_eq!(bytes.len(), 36);
    let data_set = read_all(&bytes, EXPLICIT, Stop::BeforePixelData);
    assert_eq!(text(&data_set, 0x0010, 0x0010).as_deref(), Some("Doe^Jane"));
    assert!(data_set.object.get(Tag(0x0042, 0x0011)).is_none());
    let cut = data_set.cut.unwrap();
    assert!(
        cut.contains("(0042,0011) at byte 16") && cut.contains("4294967280 bytes, but 8 are left"),
        "{cut}"
    );

    // The same lie in implicit VR.
    let bytes = [
        im(0x0010, 0x0010, b"Doe^Jane"),
        im_header(0x0010, 0x0020, 0xFFFF_FFF0),
    ]
    .concat();
    let data_set = read_all(&bytes, IMPLICIT, Stop::BeforePixelData);
    assert_eq!(text(&data_set, 0x0010, 0x0010).as_deref(), Some("Doe^Jane"));
    assert!(data_set.cut.unwrap().contains("(0010,0020) at byte 16"));
}

#[test]
fn an_item_longer_than_its_sequence_cuts_the_data_set_inside_the_sequence() {
    let liar = [
        im_header(0xFFFE, 0xE000, 100),
        ex(0x0008, 0x1150, "UI", b"1.2\0"),
    ]
    .concat();
    let bytes = [
        ex(0x0008, 0x0060, "CS", b"CT"),
        ex(0x0008, 0x1140, "SQ", &liar),
        ex(0x0010, 0x0010, "PN", b"Doe^Jane"),
    ]
    .concat();
    let data_set = read_all(&bytes, EXPLICIT, Stop::BeforePixelData);
    assert_eq!(text(&data_set, 0x0008, 0x0060).as_deref(), Some("CT"));
    assert!(data_set.object.get(Tag(0x0010, 0x0010)).is_none());
    let cut = data_set.cut.unwrap();
    assert!(
        cut.contains("item at byte 22 says it has 100 bytes, but 12 are left"),
        "{cut}"
    );
}

#[test]
fn elements_without_a_vr_under_an_explicit_transfer_syntax_are_read_as_implicit() {
    // As some modalities write JPEG files: a few implicit VR elements
    // among explicit ones.
    let bytes = [
        ex(0x0008, 0x0060, "CS", b"CT"),
        im(0x0010, 0x0010, b"Doe^Jane"),
        ex(0x0010, 0x0020, "LO", b"ID-1"),
    ]
    .concat();
    let data_set = read_all(&bytes, JPEG, Stop::BeforePixelData);
    assert_eq!(data_set.cut, None);
    assert_eq!(text(&data_set, 0x0010, 0x0010).as_deref(), Some("Doe^Jane"));
    assert_eq!(text(&data_set, 0x0010, 0x0020).as_deref(), Some("ID-1"));
    assert_eq!(data_set.repairs.len(), 1, "{:?}", data_set.repairs);
    assert!(data_set.repairs[0].contains("(0010,0010) at byte 10 has no VR"));
}

#[test]
fn a_un_of_undefined_length_is_read_as_the_sequence_it_holds() {
    let contents = [
        im(0xFFFE, 0xE000, &[]).split_at(4).0.to_vec(),
        UNDEFINED.to_le_bytes().to_vec(),
        im(0x0008, 0x1150, b"1.2\0"),
        im(0x0008, 0x1155, b"1.2.3.4\0"),
        im(0xFFFE, 0xE00D, &[]),
        im(0xFFFE, 0xE0DD, &[]),
    ]
    .concat();
    let bytes = [
        ex_header(0x0008, 0x1140, "UN", UNDEFINED),
        contents,
        ex(0x0010, 0x0010, "PN", b"Doe^Jane"),
    ]
    .concat();
    let data_set = read_all(&bytes, EXPLICIT, Stop::BeforePixelData);
    assert_eq!(data_set.cut, None);
    let seq = data_set.object.get(Tag(0x0008, 0x1140)).unwrap();
    let inner = &seq.items().unwrap()[0];
    assert_eq!(
        inner.get(Tag(0x0008, 0x1155)).unwrap().to_str().unwrap(),
        "1.2.3.4"
    );
    assert_eq!(text(&data_set, 0x0010, 0x0010).as_deref(), Some("Doe^Jane"));
    assert!(data_set.repairs[0].contains("UN of undefined length"));
}

#[test]
fn encapsulated_pixel_data_is_read_to_the_end_and_a_lying_fragment_cuts_it() {
    let fragments = |second: u32| {
        [
            ex_header(0x7FE0, 0x0010, "OB", UNDEFINED),
            item(&[]),
            im_header(0xFFFE, 0xE000, second),
            vec![7; 4],
            im(0xFFFE, 0xE0DD, &[]),
        ]
        .concat()
    };
    let name = ex(0x0010, 0x0010, "PN", b"Doe^Jane");
    let bytes = [name.clone(), fragments(4)].concat();
    let data_set = read_all(&bytes, JPEG, Stop::End);
    assert_eq!((&data_set.cut, data_set.repairs.len()), (&None, 0));
    let pixels = data_set.object.get(Tag(0x7FE0, 0x0010)).unwrap();
    assert_eq!(pixels.fragments().unwrap().len(), 1);

    let bytes = [name, fragments(100)].concat();
    let data_set = read_all(&bytes, JPEG, Stop::End);
    let cut = data_set.cut.unwrap();
    assert!(
        cut.contains("fragment at byte 36 ((FFFE,E000), 100 bytes)"),
        "{cut}"
    );
}

#[test]
fn big_endian_headers_are_read_big_endian() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x0010u16.to_be_bytes());
    bytes.extend_from_slice(&0x0010u16.to_be_bytes());
    bytes.extend_from_slice(b"PN");
    bytes.extend_from_slice(&8u16.to_be_bytes());
    bytes.extend_from_slice(b"Doe^Jane");
    let data_set = read_all(&bytes, BIG, Stop::BeforePixelData);
    assert_eq!(text(&data_set, 0x0010, 0x0010).as_deref(), Some("Doe^Jane"));
}

#[test]
fn unknown_and_deflated_transfer_syntaxes_are_refused_by_name() {
    let bytes = clean_data_set();
    let err = read(Cursor::new(&bytes), 4, "1.2.3", Stop::End).unwrap_err();
    assert_eq!(err, "unknown transfer syntax 1.2.3");
    let err = read(Cursor::new(&bytes), 4, "1.2.840.10008.1.2.1.99", Stop::End).unwrap_err();
    assert!(err.contains("Deflated"), "{err}");
}

/// Every byte of a data set with nested sequences of both kinds, changed by
/// one either way or set to 0xFF (which turns lengths into lies by up to
/// four gigabytes): the walk never copies more than it was given (plus the
/// delimiters it adds), and what it writes walks clean and unchanged.
#[test]
fn any_changed_byte_leaves_a_copy_no_larger_than_the_input_that_walks_clean() {
    let undefined_item = [
        im_header(0xFFFE, 0xE000, UNDEFINED),
        ex(0x0008, 0x1155, "UI", b"1.2\0"),
        im(0xFFFE, 0xE00D, &[]),
    ]
    .concat();
    let nested = [
        ex_header(0x0040, 0xA730, "SQ", UNDEFINED),
        undefined_item,
        im(0xFFFE, 0xE0DD, &[]),
    ]
    .concat();
    let original = [
        clean_data_set()[..clean_data_set().len() - 12].to_vec(),
        ex(0x0040, 0x0275, "SQ", &item(&nested)),
        ex(0x0042, 0x0011, "OB", &[0; 6]),
    ]
    .concat();
    let delimiters = 8 * 6;
    for at in 0..original.len() {
        for change in [1u8, 255, 0] {
            let mut bytes = original.clone();
            bytes[at] = if change == 0 {
                0xFF
            } else {
                bytes[at].wrapping_add(change)
            };
            let len = bytes.len() as u64;
            let mut copy = Vec::new();
            let walked = walk::walk(
                Cursor::new(&bytes),
                len,
                EXPLICIT_LE,
                Stop::End,
                Some(&mut copy),
            )
            .unwrap();
            assert!(
                copy.len() <= bytes.len() + delimiters,
                "byte {at} +{change}: {} bytes from {}",
                copy.len(),
                bytes.len()
            );
            let mut again = Vec::new();
            let rewalked = walk::walk(
                Cursor::new(&copy),
                copy.len() as u64,
                EXPLICIT_LE,
                Stop::End,
                Some(&mut again),
            )
            .unwrap();
            assert!(
                rewalked.clean(),
                "byte {at} +{change}: {walked:?} then {rewalked:?}"
            );
            assert_eq!(again, copy, "byte {at} +{change}");
            // And the decoder reads it (or refuses a value) without panicking.
            drop(read(Cursor::new(&bytes), len, EXPLICIT, Stop::End));
        }
    }
}

#[test]
fn implicit_and_explicit_little_endian_re_encode_into_each_other_with_values_untouched() {
    // (0008,0052) STUDY, (0010,0010) Latin-1 "MÜLLER", (0040,0100) a
    // sequence of one item holding (0040,0001) MR1, implicit VR.
    let mut implicit = Vec::new();
    let element = |out: &mut Vec<u8>, g: u16, e: u16, value: &[u8]| {
        out.extend(g.to_le_bytes());
        out.extend(e.to_le_bytes());
        out.extend(u32::try_from(value.len()).unwrap().to_le_bytes());
        out.extend(value);
    };
    element(&mut implicit, 0x0008, 0x0052, b"STUDY ");
    element(&mut implicit, 0x0010, 0x0010, b"M\xdcLLER");
    let mut item = Vec::new();
    element(&mut item, 0x0040, 0x0001, b"MR1 ");
    let mut wrapped = Vec::new();
    element(&mut wrapped, 0xFFFE, 0xE000, &item);
    element(&mut implicit, 0x0040, 0x0100, &wrapped);

    let explicit = reencode(&implicit, IMPLICIT, EXPLICIT).unwrap();
    let object = read(
        std::io::Cursor::new(&explicit),
        explicit.len() as u64,
        EXPLICIT,
        Stop::End,
    )
    .unwrap()
    .object;
    let name = object.get(Tag(0x0010, 0x0010)).unwrap();
    assert_eq!(name.vr(), dicom_core::VR::PN);
    assert!(
        explicit.windows(6).any(|w| w == b"M\xdcLLER"),
        "value bytes untouched"
    );
    let step = object.get(Tag(0x0040, 0x0100)).unwrap().items().unwrap();
    assert_eq!(
        step[0]
            .get(Tag(0x0040, 0x0001))
            .unwrap()
            .to_str()
            .unwrap()
            .trim(),
        "MR1"
    );
    assert!(
        explicit.windows(2).any(|w| w == b"PN"),
        "explicit VR headers"
    );

    // And back: the same bytes as the original, its sequence written with
    // undefined length as every walk writes it.
    let back = reencode(&explicit, EXPLICIT, IMPLICIT).unwrap();
    assert_eq!(back, reencode(&implicit, IMPLICIT, IMPLICIT).unwrap());

    assert!(!can_reencode(EXPLICIT, JPEG));
    let err = reencode(&explicit, EXPLICIT, BIG).unwrap_err();
    assert!(
        err.contains("only between implicit and explicit VR little endian"),
        "{err}"
    );
    let cut = reencode(&implicit[..implicit.len() - 3], IMPLICIT, EXPLICIT).unwrap_err();
    assert!(cut.contains("left") || cut.contains("cut"), "{cut}");
}

#[test]
fn a_value_that_is_not_a_whole_number_of_its_values_is_kept_as_un_or_left_out() {
    // An SL of 14 bytes would leave the decoder reading the next header
    // two bytes early, and sizing a value from whatever it finds there.
    let bytes = [
        ex(0x0008, 0x0060, "CS", b"CT"),
        ex(0x0008, 0x0102, "SL", b"DCM-CODES-ABCD"),
        ex(0x0010, 0x0010, "PN", b"Doe^Jane"),
    ]
    .concat();
    let data_set = read_all(&bytes, EXPLICIT, Stop::End);
    assert_eq!(data_set.cut, None);
    assert_eq!(text(&data_set, 0x0010, 0x0010).as_deref(), Some("Doe^Jane"));
    let kept = data_set.object.get(Tag(0x0008, 0x0102)).unwrap();
    assert_eq!(kept.vr(), dicom_core::VR::UN);
    assert_eq!(&kept.to_bytes().unwrap()[..], b"DCM-CODES-ABCD");
    assert!(
        data_set.repairs[0].contains("is SL of 14 bytes, not a multiple of 4: read as UN"),
        "{:?}",
        data_set.repairs
    );

    // Implicit VR: Rows (US) of 3 bytes cannot be read as anything else.
    let bytes = [
        im(0x0008, 0x0060, b"CT"),
        im(0x0028, 0x0010, &[1, 2, 3, 0]),
        im(0x0028, 0x0011, &[1, 2, 3]),
        im(0x0028, 0x0100, &[16, 0]),
    ]
    .concat();
    let data_set = read_all(&bytes, IMPLICIT, Stop::End);
    assert_eq!(data_set.cut, None);
    assert!(data_set.object.get(Tag(0x0028, 0x0010)).is_some());
    assert!(data_set.object.get(Tag(0x0028, 0x0011)).is_none());
    assert_eq!(
        data_set
            .object
            .get(Tag(0x0028, 0x0100))
            .unwrap()
            .to_int::<u16>()
            .unwrap(),
        16
    );
    assert_eq!(data_set.repairs.len(), 1, "{:?}", data_set.repairs);
    assert!(
        data_set.repairs[0]
            .contains("(0028,0011) at byte 22 is US of 3 bytes, not a multiple of 2: left out")
    );
}

#[test]
fn a_value_that_implicit_vr_would_read_as_a_sequence_is_not_re_encoded_as_implicit() {
    // (0040,A730) Content Sequence, written as LO under explicit VR: an
    // implicit VR reader would look for items in "0040".
    let bytes = [
        ex(0x0008, 0x0060, "CS", b"CT"),
        ex(0x0040, 0xA730, "LO", b"0040"),
        ex(0x0040, 0xA760, "CS", b"NO"),
    ]
    .concat();
    let refused = reencode(&bytes, EXPLICIT, IMPLICIT).unwrap_err();
    assert!(
        refused.contains(
            "re-encoding would leave an element out: (0040,A730) at byte 10 is LO, but would be \
             read as a sequence: left out"
        ),
        "{refused}"
    );
    // Read as it is, it is kept.
    let data_set = read_all(&bytes, EXPLICIT, Stop::End);
    assert_eq!((&data_set.cut, data_set.repairs.len()), (&None, 0));
    assert_eq!(text(&data_set, 0x0040, 0xA730).as_deref(), Some("0040"));
}

#[test]
fn a_un_value_is_checked_as_the_vr_its_tag_has() {
    // Largest Image Pixel Value (US or SS) as UN of 5 bytes: a decoder
    // reads a UN it knows as the dictionary's VR, two bytes at a time.
    let bytes = [
        ex(0x0028, 0x0106, "UN", &[0, 0, 0, 0, 1]),
        ex(0x0028, 0x0107, "UN", &[0, 1]),
        // Referenced Image Sequence as UN: implicit VR items.
        ex(0x0008, 0x1140, "UN", &item(&im(0x0008, 0x1150, b"1.2\0"))),
    ]
    .concat();
    let data_set = read_all(&bytes, EXPLICIT, Stop::End);
    assert_eq!(data_set.cut, None);
    assert!(data_set.object.get(Tag(0x0028, 0x0106)).is_none());
    assert!(data_set.object.get(Tag(0x0028, 0x0107)).is_some());
    let seq = data_set.object.get(Tag(0x0008, 0x1140)).unwrap();
    let inner = &seq.items().unwrap()[0];
    assert_eq!(
        inner.get(Tag(0x0008, 0x1150)).unwrap().to_str().unwrap(),
        "1.2"
    );
    assert_eq!(data_set.repairs.len(), 2, "{:?}", data_set.repairs);
    assert!(
        data_set.repairs[0]
            .contains("(0028,0106) at byte 0 is US of 5 bytes, not a multiple of 2: left out")
    );
    assert!(data_set.repairs[1].contains("is UN holding a sequence: read as the sequence"));
}
