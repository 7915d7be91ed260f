//! Routes each message by its Modality (0008,0060).
//!
//! Configuration (JSON, from the process's `config` table):
//!
//! ```json
//! { "routes": { "CT": ["CT-ARCHIVE"], "MR": ["ARCHIVE", "RESEARCH"] }, "default": ["ARCHIVE"] }
//! ```
//!
//! Modalities compare without regard to case. A message whose modality has
//! no route goes to `default`; with no `default` it is dropped with a reason.

// Input must never panic the engine or a plugin: no unwrap, expect or
// panic outside tests (`clippy.toml` allows them in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde::Deserialize;
use switchboard_sdk::{Decision, Error, Message, Plugin, Result, tags};

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Modality → target item names.
    #[serde(default)]
    pub routes: BTreeMap<String, Vec<String>>,
    /// Targets for any other modality (or none).
    #[serde(default)]
    pub default: Option<Vec<String>>,
}

/// The plugin: routes keyed by upper-case modality.
#[derive(Debug)]
pub struct RouteByModality {
    routes: BTreeMap<String, Vec<String>>,
    default: Option<Vec<String>>,
}

impl Plugin for RouteByModality {
    fn init(config: &str) -> Result<Self> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| Error::new(format!("route-by-modality config: {e}")))?;
        if config.routes.is_empty() && config.default.is_none() {
            return Err(Error::new(
                "route-by-modality config: give at least one entry in \"routes\" or a \"default\"",
            ));
        }
        Ok(RouteByModality {
            routes: config
                .routes
                .into_iter()
                .map(|(m, t)| (m.trim().to_ascii_uppercase(), t))
                .collect(),
            default: config.default,
        })
    }

    fn route(&self, message: &Message<'_>) -> Result<Decision> {
        let modality = message
            .string(tags::MODALITY)
            .map(|m| m.to_ascii_uppercase())
            .unwrap_or_default();
        match self.routes.get(&modality).or(self.default.as_ref()) {
            Some(targets) => Ok(Decision::forward(targets.iter().cloned())),
            None if modality.is_empty() => Ok(Decision::drop("no Modality and no default route")),
            None => Ok(Decision::drop(format!("no route for modality {modality}"))),
        }
    }
}

switchboard_sdk::export_plugin!(RouteByModality);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{self, MockMessage};

    const CONFIG: &str = r#"{"routes": {"ct": ["CT-ARCHIVE"], "MR": ["ARCHIVE", "RESEARCH"]}, "default": ["ARCHIVE"]}"#;

    fn modality(m: &str) -> MockMessage {
        MockMessage::new()
            .targets(["CT-ARCHIVE", "ARCHIVE", "RESEARCH"])
            .with(tags::MODALITY, "CS", [m])
    }

    #[test]
    fn routes_by_modality_ignoring_case() {
        let plugin = testing::init::<RouteByModality>(CONFIG).unwrap();
        assert_eq!(
            modality("CT").route(&plugin).unwrap(),
            Decision::forward(["CT-ARCHIVE"])
        );
        assert_eq!(
            modality("mr").route(&plugin).unwrap(),
            Decision::forward(["ARCHIVE", "RESEARCH"])
        );
    }

    #[test]
    fn other_modalities_and_missing_ones_use_the_default() {
        let plugin = testing::init::<RouteByModality>(CONFIG).unwrap();
        assert_eq!(
            modality("US").route(&plugin).unwrap(),
            Decision::forward(["ARCHIVE"])
        );
        assert_eq!(
            MockMessage::new().route(&plugin).unwrap(),
            Decision::forward(["ARCHIVE"])
        );
    }

    #[test]
    fn without_a_default_unrouted_messages_are_dropped() {
        let plugin = testing::init::<RouteByModality>(r#"{"routes": {"CT": ["A"]}}"#).unwrap();
        assert_eq!(
            modality("MR").route(&plugin).unwrap(),
            Decision::drop("no route for modality MR")
        );
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let err = testing::init::<RouteByModality>(r#"{"route": {}}"#).unwrap_err();
        assert!(err.message().contains("unknown field `route`"), "{err}");
        let err = testing::init::<RouteByModality>(r#"{"routes": {}}"#).unwrap_err();
        assert!(err.message().contains("at least one"), "{err}");
        assert!(testing::init::<RouteByModality>(r#"{"default": ["A"]}"#).is_ok());
    }
}
