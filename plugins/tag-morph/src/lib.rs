//! Sets and removes attributes of the forwarded copy; offers a basic
//! de-identification profile.
//!
//! Configuration (JSON):
//!
//! ```json
//! {
//!   "targets": ["ARCHIVE"],
//!   "profile": "basic",
//!   "uid_salt": "my-project",
//!   "remove": ["PatientComments", "(0010,21B0)"],
//!   "set": [
//!     { "tag": "InstitutionName", "value": "SWITCHBOARD HOSPITAL" },
//!     { "tag": "(0008,1010)", "vr": "SH", "values": ["STATION-1"] }
//!   ]
//! }
//! ```
//!
//! - `targets`: where the message goes (default: every target of the process).
//! - `profile`: `"basic"` applies a basic de-identification (after PS3.15
//!   Annex E, top-level attributes only): identifying attributes are emptied
//!   or removed, Study/Series/SOP Instance and Frame of Reference UIDs are
//!   replaced by `2.25.` UIDs derived from the original and `uid_salt` (the
//!   same original always gives the same replacement, so studies stay
//!   together), and Patient Identity Removed is set to YES.
//! - `remove`, then `set`, are applied after the profile, so they win.
//!   `vr` may be left out for tags the SDK knows.
//!
//! Edits apply to the forwarded copy only; the stored original stays as received.

// Input must never panic the engine or a plugin: no unwrap, expect or
// panic outside tests (`clippy.toml` allows them in tests).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde::Deserialize;
use switchboard_sdk::{Decision, Edit, Error, Message, Plugin, Result, Tag, tags};

/// The plugin's configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the message goes; default: the process's targets.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// A de-identification profile: "basic".
    #[serde(default)]
    pub profile: Option<String>,
    /// Mixed into replacement UIDs.
    #[serde(default)]
    pub uid_salt: String,
    /// Tags to remove.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Attributes to set.
    #[serde(default)]
    pub set: Vec<SetConfig>,
}

/// One `set` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// Keyword or "(gggg,eeee)".
    pub tag: String,
    /// VR; optional for tags the SDK knows.
    #[serde(default)]
    pub vr: Option<String>,
    /// A single value.
    #[serde(default)]
    pub value: Option<String>,
    /// Several values (or none, for an empty attribute).
    #[serde(default)]
    pub values: Option<Vec<String>>,
}

/// Emptied by the basic profile (type 2 attributes: kept, but zero length).
const EMPTY: &[Tag] = &[
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::CONTENT_DATE,
    tags::CONTENT_TIME,
    tags::ACCESSION_NUMBER,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_ID,
];

/// Removed by the basic profile.
const REMOVED: &[Tag] = &[
    tags::INSTITUTION_NAME,
    tags::INSTITUTION_ADDRESS,
    tags::INSTITUTION_CODE_SEQUENCE,
    tags::REFERRING_PHYSICIAN_ADDRESS,
    tags::REFERRING_PHYSICIAN_TELEPHONE_NUMBERS,
    tags::STATION_NAME,
    tags::INSTITUTIONAL_DEPARTMENT_NAME,
    tags::PHYSICIANS_OF_RECORD,
    tags::PERFORMING_PHYSICIAN_NAME,
    tags::NAME_OF_PHYSICIANS_READING_STUDY,
    tags::OPERATORS_NAME,
    tags::ADMITTING_DIAGNOSES_DESCRIPTION,
    tags::REFERENCED_PATIENT_SEQUENCE,
    tags::ISSUER_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_TIME,
    tags::OTHER_PATIENT_IDS,
    tags::OTHER_PATIENT_NAMES,
    tags::OTHER_PATIENT_IDS_SEQUENCE,
    tags::PATIENT_BIRTH_NAME,
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
    tags::PATIENT_ADDRESS,
    tags::PATIENT_MOTHER_BIRTH_NAME,
    tags::MILITARY_RANK,
    tags::BRANCH_OF_SERVICE,
    tags::MEDICAL_RECORD_LOCATOR,
    tags::PATIENT_TELEPHONE_NUMBERS,
    tags::ETHNIC_GROUP,
    tags::OCCUPATION,
    tags::ADDITIONAL_PATIENT_HISTORY,
    tags::PATIENT_COMMENTS,
    tags::PATIENT_RELIGIOUS_PREFERENCE,
    tags::RESPONSIBLE_PERSON,
    tags::DEVICE_SERIAL_NUMBER,
    tags::IMAGE_COMMENTS,
    tags::REQUESTING_PHYSICIAN,
    tags::REQUEST_ATTRIBUTES_SEQUENCE,
    tags::PERFORMED_PROCEDURE_STEP_ID,
    tags::PERFORMED_PROCEDURE_STEP_START_DATE,
    tags::PERFORMED_PROCEDURE_STEP_START_TIME,
    tags::SERIES_DATE,
    tags::SERIES_TIME,
    tags::ACQUISITION_DATE,
    tags::ACQUISITION_TIME,
    tags::ACQUISITION_DATE_TIME,
    tags::INSTANCE_CREATION_DATE,
    tags::INSTANCE_CREATION_TIME,
    tags::INSTANCE_CREATOR_UID,
];

/// Replaced by derived UIDs in the basic profile.
const UIDS: &[Tag] = &[
    tags::STUDY_INSTANCE_UID,
    tags::SERIES_INSTANCE_UID,
    tags::SOP_INSTANCE_UID,
    tags::FRAME_OF_REFERENCE_UID,
];

/// A `2.25.` UID derived from `uid` and `salt` (128-bit FNV-1a).
#[must_use]
pub fn derived_uid(salt: &str, uid: &str) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013B;
    let mut hash = OFFSET;
    for b in salt
        .bytes()
        .chain([0u8])
        .chain(uid.trim_end_matches(['\0', ' ']).bytes())
    {
        hash ^= u128::from(b);
        hash = hash.wrapping_mul(PRIME);
    }
    format!("2.25.{hash}")
}

/// The plugin.
#[derive(Debug)]
pub struct TagMorph {
    targets: Option<Vec<String>>,
    basic_profile: bool,
    uid_salt: String,
    edits: Vec<Edit>,
}

fn parse_tag(text: &str, what: &str) -> Result<Tag> {
    Tag::parse(text).ok_or_else(|| {
        Error::new(format!(
            "tag-morph config: {what}: unknown tag \"{text}\" (use a keyword such as InstitutionName or \"(gggg,eeee)\")"
        ))
    })
}

impl Plugin for TagMorph {
    fn init(config: &str) -> Result<Self> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| Error::new(format!("tag-morph config: {e}")))?;
        let basic_profile = match config.profile.as_deref() {
            None => false,
            Some("basic") => true,
            Some(other) => {
                return Err(Error::new(format!(
                    "tag-morph config: unknown profile \"{other}\" (known: \"basic\")"
                )));
            }
        };
        let mut edits = Vec::new();
        for (i, text) in config.remove.iter().enumerate() {
            edits.push(Edit::Remove(parse_tag(text, &format!("remove[{i}]"))?));
        }
        for (i, s) in config.set.into_iter().enumerate() {
            let what = format!("set[{i}]");
            let tag = parse_tag(&s.tag, &what)?;
            let vr = match s.vr.or_else(|| tags::vr_of(tag).map(str::to_string)) {
                Some(vr) if vr.len() == 2 && vr.bytes().all(|b| b.is_ascii_uppercase()) => vr,
                Some(vr) => {
                    return Err(Error::new(format!(
                        "tag-morph config: {what}: \"{vr}\" is not a VR"
                    )));
                }
                None => {
                    return Err(Error::new(format!(
                        "tag-morph config: {what}: give a \"vr\" for {}",
                        s.tag
                    )));
                }
            };
            let values = match (s.value, s.values) {
                (Some(v), None) => vec![v],
                (None, Some(vs)) => vs,
                (None, None) => Vec::new(),
                (Some(_), Some(_)) => {
                    return Err(Error::new(format!(
                        "tag-morph config: {what}: give \"value\" or \"values\", not both"
                    )));
                }
            };
            edits.push(Edit::Set { tag, vr, values });
        }
        if !basic_profile && edits.is_empty() {
            return Err(Error::new(
                "tag-morph config: nothing to do: give a \"profile\", \"remove\" or \"set\"",
            ));
        }
        Ok(TagMorph {
            targets: config.targets,
            basic_profile,
            uid_salt: config.uid_salt,
            edits,
        })
    }

    fn route(&self, message: &Message<'_>) -> Result<Decision> {
        let targets = self
            .targets
            .clone()
            .unwrap_or_else(|| message.header().targets.clone());
        let mut decision = Decision::forward(targets);
        if self.basic_profile {
            for tag in EMPTY {
                if message.attribute(*tag).is_some() {
                    let vr = tags::vr_of(*tag).unwrap_or("LO");
                    decision = decision.set(*tag, vr, Vec::<String>::new());
                }
            }
            for tag in REMOVED {
                decision = decision.remove(*tag);
            }
            for tag in UIDS {
                if let Some(uid) = message.string(*tag) {
                    decision = decision.set(*tag, "UI", [derived_uid(&self.uid_salt, &uid)]);
                }
            }
            decision = decision
                .set(tags::PATIENT_IDENTITY_REMOVED, "CS", ["YES"])
                .set(
                    tags::DEIDENTIFICATION_METHOD,
                    "LO",
                    ["Switchboard tag-morph basic profile"],
                );
        }
        for edit in &self.edits {
            decision = decision.edit(edit.clone());
        }
        Ok(decision)
    }
}

switchboard_sdk::export_plugin!(TagMorph);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::testing::{self, MockMessage};

    fn edits(d: &Decision) -> &[Edit] {
        match d {
            Decision::Forward { edits, .. } => edits,
            Decision::Drop(_) => &[],
        }
    }

    #[test]
    fn sets_and_removes_from_config() {
        let plugin = testing::init::<TagMorph>(
            r#"{"remove": ["PatientComments"], "set": [{"tag": "InstitutionName", "value": "X"}, {"tag": "(0009,0010)", "vr": "LO", "values": []}]}"#,
        )
        .unwrap();
        let d = MockMessage::new()
            .targets(["ARCHIVE"])
            .route(&plugin)
            .unwrap();
        assert_eq!(d.targets(), ["ARCHIVE"]);
        assert_eq!(
            edits(&d),
            [
                Edit::Remove(tags::PATIENT_COMMENTS),
                Edit::Set {
                    tag: tags::INSTITUTION_NAME,
                    vr: "LO".into(),
                    values: vec!["X".into()]
                },
                Edit::Set {
                    tag: Tag::new(0x0009, 0x0010),
                    vr: "LO".into(),
                    values: vec![]
                },
            ]
        );
    }

    #[test]
    fn basic_profile_empties_removes_and_replaces_uids_consistently() {
        let plugin = testing::init::<TagMorph>(r#"{"profile": "basic", "uid_salt": "s"}"#).unwrap();
        let msg = MockMessage::new()
            .with(tags::PATIENT_NAME, "PN", ["Doe^Jane"])
            .with(tags::STUDY_INSTANCE_UID, "UI", ["1.2.3"]);
        let d = msg.route(&plugin).unwrap();
        let e = edits(&d);
        assert!(e.contains(&Edit::Set {
            tag: tags::PATIENT_NAME,
            vr: "PN".into(),
            values: vec![]
        }));
        assert!(e.contains(&Edit::Remove(tags::INSTITUTION_NAME)));
        let uid = derived_uid("s", "1.2.3");
        assert!(uid.starts_with("2.25.") && uid.len() <= 64);
        assert_eq!(uid, derived_uid("s", "1.2.3\0"));
        assert_ne!(uid, derived_uid("t", "1.2.3"));
        assert!(e.contains(&Edit::Set {
            tag: tags::STUDY_INSTANCE_UID,
            vr: "UI".into(),
            values: vec![uid]
        }));
        assert!(e.contains(&Edit::Set {
            tag: tags::PATIENT_IDENTITY_REMOVED,
            vr: "CS".into(),
            values: vec!["YES".into()]
        }));
        // Absent type-2 attributes are not created.
        assert!(
            !e.iter()
                .any(|x| matches!(x, Edit::Set { tag, .. } if *tag == tags::PATIENT_ID))
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        for (config, expected) in [
            ("{}", "nothing to do"),
            (r#"{"profile": "full"}"#, "unknown profile"),
            (r#"{"remove": ["Nope"]}"#, "remove[0]: unknown tag"),
            (
                r#"{"set": [{"tag": "(0009,0010)", "value": "x"}]}"#,
                "give a \"vr\"",
            ),
            (
                r#"{"set": [{"tag": "PatientName", "vr": "pn"}]}"#,
                "not a VR",
            ),
        ] {
            let err = testing::init::<TagMorph>(config).unwrap_err();
            assert!(err.message().contains(expected), "{config}: {err}");
        }
    }
}
