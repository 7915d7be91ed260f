//! TLS as acceptor: a DICOM service that speaks only TLS, with the same
//! profile as the client, asking for a client certificate signed by a
//! configured CA bundle when one is given; and the portal's HTTPS.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use super::certificate::peer_certificate;
use super::stream::{Buffered, buffered};
use crate::association::PeerCertificate;

use super::{TlsFileError, VERSIONS, certificates, describe, file_error, private_key, provider};

/// What a TLS service needs.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    /// The certificate it presents (the chain's first).
    presented: CertificateDer<'static>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A server presenting `certificate` (chain, PEM) with `key` (PEM);
    /// with `client_ca`, a requester must present a certificate signed by
    /// one of its CAs.
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate or key, a key
    /// that does not go with the certificate.
    pub fn new(
        certificate: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<Self, TlsFileError> {
        let provider = Arc::new(provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| file_error(certificate, e))?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in certificates(ca)? {
                    roots
                        .add(c)
                        .map_err(|e| file_error(ca, format!("not a CA certificate: {e}")))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| file_error(ca, e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let chain = certificates(certificate)?;
        let presented = chain
            .first()
            .cloned()
            .ok_or_else(|| file_error(certificate, "no certificate in it"))?;
        let config = builder
            .with_single_cert(chain, private_key(key)?)
            .map_err(|e| {
                file_error(
                    key,
                    format!("does not go with {}: {e}", certificate.display()),
                )
            })?;
        Ok(Self {
            config: Arc::new(config),
            presented,
        })
    }

    /// A web server's: `certificate` with `key`, HTTP/1.1 named by ALPN,
    /// no client certificate.
    ///
    /// # Errors
    /// As [`ServerTls::new`].
    pub fn https(certificate: &Path, key: &Path) -> Result<Self, TlsFileError> {
        let mut tls = Self::new(certificate, key, None)?;
        Arc::make_mut(&mut tls.config).alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tls)
    }

    /// Whether a browser would take the certificate it presents for
    /// `host`, a DNS name or an IP address (its subject alternative names,
    /// wildcards included).
    pub fn presents_for(&self, host: &str) -> bool {
        let Ok(name) = ServerName::try_from(host) else {
            return false;
        };
        webpki::EndEntityCert::try_from(&self.presented)
            .is_ok_and(|c| c.verify_is_valid_for_subject_name(&name).is_ok())
    }

    /// The DNS names of the certificate it presents.
    pub fn dns_names(&self) -> Vec<String> {
        webpki::EndEntityCert::try_from(&self.presented)
            .map(|c| c.valid_dns_names().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Runs the handshake on an accepted connection; returns the stream,
    /// a line for the trace (version, cipher suite, the requester's
    /// certificate subject) and the requester's certificate, if any.
    ///
    /// # Errors
    /// The handshake failed: not TLS, no or a refused client certificate.
    pub async fn accept(
        &self,
        tcp: TcpStream,
    ) -> std::io::Result<(
        tokio_rustls::server::TlsStream<Buffered>,
        String,
        Option<PeerCertificate>,
    )> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.clone());
        let tls = acceptor.accept(buffered(tcp)).await?;
        let (_, session) = tls.get_ref();
        let described = describe(
            session.protocol_version(),
            session.negotiated_cipher_suite(),
            session.peer_certificates(),
        );
        let certificate = session
            .peer_certificates()
            .and_then(<[_]>::first)
            .and_then(|c| peer_certificate(c.as_ref()));
        Ok((tls, described, certificate))
    }
}
