//! The relay: one query, one association upstream. The upstream's address
//! comes from the AE directory and the proposed context from the stored
//! association, both read per query (an edit takes effect on the next
//! one). Matches go to the requester as they arrive; C-CANCEL goes
//! upstream; an upstream that is down, refuses or goes silent ends the
//! query with C001 (unable to process) and the reason as Error Comment,
//! never a hang.

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::config::DicomQueryConfig;
use crate::component::query::{FindAnswer, FindAnswers, FindRequest, Query, QueryContext};
use crate::component::{BuildError, FieldError, ItemConfig, ItemContext, RunningItem};
use crate::dimse::scu::{self, ProposedContext, ScuAssociation, ScuOptions};
use crate::ids::NamespaceId;
use crate::store::{AeDirectory, Associations};

impl ItemConfig for DicomQueryConfig {
    fn check(&self) -> Vec<FieldError> {
        self.problems()
    }

    /// Nothing runs between queries: each query opens its own association.
    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        Ok(RunningItem::task(tokio::spawn(async move {
            cx.shutdown.cancelled().await;
        })))
    }

    fn query(&self, cx: QueryContext<'_>) -> Option<Arc<dyn Query>> {
        Some(Arc::new(Relay {
            config: self.clone(),
            directory: cx.store.ae_directory(cx.namespace),
            associations: cx.store.associations(cx.namespace),
            namespace: cx.namespace.clone(),
        }))
    }
}

/// Answers queries by asking the upstream.
#[derive(Debug)]
struct Relay {
    config: DicomQueryConfig,
    directory: AeDirectory,
    associations: Associations,
    namespace: NamespaceId,
}

impl Query for Relay {
    fn find(&self, request: FindRequest, answers: FindAnswers, cancel: CancellationToken) {
        let config = self.config.clone();
        let setup = self.options(&request);
        tokio::spawn(async move {
            let done = match setup {
                Ok((address, options)) => {
                    relay(&config, &address, &options, &request, &answers, &cancel).await
                }
                Err(reason) => Err(reason),
            };
            let answer = match done {
                Ok(Some(answer)) => answer,
                // The requester is gone: nobody to answer.
                Ok(None) => return,
                Err(reason) => {
                    warn!(upstream = %config.remote_ae_title, %reason, "A query could not be answered.");
                    FindAnswer::unable_to_process(reason)
                }
            };
            answers.send(answer).await.ok();
        });
    }
}

impl Relay {
    /// Where the upstream is and what to propose, read now.
    fn options(&self, request: &FindRequest) -> Result<(String, ScuOptions), String> {
        let (local, remote) = (&self.config.local_ae_title, &self.config.remote_ae_title);
        let entry = self
            .directory
            .get(remote)
            .map_err(|e| format!("cannot read the AE directory: {e}"))?
            .ok_or_else(|| {
                format!(
                    "AE {remote} is not in the AE directory of namespace {}; add it (switchboard ae add)",
                    self.namespace
                )
            })?;
        let stored = self
            .associations
            .lookup(local, remote)
            .map_err(|e| format!("cannot read the stored association: {e}"))?
            .ok_or_else(|| {
                format!(
                    "no association {local} → {remote} in namespace {}; create it",
                    self.namespace
                )
            })?;
        let allowed = stored
            .context_for(&request.sop_class_uid)
            .is_some_and(|pc| {
                pc.transfer_syntaxes
                    .iter()
                    .any(|t| t.as_str() == request.transfer_syntax)
            });
        if !allowed {
            return Err(format!(
                "the association {local} → {remote} has no context for {} in {}",
                crate::dimse::uids::uid_name_or_uid(&request.sop_class_uid),
                crate::dimse::uids::uid_name_or_uid(&request.transfer_syntax)
            ));
        }
        let mut options = ScuOptions::new(local.as_str(), remote.as_str());
        // The identifier passes untouched: the requester's transfer syntax.
        options.presentation_contexts = vec![ProposedContext {
            abstract_syntax: request.sop_class_uid.clone(),
            transfer_syntaxes: vec![request.transfer_syntax.clone()],
        }];
        options.max_pdu_length = self.config.max_pdu_length;
        options.connect_timeout = self.config.connect_timeout.get();
        options.response_timeout = self.config.connect_timeout.get();
        Ok((entry.address(), options))
    }
}

/// Relays one query: `Ok(Some(final answer))`, `Ok(None)` when the
/// requester went away, `Err(reason)` when the upstream failed.
async fn relay(
    config: &DicomQueryConfig,
    address: &str,
    options: &ScuOptions,
    request: &FindRequest,
    answers: &FindAnswers,
    cancel: &CancellationToken,
) -> Result<Option<FindAnswer>, String> {
    let deadline = Instant::now() + config.total_timeout.get();
    let upstream = format!("{}@{address}", config.remote_ae_title);
    let mut assoc = scu::connect(address, options)
        .await
        .map_err(|e| format!("{upstream}: {e}"))?;
    let id = assoc
        .find(
            &request.sop_class_uid,
            &request.transfer_syntax,
            request.priority,
            &request.identifier,
        )
        .await
        .map_err(|e| format!("{upstream}: {e}"))?;
    let mut cancelled = false;
    loop {
        let idle = Instant::now() + config.idle_timeout.get();
        let response = tokio::select! {
            () = cancel.cancelled(), if !cancelled => {
                cancelled = true;
                debug!(%upstream, "C-CANCEL forwarded upstream.");
                if let Err(e) = assoc.cancel(&request.sop_class_uid, id).await {
                    return Err(format!("{upstream}: {e}"));
                }
                continue;
            }
            () = tokio::time::sleep_until(idle.min(deadline)) => {
                assoc.abort().await;
                return Err(if idle < deadline {
                    format!("{upstream} sent nothing for {:?}", config.idle_timeout.get())
                } else {
                    format!("{upstream} did not finish within {:?}", config.total_timeout.get())
                });
            }
            response = assoc.find_response(id) => response.map_err(|e| format!("{upstream}: {e}"))?,
        };
        match response.identifier {
            Some(identifier)
                if response.status.category() == crate::dimse::status::StatusCategory::Pending =>
            {
                let answer = FindAnswer::Match {
                    status: response.status,
                    identifier,
                };
                if answers.send(answer).await.is_err() {
                    abandon(assoc, &request.sop_class_uid, id).await;
                    return Ok(None);
                }
            }
            _ if response.status.category() == crate::dimse::status::StatusCategory::Pending => {
                // A pending response without a match: nothing to relay.
            }
            _ => {
                // The requester need not wait for the upstream's release.
                tokio::spawn(async move { assoc.release().await.ok() });
                return Ok(Some(FindAnswer::Done {
                    status: response.status,
                    error_comment: response.error_comment,
                }));
            }
        }
    }
}

/// The requester went away mid-query: cancel upstream and let go.
async fn abandon<S>(mut assoc: ScuAssociation<S>, sop_class_uid: &str, id: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    assoc.cancel(sop_class_uid, id).await.ok();
    assoc.abort().await;
}
