//! Routes each message by the AE titles of its association.
//!
//! Configuration (JSON):
//!
//! ```json
//! {
//!   "calling": { "CT-SCANNER": ["CT-ARCHIVE"] },
//!   "called": { "ROUTER-RESEARCH": ["RESEARCH"] },
//!   "default": ["ARCHIVE"]
//! }
//! ```
//!
//! The first match wins: the calling AE title (the sender), then the called
//! one, then `default`. AE titles compare exactly, without leading or
//! trailing spaces. With no match and no default the message is dropped.

// Input must never panic the engine or a plugin: no unwrap, expect or
// panic outside tests (`clippy.toml` allows them in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde::Deserialize;
use switchboard_sdk::{Decision, Error, Message, Plugin, Result};

/// The plugin's configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Calling AE title → targets.
    #[serde(default)]
    pub calling: BTreeMap<String, Vec<String>>,
    /// Called AE title → targets.
    #[serde(default)]
    pub called: BTreeMap<String, Vec<String>>,
    /// Targets when nothing matches.
    #[serde(default)]
    pub default: Option<Vec<String>>,
}

/// The plugin.
#[derive(Debug)]
pub struct RouteByAeTitle(Config);

fn trimmed(map: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    map.into_iter()
        .map(|(k, v)| (k.trim().to_string(), v))
        .collect()
}

impl Plugin for RouteByAeTitle {
    fn init(config: &str) -> Result<Self> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| Error::new(format!("route-by-ae-title config: {e}")))?;
        if config.calling.is_empty() && config.called.is_empty() && config.default.is_none() {
            return Err(Error::new(
                "route-by-ae-title config: give \"calling\", \"called\" or \"default\" routes",
            ));
        }
        for aet in config.calling.keys().chain(config.called.keys()) {
            let t = aet.trim();
            if t.is_empty() || t.len() > 16 || t.contains('\\') || t.chars().any(char::is_control) {
                return Err(Error::new(format!(
                    "route-by-ae-title config: \"{aet}\" is not an AE title (1 to 16 characters, no backslash or control characters)"
                )));
            }
        }
        Ok(RouteByAeTitle(Config {
            calling: trimmed(config.calling),
            called: trimmed(config.called),
            default: config.default,
        }))
    }

    fn route(&self, message: &Message<'_>) -> Result<Decision> {
        let header = message.header();
        let calling = header.calling_ae_title.trim();
        let called = header.called_ae_title.trim();
        let targets = self
            .0
            .calling
            .get(calling)
            .or_else(|| self.0.called.get(called))
            .or(self.0.default.as_ref());
        Ok(match targets {
            Some(t) => Decision::forward(t.iter().cloned()),
            None => Decision::drop(format!(
                "no route for calling AE {calling} or called AE {called}"
            )),
        })
    }
}

switchboard_sdk::export_plugin!(RouteByAeTitle);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{self, MockMessage};

    fn message(calling: &str, called: &str) -> MockMessage {
        MockMessage::new().header(|h| {
            h.calling_ae_title = calling.to_string();
            h.called_ae_title = called.to_string();
        })
    }

    const CONFIG: &str = r#"{"calling": {"CT-SCANNER ": ["CT-ARCHIVE"]}, "called": {"ROUTER-RES": ["RESEARCH"]}, "default": ["ARCHIVE"]}"#;

    #[test]
    fn calling_wins_then_called_then_default() {
        let plugin = testing::init::<RouteByAeTitle>(CONFIG).unwrap();
        assert_eq!(
            message("CT-SCANNER", "ROUTER-RES").route(&plugin).unwrap(),
            Decision::forward(["CT-ARCHIVE"])
        );
        assert_eq!(
            message("MR-1", "ROUTER-RES ").route(&plugin).unwrap(),
            Decision::forward(["RESEARCH"])
        );
        assert_eq!(
            message("MR-1", "ROUTER").route(&plugin).unwrap(),
            Decision::forward(["ARCHIVE"])
        );
    }

    #[test]
    fn no_match_and_no_default_drops() {
        let plugin = testing::init::<RouteByAeTitle>(r#"{"calling": {"A": ["X"]}}"#).unwrap();
        let d = message("B", "ROUTER").route(&plugin).unwrap();
        assert_eq!(
            d,
            Decision::drop("no route for calling AE B or called AE ROUTER")
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(
            testing::init::<RouteByAeTitle>("{}")
                .unwrap_err()
                .message()
                .contains("give")
        );
        let long = r#"{"calling": {"THIS-IS-WAY-TOO-LONG": ["X"]}}"#;
        assert!(
            testing::init::<RouteByAeTitle>(long)
                .unwrap_err()
                .message()
                .contains("not an AE title")
        );
        assert!(testing::init::<RouteByAeTitle>("[").is_err());
    }
}
