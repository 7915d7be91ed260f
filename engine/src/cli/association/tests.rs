use clap::Parser;

use super::*;
use crate::association::PresentationContext;
use crate::cli::{Cli, Command};

fn parse(args: &[&str]) -> Result<AssociationCommand, clap::Error> {
    let mut argv = vec!["switchboard", "association"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv)?;
    let Command::Association(a) = cli.command else {
        panic!("not an association command");
    };
    Ok(a.command)
}

#[test]
fn transfer_syntaxes_repeat_or_list() {
    let Ok(AssociationCommand::Create(a)) = parse(&[
        "create",
        "--calling",
        "A",
        "--called",
        "B",
        "--transfer-syntax",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2",
        "--transfer-syntax",
        "1.2.840.10008.1.2.2",
    ]) else {
        panic!("create did not parse");
    };
    let tss: Vec<&str> = a.transfer_syntaxes.iter().map(Uid::as_str).collect();
    assert_eq!(
        tss,
        [
            "1.2.840.10008.1.2.1",
            "1.2.840.10008.1.2",
            "1.2.840.10008.1.2.2"
        ]
    );
}

#[test]
fn invalid_values_name_value_and_rule() {
    let e = parse(&[
        "show",
        "--calling",
        "WAY-TOO-LONG-AE-TITLE",
        "--called",
        "B",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("WAY-TOO-LONG-AE-TITLE") && e.contains("at most 16"),
        "{e}"
    );
    let e = parse(&[
        "context",
        "add",
        "--calling",
        "A",
        "--called",
        "B",
        "--abstract-syntax",
        "1.2.03",
        "--transfer-syntax",
        "1.2",
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("1.2.03") && e.contains("leading zero"), "{e}");
}

#[test]
fn edit_refuses_both_max_pdu_options() {
    assert!(
        parse(&[
            "edit",
            "--calling",
            "A",
            "--called",
            "B",
            "--max-pdu-length",
            "16384",
            "--clear-max-pdu-length"
        ])
        .is_err()
    );
}

#[test]
fn show_names_known_and_unknown_uids_in_order() {
    let view = AssociationView {
        calling_aet: AeTitle::new("ENS-SCU").unwrap(),
        called_aet: AeTitle::new("MWL-SCP").unwrap(),
        name: String::new(),
        description: "worklist".into(),
        presentation_contexts: vec![
            PresentationContext::new(
                Uid::new("1.2.840.10008.1.1").unwrap(),
                vec![
                    Uid::new("1.2.840.10008.1.2.1").unwrap(),
                    Uid::new("1.2.999.1").unwrap(),
                ],
            )
            .unwrap(),
            PresentationContext::new(
                Uid::new("1.2.999.2").unwrap(),
                vec![Uid::implicit_vr_little_endian()],
            )
            .unwrap(),
        ],
        max_pdu_length: Some(16384),
        certificates: vec![
            "cn:ENS-SCU".parse().unwrap(),
            "san:ens.hospital.org".parse().unwrap(),
        ],
    };
    let text = render_show(&view);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Association ENS-SCU -> MWL-SCP");
    assert!(text.contains("Description:     worklist"), "{text}");
    assert!(text.contains("Max PDU length:  16384"), "{text}");
    assert!(
        text.contains("Certificates:    cn:ENS-SCU, san:ens.hospital.org"),
        "{text}"
    );
    let body: Vec<&str> = lines[8..].iter().map(|l| l.trim()).collect();
    assert_eq!(
        body,
        [
            "1  Verification SOP Class (1.2.840.10008.1.1)",
            "Explicit VR Little Endian (1.2.840.10008.1.2.1)",
            "(unknown) (1.2.999.1)",
            "2  (unknown) (1.2.999.2)",
            "Implicit VR Little Endian (1.2.840.10008.1.2)",
        ]
    );
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&Response::Association { association: view }).unwrap())
            .unwrap();
    assert_eq!(json["calling_aet"], "ENS-SCU");
    assert_eq!(json["max_pdu_length"], 16384);
    assert_eq!(json["certificates"][1], "san:ens.hospital.org");
    assert_eq!(
        json["presentation_contexts"][0]["transfer_syntaxes"][1],
        "1.2.999.1"
    );
}

#[test]
fn reported_errors_keep_their_chain_and_show_fields_as_flags() {
    let err = crate::cli::output::reply_error(crate::admin::ErrorReply {
        message: "top; use `overwrite` to replace it".into(),
        causes: vec![
            "middle: leave out `transfer_syntax`".into(),
            "bottom".into(),
        ],
    });
    let chain: Vec<String> = err.chain().map(|e| e.to_string()).collect();
    assert_eq!(
        chain,
        [
            "top; use --overwrite to replace it",
            "middle: leave out --transfer-syntax",
            "bottom"
        ]
    );
}
