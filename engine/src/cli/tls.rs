//! `--tls --ca FILE [--cert FILE --key FILE] [--tls-name NAME]`: DICOM TLS
//! for the commands that connect to a peer (`echo`, `association test`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::dimse::tls::ClientTls;

/// How to reach a peer that requires DICOM TLS.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Connect with DICOM TLS (TLS 1.2 or 1.3), verifying the peer's
    /// certificate against --ca and the host name (or --tls-name).
    #[arg(long)]
    pub tls: bool,
    /// The CA certificates (PEM) that signed the peer's certificate.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca: Option<PathBuf>,
    /// Our certificate chain (PEM), for a peer that asks for one.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,
    /// The private key (PEM, unencrypted) of --cert.
    #[arg(long, value_name = "FILE", requires_all = ["tls", "cert"])]
    pub key: Option<PathBuf>,
    /// The name the peer's certificate must carry, when it is not the host
    /// connected to.
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub tls_name: Option<String>,
}

impl TlsArgs {
    /// The TLS client the flags describe, if `--tls`.
    ///
    /// # Errors
    /// `--tls` without `--ca`, and files that do not make a client.
    pub fn client(&self) -> anyhow::Result<Option<ClientTls>> {
        if !self.tls {
            return Ok(None);
        }
        let Some(ca) = &self.ca else {
            bail!(
                "--tls needs --ca FILE: the CA certificates (PEM) that signed the peer's certificate"
            );
        };
        let identity = self.cert.as_deref().zip(self.key.as_deref());
        let mut client = ClientTls::new(ca, identity).context("cannot set up TLS")?;
        client.server_name.clone_from(&self.tls_name);
        Ok(Some(client))
    }
}
