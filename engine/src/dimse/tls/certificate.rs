//! The little of X.509 the trace, the logs and AE-title bindings need: a
//! certificate's subject, read from its DER without a parser crate, its
//! DNS names (webpki, which verified it) and its SHA-256.

use sha2::{Digest, Sha256};

use crate::association::PeerCertificate;

/// One DER element: its tag, its content and what follows it.
fn element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |len, b| len << 8 | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The subject of a certificate (DER), as "C=FR, O=Hospital, CN=ARCHIVE"
/// (the attributes it knows by name, in the certificate's order); `None`
/// when the bytes are not a certificate.
pub fn subject(der: &[u8]) -> Option<String> {
    let parts: Vec<String> = subject_attributes(der)?
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    Some(parts.join(", "))
}

/// What an AE-title binding looks at in a certificate (DER): its subject's
/// common names, its DNS subject alternative names, its SHA-256; `None`
/// when the bytes are not a certificate.
pub fn peer_certificate(der: &[u8]) -> Option<PeerCertificate> {
    let attributes = subject_attributes(der)?;
    let certificate = rustls::pki_types::CertificateDer::from(der);
    let dns_names = webpki::EndEntityCert::try_from(&certificate)
        .map(|c| c.valid_dns_names().map(str::to_string).collect())
        .unwrap_or_default();
    Some(PeerCertificate {
        subject: subject(der)?,
        common_names: attributes
            .into_iter()
            .filter(|(key, _)| *key == "CN")
            .map(|(_, value)| value)
            .collect(),
        dns_names,
        sha256: Sha256::digest(der).into(),
    })
}

/// The subject's attributes it knows by name, in the certificate's order.
fn subject_attributes(der: &[u8]) -> Option<Vec<(&'static str, String)>> {
    let (_, certificate, _) = element(der)?;
    let (_, tbs, _) = element(certificate)?;
    let (tag, _, after_version) = element(tbs)?;
    // [0] version, when present.
    let mut rest = if tag == 0xA0 { after_version } else { tbs };
    // Serial number, signature algorithm, issuer, validity: then subject.
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (_, mut name, _) = element(rest)?;
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (_, mut set, next) = element(name)?;
        name = next;
        while !set.is_empty() {
            let (_, attribute, next) = element(set)?;
            set = next;
            let (_, oid, value) = element(attribute)?;
            let (_, value, _) = element(value)?;
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x06] => "C",
                [0x55, 0x04, 0x07] => "L",
                [0x55, 0x04, 0x08] => "ST",
                [0x55, 0x04, 0x0A] => "O",
                [0x55, 0x04, 0x0B] => "OU",
                _ => continue,
            };
            parts.push((key, String::from_utf8_lossy(value).into_owned()));
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
    /// -subj "/C=FR/O=Hospital/CN=ARCHIVE" -nodes`
    const CERTIFICATE: &str = "
-----BEGIN CERTIFICATE-----
MIIBujCCAV+gAwIBAgIUWj5cBs3mNB+wzmJzk+GdkCRuwNkwCgYIKoZIzj0EAwIw
MjELMAkGA1UEBhMCRlIxETAPBgNVBAoMCEhvc3BpdGFsMRAwDgYDVQQDDAdBUkNI
SVZFMB4XDTI2MTIwNzA2MDAxM1oXDTM2MTIwNDA2MDAxM1owMjELMAkGA1UEBhMC
RlIxETAPBgNVBAoMCEhvc3BpdGFsMRAwDgYDVQQDDAdBUkNISVZFMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEvzhLNclgMsldyvFecZdsJb+dbg2t5f2LX1PopoJ+
rkC940TDjKiImxQUXqMJ6mWKvA1NMUfIPaESa/lrWpMVIaNTMFEwHQYDVR0OBBYE
FPfCyMUdYsHytE5s/w5FZoq6J1JTMB8GA1UdIwQYMBaAFPfCyMUdYsHytE5s/w5F
Zoq6J1JTMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhALQG1TNG
my+ShLMPe4zCrTRilZIOZ20Ly+MbYZPTjvJCAiEAwjBg4SV1x9riKMXZFNcBdEKJ
1GuO4xtfgdun2Uq4iH8=
-----END CERTIFICATE-----
";

    #[test]
    fn the_subject_is_read_and_anything_else_is_none() {
        let der = CertificateDer::from_pem_slice(CERTIFICATE.trim().as_bytes()).unwrap();
        assert_eq!(
            super::subject(der.as_ref()).as_deref(),
            Some("C=FR, O=Hospital, CN=ARCHIVE")
        );
        assert_eq!(super::subject(&der.as_ref()[..40]), None);
        assert_eq!(super::subject(b""), None);
        assert_eq!(super::subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn a_binding_sees_the_common_name_and_the_fingerprint_openssl_prints() {
        let der = CertificateDer::from_pem_slice(CERTIFICATE.trim().as_bytes()).unwrap();
        let peer = super::peer_certificate(der.as_ref()).unwrap();
        assert_eq!(peer.subject, "C=FR, O=Hospital, CN=ARCHIVE");
        assert_eq!(peer.common_names, ["ARCHIVE"]);
        assert!(peer.dns_names.is_empty());
        // `openssl x509 -noout -fingerprint -sha256`
        let printed = "sha256:E9:A0:B5:A3:CA:89:38:A0:CF:1F:78:9A:F1:2E:1B:B5:\
                       1B:2D:37:FA:80:28:C7:CD:29:AD:BF:61:36:A4:54:7F";
        let binding = crate::association::CertificateBinding::new(printed).unwrap();
        assert!(binding.matches(&peer));
        assert_eq!(super::peer_certificate(&der.as_ref()[..40]), None);
    }
}
