//! Drops messages by SOP class or by attribute match; forwards the rest.
//!
//! Configuration (JSON):
//!
//! ```json
//! {
//!   "targets": ["ARCHIVE"],
//!   "keep_sop_classes": [],
//!   "drop_sop_classes": ["1.2.840.10008.5.1.4.1.1.11.1"],
//!   "drop_if": [
//!     { "tag": "Modality", "equals": ["SR", "PR"] },
//!     { "tag": "(0008,0008)", "contains": "LOCALIZER" },
//!     { "tag": "PatientID", "present": false }
//!   ]
//! }
//! ```
//!
//! - `targets`: where kept messages go (default: every target of the process).
//! - `keep_sop_classes`: when not empty, any other SOP class is dropped.
//! - `drop_sop_classes`: these SOP classes are dropped.
//! - `drop_if`: a message matching any rule is dropped. A rule names a tag
//!   (keyword or "(gggg,eeee)") and one test: `equals` (any value equals one
//!   of the strings, ignoring case), `contains` (any value contains the text,
//!   ignoring case) or `present` (whether the attribute is there).

// Input must never panic the engine or a plugin: no unwrap, expect or
// panic outside tests (`clippy.toml` allows them in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde::Deserialize;
use switchboard_sdk::{AttributeValue, Decision, Error, Message, Plugin, Result, Tag};

/// The plugin's configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where kept messages go; default: the process's targets.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// Only these SOP classes pass (when not empty).
    #[serde(default)]
    pub keep_sop_classes: Vec<String>,
    /// These SOP classes are dropped.
    #[serde(default)]
    pub drop_sop_classes: Vec<String>,
    /// Attribute rules; any match drops the message.
    #[serde(default)]
    pub drop_if: Vec<RuleConfig>,
}

/// One `drop_if` rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Keyword or "(gggg,eeee)".
    pub tag: String,
    /// Any value equals one of these (ignoring case).
    #[serde(default)]
    pub equals: Option<Vec<String>>,
    /// Any value contains this text (ignoring case).
    #[serde(default)]
    pub contains: Option<String>,
    /// The attribute is (true) or is not (false) present.
    #[serde(default)]
    pub present: Option<bool>,
}

#[derive(Debug)]
enum Test {
    Equals(Vec<String>),
    Contains(String),
    Present(bool),
}

#[derive(Debug)]
struct Rule {
    tag: Tag,
    text: String,
    test: Test,
}

impl Rule {
    fn matches(&self, value: Option<&AttributeValue>) -> bool {
        match (&self.test, value) {
            (Test::Present(p), v) => *p == v.is_some(),
            (_, None) => false,
            (Test::Equals(any), Some(v)) => any.iter().any(|a| v.contains(a)),
            (Test::Contains(text), Some(v)) => v
                .values
                .iter()
                .any(|s| s.to_ascii_uppercase().contains(text)),
        }
    }
}

/// The plugin.
#[derive(Debug)]
pub struct Filter {
    targets: Option<Vec<String>>,
    keep: Vec<String>,
    drop: Vec<String>,
    rules: Vec<Rule>,
}

impl Plugin for Filter {
    fn init(config: &str) -> Result<Self> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| Error::new(format!("filter config: {e}")))?;
        let mut rules = Vec::new();
        for (i, r) in config.drop_if.into_iter().enumerate() {
            let tag = Tag::parse(&r.tag).ok_or_else(|| {
                Error::new(format!(
                    "filter config: drop_if[{i}]: unknown tag \"{}\" (use a keyword such as Modality or \"(gggg,eeee)\")",
                    r.tag
                ))
            })?;
            let test = match (r.equals, r.contains, r.present) {
                (Some(e), None, None) => Test::Equals(e),
                (None, Some(c), None) => Test::Contains(c.to_ascii_uppercase()),
                (None, None, Some(p)) => Test::Present(p),
                _ => {
                    return Err(Error::new(format!(
                        "filter config: drop_if[{i}]: give exactly one of \"equals\", \"contains\" or \"present\""
                    )));
                }
            };
            rules.push(Rule {
                tag,
                text: r.tag,
                test,
            });
        }
        Ok(Filter {
            targets: config.targets,
            keep: config
                .keep_sop_classes
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            drop: config
                .drop_sop_classes
                .iter()
                .map(|s| s.trim().to_string())
                .collect(),
            rules,
        })
    }

    fn route(&self, message: &Message<'_>) -> Result<Decision> {
        let header = message.header();
        let sop_class = if header.sop_class_uid.is_empty() {
            message
                .string(switchboard_sdk::tags::SOP_CLASS_UID)
                .unwrap_or_default()
        } else {
            header.sop_class_uid.trim_end_matches('\0').to_string()
        };
        if !self.keep.is_empty() && !self.keep.contains(&sop_class) {
            return Ok(Decision::drop(format!(
                "SOP class {sop_class} is not in keep_sop_classes"
            )));
        }
        if self.drop.contains(&sop_class) {
            return Ok(Decision::drop(format!(
                "SOP class {sop_class} is in drop_sop_classes"
            )));
        }
        for rule in &self.rules {
            if rule.matches(message.attribute(rule.tag).as_ref()) {
                return Ok(Decision::drop(format!(
                    "matched drop_if rule on {} ({:?})",
                    rule.text, rule.test
                )));
            }
        }
        let targets = self
            .targets
            .clone()
            .unwrap_or_else(|| header.targets.clone());
        Ok(Decision::forward(targets))
    }
}

switchboard_sdk::export_plugin!(Filter);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::tags;
    use switchboard_sdk::testing::{self, MockMessage};

    const CONFIG: &str = r#"{
        "drop_sop_classes": ["1.2.840.10008.5.1.4.1.1.11.1"],
        "drop_if": [
            {"tag": "Modality", "equals": ["SR", "pr"]},
            {"tag": "(0008,0008)", "contains": "localizer"},
            {"tag": "PatientID", "present": false}
        ]}"#;

    fn ct() -> MockMessage {
        MockMessage::new()
            .targets(["ARCHIVE"])
            .with(tags::MODALITY, "CS", ["CT"])
            .with(tags::PATIENT_ID, "LO", ["123"])
            .with(tags::IMAGE_TYPE, "CS", ["ORIGINAL", "PRIMARY", "AXIAL"])
    }

    #[test]
    fn passing_messages_go_to_every_target() {
        let plugin = testing::init::<Filter>(CONFIG).unwrap();
        assert_eq!(ct().route(&plugin).unwrap(), Decision::forward(["ARCHIVE"]));
    }

    #[test]
    fn each_rule_drops() {
        let plugin = testing::init::<Filter>(CONFIG).unwrap();
        let pr = ct().with(tags::MODALITY, "CS", ["PR"]);
        assert!(matches!(pr.route(&plugin).unwrap(), Decision::Drop(r) if r.contains("Modality")));
        let scout = ct().with(tags::IMAGE_TYPE, "CS", ["ORIGINAL", "PRIMARY", "LOCALIZER"]);
        assert!(
            matches!(scout.route(&plugin).unwrap(), Decision::Drop(r) if r.contains("(0008,0008)"))
        );
        let anonymous = MockMessage::new()
            .targets(["ARCHIVE"])
            .with(tags::MODALITY, "CS", ["CT"]);
        assert!(
            matches!(anonymous.route(&plugin).unwrap(), Decision::Drop(r) if r.contains("PatientID"))
        );
        let gsps = ct().header(|h| h.sop_class_uid = "1.2.840.10008.5.1.4.1.1.11.1".into());
        assert!(
            matches!(gsps.route(&plugin).unwrap(), Decision::Drop(r) if r.contains("drop_sop_classes"))
        );
    }

    #[test]
    fn keep_list_and_explicit_targets() {
        let plugin = testing::init::<Filter>(
            r#"{"targets": ["CT-ARCHIVE"], "keep_sop_classes": ["1.2.840.10008.5.1.4.1.1.2"]}"#,
        )
        .unwrap();
        let msg = ct().targets(["CT-ARCHIVE", "ARCHIVE"]);
        assert_eq!(
            msg.route(&plugin).unwrap(),
            Decision::forward(["CT-ARCHIVE"])
        );
        let mr = msg.header(|h| h.sop_class_uid = "1.2.840.10008.5.1.4.1.1.4".into());
        assert!(matches!(mr.route(&plugin).unwrap(), Decision::Drop(_)));
    }

    #[test]
    fn bad_rules_are_refused() {
        let err = testing::init::<Filter>(r#"{"drop_if": [{"tag": "Nope", "present": true}]}"#)
            .unwrap_err();
        assert!(err.message().contains("unknown tag \"Nope\""), "{err}");
        let err = testing::init::<Filter>(r#"{"drop_if": [{"tag": "Modality"}]}"#).unwrap_err();
        assert!(err.message().contains("exactly one"), "{err}");
    }
}
