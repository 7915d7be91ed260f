//! A `wasm` process in the way of queries: its plugin's query hook may
//! rewrite each query before it goes on to the process's targets (query
//! operations, or further such processes), and keep, edit or drop each
//! match before it goes back. A plugin without the hook (built for 1.0.0)
//! lets them pass. The plugin is loaded on the first query, in its own
//! instances: the contract keeps no state between calls.

use std::sync::Arc;

use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::config::WasmRouterConfig;
use super::keys::edit_keys;
use super::process::WasmRouter;
use super::source::DicomSource;
use crate::component::query::{
    FindAnswer, FindAnswers, FindRequest, Query, RetrieveAnswers, RetrieveRequest, Route,
};
use crate::message::ItemAddress;
use crate::plugin::{MatchDecision, QueryDecision, QueryHeader};

/// Answers queued between the targets and the hook.
const IN_FLIGHT: usize = 16;

/// The process's side of queries.
#[derive(Debug, Clone)]
pub(super) struct PluginQuery(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    address: ItemAddress,
    config: WasmRouterConfig,
    router: OnceCell<Result<WasmRouter, String>>,
    /// The targets: one, or several merged.
    downstream: Arc<dyn Query>,
}

impl PluginQuery {
    pub(super) fn new(
        address: ItemAddress,
        config: WasmRouterConfig,
        downstream: Vec<(ItemAddress, Arc<dyn Query>)>,
    ) -> Self {
        let downstream: Arc<dyn Query> = match <[_; 1]>::try_from(downstream) {
            Ok([(_, one)]) => one,
            Err(several) => Arc::new(Route {
                upstreams: several,
                source: address.clone(),
                messages: None,
            }),
        };
        PluginQuery(Arc::new(Inner {
            address,
            config,
            router: OnceCell::new(),
            downstream,
        }))
    }
}

impl Query for PluginQuery {
    fn find(&self, request: FindRequest, answers: FindAnswers, cancel: CancellationToken) {
        let inner = self.0.clone();
        tokio::spawn(async move {
            if let Some(done) = inner.answer(request, &answers, cancel).await {
                answers.send(done).await.ok();
            }
        });
    }

    /// C-MOVE and C-GET pass to the targets as they are: the query hook
    /// sees C-FIND only.
    fn retrieve(
        &self,
        request: RetrieveRequest,
        answers: RetrieveAnswers,
        cancel: CancellationToken,
    ) {
        self.0.downstream.retrieve(request, answers, cancel);
    }
}

impl Inner {
    /// The loaded plugin, loaded once.
    async fn router(&self) -> Result<&WasmRouter, String> {
        self.router
            .get_or_init(|| async {
                let (item, config) = (self.address.item.clone(), self.config.clone());
                tokio::task::spawn_blocking(move || {
                    let cache = crate::plugin::cache::shared().map_err(|e| e.to_string())?;
                    WasmRouter::load(&item, &config, std::path::Path::new(""), cache)
                        .map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Asks the hook, passes the query on, filters the matches; the final
    /// answer, or `None` when there is nobody to answer (the requester left,
    /// or the targets gave no end).
    async fn answer(
        &self,
        mut request: FindRequest,
        answers: &FindAnswers,
        cancel: CancellationToken,
    ) -> Option<FindAnswer> {
        let item = &self.address.item;
        let router = match self.router().await {
            Ok(r) => r,
            Err(e) => return Some(FindAnswer::unable_to_process(e)),
        };
        let plugin = router.plugin();
        let hook = plugin.has_query_hook();
        let header = QueryHeader {
            query_id: request.trace_id.map_or_else(
                || format!("{}#{}", request.peer, request.message_id),
                |id| id.to_string(),
            ),
            source: request.service.clone(),
            calling_ae_title: request.calling_ae_title.to_string(),
            called_ae_title: request.called_ae_title.to_string(),
            sop_class_uid: request.sop_class_uid.clone(),
            transfer_syntax_uid: request.transfer_syntax.clone(),
        };
        let ts = request.transfer_syntax.clone();
        if hook {
            // Called inline, as `route` is: short and bounded by the
            // plugin's CPU budget.
            let keys = Arc::new(DicomSource::bytes(request.identifier.clone(), &ts));
            match plugin.query(&header, keys) {
                Err(e) => {
                    return Some(FindAnswer::unable_to_process(format!(
                        "process {item}: {e}"
                    )));
                }
                Ok(QueryDecision::Refuse(reason)) => {
                    return Some(FindAnswer::unable_to_process(reason));
                }
                Ok(QueryDecision::Ask(edits)) if edits.is_empty() => {}
                Ok(QueryDecision::Ask(edits)) => {
                    match edit_keys(&request.identifier, &ts, &edits) {
                        Ok(bytes) => request.identifier = bytes,
                        Err(e) => {
                            return Some(FindAnswer::unable_to_process(format!(
                                "process {item}: the plugin's query edit: {e}"
                            )));
                        }
                    }
                }
            }
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
        let downstream = cancel.child_token();
        self.downstream
            .find(request, FindAnswers(tx), downstream.clone());
        while let Some(answer) = rx.recv().await {
            let FindAnswer::Match { status, identifier } = answer else {
                return Some(answer);
            };
            let identifier = if hook {
                let found = Arc::new(DicomSource::bytes(identifier.clone(), &ts));
                let kept = match plugin.filter_match(&header, found) {
                    Ok(MatchDecision::Drop) => continue,
                    Ok(MatchDecision::Keep(edits)) if edits.is_empty() => Ok(identifier),
                    Ok(MatchDecision::Keep(edits)) => edit_keys(&identifier, &ts, &edits)
                        .map_err(|e| format!("process {item}: the plugin's match edit: {e}")),
                    Err(e) => Err(format!("process {item}: {e}")),
                };
                match kept {
                    Ok(identifier) => identifier,
                    Err(reason) => {
                        warn!(%item, %reason, "A query ended: the plugin failed on a match.");
                        downstream.cancel();
                        return Some(FindAnswer::unable_to_process(reason));
                    }
                }
            } else {
                identifier
            };
            if answers
                .send(FindAnswer::Match { status, identifier })
                .await
                .is_err()
            {
                downstream.cancel();
                return None;
            }
        }
        None
    }
}
