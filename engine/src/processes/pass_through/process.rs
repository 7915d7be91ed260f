//! The running pass-through process: each message it takes from its queue
//! is queued for all its targets in one step of the store.

use tracing::{error, info};

use super::config::PassThroughConfig;
use crate::component::{BuildError, ItemConfig, ItemContext, Next, RunningItem};
use crate::ids::ItemName;

impl ItemConfig for PassThroughConfig {
    fn targets(&self) -> Vec<&str> {
        self.targets.iter().map(ItemName::as_str).collect()
    }

    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        Ok(spawn(cx))
    }
}

/// Spawns the process.
fn spawn(cx: ItemContext) -> RunningItem {
    let task = tokio::spawn(async move {
        let mut reader = cx.queue_reader();
        let me = cx.address();
        let targets = cx.outputs.addresses();
        info!(namespace = %cx.namespace, item = %cx.name, "Process started.");
        loop {
            match reader.next(None).await {
                Ok(Next::Message(record)) => {
                    match cx.messages.route(record.id, &me, &targets, "") {
                        Ok(_) => cx.outputs.wake_all(),
                        Err(e) => {
                            error!(item = %cx.name, message_id = %record.id, error = %e, "Could not route a message.");
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        }
                    }
                }
                Ok(Next::Idle) => {}
                Ok(Next::Shutdown) => break,
                Err(e) => {
                    error!(item = %cx.name, error = %e, "Could not read the queue.");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
        info!(namespace = %cx.namespace, item = %cx.name, "Process stopped.");
    });
    RunningItem::task(task)
}
