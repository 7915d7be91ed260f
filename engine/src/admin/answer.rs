//! One request answered, whoever asks: the admin socket for the CLI, the
//! portal in-process. `Status` goes to the running engine; everything else
//! is [`execute`]d against the store, and what a command queued wakes the
//! items that deliver it.

use std::sync::Arc;

use super::api::{Envelope, ErrorReply, Reply, Request, Response};
use super::audit::{self, Actor, Change};
use super::status::EngineState;
use crate::message::ItemAddress;
use crate::store::Store;

/// The admin API for a client inside the engine (the portal): the same
/// answers the socket gives, without the socket.
#[derive(Clone)]
pub struct InProcess {
    store: Store,
    engine: Arc<dyn EngineState>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl InProcess {
    pub fn new(store: Store, engine: Arc<dyn EngineState>) -> Self {
        Self { store, engine }
    }

    /// Asks `request` in `namespace`.
    ///
    /// # Errors
    /// The command's error, as the socket would send it.
    pub async fn ask(
        &self,
        namespace: crate::ids::NamespaceId,
        request: Request,
    ) -> Result<Response, ErrorReply> {
        let envelope = Envelope { namespace, request };
        let who = audit::acting_now().unwrap_or_else(Actor::engine);
        answer(&self.store, Some(&self.engine), envelope, &who)
            .await
            .1
            .into()
    }

    /// Records a login to the portal in the audit trail.
    pub async fn logged_in(&self, session: &str) {
        let (store, session) = (self.store.clone(), session.to_string());
        tokio::task::spawn_blocking(move || audit::logged_in(&store, &session))
            .await
            .ok();
    }
}

/// Answers `envelope` from `who`, recording what it changes in the audit
/// trail: the HTTP status to send with the reply, and the reply.
pub async fn answer(
    store: &Store,
    engine: Option<&Arc<dyn EngineState>>,
    envelope: Envelope,
    who: &Actor,
) -> (u16, Reply) {
    if let (Request::Status, Some(engine)) = (&envelope.request, engine) {
        let engine = engine.clone();
        return match tokio::task::spawn_blocking(move || engine.status()).await {
            Ok(status) => (
                200,
                Reply::Ok(Response::Status {
                    status: Box::new(status),
                }),
            ),
            Err(join) => (
                500,
                failure(format!(
                    "the status request failed inside the engine: {join}"
                )),
            ),
        };
    }
    // The event log is this process's: the engine's when it serves.
    if let (Request::Events { filter }, Some(_)) = (&envelope.request, engine) {
        return (
            200,
            Reply::Ok(Response::Events {
                events: crate::events::recent(filter),
            }),
        );
    }
    if let Some(engine) = engine
        && let Some(outcome) = production(store, engine, &envelope, who).await
    {
        return outcome;
    }
    let store = store.clone();
    let namespace = envelope.namespace.clone();
    let span = tracing::info_span!("admin_request", namespace = %envelope.namespace);
    let who = who.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        audit::execute(&store, &envelope.namespace, envelope.request, &who)
    })
    .await;
    match outcome {
        Ok(Ok(response)) => {
            if let Some(engine) = engine {
                wake(engine.as_ref(), &namespace, &response);
            }
            (200, Reply::Ok(response))
        }
        Ok(Err(error)) => (
            error.http_status(),
            Reply::Error(ErrorReply::from_error(&error)),
        ),
        Err(join) => (
            500,
            failure(format!("the request failed inside the engine: {join}")),
        ),
    }
}

/// The production-file requests, which the running engine answers (`None`
/// for any other request); a save is recorded with the file's text before
/// and after.
async fn production(
    store: &Store,
    engine: &Arc<dyn EngineState>,
    envelope: &Envelope,
    who: &Actor,
) -> Option<(u16, Reply)> {
    let engine = engine.clone();
    let namespace = envelope.namespace.clone();
    let request = envelope.request.clone();
    let (store, who) = (store.clone(), who.clone());
    let asked = tokio::task::spawn_blocking(move || match request {
        Request::ProductionShow { name } => Some(
            engine
                .production_file(&namespace, &name)
                .map(|file| Response::ProductionFile { file }),
        ),
        Request::ProductionCheck { name, text } => Some(
            engine
                .check_production(&namespace, &name, &text)
                .map(|check| Response::ProductionChecked { check }),
        ),
        Request::ProductionSave { name, text } => {
            let change = Change::production_save(&name);
            let before = engine.production_file(&namespace, &name).ok();
            let saved = engine.save_production(&namespace, &name, &text);
            if let Ok(check) = &saved
                && check.saved
            {
                let response = Response::ProductionChecked {
                    check: check.clone(),
                };
                let before = before.map(|f| serde_json::Value::String(f.text));
                let after = Some(serde_json::Value::String(text));
                audit::append(
                    &store,
                    &change.record(&who, &namespace, before, after, &response),
                );
            }
            Some(saved.map(|check| Response::ProductionChecked { check }))
        }
        _ => None,
    })
    .await;
    match asked {
        Ok(None) => None,
        Ok(Some(Ok(response))) => Some((200, Reply::Ok(response))),
        Ok(Some(Err(message))) => Some((400, failure(message))),
        Err(join) => Some((
            500,
            failure(format!("the request failed inside the engine: {join}")),
        )),
    }
}

/// The queue readers of what a resend or a restore queued look at once.
fn wake(engine: &dyn EngineState, namespace: &crate::ids::NamespaceId, response: &Response) {
    let addresses = |targets: &[super::AddressView]| -> Vec<ItemAddress> {
        targets
            .iter()
            .map(|t| ItemAddress::new(t.production.as_str(), t.item.as_str()))
            .collect()
    };
    match response {
        Response::Resent { resent, namespaces } => {
            for (id, targets) in resent {
                let ns = namespaces.iter().find(|(m, _)| m == id).map(|(_, ns)| ns);
                engine.queued(ns.unwrap_or(namespace), &addresses(targets));
            }
        }
        Response::QuarantineRestored { restored, .. } => {
            for r in restored {
                engine.queued(&r.namespace, &addresses(&r.queued_for));
            }
        }
        _ => {}
    }
}

fn failure(message: String) -> Reply {
    Reply::Error(ErrorReply {
        message,
        causes: Vec::new(),
    })
}
