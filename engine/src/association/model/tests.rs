use super::*;

#[test]
fn ae_title_trims_and_validates() {
    assert_eq!(AeTitle::new("  ENS-SCU ").unwrap().as_str(), "ENS-SCU");
    assert!(AeTitle::new("ABCDEFGHIJKLMNOP").is_ok());
    assert!(AeTitle::new("ABCDEFGHIJKLMNOPQ").is_err());
    assert!(AeTitle::new("   ").is_err());
    assert!(AeTitle::new("A\\B").is_err());
    assert!(AeTitle::new("A\tB").is_err());
    assert!(AeTitle::new("*").unwrap().is_wildcard());
}

#[test]
fn ae_title_error_names_value_and_rule() {
    let e = AeTitle::new("A\\B").unwrap_err().to_string();
    assert!(e.contains("\"A\\\\B\"") && e.contains("backslash"), "{e}");
}

#[test]
fn uid_rules() {
    assert!(Uid::new("1.2.840.10008.1.2").is_ok());
    assert_eq!(Uid::new("1.2.3\0").unwrap().as_str(), "1.2.3");
    assert!(Uid::new("1.2.0").is_ok());
    assert!(Uid::new("1.02").is_err());
    assert!(Uid::new("1..2").is_err());
    assert!(Uid::new(".1").is_err());
    assert!(Uid::new("1.2.").is_err());
    assert!(Uid::new("1.2a").is_err());
    assert!(Uid::new("").is_err());
    assert!(Uid::new(&format!("1.{}", "2".repeat(63))).is_err());
    assert!(Uid::new(&format!("1.{}", "2".repeat(62))).is_ok());
}

#[test]
fn presentation_context_refuses_duplicates_and_empty() {
    let a = Uid::new("1.2.3").unwrap();
    let t = Uid::new("1.2.840.10008.1.2").unwrap();
    assert!(PresentationContext::new(a.clone(), vec![]).is_err());
    assert!(PresentationContext::new(a.clone(), vec![t.clone(), t.clone()]).is_err());
    let mut pc = PresentationContext::new(a, vec![t.clone()]).unwrap();
    pc.add_transfer_syntaxes([t, Uid::new("1.2.840.10008.1.2.1").unwrap()]);
    assert_eq!(pc.transfer_syntaxes.len(), 2);
}

#[test]
fn context_limits() {
    let mut ctx = AssociationContext::new(AeTitle::new("A").unwrap(), AeTitle::new("B").unwrap());
    ctx.name = "n".repeat(64);
    ctx.description = "d".repeat(254);
    assert!(ctx.validate().is_ok());
    ctx.name.push('n');
    assert!(matches!(
        ctx.validate(),
        Err(ModelError::NameTooLong { len: 65 })
    ));
    ctx.name.pop();
    ctx.description.push('d');
    assert!(ctx.validate().is_err());
    ctx.description.pop();
    ctx.max_pdu_length = Some(100);
    assert!(ctx.validate().is_err());
    ctx.max_pdu_length = Some(0);
    assert!(ctx.validate().is_ok());
}
