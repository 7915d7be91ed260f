//! Runs one [`Request`] against the store. The CLI calls this directly when
//! it can open the store, and the admin server calls it for its clients, so
//! both give the same answers.

use super::api::{AssociationView, Request, Response};
use super::error::CommandError;
use crate::association::{
    AeTitle, AssociationContext, CertificateBinding, PairKey, PresentationContext, Uid, import,
    model::{check_description, check_max_pdu_length, check_name},
};
use crate::dictionary;
use crate::ids::NamespaceId;
use crate::store::{Store, StoreError};

/// Runs one command in a namespace. Blocks (store I/O): from async code, use
/// `spawn_blocking`.
///
/// # Errors
/// [`CommandError`]; then nothing was changed.
pub fn execute(
    store: &Store,
    namespace: &NamespaceId,
    request: Request,
) -> Result<Response, CommandError> {
    let associations = store.associations(namespace);
    let pair = |calling: AeTitle, called: AeTitle| PairKey::new(calling, called);
    match request {
        Request::Import {
            calling_aet,
            called_aet,
            presentation_contexts,
            overwrite,
            certificates,
        } => {
            let key = pair(calling_aet, called_aet);
            let (association, replaced) = put_contexts(
                store,
                namespace,
                &key,
                presentation_contexts,
                &certificates,
                overwrite,
            )?;
            Ok(Response::Imported {
                association,
                replaced,
            })
        }
        Request::Create {
            calling_aet,
            called_aet,
            transfer_syntaxes,
            overwrite,
        } => {
            let key = pair(calling_aet, called_aet);
            let contexts = registry_contexts(transfer_syntaxes)?;
            let (association, replaced) =
                put_contexts(store, namespace, &key, contexts, &[], overwrite)?;
            Ok(Response::Created {
                association,
                replaced,
            })
        }
        Request::Add {
            calling_aet,
            called_aet,
            name,
            description,
            max_pdu_length,
            certificates,
        } => {
            let mut ctx = AssociationContext::new(calling_aet, called_aet);
            ctx.certificates = certificates;
            ctx.name = name;
            ctx.description = description;
            ctx.max_pdu_length = max_pdu_length;
            ctx.validate()?;
            let key = ctx.key();
            let added = associations.modify::<CommandError, _>(&key, |existing| {
                if existing.is_some() {
                    return Err(StoreError::AlreadyExists {
                        namespace: namespace.clone(),
                        key: key.clone(),
                    }
                    .into());
                }
                Ok(Some(ctx.clone()))
            })?;
            Ok(Response::Added {
                association: added.unwrap_or(ctx).into(),
            })
        }
        Request::List => Ok(Response::Associations {
            associations: associations
                .list()?
                .into_iter()
                .map(AssociationView::from)
                .collect(),
        }),
        Request::Show {
            calling_aet,
            called_aet,
        } => Ok(Response::Association {
            association: get(store, namespace, &pair(calling_aet, called_aet))?.into(),
        }),
        Request::Edit {
            calling_aet,
            called_aet,
            name,
            description,
            max_pdu_length,
            clear_max_pdu_length,
            certificates,
        } => {
            if name.is_none()
                && description.is_none()
                && max_pdu_length.is_none()
                && !clear_max_pdu_length
                && certificates.is_none()
            {
                return Err(CommandError::NothingToEdit);
            }
            if let Some(name) = &name {
                check_name(name)?;
            }
            if let Some(description) = &description {
                check_description(description)?;
            }
            if let Some(len) = max_pdu_length {
                check_max_pdu_length(len)?;
            }
            let key = pair(calling_aet, called_aet);
            let updated = associations.update::<CommandError, _>(&key, |ctx| {
                if let Some(name) = &name {
                    ctx.name.clone_from(name);
                }
                if let Some(description) = &description {
                    ctx.description.clone_from(description);
                }
                if clear_max_pdu_length {
                    ctx.max_pdu_length = None;
                }
                if max_pdu_length.is_some() {
                    ctx.max_pdu_length = max_pdu_length;
                }
                if let Some(certificates) = &certificates {
                    ctx.certificates.clone_from(certificates);
                }
                Ok(())
            })?;
            Ok(Response::Edited {
                association: updated.into(),
            })
        }
        Request::Delete {
            calling_aet,
            called_aet,
        } => Ok(Response::Deleted {
            association: associations.delete(&pair(calling_aet, called_aet))?.into(),
        }),
        Request::ContextAdd {
            calling_aet,
            called_aet,
            abstract_syntax,
            transfer_syntaxes,
        } => {
            check_transfer_syntaxes(&transfer_syntaxes)?;
            let key = pair(calling_aet, called_aet);
            let mut added = Vec::new();
            let mut new_context = false;
            let updated = associations.update::<CommandError, _>(&key, |ctx| {
                // The closure may run again after a concurrent write: start
                // from scratch each time.
                added.clear();
                new_context = false;
                match ctx
                    .presentation_contexts
                    .iter_mut()
                    .find(|pc| pc.abstract_syntax == abstract_syntax)
                {
                    Some(pc) => {
                        for ts in &transfer_syntaxes {
                            if !pc.transfer_syntaxes.contains(ts) {
                                pc.transfer_syntaxes.push(ts.clone());
                                added.push(ts.clone());
                            }
                        }
                    }
                    None => {
                        ctx.presentation_contexts.push(PresentationContext::new(
                            abstract_syntax.clone(),
                            transfer_syntaxes.clone(),
                        )?);
                        added.clone_from(&transfer_syntaxes);
                        new_context = true;
                    }
                }
                Ok(())
            })?;
            Ok(Response::ContextAdded {
                association: updated.into(),
                abstract_syntax,
                added,
                new_context,
            })
        }
        Request::ContextRemove {
            calling_aet,
            called_aet,
            abstract_syntax,
            transfer_syntax,
        } => {
            let key = pair(calling_aet, called_aet);
            let updated = associations.update::<CommandError, _>(&key, |ctx| {
                let Some(at) = ctx
                    .presentation_contexts
                    .iter()
                    .position(|pc| pc.abstract_syntax == abstract_syntax)
                else {
                    return Err(CommandError::NoSuchContext {
                        key: key.clone(),
                        abstract_syntax: abstract_syntax.clone(),
                    });
                };
                let Some(ts) = &transfer_syntax else {
                    ctx.presentation_contexts.remove(at);
                    return Ok(());
                };
                let pc = &mut ctx.presentation_contexts[at];
                let Some(ts_at) = pc.transfer_syntaxes.iter().position(|t| t == ts) else {
                    return Err(CommandError::NoSuchTransferSyntax {
                        key: key.clone(),
                        abstract_syntax: abstract_syntax.clone(),
                        transfer_syntax: ts.clone(),
                    });
                };
                if pc.transfer_syntaxes.len() == 1 {
                    return Err(CommandError::LastTransferSyntax {
                        abstract_syntax: abstract_syntax.clone(),
                        transfer_syntax: ts.clone(),
                    });
                }
                pc.transfer_syntaxes.remove(ts_at);
                Ok(())
            })?;
            Ok(Response::ContextRemoved {
                association: updated.into(),
                abstract_syntax,
                transfer_syntax,
            })
        }
        Request::ContextSet {
            calling_aet,
            called_aet,
            abstract_syntax,
            transfer_syntaxes,
        } => {
            check_transfer_syntaxes(&transfer_syntaxes)?;
            let key = pair(calling_aet, called_aet);
            let updated = associations.update::<CommandError, _>(&key, |ctx| {
                let set =
                    PresentationContext::new(abstract_syntax.clone(), transfer_syntaxes.clone())?;
                match ctx
                    .presentation_contexts
                    .iter_mut()
                    .find(|pc| pc.abstract_syntax == abstract_syntax)
                {
                    Some(pc) => *pc = set,
                    None => ctx.presentation_contexts.push(set),
                }
                Ok(())
            })?;
            Ok(Response::ContextSet {
                association: updated.into(),
                abstract_syntax,
            })
        }
        Request::Lookup {
            calling_aet,
            called_aet,
            wildcards,
        } => {
            let found = if wildcards {
                associations.lookup(&calling_aet, &called_aet)?
            } else {
                associations.get(&pair(calling_aet, called_aet))?
            };
            Ok(Response::LookedUp {
                association: found.map(AssociationView::from),
            })
        }
        Request::Export {
            calling_aet,
            called_aet,
        } => {
            let ctx = get(store, namespace, &pair(calling_aet, called_aet))?;
            let text = import::export(&ctx);
            Ok(Response::Exported {
                association: ctx.into(),
                text,
            })
        }
        Request::MessagesList {
            filter,
            every_namespace,
        } => super::messages::list(store, namespace, &filter, every_namespace),
        Request::MessagesShow {
            id,
            every_namespace,
        } => super::messages::show(store, namespace, id, every_namespace),
        Request::MessagesResend {
            ids,
            all_failed,
            every_namespace,
            matching,
        } => super::messages::resend(
            store,
            namespace,
            &ids,
            all_failed.then(|| matching.unwrap_or_default()),
            every_namespace,
        ),
        Request::QuarantineList => super::quarantine::list(store),
        Request::QuarantineRestore { names, all } => super::quarantine::restore(store, names, all),
        Request::AeAdd { entry, overwrite } => {
            let replaced = store
                .ae_directory(namespace)
                .put(entry.clone(), overwrite)?;
            Ok(Response::AeAdded { entry, replaced })
        }
        Request::AeList => Ok(Response::AeEntries {
            entries: store.ae_directory(namespace).list()?,
        }),
        Request::AeShow { ae_title } => {
            let directory = store.ae_directory(namespace);
            let entry = directory.get(&ae_title)?.ok_or(StoreError::AeNotFound {
                namespace: namespace.clone(),
                ae_title,
            })?;
            Ok(Response::AeShown { entry })
        }
        Request::AeEdit {
            ae_title,
            host,
            port,
            description,
            move_callers,
            tls,
        } => {
            if host.is_none()
                && port.is_none()
                && description.is_none()
                && move_callers.is_none()
                && tls.is_none()
            {
                return Err(CommandError::NothingToEditAe);
            }
            let entry = store.ae_directory(namespace).update(&ae_title, |e| {
                if let Some(host) = &host {
                    e.host.clone_from(host);
                }
                if let Some(port) = port {
                    e.port = port;
                }
                if let Some(description) = &description {
                    e.description.clone_from(description);
                }
                if let Some(callers) = &move_callers {
                    e.move_callers.clone_from(callers);
                }
                if let Some(tls) = tls {
                    e.tls = tls;
                }
            })?;
            Ok(Response::AeEdited { entry })
        }
        Request::AeDelete { ae_title } => Ok(Response::AeDeleted {
            entry: store.ae_directory(namespace).delete(&ae_title)?,
        }),
        Request::Backup => Ok(Response::Backup {
            backup: super::backup::take(store)?,
        }),
        Request::Restore { backup, overwrite } => Ok(Response::Restored {
            restored: super::backup::restore(store, backup, overwrite)?,
        }),
        // Answered by the server from the engine's own state; reaching
        // this means the store was opened here, so no engine runs.
        Request::Status
        | Request::ProductionShow { .. }
        | Request::ProductionCheck { .. }
        | Request::ProductionSave { .. }
        | Request::Events { .. } => Err(CommandError::NoEngine),
    }
}

fn get(
    store: &Store,
    namespace: &NamespaceId,
    key: &PairKey,
) -> Result<AssociationContext, CommandError> {
    store.associations(namespace).get(key)?.ok_or_else(|| {
        CommandError::Store(StoreError::NotFound {
            namespace: namespace.clone(),
            key: key.clone(),
        })
    })
}

/// Stores `contexts` for a pair: a new association, or (with `overwrite`)
/// new presentation contexts for an existing one that keeps its name,
/// description and maximum PDU length. One atomic write.
fn put_contexts(
    store: &Store,
    namespace: &NamespaceId,
    key: &PairKey,
    contexts: Vec<PresentationContext>,
    certificates: &[CertificateBinding],
    overwrite: bool,
) -> Result<(AssociationView, bool), CommandError> {
    let mut replaced = false;
    let stored = store
        .associations(namespace)
        .modify::<CommandError, _>(key, |existing| {
            replaced = existing.is_some();
            let mut ctx = match existing {
                Some(_) if !overwrite => {
                    return Err(StoreError::AlreadyExists {
                        namespace: namespace.clone(),
                        key: key.clone(),
                    }
                    .into());
                }
                Some(existing) => existing,
                None => AssociationContext::new(
                    key.calling_ae_title.clone(),
                    key.called_ae_title.clone(),
                ),
            };
            ctx.presentation_contexts.clone_from(&contexts);
            if !certificates.is_empty() {
                ctx.certificates = certificates.to_vec();
            }
            Ok(Some(ctx))
        })?;
    let stored = stored.ok_or_else(|| {
        CommandError::Store(StoreError::NotFound {
            namespace: namespace.clone(),
            key: key.clone(),
        })
    })?;
    Ok((stored.into(), replaced))
}

fn check_transfer_syntaxes(transfer_syntaxes: &[Uid]) -> Result<(), CommandError> {
    if transfer_syntaxes.is_empty() {
        return Err(CommandError::NoTransferSyntax);
    }
    for (i, ts) in transfer_syntaxes.iter().enumerate() {
        if transfer_syntaxes[..i].contains(ts) {
            return Err(CommandError::RepeatedTransferSyntax(ts.clone()));
        }
    }
    Ok(())
}

/// One presentation context per SOP class of the registry, in registry
/// order, each with the given transfer syntaxes (default: Implicit VR Little
/// Endian).
fn registry_contexts(
    transfer_syntaxes: Vec<Uid>,
) -> Result<Vec<PresentationContext>, CommandError> {
    let transfer_syntaxes = if transfer_syntaxes.is_empty() {
        vec![Uid::implicit_vr_little_endian()]
    } else {
        check_transfer_syntaxes(&transfer_syntaxes)?;
        transfer_syntaxes
    };
    let mut out: Vec<PresentationContext> = Vec::new();
    for sop_class in dictionary::sop_classes() {
        let uid = Uid::new(sop_class.uid).map_err(CommandError::Registry)?;
        if out.iter().any(|pc| pc.abstract_syntax == uid) {
            continue;
        }
        out.push(PresentationContext {
            abstract_syntax: uid,
            transfer_syntaxes: transfer_syntaxes.clone(),
        });
    }
    Ok(out)
}
