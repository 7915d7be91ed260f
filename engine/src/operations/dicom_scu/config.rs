//! Configuration of a `dicom-tcp` operation: a DICOM SCU that delivers
//! queued messages to one remote application entity.

use serde::{Deserialize, Serialize};

use crate::association::AeTitle;
use crate::component::{FieldError, HumanDuration};

/// `type = "dicom-tcp"` under `[operations.NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomScuConfig {
    /// Host name or IP address of the remote.
    pub host: String,
    /// TCP port of the remote.
    pub port: u16,
    /// Called AE title: the remote's.
    pub remote_ae_title: AeTitle,
    /// Calling AE title: ours. The presentation contexts proposed come from
    /// the stored association (local_ae_title → remote_ae_title).
    pub local_ae_title: AeTitle,
    /// How many associations to the remote may be open at once.
    #[serde(default = "default_max_associations")]
    pub max_associations: usize,
    /// What to do when a delivery fails for a reason that may pass.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Limit for the TCP connect and the association negotiation.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// Limit for the remote's C-STORE-RSP.
    #[serde(default = "default_response_timeout")]
    pub response_timeout: HumanDuration,
    /// Limit for one write to a remote that stops reading (a full TCP
    /// window): past it the association is aborted and the message retried.
    #[serde(default = "default_write_timeout")]
    pub write_timeout: HumanDuration,
    /// An open association with nothing to send is released after this.
    #[serde(default = "default_idle_release")]
    pub idle_release: HumanDuration,
    /// Largest PDU we accept from the remote.
    #[serde(default = "default_max_pdu_length")]
    pub max_pdu_length: u32,
    /// DICOM TLS to the remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ScuTls>,
}

/// `[operations.NAME.tls]`: how the remote is reached with TLS (PEM files;
/// relative paths are relative to the engine's working directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScuTls {
    /// The CA certificates that signed the remote's certificate.
    pub ca: std::path::PathBuf,
    /// Our certificate chain, for a remote that asks for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<std::path::PathBuf>,
    /// Its private key, unencrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<std::path::PathBuf>,
    /// The name the remote's certificate must carry, when not `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

impl ScuTls {
    /// Checks beyond the types.
    pub fn problems(&self) -> Vec<FieldError> {
        if self.certificate.is_some() == self.private_key.is_some() {
            return Vec::new();
        }
        vec![FieldError::new(
            "tls",
            "give both certificate and private_key, or neither",
        )]
    }

    /// The TLS client these files make.
    ///
    /// # Errors
    /// A file that does not make one, and why.
    pub fn client(&self) -> Result<crate::dimse::tls::ClientTls, crate::dimse::tls::TlsFileError> {
        let identity = self.certificate.as_deref().zip(self.private_key.as_deref());
        let mut client = crate::dimse::tls::ClientTls::new(&self.ca, identity)?;
        client.server_name.clone_from(&self.server_name);
        Ok(client)
    }

    /// The TLS client these files make, rebuilt for new connections when
    /// one of them changes (a change that makes none keeps the previous).
    ///
    /// # Errors
    /// The files make no client now.
    pub fn reloading(
        &self,
    ) -> Result<
        crate::dimse::tls::Reloading<crate::dimse::tls::ClientTls>,
        crate::dimse::tls::TlsFileError,
    > {
        let mut files = vec![self.ca.clone()];
        files.extend(self.certificate.clone());
        files.extend(self.private_key.clone());
        let tls = self.clone();
        crate::dimse::tls::Reloading::new(files, move || tls.client())
    }
}

fn default_max_associations() -> usize {
    1
}
fn default_connect_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_response_timeout() -> HumanDuration {
    HumanDuration::from_secs(60)
}
fn default_write_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_idle_release() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_max_pdu_length() -> u32 {
    65536
}

/// Exponential back-off: the n-th retry waits `initial_delay × factor^(n-1)`,
/// at most `max_delay`; after `max_attempts` attempts the message fails
/// (absent = retry forever: nothing acknowledged is ever dropped silently).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    #[serde(default = "default_initial_delay")]
    pub initial_delay: HumanDuration,
    #[serde(default = "default_factor")]
    pub factor: f64,
    #[serde(default = "default_max_delay")]
    pub max_delay: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

fn default_initial_delay() -> HumanDuration {
    HumanDuration::from_secs(1)
}
fn default_factor() -> f64 {
    2.0
}
fn default_max_delay() -> HumanDuration {
    HumanDuration::from_secs(300)
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_delay: default_initial_delay(),
            factor: default_factor(),
            max_delay: default_max_delay(),
            max_attempts: None,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after `attempt` failed ones
    /// (`attempt` ≥ 1).
    pub fn delay_after(&self, attempt: u32) -> std::time::Duration {
        let base = self.initial_delay.get().as_secs_f64();
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = base * self.factor.powi(exp);
        let max = self.max_delay.get();
        if !secs.is_finite() || secs >= max.as_secs_f64() {
            max
        } else {
            std::time::Duration::from_secs_f64(secs.max(0.0))
        }
    }

    /// Whether another attempt is allowed after `attempts` failed ones.
    pub fn allows_another(&self, attempts: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempts < max)
    }
}

impl RetryPolicy {
    /// Checks beyond the types, for a `retry` table.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            errors.push(FieldError::new("retry.factor", "must be a number ≥ 1"));
        }
        if self.max_attempts == Some(0) {
            errors.push(FieldError::new(
                "retry.max_attempts",
                "must be at least 1 (leave it out to retry forever)",
            ));
        }
        if self.max_delay < self.initial_delay {
            errors.push(FieldError::new(
                "retry.max_delay",
                "must not be shorter than retry.initial_delay",
            ));
        }
        errors
    }
}

impl DicomScuConfig {
    /// Checks beyond the types.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.host.trim().is_empty() {
            errors.push(FieldError::new("host", "must not be empty"));
        }
        if self.port == 0 {
            errors.push(FieldError::new("port", "must be 1 to 65535"));
        }
        if self.max_associations == 0 {
            errors.push(FieldError::new("max_associations", "must be at least 1"));
        }
        errors.extend(self.retry.problems());
        if self.max_pdu_length != 0 && self.max_pdu_length < 4096 {
            errors.push(FieldError::new(
                "max_pdu_length",
                "must be 0 (unlimited) or at least 4096",
            ));
        }
        errors.extend(self.tls.iter().flat_map(ScuTls::problems));
        errors
    }
}
