//! DICOM TLS (PS3.15 Annex B). As requestor: a rustls client with the
//! non-downgrading BCP 195 profile (TLS 1.2 or 1.3, rustls' cipher suites,
//! all AEAD with forward secrecy), the remote's certificate verified
//! against a CA bundle and its host name, and our certificate presented
//! when configured. [`Stream`] is a TCP connection with or without it. As
//! acceptor: [`ServerTls`].

mod certificate;
mod reloading;
mod server;
mod stream;

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use certificate::{peer_certificate, subject};
pub use reloading::Reloading;
pub use server::ServerTls;
pub use stream::Stream;

/// What a TLS client needs: its configuration and, when given, the name
/// the remote's certificate must carry (else the host connected to).
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    pub server_name: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// A file that does not make a TLS configuration, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TlsFileError {
    pub path: String,
    pub reason: String,
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsFileError {
    TlsFileError {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The certificates of a PEM file, at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certificates.is_empty() {
        return Err(file_error(
            path,
            "no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certificates)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        file_error(
            path,
            format!("no private key read ({e}; expected PEM: PKCS#8, PKCS#1 or SEC1, unencrypted)"),
        )
    })
}

/// ring's provider: it builds without cmake (aws-lc-rs, which rustls now
/// prefers for its post-quantum key exchange, needs it and builds much
/// slower); BCP 195 asks for none.
#[expect(deprecated, reason = "ring is chosen for its build; see above")]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The protocol versions of the non-downgrading BCP 195 profile.
const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

impl ClientTls {
    /// A client that trusts the CA certificates in `ca` (PEM) and presents
    /// `identity` (certificate chain and private key, PEM) when given.
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate or key, a
    /// certificate the CA bundle refuses, a key that does not fit.
    pub fn new(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Self, TlsFileError> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in certificates(ca)? {
            roots
                .add(certificate)
                .map_err(|e| file_error(ca, format!("not a CA certificate: {e}")))?;
        }
        let provider = Arc::new(provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(VERSIONS)
            .map_err(|e| file_error(ca, e))?
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(certificates(cert)?, private_key(key)?)
                .map_err(|e| {
                    file_error(key, format!("does not go with {}: {e}", cert.display()))
                })?,
        };
        Ok(Self {
            config: Arc::new(config),
            server_name: None,
        })
    }

    /// Runs the handshake on `tcp`, connected to `host`; returns the
    /// stream and a line for the trace (version, cipher suite, the
    /// remote's certificate subject).
    ///
    /// # Errors
    /// The handshake failed (the reason says why: an unknown issuer, a
    /// name that does not match, an expired certificate, no TLS there).
    pub async fn connect(
        &self,
        tcp: tokio::net::TcpStream,
        host: &str,
    ) -> std::io::Result<(Stream, String)> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{name:?} is not a host name or address to verify: {e}"),
            )
        })?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let tls = connector
            .connect(server_name, stream::buffered(tcp))
            .await?;
        let (_, session) = tls.get_ref();
        let described = describe(
            session.protocol_version(),
            session.negotiated_cipher_suite(),
            session.peer_certificates(),
        );
        Ok((Stream::Tls(Box::new(tls)), described))
    }
}

/// "TLSv1_3, TLS13_AES_256_GCM_SHA384, peer CN=archive, O=Hospital".
fn describe(
    version: Option<rustls::ProtocolVersion>,
    suite: Option<rustls::SupportedCipherSuite>,
    certificates: Option<&[CertificateDer<'_>]>,
) -> String {
    let version = version.map_or("unknown version".to_string(), |v| format!("{v:?}"));
    let suite = suite.map_or("unknown cipher suite".to_string(), |s| {
        format!("{:?}", s.suite())
    });
    let peer = certificates
        .and_then(<[_]>::first)
        .and_then(|c| subject(c.as_ref()))
        .unwrap_or_else(|| "no certificate".to_string());
    format!("{version}, {suite}, peer {peer}")
}
