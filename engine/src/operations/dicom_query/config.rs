//! Configuration of a `dicom-query` operation.

use serde::{Deserialize, Serialize};

use crate::association::AeTitle;
use crate::component::{FieldError, HumanDuration};
use crate::operations::dicom_scu::config::{RetryPolicy, ScuTls};

/// `type = "dicom-query"` under `[operations.NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomQueryConfig {
    /// The upstream SCP's AE title; its host and port come from the
    /// namespace's AE directory (`switchboard ae add`), read per query.
    pub remote_ae_title: AeTitle,
    /// Ours. The presentation context proposed comes from the stored
    /// association (local_ae_title → remote_ae_title).
    pub local_ae_title: AeTitle,
    /// Limit for the TCP connect and the association negotiation.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// Longest wait for the upstream's next response.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Longest a whole query may take.
    #[serde(default = "default_total_timeout")]
    pub total_timeout: HumanDuration,
    /// Largest PDU we accept from the upstream.
    #[serde(default = "default_max_pdu_length")]
    pub max_pdu_length: u32,
    /// How long an association stays open after a query for the next one
    /// ("0s": closed after each query). See `pool`.
    #[serde(default = "default_keep_open")]
    pub keep_open: HumanDuration,
    /// How a C-MOVE reaches its destination.
    #[serde(default, rename = "move")]
    pub move_mode: MoveMode,
    /// How a C-GET is asked upstream.
    #[serde(default, rename = "get")]
    pub get_mode: GetMode,
    /// Through the engine (and a C-GET asked as a C-MOVE): the AE title the
    /// upstream is asked to move to, one of our `dicom-tcp` services in
    /// this namespace, which the
    /// upstream must know (its own table of destinations); absent: the
    /// `local_ae_title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_ae_title: Option<AeTitle>,
    /// Through the engine: how a move's instances that could not be
    /// delivered to its destination are tried again.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// DICOM TLS to the upstream, as for a `dicom-tcp` operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ScuTls>,
}

/// `move = "…"`: how a C-MOVE reaches its destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MoveMode {
    /// The instances come to the engine, which forwards them through its
    /// durable queues to the destination it finds in the AE directory.
    #[default]
    ThroughEngine,
    /// The request goes upstream unchanged: the upstream must know the
    /// destination and stores to it directly; responses are relayed,
    /// C-CANCEL forwarded.
    AsIs,
}

/// `get = "…"`: how a C-GET is asked upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GetMode {
    /// By C-GET: the upstream sends the instances back on our association.
    #[default]
    CGet,
    /// By C-MOVE to `store_ae_title`, for an upstream that does not answer
    /// C-GET: the instances come to one of our services.
    CMove,
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_idle_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}
fn default_total_timeout() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_max_pdu_length() -> u32 {
    65536
}
fn default_keep_open() -> HumanDuration {
    HumanDuration::from_secs(0)
}

impl DicomQueryConfig {
    /// Why a request was given up on an upstream that sent nothing for
    /// `idle_timeout`.
    pub(super) fn idle_reason(&self, upstream: &str) -> String {
        format!("{upstream} sent nothing for {:?}", self.idle_timeout.get())
    }

    /// Why a request was given up on an upstream that had not finished
    /// within `total_timeout`.
    pub(super) fn total_reason(&self, upstream: &str) -> String {
        format!(
            "{upstream} did not finish within {:?}",
            self.total_timeout.get()
        )
    }

    /// Checks beyond the types.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (field, d) in [
            ("connect_timeout", &self.connect_timeout),
            ("idle_timeout", &self.idle_timeout),
            ("total_timeout", &self.total_timeout),
        ] {
            if d.get().is_zero() {
                errors.push(FieldError::new(field, "must be longer than 0"));
            }
        }
        if self.idle_timeout.get() > self.total_timeout.get() {
            errors.push(FieldError::new(
                "idle_timeout",
                "must not be longer than total_timeout",
            ));
        }
        errors.extend(self.retry.problems());
        errors.extend(self.tls.iter().flat_map(ScuTls::problems));
        if self.max_pdu_length != 0 && self.max_pdu_length < 1024 {
            errors.push(FieldError::new(
                "max_pdu_length",
                "must be 0 (unlimited) or at least 1024",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refused_values_name_their_field() {
        let c: DicomQueryConfig =
            toml::from_str("remote_ae_title = \"MWL\"\nlocal_ae_title = \"ME\"").unwrap();
        assert!(c.problems().is_empty());
        assert_eq!(c.idle_timeout.get(), std::time::Duration::from_secs(30));
        assert_eq!(c.move_mode, MoveMode::ThroughEngine);
        let as_is: DicomQueryConfig =
            toml::from_str("remote_ae_title = \"QR\"\nlocal_ae_title = \"ME\"\nmove = \"as-is\"")
                .unwrap();
        assert_eq!(as_is.move_mode, MoveMode::AsIs);
        assert_eq!(c.get_mode, GetMode::CGet);
        let by_move: DicomQueryConfig =
            toml::from_str("remote_ae_title = \"QR\"\nlocal_ae_title = \"ME\"\nget = \"c-move\"")
                .unwrap();
        assert_eq!(by_move.get_mode, GetMode::CMove);
        let typo = toml::from_str::<DicomQueryConfig>(
            "remote_ae_title = \"QR\"\nlocal_ae_title = \"ME\"\nmove = \"asis\"",
        )
        .unwrap_err();
        assert!(typo.to_string().contains("as-is"), "{typo}");
        let bad: DicomQueryConfig = toml::from_str(
            "remote_ae_title = \"MWL\"\nlocal_ae_title = \"ME\"\nconnect_timeout = \"0s\"\nidle_timeout = \"10m\"\ntotal_timeout = \"1m\"\nmax_pdu_length = 10",
        )
        .unwrap();
        let fields: Vec<String> = bad.problems().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["connect_timeout", "idle_timeout", "max_pdu_length"]
        );
        let unknown = toml::from_str::<DicomQueryConfig>(
            "remote_ae_title = \"MWL\"\nlocal_ae_title = \"ME\"\nhost = \"x\"",
        )
        .unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `host`"),
            "{unknown}"
        );
    }
}
