//! What the audit trail says of a request: who asked ([`Actor`]), what it
//! changes ([`Change::of`]: none for a request that only reads), and the
//! target's stored state before and after. Messages are named by ID only,
//! so no patient data reaches the trail.

use serde_json::Value;

use super::api::{Request, Response};
use crate::association::{AeTitle, PairKey};
use crate::ids::NamespaceId;
use crate::store::Store;
use crate::store::audit::{self, AuditRecord};

/// Who asks: a Unix user on the admin socket or running the CLI against
/// the store, or a portal session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The Unix user `uid`, reaching the engine through `channel`.
    pub fn unix(uid: u32, channel: &str) -> Self {
        Self(format!("{} on {channel}", unix_user(uid)))
    }

    /// This process's own user, running the CLI on the store directly.
    pub fn this_user() -> Self {
        #[cfg(unix)]
        // SAFETY: getuid has no preconditions and cannot fail.
        #[allow(unsafe_code)]
        let uid = unsafe { libc::getuid() };
        #[cfg(not(unix))]
        let uid = 0;
        Self::unix(uid, "the command line")
    }

    /// The engine itself (an in-process request on behalf of no one).
    pub fn engine() -> Self {
        Self("the engine".to_string())
    }

    /// A portal session, by the first characters of its id.
    pub fn portal(session: &str) -> Self {
        let short: String = session.chars().take(8).collect();
        Self(format!("portal session {short}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `alice (uid 1000)`, or `uid 1000` when the user has no name.
fn unix_user(uid: u32) -> String {
    #[cfg(unix)]
    {
        let mut buffer = vec![0 as libc::c_char; 4096];
        // SAFETY: passwd is plain data; getpwuid_r writes the strings it
        // points to into `buffer`, which outlives their use here.
        #[allow(unsafe_code)]
        unsafe {
            let mut entry: libc::passwd = std::mem::zeroed();
            let mut found: *mut libc::passwd = std::ptr::null_mut();
            if libc::getpwuid_r(
                uid,
                &raw mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &raw mut found,
            ) == 0
                && !found.is_null()
                && !entry.pw_name.is_null()
            {
                let name = std::ffi::CStr::from_ptr(entry.pw_name).to_string_lossy();
                return format!("{name} (uid {uid})");
            }
        }
    }
    format!("uid {uid}")
}

/// What a request changes.
#[derive(Debug, Clone)]
pub struct Change {
    action: &'static str,
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Association(PairKey),
    Ae(AeTitle),
    Production(String),
    /// Messages or quarantined files, named in the record's `after`.
    Named(String),
}

impl Change {
    /// The change `request` makes, `None` when it only reads.
    pub fn of(request: &Request) -> Option<Self> {
        let pair = |calling: &AeTitle, called: &AeTitle| {
            Target::Association(PairKey::new(calling.clone(), called.clone()))
        };
        let (action, target) = match request {
            Request::Import {
                calling_aet,
                called_aet,
                ..
            } => ("association import", pair(calling_aet, called_aet)),
            Request::Create {
                calling_aet,
                called_aet,
                ..
            } => ("association create", pair(calling_aet, called_aet)),
            Request::Add {
                calling_aet,
                called_aet,
                ..
            } => ("association add", pair(calling_aet, called_aet)),
            Request::Edit {
                calling_aet,
                called_aet,
                ..
            } => ("association edit", pair(calling_aet, called_aet)),
            Request::Delete {
                calling_aet,
                called_aet,
            } => ("association delete", pair(calling_aet, called_aet)),
            Request::ContextAdd {
                calling_aet,
                called_aet,
                ..
            } => ("association context add", pair(calling_aet, called_aet)),
            Request::ContextRemove {
                calling_aet,
                called_aet,
                ..
            } => ("association context remove", pair(calling_aet, called_aet)),
            Request::ContextSet {
                calling_aet,
                called_aet,
                ..
            } => ("association context set", pair(calling_aet, called_aet)),
            Request::AeAdd { entry, .. } => ("ae add", Target::Ae(entry.ae_title.clone())),
            Request::AeEdit { ae_title, .. } => ("ae edit", Target::Ae(ae_title.clone())),
            Request::AeDelete { ae_title } => ("ae delete", Target::Ae(ae_title.clone())),
            Request::ProductionSave { name, .. } => return Some(Self::production_save(name)),
            Request::MessagesResend {
                ids, all_failed, ..
            } => (
                "messages resend",
                Target::Named(if *all_failed {
                    "every failed message".to_string()
                } else {
                    format!("{} message(s)", ids.len())
                }),
            ),
            Request::Restore { backup, overwrite } => (
                "restore",
                Target::Named(format!(
                    "a backup of {} namespace(s){}",
                    backup.namespaces.len(),
                    if *overwrite { ", overwriting" } else { "" }
                )),
            ),
            Request::QuarantineRestore { names, all } => (
                "quarantine restore",
                Target::Named(if *all {
                    "every quarantined body".to_string()
                } else {
                    format!("{} quarantined bod(ies)", names.len())
                }),
            ),
            _ => return None,
        };
        Some(Self { action, target })
    }

    /// The target's stored state (`None` for a target without one, or one
    /// absent).
    pub fn state(&self, store: &Store, namespace: &NamespaceId) -> Option<Value> {
        match &self.target {
            Target::Association(key) => store
                .associations(namespace)
                .get(key)
                .ok()
                .flatten()
                .map(|ctx| json(&super::AssociationView::from(ctx))),
            Target::Ae(title) => store
                .ae_directory(namespace)
                .get(title)
                .ok()
                .flatten()
                .map(|entry| json(&entry)),
            Target::Production(_) | Target::Named(_) => None,
        }
    }

    /// Saving the production file `name` (whose text the engine holds,
    /// not the store).
    pub fn production_save(name: &str) -> Self {
        Self {
            action: "production save",
            target: Target::Production(name.to_string()),
        }
    }

    /// The record of the change done, with `before` and `after` states;
    /// for messages and quarantined files, `after` names them from the
    /// response (IDs, file names and where they were queued).
    pub fn record(
        &self,
        who: &Actor,
        namespace: &NamespaceId,
        before: Option<Value>,
        after: Option<Value>,
        response: &Response,
    ) -> AuditRecord {
        let after = match (&self.target, response) {
            (Target::Named(_), Response::Resent { resent, .. }) => Some(json(resent)),
            (Target::Named(_), Response::Restored { restored }) => Some(json(restored)),
            (Target::Named(_), Response::QuarantineRestored { restored, .. }) => {
                Some(json(&restored.iter().map(|r| &r.name).collect::<Vec<_>>()))
            }
            _ => after,
        };
        AuditRecord {
            at: crate::message::now_ms(),
            who: who.as_str().to_string(),
            namespace: Some(namespace.clone()),
            action: self.action.to_string(),
            target: match &self.target {
                Target::Association(key) => key.to_string(),
                Target::Ae(title) => title.to_string(),
                Target::Production(name) | Target::Named(name) => name.clone(),
            },
            before,
            after,
        }
    }
}

tokio::task_local! {
    /// Who the portal request being answered comes from.
    static ACTING: Actor;
}

/// Runs `f` on behalf of `actor`: the in-process admin API records its
/// changes as `actor`'s.
pub async fn acting<F: std::future::Future>(actor: Actor, f: F) -> F::Output {
    ACTING.scope(actor, f).await
}

/// Who the current task acts for, if it was given.
pub(super) fn acting_now() -> Option<Actor> {
    ACTING.try_with(Clone::clone).ok()
}

/// Runs `request` against the store and records it in the audit trail
/// when it changes something.
///
/// # Errors
/// The command's error; then nothing is recorded.
pub fn execute(
    store: &Store,
    namespace: &NamespaceId,
    request: Request,
    who: &Actor,
) -> Result<Response, super::CommandError> {
    let change = Change::of(&request);
    let before = change.as_ref().and_then(|c| c.state(store, namespace));
    let response = super::execute(store, namespace, request)?;
    if let Some(change) = change {
        let after = change.state(store, namespace);
        append(
            store,
            &change.record(who, namespace, before, after, &response),
        );
    }
    Ok(response)
}

/// Records a login to the portal.
pub fn logged_in(store: &Store, session: &str) {
    append(
        store,
        &AuditRecord {
            at: crate::message::now_ms(),
            who: Actor::portal(session).0,
            namespace: None,
            action: "portal login".to_string(),
            target: "portal".to_string(),
            before: None,
            after: None,
        },
    );
}

fn json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Appends `record` to the data directory's audit log; a failure is
/// logged (the change is made: it cannot be taken back).
pub fn append(store: &Store, record: &AuditRecord) {
    if let Err(error) = audit::append(store.data_dir(), record) {
        tracing::error!(
            %error,
            action = %record.action,
            target = %record.target,
            "Could not append to the audit log {}.",
            audit::path(store.data_dir()).display()
        );
    }
}
