use super::*;
use crate::dimse::status::Status;

#[test]
fn c_echo_round_trips() {
    let rq = CEchoRq::new(7);
    let back =
        DimseCommand::from_bytes(&DimseCommand::EchoRq(rq.clone()).to_bytes().unwrap()).unwrap();
    assert_eq!(back, DimseCommand::EchoRq(rq.clone()));
    assert!(!back.has_data_set());
    let rsp = rq.response(Status::SUCCESS);
    assert_eq!(CEchoRsp::from_command(&rsp.to_command()).unwrap(), rsp);
    assert_eq!(
        DimseCommand::EchoRsp(rsp).describe(),
        "C-ECHO-RSP Verification SOP Class, status #0000H[Success]"
    );
    assert_eq!(
        DimseCommand::EchoRq(rq).describe(),
        "C-ECHO-RQ Verification SOP Class"
    );
}

#[test]
fn c_store_round_trips() {
    let rq = CStoreRq {
        message_id: 3,
        affected_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        affected_sop_instance_uid: "1.2.3.4.5".into(),
        priority: Priority::High,
        move_originator_ae_title: Some("MOVER".into()),
        move_originator_message_id: Some(9),
    };
    let bytes = DimseCommand::StoreRq(rq.clone()).to_bytes().unwrap();
    let back = DimseCommand::from_bytes(&bytes).unwrap();
    assert_eq!(back, DimseCommand::StoreRq(rq.clone()));
    assert!(back.has_data_set());
    assert_eq!(back.describe(), "C-STORE-RQ CT Image Storage");
    let rsp = rq.response(Status::OUT_OF_RESOURCES);
    let back =
        DimseCommand::from_bytes(&DimseCommand::StoreRsp(rsp.clone()).to_bytes().unwrap()).unwrap();
    assert_eq!(back, DimseCommand::StoreRsp(rsp));
    assert_eq!(
        back.describe(),
        "C-STORE-RSP CT Image Storage, status #A700H[Refused: Out of resources]"
    );
    // Odd-length UIDs are padded on the wire and trimmed on reading.
    assert_eq!(bytes.len() % 2, 0);
}

#[test]
fn other_commands_are_decoded_enough_to_answer() {
    let find = InMemDicomObject::command_from_element_iter([
        us(tags::COMMAND_FIELD, command_field::C_FIND_RQ),
        us(tags::MESSAGE_ID, 4),
        us(tags::COMMAND_DATA_SET_TYPE, 0),
    ]);
    let DimseCommand::Other(other) = DimseCommand::from_command(&find).unwrap() else {
        panic!("expected Other")
    };
    assert_eq!(other.message_id, Some(4));
    assert!(other.has_data_set);
    let rsp = decode_command_set(
        &encode_failure_response(&other, Status::UNRECOGNIZED_OPERATION).unwrap(),
    )
    .unwrap();
    assert_eq!(
        get_u16(&rsp, tags::COMMAND_FIELD, "").unwrap(),
        command_field::C_FIND_RSP
    );
    assert_eq!(get_u16(&rsp, tags::STATUS, "").unwrap(), 0x0211);
    assert!(DimseCommand::Other(other).to_bytes().is_err());
}

#[test]
fn malformed_command_sets_are_errors_not_panics() {
    assert!(decode_command_set(&[1, 2, 3]).is_err());
    // An element that claims 4 GiB.
    assert!(decode_command_set(&[0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0]).is_err());
    // An element outside group 0000.
    assert!(decode_command_set(&[8, 0, 0x18, 0, 2, 0, 0, 0, b'1', 0]).is_err());
    assert!(matches!(
        decode_command_set(&vec![0; MAX_COMMAND_SET_LENGTH + 2]),
        Err(CommandError::TooLong(_))
    ));
    // No command field.
    let empty = InMemDicomObject::command_from_element_iter([us(tags::MESSAGE_ID, 1)]);
    assert!(DimseCommand::from_command(&empty).is_err());
    // A C-ECHO-RQ without a message ID.
    let echo = InMemDicomObject::command_from_element_iter([us(
        tags::COMMAND_FIELD,
        command_field::C_ECHO_RQ,
    )]);
    assert!(matches!(
        DimseCommand::from_command(&echo),
        Err(CommandError::Missing(_))
    ));
    // Pseudo-random inputs never panic.
    let mut x: u32 = 99;
    for len in 0..300 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let _unused = DimseCommand::from_bytes(&bytes);
    }
}

#[test]
fn command_names() {
    assert_eq!(command_name(0x0030), Some("C-ECHO-RQ"));
    assert_eq!(command_name(0x8001), Some("C-STORE-RSP"));
    assert_eq!(command_name(0x0FFF), Some("C-CANCEL-RQ"));
    assert_eq!(command_name(0x1234), None);
}

#[test]
fn c_store_rq_without_a_data_set_is_refused() {
    let rq = InMemDicomObject::command_from_element_iter([
        us(tags::COMMAND_FIELD, command_field::C_STORE_RQ),
        us(tags::MESSAGE_ID, 5),
        us(tags::COMMAND_DATA_SET_TYPE, 0x0101),
        dicom_core::DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            dicom_core::VR::UI,
            dicom_core::PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2"),
        ),
        dicom_core::DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            dicom_core::VR::UI,
            dicom_core::PrimitiveValue::from("1.2.3"),
        ),
    ]);
    assert!(matches!(
        DimseCommand::from_command(&rq),
        Err(CommandError::Invalid(_))
    ));
}
