//! Configuration of a `pass-through` process: hands every message to all its
//! targets.

use serde::{Deserialize, Serialize};

use crate::component::{BuildError, ItemConfig, ItemContext, RunningItem};
use crate::ids::ItemName;

/// `type = "pass-through"` under `[processes.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassThroughConfig {
    /// Processes or operations that receive every message.
    #[serde(default)]
    pub targets: Vec<ItemName>,
}

impl ItemConfig for PassThroughConfig {
    fn targets(&self) -> Vec<&str> {
        self.targets.iter().map(ItemName::as_str).collect()
    }

    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        Ok(super::process::spawn(cx))
    }
}
