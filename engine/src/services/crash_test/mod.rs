//! A service kind for tests only: its task panics the first `panics` times
//! it starts, then runs until it is stopped. It lets the tests see an item
//! that dies restarted, and shows what a kind is: this folder and one line
//! in `services/mod.rs`, nothing in the runtime or the production-file
//! reader.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::component::{BuildError, FieldError, ItemConfig, ItemContext, RunningItem};

/// `type = "crash-test"` under `[services.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashTestConfig {
    /// How many starts panic.
    pub panics: u32,
    /// Names the counter of starts, so that tests running at once do not
    /// count each other's.
    pub key: String,
}

/// Starts so far, by key.
static STARTS: Mutex<BTreeMap<String, u32>> = Mutex::new(BTreeMap::new());

/// How often the item with `key` was started.
pub fn starts(key: &str) -> u32 {
    let starts = STARTS.lock().unwrap_or_else(PoisonError::into_inner);
    starts.get(key).copied().unwrap_or(0)
}

impl ItemConfig for CrashTestConfig {
    fn check(&self) -> Vec<FieldError> {
        if self.key.is_empty() {
            vec![FieldError::new("key", "must not be empty")]
        } else {
            Vec::new()
        }
    }

    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        let start = {
            let mut starts = STARTS.lock().unwrap_or_else(PoisonError::into_inner);
            let n = starts.entry(self.key.clone()).or_default();
            *n += 1;
            *n
        };
        let panics = self.panics;
        let task = tokio::spawn(async move {
            assert!(start > panics, "asked to panic (start {start} of {panics})");
            cx.shutdown.cancelled().await;
        });
        Ok(RunningItem::task(task))
    }
}
