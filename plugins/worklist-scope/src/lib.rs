//! Scopes Modality Worklist queries to the calling modality's station: a
//! modality that leaves Scheduled Station AE Title open (or names another
//! station) would see every station's worklist items. This plugin sets the
//! key to the caller's station before the query goes upstream, and drops
//! any match of another station an upstream returns anyway. Other queries
//! and every message pass unchanged.
//!
//! Configuration (JSON, optional):
//!
//! ```json
//! { "stations": { "CT-CONSOLE": "CT1" } }
//! ```
//!
//! - `stations`: calling AE title → station AE title, for a modality whose
//!   station has another name; any other caller's station is its own AE
//!   title.

#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde::Deserialize;
use switchboard_sdk::{
    Decision, Match, MatchDecision, Message, PathStep, Plugin, Query, QueryDecision, QueryHeader,
    QueryHook, Result, tags,
};

/// Modality Worklist Information Model – FIND.
const WORKLIST_FIND: &str = "1.2.840.10008.5.1.4.31";

/// Scheduled Procedure Step Sequence, first item: where the station is.
const STEP: [PathStep; 1] = [PathStep {
    sequence: tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
    item: 0,
}];

/// The plugin's configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Calling AE title → station AE title.
    #[serde(default)]
    pub stations: BTreeMap<String, String>,
}

/// The plugin.
#[derive(Debug)]
pub struct WorklistScope {
    stations: BTreeMap<String, String>,
}

impl WorklistScope {
    /// The station whose items the caller may see.
    fn station(&self, header: &QueryHeader) -> String {
        let caller = header.calling_ae_title.trim();
        self.stations
            .get(caller)
            .map_or(caller, String::as_str)
            .to_string()
    }
}

impl Plugin for WorklistScope {
    fn init(config: &str) -> Result<Self> {
        let config: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(config)
                .map_err(|e| switchboard_sdk::Error::new(format!("worklist-scope config: {e}")))?
        };
        Ok(WorklistScope {
            stations: config.stations,
        })
    }

    /// Messages go on to every target.
    fn route(&self, message: &Message<'_>) -> Result<Decision> {
        Ok(Decision::forward(message.header().targets.clone()))
    }
}

impl QueryHook for WorklistScope {
    fn query(&self, query: &Query<'_>) -> Result<QueryDecision> {
        if query.header().sop_class_uid != WORKLIST_FIND {
            return Ok(QueryDecision::ask());
        }
        let station = self.station(query.header());
        Ok(QueryDecision::ask().set_in(&STEP, tags::SCHEDULED_STATION_AE_TITLE, "AE", [station]))
    }

    fn filter_match(&self, found: &Match<'_>) -> Result<MatchDecision> {
        if found.header().sop_class_uid != WORKLIST_FIND {
            return Ok(MatchDecision::keep());
        }
        let station = found.string_in(&STEP, tags::SCHEDULED_STATION_AE_TITLE);
        Ok(
            if station.as_deref() == Some(self.station(found.header()).as_str()) {
                MatchDecision::keep()
            } else {
                MatchDecision::drop()
            },
        )
    }
}

switchboard_sdk::export_query_plugin!(WorklistScope);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::KeyEdit;
    use switchboard_sdk::testing::{MockMessage, init};

    fn worklist(caller: &str) -> MockMessage {
        MockMessage::new().header(|h| {
            h.calling_ae_title = caller.to_string();
            h.sop_class_uid = WORKLIST_FIND.to_string();
        })
    }

    fn step(station: &str) -> MockMessage {
        MockMessage::new().with(tags::SCHEDULED_STATION_AE_TITLE, "AE", [station])
    }

    #[test]
    fn a_worklist_query_is_scoped_to_the_callers_station() {
        let plugin = init::<WorklistScope>(r#"{"stations": {"CT-CONSOLE": "CT1"}}"#).unwrap();
        let set = |station: &str| {
            QueryDecision::Ask(vec![KeyEdit::Set {
                path: STEP.to_vec(),
                tag: tags::SCHEDULED_STATION_AE_TITLE,
                vr: "AE".into(),
                values: vec![station.into()],
            }])
        };
        assert_eq!(worklist("MR1").query(&plugin).unwrap(), set("MR1"));
        assert_eq!(worklist("CT-CONSOLE").query(&plugin).unwrap(), set("CT1"));
        let study =
            MockMessage::new().header(|h| h.sop_class_uid = "1.2.840.10008.5.1.4.1.2.2.1".into());
        assert_eq!(study.query(&plugin).unwrap(), QueryDecision::ask());
    }

    #[test]
    fn matches_of_other_stations_are_dropped() {
        let plugin = init::<WorklistScope>("{}").unwrap();
        let found = |station: &str| {
            worklist("MR1")
                .with_sequence(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE, vec![step(station)])
        };
        assert_eq!(
            found("MR1").filter_match(&plugin).unwrap(),
            MatchDecision::keep()
        );
        assert_eq!(
            found("CT1").filter_match(&plugin).unwrap(),
            MatchDecision::drop()
        );
        assert_eq!(
            worklist("MR1").filter_match(&plugin).unwrap(),
            MatchDecision::drop()
        );
        assert!(init::<WorklistScope>(r#"{"station": {}}"#).is_err());
    }
}
