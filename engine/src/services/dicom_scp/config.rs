//! The DICOM SCP's production-file table (`type = "dicom-tcp"` under
//! `[services.NAME]`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::association::model::AeTitle;
use crate::component::FieldError;
use crate::dimse::pdu::UNLIMITED_PDU_CAP;

/// Settings of one DICOM SCP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomScpConfig {
    /// The TCP port to listen on.
    pub port: u16,
    /// The address to bind; every interface by default.
    #[serde(default = "default_bind_address")]
    pub bind_address: IpAddr,
    /// The local AE title(s) this listener answers to: one or a list.
    pub ae_title: AeTitles,
    /// Open associations at most; past it, new ones are rejected-transient
    /// (service-provider, local-limit-exceeded).
    #[serde(default = "default_max_associations")]
    pub max_associations: usize,
    /// The maximum PDU length we announce and accept (1024 to 4 MiB), unless
    /// the stored association context sets its own.
    #[serde(default = "default_max_pdu_length")]
    pub max_pdu_length: u32,
    /// Seconds to wait for an A-ASSOCIATE-RQ after connecting and for the
    /// peer to close after a rejection or release (the ARTIM timer, PS3.8 §9.1.5).
    #[serde(default = "default_artim_timeout", with = "seconds")]
    pub artim_timeout: Duration,
    /// Seconds an established association may stay silent before we abort it.
    #[serde(default = "default_idle_timeout", with = "seconds")]
    pub idle_timeout: Duration,
    /// Seconds a C-STORE's data set may take from its command to its last
    /// fragment, however often fragments come.
    #[serde(default = "default_data_set_timeout", with = "seconds")]
    pub data_set_timeout: Duration,
    /// Seconds one write may wait for a peer that stops reading (a full TCP
    /// window) before we abort the association and free its slot.
    #[serde(default = "default_write_timeout", with = "seconds")]
    pub write_timeout: Duration,
    /// Log every PDU and DIMSE message at info, in the reference form
    /// (`#5:ENS-SCP << A-ASSOCIATE-RQ PDU`).
    #[serde(default)]
    pub trace: bool,
    /// Items that receive what this service takes in.
    #[serde(default)]
    pub targets: Vec<String>,
    /// DICOM TLS: the service then accepts TLS connections only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ScpTls>,
    /// The largest C-STORE data set taken, in bytes: a larger one is
    /// answered A700H, and no more than this of it is written. None: no
    /// limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_object_size: Option<u64>,
    /// A C-STORE data set past this many bytes starts going out to the
    /// service's DICOM targets while it still arrives (cut-through); the
    /// rest are sent once they are durable here.
    #[serde(default = "default_cut_through_above")]
    pub cut_through_above: u64,
}

/// `[services.NAME.tls]`: the files of a TLS service (PEM; relative paths
/// are relative to the engine's working directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScpTls {
    /// Our certificate chain.
    pub certificate: std::path::PathBuf,
    /// Its private key, unencrypted.
    pub private_key: std::path::PathBuf,
    /// When given, a requester must present a certificate signed by one of
    /// these CAs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<std::path::PathBuf>,
}

/// One AE title or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AeTitles {
    One(AeTitle),
    Many(Vec<AeTitle>),
}

impl AeTitles {
    /// The titles as a list.
    pub fn to_vec(&self) -> Vec<AeTitle> {
        match self {
            AeTitles::One(one) => vec![one.clone()],
            AeTitles::Many(many) => many.clone(),
        }
    }
}

/// A setting out of range; [`DicomScpConfigError::field`] names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DicomScpConfigError {
    #[error("give at least one AE title")]
    NoAeTitle,
    #[error("the wildcard \"*\" is a store key, not a listener's title")]
    WildcardAeTitle,
    #[error("must be at least 1")]
    MaxAssociations,
    #[error("{0} is out of range; use 1024 to {UNLIMITED_PDU_CAP}")]
    MaxPduLength(u32),
    #[error("must be more than 0 seconds")]
    Timeout(&'static str),
    #[error("must be at least 1 byte; leave it out for no limit")]
    MaxObjectSize,
}

impl DicomScpConfigError {
    /// The field the problem is in.
    pub fn field(&self) -> &'static str {
        match self {
            Self::NoAeTitle | Self::WildcardAeTitle => "ae_title",
            Self::MaxAssociations => "max_associations",
            Self::MaxPduLength(_) => "max_pdu_length",
            Self::Timeout(field) => field,
            Self::MaxObjectSize => "max_object_size",
        }
    }
}

impl DicomScpConfig {
    /// A configuration with defaults for everything but the port and title.
    pub fn new(port: u16, ae_title: AeTitle) -> Self {
        Self {
            port,
            bind_address: default_bind_address(),
            ae_title: AeTitles::One(ae_title),
            max_associations: default_max_associations(),
            max_pdu_length: default_max_pdu_length(),
            artim_timeout: default_artim_timeout(),
            idle_timeout: default_idle_timeout(),
            write_timeout: default_write_timeout(),
            data_set_timeout: default_data_set_timeout(),
            trace: false,
            targets: Vec::new(),
            tls: None,
            max_object_size: None,
            cut_through_above: default_cut_through_above(),
        }
    }

    /// Checks every setting, reporting all problems.
    ///
    /// # Errors
    /// Every [`DicomScpConfigError`] found.
    pub fn validate(&self) -> Result<(), Vec<DicomScpConfigError>> {
        let mut errors = Vec::new();
        let titles = self.ae_title.to_vec();
        if titles.is_empty() {
            errors.push(DicomScpConfigError::NoAeTitle);
        }
        if titles.iter().any(AeTitle::is_wildcard) {
            errors.push(DicomScpConfigError::WildcardAeTitle);
        }
        if self.max_associations == 0 {
            errors.push(DicomScpConfigError::MaxAssociations);
        }
        if !(1024..=UNLIMITED_PDU_CAP).contains(&self.max_pdu_length) {
            errors.push(DicomScpConfigError::MaxPduLength(self.max_pdu_length));
        }
        if self.artim_timeout.is_zero() {
            errors.push(DicomScpConfigError::Timeout("artim_timeout"));
        }
        if self.idle_timeout.is_zero() {
            errors.push(DicomScpConfigError::Timeout("idle_timeout"));
        }
        if self.write_timeout.is_zero() {
            errors.push(DicomScpConfigError::Timeout("write_timeout"));
        }
        if self.data_set_timeout.is_zero() {
            errors.push(DicomScpConfigError::Timeout("data_set_timeout"));
        }
        if self.max_object_size == Some(0) {
            errors.push(DicomScpConfigError::MaxObjectSize);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// [`Self::validate`]'s problems, field by field.
    pub fn problems(&self) -> Vec<FieldError> {
        self.validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| FieldError::new(e.field(), e.to_string()))
            .collect()
    }

    /// The socket address to bind.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_address, self.port)
    }
}

fn default_bind_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

fn default_max_associations() -> usize {
    64
}

/// 128 KiB: the largest PDU DCMTK sends; fewer, larger PDUs cost less to
/// receive than the 16 KiB many peers announce.
fn default_max_pdu_length() -> u32 {
    128 * 1024
}

/// 8 MiB: smaller instances arrive in a few milliseconds, and are sent
/// from their durable body at no cost to the sender.
pub(crate) fn default_cut_through_above() -> u64 {
    8 * 1024 * 1024
}

fn default_artim_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(300)
}

fn default_write_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_data_set_timeout() -> Duration {
    Duration::from_secs(600)
}

/// Durations written as seconds (integer or fractional).
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(|_| {
            serde::de::Error::custom(format!(
                "{secs} is not a duration in seconds (use a number of 0 or more)"
            ))
        })
    }
}
