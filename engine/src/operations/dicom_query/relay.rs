//! The relay: one query, one association upstream. The upstream's address
//! comes from the AE directory and the proposed context from the stored
//! association, both read per query (an edit takes effect on the next
//! one). Matches go to the requester as they arrive; C-CANCEL goes
//! upstream; an upstream that is down, refuses or goes silent ends the
//! query with C001 (unable to process) and the reason as Error Comment,
//! never a hang. The identifier and the matches pass untouched, unless the
//! upstream's association has only the other of implicit and explicit VR
//! little endian: then they are re-encoded (headers only, see
//! [`crate::dataset::reencode`]).

use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::config::{DicomQueryConfig, GetMode, MoveMode};
use super::pool::{self, Key, Pool};
use crate::association::{AeEntry, AeTitle};
use crate::component::query::{
    FindAnswer, FindAnswers, FindRequest, Query, QueryContext, RetrieveAnswer, RetrieveAnswers,
    RetrieveRequest,
};
use crate::component::retrieves::Retrieves;
use crate::component::{
    BuildError, FieldError, HumanDuration, ItemConfig, ItemContext, RunningItem,
};
use crate::dimse::Retrieve;
use crate::dimse::scu::{
    self, MAX_PRESENTATION_CONTEXTS, ProposedContext, ScuAssociation, ScuOptions,
};
use crate::dimse::status::StatusCategory;
use crate::dimse::tls::{ClientTls, Reloading};
use crate::ids::NamespaceId;
use crate::message::{ItemAddress, MessageQueues};
use crate::operations::dicom_scu::config::ScuTls;
use crate::operations::dicom_scu::{self, DicomScuConfig, operation::Remote};
use crate::store::{AeDirectory, Associations};

impl ItemConfig for DicomQueryConfig {
    fn check(&self) -> Vec<FieldError> {
        self.problems()
    }

    /// Each query opens its own association (or takes one kept open); what
    /// runs is the delivery of its moves' instances, queued for it, each to
    /// its move's destination (see `through`).
    async fn build(&self, cx: ItemContext) -> Result<RunningItem, BuildError> {
        // A bad TLS file is reported at start; the relay then follows the
        // files (a replaced certificate applies to the next association).
        if let Some(tls) = &self.tls {
            tls.client().map_err(|e| BuildError::Setup(Box::new(e)))?;
            if let Ok(Some(upstream)) = cx.ae_directory.get(&self.remote_ae_title)
                && !upstream.tls
            {
                tracing::warn!(
                    upstream = %self.remote_ae_title,
                    "The operation has TLS settings, but its upstream's AE directory entry does not say tls = true: it is reached in clear."
                );
            }
        }
        let directory = cx.ae_directory.clone();
        dicom_scu::operation::spawn(self.delivery(), cx, Remote::MoveDestination(directory))
    }

    fn query(&self, cx: QueryContext<'_>) -> Option<Arc<dyn Query>> {
        Some(Arc::new(Relay {
            config: self.clone(),
            directory: cx.store.ae_directory(cx.namespace),
            associations: cx.store.associations(cx.namespace),
            namespace: cx.namespace.clone(),
            pool: Pool::new(self.keep_open.get()),
            tls: self
                .tls
                .as_ref()
                .map(|t| t.reloading().map_err(|e| e.to_string())),
            address: cx.address.clone(),
            inbox: cx.inbox.clone(),
            retrieves: cx.retrieves.clone(),
            messages: cx
                .store
                .messages(cx.namespace)
                .map(|m| Arc::new(m) as Arc<dyn MessageQueues>)
                .map_err(|e| e.to_string()),
        }))
    }
}

impl DicomQueryConfig {
    /// The settings of the lanes that deliver its moves' instances. The
    /// remote is each message's move destination: host and port are never
    /// read.
    fn delivery(&self) -> DicomScuConfig {
        DicomScuConfig {
            host: String::new(),
            port: 0,
            remote_ae_title: self.remote_ae_title.clone(),
            local_ae_title: self.local_ae_title.clone(),
            max_associations: 1,
            retry: self.retry.clone(),
            connect_timeout: self.connect_timeout,
            response_timeout: self.idle_timeout,
            write_timeout: HumanDuration::from_secs(30),
            // A move's instances come in one burst; a destination that
            // serves one association at a time (storescp without --fork)
            // waits for this release before anyone else can store to it.
            idle_release: HumanDuration::from_secs(1),
            max_pdu_length: self.max_pdu_length,
            // For the destinations that speak TLS only (`tls` in the AE
            // directory), each verified by its own host name.
            tls: self.tls.clone().map(|t| ScuTls {
                server_name: None,
                ..t
            }),
        }
    }
}

/// Answers queries by asking the upstream.
#[derive(Debug)]
pub(super) struct Relay {
    pub(super) config: DicomQueryConfig,
    directory: AeDirectory,
    associations: Associations,
    pub(super) namespace: NamespaceId,
    /// Associations kept open between queries.
    pool: Arc<Pool>,
    /// The TLS client its files make (or why they make none: then no
    /// association opens, rather than one in clear).
    tls: Option<Result<Reloading<ClientTls>, String>>,
    /// Its own address and inbox: its moves' instances are queued for it.
    pub(super) address: ItemAddress,
    pub(super) inbox: Arc<tokio::sync::Notify>,
    pub(super) retrieves: Retrieves,
    /// Where a move's id comes from.
    pub(super) messages: Result<Arc<dyn MessageQueues>, String>,
}

impl Query for Relay {
    fn find(&self, request: FindRequest, answers: FindAnswers, cancel: CancellationToken) {
        let config = self.config.clone();
        let setup = self.options(&request.sop_class_uid, &request.transfer_syntax);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let done = match setup {
                Ok((address, options)) => {
                    let upstream = Upstream {
                        config: &config,
                        pool: &pool,
                        address: &address,
                        options: &options,
                    };
                    upstream.relay(&request, &answers, &cancel).await
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

    fn retrieve(
        &self,
        request: RetrieveRequest,
        answers: RetrieveAnswers,
        cancel: CancellationToken,
    ) {
        match (request.kind(), self.config.move_mode) {
            (Retrieve::Move, MoveMode::AsIs) => {
                super::retrieve::as_is(self, request, answers, cancel);
            }
            (Retrieve::Get, _) => match self.config.get_mode {
                GetMode::CGet => super::retrieve::as_is(self, request, answers, cancel),
                GetMode::CMove => super::retrieve::by_move(self, request, answers, cancel),
            },
            (Retrieve::Move, MoveMode::ThroughEngine) => {
                if let Some(unknown) = self.unknown_destination(&request) {
                    answers.0.try_send(unknown).ok();
                    return;
                }
                super::through::retrieve(self, request, answers, cancel);
            }
        }
    }
}

impl Relay {
    /// The end of a move whose destination is not in the namespace's AE
    /// directory, or whose caller may not move there: A801H at once, before
    /// anything goes upstream.
    fn unknown_destination(&self, request: &RetrieveRequest) -> Option<RetrieveAnswer> {
        let destination = request.move_destination.as_deref()?;
        let why = match AeTitle::new(destination) {
            Err(e) => format!("{destination:?} is not an AE title: {e}"),
            Ok(title) => match self.directory.get(&title) {
                Ok(Some(entry)) if entry.may_move_here(&request.calling_ae_title) => return None,
                Ok(Some(_)) => format!(
                    "{} may not move to {title}: not among its move callers in the AE directory",
                    request.calling_ae_title
                ),
                Ok(None) => format!(
                    "{title} is not in the AE directory of namespace {}; add it (switchboard ae add)",
                    self.namespace
                ),
                Err(e) => {
                    return Some(RetrieveAnswer::unable_to_process(format!(
                        "cannot read the AE directory: {e}"
                    )));
                }
            },
        };
        warn!(destination, calling = %request.calling_ae_title, "C-MOVE refused: {why}.");
        Some(RetrieveAnswer::Done {
            status: crate::dimse::Status(0xA801),
            sub_operations: crate::dimse::SubOperations::default(),
            failed_uids: None,
            error_comment: Some(why),
        })
    }

    /// Where the upstream is and what to propose for a retrieve: for a
    /// C-GET, also each storage SOP class the requester takes back, with
    /// the SCP role, as far as the 128 contexts of an association go.
    pub(super) fn retrieve_options(
        &self,
        request: &RetrieveRequest,
    ) -> Result<(String, ScuOptions), String> {
        let (address, mut options) =
            self.options(&request.sop_class_uid, &request.transfer_syntax)?;
        let Some(storage) = &request.storage else {
            return Ok((address, options));
        };
        let room = MAX_PRESENTATION_CONTEXTS.saturating_sub(options.presentation_contexts.len());
        if storage.contexts.len() > room {
            warn!(
                requested = storage.contexts.len(),
                proposed = room,
                "A C-GET's requester takes more storage SOP classes than fit in one association upstream; the first ones are proposed."
            );
        }
        for (sop_class_uid, transfer_syntaxes) in storage.contexts.iter().take(room) {
            options.presentation_contexts.push(ProposedContext {
                abstract_syntax: sop_class_uid.clone(),
                transfer_syntaxes: transfer_syntaxes.clone(),
            });
            options.scp_roles.push(sop_class_uid.clone());
        }
        Ok((address, options))
    }

    /// Where the upstream is and what to propose for a request of
    /// `sop_class_uid` that came in `requester` (a transfer syntax), read
    /// now.
    pub(super) fn options(
        &self,
        sop_class_uid: &str,
        requester: &str,
    ) -> Result<(String, ScuOptions), String> {
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
        let stored: Vec<String> = stored
            .context_for(sop_class_uid)
            .map(|pc| {
                pc.transfer_syntaxes
                    .iter()
                    .map(|t| t.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default();
        // The requester's transfer syntax on a context of its own, so that
        // an upstream that takes it is never made to choose another; the
        // others the identifier can be re-encoded in on a second one.
        let mut contexts = Vec::new();
        if stored.iter().any(|t| t == requester) {
            contexts.push(vec![requester.to_string()]);
        }
        let others: Vec<String> = stored
            .into_iter()
            .filter(|t| t != requester && crate::dataset::can_reencode(requester, t))
            .collect();
        if !others.is_empty() {
            contexts.push(others);
        }
        if contexts.is_empty() {
            return Err(format!(
                "the association {local} → {remote} has no context for {} in {} (or in a transfer syntax it can be re-encoded in)",
                crate::dimse::uids::uid_name_or_uid(sop_class_uid),
                crate::dimse::uids::uid_name_or_uid(requester)
            ));
        }
        let mut options = ScuOptions::new(local.as_str(), remote.as_str());
        options.presentation_contexts = contexts
            .into_iter()
            .map(|transfer_syntaxes| ProposedContext {
                abstract_syntax: sop_class_uid.to_string(),
                transfer_syntaxes,
            })
            .collect();
        options.max_pdu_length = self.config.max_pdu_length;
        options.tls = self.tls_for(&entry)?;
        options.connect_timeout = self.config.connect_timeout.get();
        options.response_timeout = self.config.connect_timeout.get();
        Ok((entry.address(), options))
    }
}

impl Relay {
    /// The TLS client for an AE of the directory: TLS when its entry says
    /// so, with this operation's settings (none: the reason, rather than a
    /// connection in clear).
    fn tls_for(&self, entry: &AeEntry) -> Result<Option<ClientTls>, String> {
        match (&self.tls, entry.tls) {
            (_, false) => Ok(None),
            (Some(Ok(tls)), true) => Ok(Some(tls.current())),
            (Some(Err(e)), true) => Err(format!("tls: {e}")),
            (None, true) => Err(format!(
                "AE {} speaks TLS only (tls in the AE directory), and operation {} has no [tls] settings to reach it with; add them",
                entry.ae_title, self.address.item
            )),
        }
    }
}

/// Where one query goes.
struct Upstream<'a> {
    config: &'a DicomQueryConfig,
    pool: &'a Arc<Pool>,
    address: &'a str,
    options: &'a ScuOptions,
}

/// A query sent upstream: its message id and the transfer syntax the
/// upstream answers in.
struct Sent {
    id: u16,
    theirs: String,
}

impl Upstream<'_> {
    fn name(&self) -> String {
        format!("{}@{}", self.config.remote_ae_title, self.address)
    }

    async fn connect(&self) -> Result<pool::Upstream, String> {
        scu::connect(self.address, self.options)
            .await
            .map_err(|e| format!("{}: {e}", self.name()))
    }

    /// Sends the query on `assoc`: in the requester's transfer syntax when
    /// the upstream took it, else re-encoded in the one it took.
    async fn send(
        &self,
        assoc: &mut pool::Upstream,
        request: &FindRequest,
    ) -> Result<Sent, String> {
        let upstream = self.name();
        let (theirs, identifier) = in_their_syntax(
            &upstream,
            assoc,
            &request.sop_class_uid,
            &request.transfer_syntax,
            &request.identifier,
        )?;
        let id = assoc
            .find(
                &request.sop_class_uid,
                &theirs,
                request.priority,
                &identifier,
            )
            .await
            .map_err(|e| format!("{upstream}: {e}"))?;
        Ok(Sent { id, theirs })
    }

    /// Relays one query: `Ok(Some(final answer))`, `Ok(None)` when the
    /// requester went away, `Err(reason)` when the upstream failed.
    async fn relay(
        &self,
        request: &FindRequest,
        answers: &FindAnswers,
        cancel: &CancellationToken,
    ) -> Result<Option<FindAnswer>, String> {
        let config = self.config;
        let deadline = Instant::now() + config.total_timeout.get();
        let upstream = self.name();
        let key = Key {
            address: self.address.to_string(),
            contexts: self.options.presentation_contexts.clone(),
        };
        // An association kept open may have been closed by the upstream
        // since: until it has answered, a failure sends the query again on
        // a new one (a C-FIND asked twice changes nothing).
        let (mut assoc, mut reused) = match self.pool.take(&key) {
            Some(assoc) => (assoc, true),
            None => (self.connect().await?, false),
        };
        let mut sent = match self.send(&mut assoc, request).await {
            Err(_) if reused => {
                reused = false;
                assoc = self.connect().await?;
                self.send(&mut assoc, request).await?
            }
            other => other?,
        };
        let requester = request.transfer_syntax.as_str();
        let mut cancelled = false;
        loop {
            let idle = Instant::now() + config.idle_timeout.get();
            let response = tokio::select! {
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                    debug!(%upstream, "C-CANCEL forwarded upstream.");
                    if let Err(e) = assoc.cancel(&request.sop_class_uid, sent.id).await {
                        return Err(format!("{upstream}: {e}"));
                    }
                    continue;
                }
                () = tokio::time::sleep_until(idle.min(deadline)) => {
                    assoc.abort().await;
                    return Err(if idle < deadline {
                        config.idle_reason(&upstream)
                    } else {
                        config.total_reason(&upstream)
                    });
                }
                response = assoc.find_response(sent.id) => response,
            };
            let response = match response {
                Err(_) if reused && !cancelled => {
                    reused = false;
                    assoc = self.connect().await?;
                    sent = self.send(&mut assoc, request).await?;
                    continue;
                }
                other => other.map_err(|e| format!("{upstream}: {e}"))?,
            };
            reused = false;
            let pending = response.status.category() == StatusCategory::Pending;
            match response.identifier {
                Some(identifier) if pending => {
                    let identifier = if sent.theirs == requester {
                        identifier
                    } else {
                        match reencode(&upstream, &identifier, &sent.theirs, requester) {
                            Ok(bytes) => bytes,
                            Err(e) => {
                                abandon(assoc, &request.sop_class_uid, sent.id).await;
                                return Err(e);
                            }
                        }
                    };
                    let answer = FindAnswer::Match {
                        status: response.status,
                        identifier,
                    };
                    if answers.send(answer).await.is_err() {
                        abandon(assoc, &request.sop_class_uid, sent.id).await;
                        return Ok(None);
                    }
                }
                // A pending response without a match: nothing to relay.
                _ if pending => {}
                _ => {
                    // Kept for the next query, or released without making
                    // the requester wait for it.
                    self.pool.put(key, assoc);
                    return Ok(Some(FindAnswer::Done {
                        status: response.status,
                        error_comment: response.error_comment,
                    }));
                }
            }
        }
    }
}

/// The transfer syntax the upstream accepted for `sop_class_uid` (the
/// requester's when it took it) and the identifier in it, re-encoded when
/// it is another.
pub(super) fn in_their_syntax<'a>(
    upstream: &str,
    assoc: &pool::Upstream,
    sop_class_uid: &str,
    requester: &str,
    identifier: &'a [u8],
) -> Result<(String, std::borrow::Cow<'a, [u8]>), String> {
    let accepted = assoc
        .accepted_context(sop_class_uid, Some(requester))
        .or_else(|| assoc.accepted_context(sop_class_uid, None))
        .and_then(|c| c.transfer_syntax.clone());
    let Some(theirs) = accepted else {
        return Err(format!(
            "{upstream} accepted no context for {}",
            crate::dimse::uids::uid_name_or_uid(sop_class_uid)
        ));
    };
    let identifier = if theirs == requester {
        std::borrow::Cow::Borrowed(identifier)
    } else {
        std::borrow::Cow::Owned(reencode(upstream, identifier, requester, &theirs)?)
    };
    Ok((theirs, identifier))
}

/// `bytes` in `from` re-encoded in `to`, for the other association.
pub(super) fn reencode(
    upstream: &str,
    bytes: &[u8],
    from: &str,
    to: &str,
) -> Result<Vec<u8>, String> {
    crate::dataset::reencode(bytes, from, to)
        .map_err(|e| format!("{upstream}: cannot re-encode for the other association: {e}"))
}

/// The requester went away mid-query: cancel upstream and let go.
pub(super) async fn abandon<S>(mut assoc: ScuAssociation<S>, sop_class_uid: &str, id: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    assoc.cancel(sop_class_uid, id).await.ok();
    assoc.abort().await;
}
