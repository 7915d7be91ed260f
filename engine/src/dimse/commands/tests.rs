use super::*;
use crate::dimse::status::{Status, StatusCategory};

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

/// A C-STORE-RQ of a C-MOVE sub-operation: every element it can have.
fn store_rq() -> CStoreRq {
    CStoreRq {
        message_id: 3,
        affected_sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        affected_sop_instance_uid: "1.2.3.4.5".into(),
        priority: Priority::High,
        move_originator_ae_title: Some("MOVER".into()),
        move_originator_message_id: Some(9),
    }
}

#[test]
fn c_store_round_trips() {
    let rq = store_rq();
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
    let moved = InMemDicomObject::command_from_element_iter([
        us(tags::COMMAND_FIELD, command_field::N_GET_RQ),
        us(tags::MESSAGE_ID, 4),
        us(tags::COMMAND_DATA_SET_TYPE, 0),
    ]);
    let DimseCommand::Other(other) = DimseCommand::from_command(&moved).unwrap() else {
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
        command_field::N_GET_RSP
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

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Command sets as pynetdicom 3.0.4 encodes them (`dimse_messages`, implicit
/// VR little endian), for Message ID 7 and Patient Root FIND.
const PYNETDICOM_FIND_RQ: &str = "00000000040000004c000000000002001c000000312e322e3834302e31303030382e352e312e342e312e322e312e310000000001020000002000000010010200000007000000000702000000020000000008020000000100";
const PYNETDICOM_FIND_RSP_PENDING: &str = "00000000040000004c000000000002001c000000312e322e3834302e31303030382e352e312e342e312e322e312e3100000000010200000020800000200102000000070000000008020000000100000000090200000001ff";
const PYNETDICOM_FIND_RSP_FAILED: &str = "000000000400000062000000000002001c000000312e322e3834302e31303030382e352e312e342e312e322e312e3100000000010200000020800000200102000000070000000008020000000101000000090200000001c0000002090e000000757073747265616d20646f776e20";
const PYNETDICOM_CANCEL: &str =
    "00000000040000001e0000000000000102000000ff0f0000200102000000070000000008020000000101";
const PATIENT_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.1.1";

#[test]
fn c_find_and_c_cancel_read_what_pynetdicom_writes() {
    let rq = CFindRq {
        message_id: 7,
        affected_sop_class_uid: PATIENT_ROOT_FIND.into(),
        priority: Priority::Low,
    };
    let back = DimseCommand::from_bytes(&unhex(PYNETDICOM_FIND_RQ)).unwrap();
    assert_eq!(back, DimseCommand::FindRq(rq.clone()));
    assert!(back.has_data_set() && back.is_request());
    assert_eq!(back.message_id(), Some(7));

    let pending = DimseCommand::from_bytes(&unhex(PYNETDICOM_FIND_RSP_PENDING)).unwrap();
    let DimseCommand::FindRsp(pending) = pending else {
        panic!("{pending:?}");
    };
    assert_eq!(
        (pending.status, pending.has_identifier),
        (Status(0xFF01), true)
    );
    assert_eq!(pending.status.category(), StatusCategory::Pending);

    let failed = DimseCommand::from_bytes(&unhex(PYNETDICOM_FIND_RSP_FAILED)).unwrap();
    let DimseCommand::FindRsp(failed) = failed else {
        panic!("{failed:?}");
    };
    assert_eq!(failed.status, Status(0xC001));
    assert!(!failed.has_identifier);
    assert_eq!(failed.error_comment.as_deref(), Some("upstream down"));
    assert_eq!(failed.message_id_being_responded_to, 7);

    let cancel = DimseCommand::from_bytes(&unhex(PYNETDICOM_CANCEL)).unwrap();
    assert_eq!(
        cancel,
        DimseCommand::CancelRq(CCancelRq {
            message_id_being_responded_to: 7
        })
    );
    assert!(!cancel.has_data_set() && cancel.is_request());
    assert_eq!(cancel.message_id_being_responded_to(), Some(7));
}

#[test]
fn c_find_responses_round_trip_with_a_bounded_error_comment() {
    let rq = CFindRq {
        message_id: 12,
        affected_sop_class_uid: PATIENT_ROOT_FIND.into(),
        priority: Priority::Medium,
    };
    let bytes = DimseCommand::FindRq(rq.clone()).to_bytes().unwrap();
    assert_eq!(
        DimseCommand::from_bytes(&bytes).unwrap(),
        DimseCommand::FindRq(rq.clone())
    );
    for status in [Status(0xFF00), Status(0xFF01)] {
        let pending = rq.response(status);
        assert!(pending.has_identifier);
        let back =
            DimseCommand::from_bytes(&DimseCommand::FindRsp(pending.clone()).to_bytes().unwrap())
                .unwrap();
        assert_eq!(back, DimseCommand::FindRsp(pending));
    }
    let mut failed = rq.response(Status(0xA700));
    assert!(!failed.has_identifier);
    failed.error_comment = Some(format!("upstream\\down {}", "x".repeat(100)));
    let back = DimseCommand::from_bytes(&DimseCommand::FindRsp(failed.clone()).to_bytes().unwrap())
        .unwrap();
    let DimseCommand::FindRsp(back) = back else {
        panic!("{back:?}");
    };
    let comment = back.error_comment.unwrap();
    assert_eq!(comment.chars().count(), MAX_ERROR_COMMENT);
    assert!(comment.starts_with("upstream/down x"), "{comment}");
    assert_eq!(
        DimseCommand::FindRsp(rq.response(Status::SUCCESS)).describe(),
        "C-FIND-RSP Patient Root Query/Retrieve Information Model - FIND, status #0000H[Success]"
    );
}

#[test]
fn a_c_find_rq_without_an_identifier_is_refused_by_name() {
    let mut command = CFindRq {
        message_id: 1,
        affected_sop_class_uid: PATIENT_ROOT_FIND.into(),
        priority: Priority::Medium,
    }
    .to_command();
    command.put(us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET));
    let err = DimseCommand::from_command(&command).unwrap_err();
    assert!(
        err.to_string().contains("must carry an identifier"),
        "{err}"
    );
}

/// C-MOVE and C-GET command sets as pynetdicom 3.0.4 encodes them: a move of
/// Study Root to STORESCP (Message ID 7, low priority), a pending response
/// with 3 remaining and 1 completed, a final B000H with 3 completed and 1
/// failed (no Remaining) and an identifier; a C-GET-RQ (ID 9) and its
/// FE00H response after a cancel.
const PYNETDICOM_MOVE_RQ: &str = "00000000040000005c000000000002001c000000312e322e3834302e31303030382e352e312e342e312e322e322e32000000000102000000210000001001020000000700000000060800000053544f52455343500000000702000000020000000008020000000100";
const PYNETDICOM_MOVE_RSP_PENDING: &str = "000000000400000074000000000002001c000000312e322e3834302e31303030382e352e312e342e312e322e322e3200000000010200000021800000200102000000070000000008020000000101000000090200000000ff00002010020000000300000021100200000001000000221002000000000000002310020000000000";
const PYNETDICOM_MOVE_RSP_FINAL: &str = "00000000040000006a000000000002001c000000312e322e3834302e31303030382e352e312e342e312e322e322e3200000000010200000021800000200102000000070000000008020000000100000000090200000000b0000021100200000003000000221002000000010000002310020000000000";
const PYNETDICOM_GET_RQ: &str = "00000000040000004c000000000002001c000000312e322e3834302e31303030382e352e312e342e312e322e322e330000000001020000001000000010010200000009000000000702000000000000000008020000000100";
const PYNETDICOM_GET_RSP_CANCEL: &str = "000000000400000074000000000002001c000000312e322e3834302e31303030382e352e312e342e312e322e322e3300000000010200000010800000200102000000090000000008020000000101000000090200000000fe00002010020000000200000021100200000001000000221002000000000000002310020000000000";
const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";

#[test]
fn c_move_and_c_get_read_what_pynetdicom_writes() {
    let rq = CMoveRq {
        message_id: 7,
        affected_sop_class_uid: STUDY_ROOT_MOVE.into(),
        priority: Priority::Low,
        move_destination: "STORESCP".into(),
    };
    let back = DimseCommand::from_bytes(&unhex(PYNETDICOM_MOVE_RQ)).unwrap();
    assert_eq!(back, DimseCommand::MoveRq(rq.clone()));
    assert!(back.has_data_set() && back.is_request());
    assert_eq!(back.message_id(), Some(7));

    let pending = DimseCommand::from_bytes(&unhex(PYNETDICOM_MOVE_RSP_PENDING)).unwrap();
    assert_eq!(
        pending,
        DimseCommand::RetrieveRsp(rq.response(Status::PENDING, SubOperations::new(3, 1, 0, 0)))
    );
    assert!(!pending.has_data_set() && !pending.is_request());
    assert_eq!(
        pending.describe(),
        "C-MOVE-RSP Study Root Query/Retrieve Information Model - MOVE, status #FF00H[Pending: Sub-operations are continuing], 3 remaining, 1 completed, 0 failed, 0 warning"
    );

    let DimseCommand::RetrieveRsp(last) =
        DimseCommand::from_bytes(&unhex(PYNETDICOM_MOVE_RSP_FINAL)).unwrap()
    else {
        panic!("expected a C-MOVE-RSP");
    };
    assert_eq!(last.status, Status(0xB000));
    assert!(!last.is_pending() && last.has_data_set);
    assert_eq!(
        last.sub_operations,
        SubOperations {
            remaining: None,
            completed: Some(3),
            failed: Some(1),
            warning: Some(0),
        }
    );

    let get = CGetRq {
        message_id: 9,
        affected_sop_class_uid: STUDY_ROOT_GET.into(),
        priority: Priority::Medium,
    };
    let back = DimseCommand::from_bytes(&unhex(PYNETDICOM_GET_RQ)).unwrap();
    assert_eq!(back, DimseCommand::GetRq(get.clone()));
    let cancelled = DimseCommand::from_bytes(&unhex(PYNETDICOM_GET_RSP_CANCEL)).unwrap();
    assert_eq!(
        cancelled,
        DimseCommand::RetrieveRsp(get.response(Status::CANCEL, SubOperations::new(2, 1, 0, 0)))
    );
    assert_eq!(cancelled.command_field(), command_field::C_GET_RSP);
    assert_eq!(cancelled.message_id_being_responded_to(), Some(9));
}

#[test]
fn retrieve_commands_round_trip() {
    let rq = CMoveRq {
        message_id: 65535,
        affected_sop_class_uid: STUDY_ROOT_MOVE.into(),
        priority: Priority::High,
        move_destination: "ARCHIVE".into(),
    };
    let back = DimseCommand::from_bytes(&DimseCommand::MoveRq(rq.clone()).to_bytes().unwrap());
    assert_eq!(back.unwrap(), DimseCommand::MoveRq(rq.clone()));
    let mut last = rq.response(Status(0xA702), SubOperations::new(0, 0, 2, 0));
    last.has_data_set = true;
    last.error_comment = Some("ARCHIVE refused every instance".into());
    let back =
        DimseCommand::from_bytes(&DimseCommand::RetrieveRsp(last.clone()).to_bytes().unwrap())
            .unwrap();
    assert_eq!(back, DimseCommand::RetrieveRsp(last));
    assert!(back.describe().contains(
        "#A702H[Refused: Out of resources - Unable to perform sub-operations], 0 remaining, 0 completed, 2 failed"
    ));
    // A response without counts writes none.
    let bare = rq.response(Status(0xA801), SubOperations::default());
    let obj = bare.to_command();
    assert!(obj.get(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS).is_none());
    assert_eq!(
        DimseCommand::RetrieveRsp(bare).describe(),
        "C-MOVE-RSP Study Root Query/Retrieve Information Model - MOVE, status #A801H[Refused: Move Destination unknown]"
    );
}

#[test]
fn retrieve_requests_without_what_they_need_are_refused_by_name() {
    let mut command = CMoveRq {
        message_id: 1,
        affected_sop_class_uid: STUDY_ROOT_MOVE.into(),
        priority: Priority::Medium,
        move_destination: "X".into(),
    }
    .to_command();
    command.remove_element(tags::MOVE_DESTINATION);
    let err = DimseCommand::from_command(&command).unwrap_err();
    assert!(
        err.to_string().contains("Move Destination (0000,0600)"),
        "{err}"
    );
    let mut command = CGetRq {
        message_id: 1,
        affected_sop_class_uid: STUDY_ROOT_GET.into(),
        priority: Priority::Medium,
    }
    .to_command();
    command.put(us(tags::COMMAND_DATA_SET_TYPE, NO_DATA_SET));
    let err = DimseCommand::from_command(&command).unwrap_err();
    assert!(
        err.to_string()
            .contains("C-GET-RQ must carry an identifier"),
        "{err}"
    );
}

#[test]
fn the_failed_uid_list_is_what_pydicom_writes() {
    let uids = ["1.2.3".to_string(), "1.2.3.4".to_string()];
    // pydicom 3, explicit VR little endian.
    assert_eq!(
        failed_uid_list(&uids, "1.2.840.10008.1.2.1").unwrap(),
        unhex("0800580055490e00312e322e335c312e322e332e3400")
    );
    assert!(failed_uid_list(&uids, "1.2.3.999").is_err());
}

#[test]
fn an_element_whose_length_does_not_fit_its_vr_is_refused_before_the_parser() {
    // (0000,0000) UL of 11 bytes: the parser would read the next header
    // from the middle of the value (a fuzzer found it sizing a buffer of
    // gigabytes from there).
    let mut bytes = vec![0, 0, 0, 0, 11, 0, 0, 0];
    bytes.extend([0; 11]);
    let error = decode_command_set(&bytes).unwrap_err().to_string();
    assert!(
        error.contains("(0000,0000) has 11 bytes, not a multiple of 4"),
        "{error}"
    );
    // A US of 3 bytes, likewise.
    let bytes = [0, 0, 0x10, 0x01, 3, 0, 0, 0, 1, 0, 0];
    assert!(decode_command_set(&bytes).is_err());
}

/// The command codec writes the bytes the generic data-set writer writes,
/// and reads what the generic reader reads, for every command modelled
/// here and for pynetdicom's command sets.
#[test]
fn the_command_codec_agrees_with_the_generic_data_set_codec() {
    let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let generic_decode = |bytes: &[u8]| InMemDicomObject::read_dataset_with_ts(bytes, &ts).unwrap();
    let store = store_rq();
    let find = CFindRq {
        message_id: 12,
        affected_sop_class_uid: PATIENT_ROOT_FIND.into(),
        priority: Priority::Medium,
    };
    let mv = CMoveRq {
        message_id: 7,
        affected_sop_class_uid: STUDY_ROOT_MOVE.into(),
        priority: Priority::Low,
        move_destination: "STORESCP".into(),
    };
    let mut commands = vec![
        DimseCommand::EchoRq(CEchoRq::new(7)).to_bytes().unwrap(),
        DimseCommand::EchoRsp(CEchoRq::new(7).response(Status::SUCCESS))
            .to_bytes()
            .unwrap(),
        DimseCommand::StoreRq(store.clone()).to_bytes().unwrap(),
        DimseCommand::StoreRsp(store.response(Status::OUT_OF_RESOURCES))
            .to_bytes()
            .unwrap(),
        DimseCommand::FindRq(find.clone()).to_bytes().unwrap(),
        DimseCommand::FindRsp(find.response(Status(0xFF00)))
            .to_bytes()
            .unwrap(),
        DimseCommand::FindRsp(CFindRsp {
            error_comment: Some("odd comment\\with a backslash é!".into()),
            ..find.response(Status(0xC000))
        })
        .to_bytes()
        .unwrap(),
        DimseCommand::MoveRq(mv.clone()).to_bytes().unwrap(),
        DimseCommand::RetrieveRsp(mv.response(Status::PENDING, SubOperations::new(3, 1, 0, 0)))
            .to_bytes()
            .unwrap(),
        encode_failure_response(&DimseCommand::MoveRq(mv).to_other(), Status(0xA900)).unwrap(),
        // Outside ASCII: written as `?`.
        DimseCommand::FindRsp(CFindRsp {
            error_comment: Some("snow ☃".into()),
            ..find.response(Status(0xC000))
        })
        .to_bytes()
        .unwrap(),
    ];
    let encoded = commands.len();
    for hex in [
        PYNETDICOM_FIND_RQ,
        PYNETDICOM_FIND_RSP_PENDING,
        PYNETDICOM_FIND_RSP_FAILED,
        PYNETDICOM_CANCEL,
        PYNETDICOM_MOVE_RQ,
        PYNETDICOM_MOVE_RSP_PENDING,
        PYNETDICOM_MOVE_RSP_FINAL,
        PYNETDICOM_GET_RQ,
        PYNETDICOM_GET_RSP_CANCEL,
    ] {
        commands.push(unhex(hex));
    }
    assert!(commands[encoded - 1].ends_with(b"snow ?"));
    for (n, bytes) in commands.iter().enumerate() {
        let theirs = generic_decode(bytes);
        let ours = decode_command_set(bytes).unwrap();
        assert_eq!(ours, theirs, "command set {n} read differently");
        assert_eq!(
            &super::codec::encode(&theirs).unwrap(),
            &super::codec::encode_generic(&theirs).unwrap(),
            "command set {n} written differently"
        );
        if n < encoded {
            // What we wrote is what the generic writer writes.
            assert_eq!(bytes, &super::codec::encode_generic(&theirs).unwrap());
        }
    }
}
