//! Configuration of a `pass-through` process: hands every message to all its
//! targets.

use serde::{Deserialize, Serialize};

use crate::ids::ItemName;

/// `type = "pass-through"` under `[processes.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassThroughConfig {
    /// Processes or operations that receive every message.
    #[serde(default)]
    pub targets: Vec<ItemName>,
}
