use super::*;

fn title(s: &str) -> AeTitle {
    AeTitle::new(s).unwrap()
}

fn certificate(cn: &str, dns: &[&str], first_byte: u8) -> PeerCertificate {
    let mut sha256 = [0u8; 32];
    sha256[0] = first_byte;
    PeerCertificate {
        subject: format!("O=Hospital, CN={cn}"),
        common_names: vec![cn.to_string()],
        dns_names: dns.iter().map(ToString::to_string).collect(),
        sha256,
    }
}

fn bound(calling: &str, bindings: &[&str]) -> AssociationContext {
    let mut ctx = AssociationContext::new(title(calling), title("ROUTER"));
    ctx.certificates = bindings
        .iter()
        .map(|b| CertificateBinding::new(b).unwrap())
        .collect();
    ctx
}

#[test]
fn bindings_read_and_print_their_three_forms() {
    let fingerprint = format!("sha256:{}", ["ab"; 32].join(":"));
    for (text, printed) in [
        ("cn:STORESCU", "cn:STORESCU".to_string()),
        (" CN: STORESCU ", "cn:STORESCU".to_string()),
        (
            "san:Modality1.Hospital.org",
            "san:modality1.hospital.org".to_string(),
        ),
        (
            fingerprint.as_str(),
            format!("sha256:{}", ["AB"; 32].join(":")),
        ),
    ] {
        let binding = CertificateBinding::new(text).unwrap();
        assert_eq!(binding.to_string(), printed, "{text}");
        assert_eq!(CertificateBinding::new(&printed).unwrap(), binding);
    }
    let plain_hex = format!("sha256:{}", "ab".repeat(32));
    assert_eq!(
        CertificateBinding::new(&plain_hex).unwrap(),
        CertificateBinding::new(&fingerprint).unwrap()
    );
}

#[test]
fn a_bad_binding_says_what_and_how_to_write_it() {
    for (text, rule) in [
        ("STORESCU", "no form given"),
        ("cn:", "nothing follows the form"),
        ("uid:STORESCU", "unknown form"),
        (
            "sha256:ABCD",
            "a SHA-256 fingerprint is 64 hexadecimal digits",
        ),
        ("cn:A\nB", "must not contain control characters"),
    ] {
        let error = CertificateBinding::new(text).unwrap_err();
        assert_eq!(error.rule, rule, "{text}");
        let message = error.to_string();
        assert!(message.contains(&format!("{text:?}")), "{message}");
        assert!(
            message.contains("cn:NAME") && message.contains("sha256:HEX"),
            "{message}"
        );
    }
}

#[test]
fn a_binding_matches_by_common_name_dns_name_or_fingerprint() {
    let c = certificate("STORESCU", &["ct1.hospital.org"], 7);
    assert!(CertificateBinding::new("cn:STORESCU").unwrap().matches(&c));
    assert!(!CertificateBinding::new("cn:storescu").unwrap().matches(&c));
    assert!(
        CertificateBinding::new("san:CT1.hospital.org")
            .unwrap()
            .matches(&c)
    );
    assert!(
        !CertificateBinding::new("san:ct2.hospital.org")
            .unwrap()
            .matches(&c)
    );
    let mut digest = "07".to_string();
    digest.push_str(&"00".repeat(31));
    assert!(
        CertificateBinding::new(&format!("sha256:{digest}"))
            .unwrap()
            .matches(&c)
    );
    assert!(
        !CertificateBinding::new(&format!("sha256:{}", "00".repeat(32)))
            .unwrap()
            .matches(&c)
    );
}

#[test]
fn a_requester_is_refused_a_title_its_certificate_does_not_carry() {
    let storescu = certificate("STORESCU", &[], 1);
    let none = |_: &PeerCertificate| Vec::new();
    // Unbound association: any certificate or none.
    let open = bound("ECHOSCU", &[]);
    assert_eq!(refusal(&title("ECHOSCU"), &open, None, none), None);
    assert_eq!(
        refusal(&title("ECHOSCU"), &open, Some(&storescu), none),
        None
    );
    // Bound: the certificate must match.
    let strict = bound("STORESCU", &["cn:STORESCU", "san:ct1.hospital.org"]);
    assert_eq!(
        refusal(&title("STORESCU"), &strict, Some(&storescu), none),
        None
    );
    let why = refusal(&title("STORESCU"), &strict, None, none).unwrap();
    assert!(
        why.contains("STORESCU") && why.contains("presented none"),
        "{why}"
    );
    let other = certificate("OTHER", &[], 2);
    let why = refusal(&title("STORESCU"), &strict, Some(&other), none).unwrap();
    assert!(
        why.contains("CN=OTHER")
            && why.contains("calling AE title STORESCU")
            && why.contains("cn:STORESCU, san:ct1.hospital.org"),
        "{why}"
    );
    // A certificate bound to STORESCU cannot call as OTHER, even where
    // OTHER's association binds nothing; a wildcard binding is no title.
    let elsewhere = |_: &PeerCertificate| vec![title("STORESCU"), title("*")];
    let why = refusal(
        &title("OTHER"),
        &bound("OTHER", &[]),
        Some(&storescu),
        elsewhere,
    )
    .unwrap();
    assert!(
        why.contains("CN=STORESCU")
            && why.contains("bound to calling AE title STORESCU, not to OTHER"),
        "{why}"
    );
    let wildcard = |_: &PeerCertificate| vec![title("*"), title("OTHER")];
    assert_eq!(
        refusal(
            &title("OTHER"),
            &bound("OTHER", &[]),
            Some(&storescu),
            wildcard
        ),
        None
    );
}
