//! Backup and restore of what an administrator built: the association
//! contexts and the AE directory of every namespace, as one JSON document
//! (`switchboard backup`, `switchboard restore`). Messages are not in it:
//! they are patient data, and the store keeps them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CommandError;
use super::views::AssociationView;
use crate::association::{AeEntry, AssociationContext};
use crate::ids::NamespaceId;
use crate::store::{Store, StoreError};

/// The format version this engine writes and reads.
pub const VERSION: u32 = 1;

/// Every namespace's associations and AE directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub version: u32,
    pub namespaces: BTreeMap<NamespaceId, NamespaceBackup>,
}

/// One namespace's part of a [`Backup`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceBackup {
    #[serde(default)]
    pub associations: Vec<AssociationView>,
    #[serde(default)]
    pub ae_directory: Vec<AeEntry>,
}

/// What a restore did, per namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    pub namespaces: BTreeMap<NamespaceId, RestoredCounts>,
}

/// Associations and AE entries added, replaced, and kept as they were (the
/// store had them and `overwrite` was not given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredCounts {
    pub associations_added: usize,
    pub associations_replaced: usize,
    pub associations_kept: usize,
    pub ae_added: usize,
    pub ae_replaced: usize,
    pub ae_kept: usize,
}

/// Everything the store holds of associations and AE directories.
///
/// # Errors
/// The store cannot be read.
pub fn take(store: &Store) -> Result<Backup, CommandError> {
    let mut namespaces: BTreeMap<NamespaceId, NamespaceBackup> = BTreeMap::new();
    for ns in store.association_namespaces() {
        namespaces.entry(ns.clone()).or_default().associations = store
            .associations(&ns)
            .list()?
            .into_iter()
            .map(AssociationView::from)
            .collect();
    }
    for ns in store.ae_directory_namespaces() {
        namespaces.entry(ns.clone()).or_default().ae_directory = store.ae_directory(&ns).list()?;
    }
    namespaces.retain(|_, b| !b.associations.is_empty() || !b.ae_directory.is_empty());
    Ok(Backup {
        version: VERSION,
        namespaces,
    })
}

/// Puts a backup back: every entry checked first (one invalid: nothing
/// changes), then each stored; what the store has already is kept unless
/// `overwrite`.
///
/// # Errors
/// An unknown version, an invalid entry (named), or the store failing
/// part way (what was restored stays; run it again).
pub fn restore(store: &Store, backup: Backup, overwrite: bool) -> Result<Restored, CommandError> {
    if backup.version != VERSION {
        return Err(CommandError::Backup(format!(
            "version {} is not one this engine reads (it reads version {VERSION})",
            backup.version
        )));
    }
    for (ns, part) in &backup.namespaces {
        for view in &part.associations {
            AssociationContext::from(view.clone())
                .validate()
                .map_err(|e| {
                    CommandError::Backup(format!("namespace {ns}, association {}: {e}", view.key()))
                })?;
        }
        for entry in &part.ae_directory {
            entry.check().map_err(|e| {
                CommandError::Backup(format!("namespace {ns}, AE {}: {e}", entry.ae_title))
            })?;
        }
    }
    let mut restored = Restored::default();
    for (ns, part) in backup.namespaces {
        let counts = restored.namespaces.entry(ns.clone()).or_default();
        let associations = store.associations(&ns);
        for view in part.associations {
            let ctx = AssociationContext::from(view);
            let existed = associations.get(&ctx.key())?.is_some();
            match (existed, overwrite) {
                (true, false) => counts.associations_kept += 1,
                (true, true) => {
                    associations.put(ctx, true)?;
                    counts.associations_replaced += 1;
                }
                (false, _) => {
                    associations.put(ctx, false)?;
                    counts.associations_added += 1;
                }
            }
        }
        let directory = store.ae_directory(&ns);
        for entry in part.ae_directory {
            match directory.put(entry, overwrite) {
                Ok(true) => counts.ae_replaced += 1,
                Ok(false) => counts.ae_added += 1,
                Err(StoreError::AeExists { .. }) => counts.ae_kept += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::association::{AeTitle, PresentationContext, Uid};

    fn ns(name: &str) -> NamespaceId {
        NamespaceId::new(name).unwrap()
    }

    fn filled(store: &Store) {
        let mut ctx = AssociationContext::new(
            AeTitle::new("STORESCU").unwrap(),
            AeTitle::new("ROUTER").unwrap(),
        );
        ctx.name = "CT".into();
        ctx.certificates = vec!["cn:STORESCU".parse().unwrap()];
        ctx.presentation_contexts = vec![
            PresentationContext::new(
                Uid::new("1.2.840.10008.1.1").unwrap(),
                vec![Uid::implicit_vr_little_endian()],
            )
            .unwrap(),
        ];
        store
            .associations(&ns("radiology"))
            .put(ctx, false)
            .unwrap();
        let mut entry =
            AeEntry::new(AeTitle::new("PACS").unwrap(), "pacs.example.org", 104, "").unwrap();
        entry.tls = true;
        store
            .ae_directory(&ns("imaging"))
            .put(entry, false)
            .unwrap();
    }

    /// A store with an association and an AE entry, and an empty one.
    fn filled_and_empty() -> ([tempfile::TempDir; 2], Store, Store) {
        let dirs = [
            crate::store::private_tempdir(),
            crate::store::private_tempdir(),
        ];
        let from = Store::open(dirs[0].path()).unwrap();
        let to = Store::open(dirs[1].path()).unwrap();
        filled(&from);
        (dirs, from, to)
    }

    #[test]
    fn a_backup_restores_into_an_empty_store_as_it_was_and_keeps_what_exists() {
        let (_dirs, from, to) = filled_and_empty();
        let backup = take(&from).unwrap();
        assert_eq!(backup.namespaces.len(), 2);
        // Through its JSON, as the command line carries it.
        let text = serde_json::to_string(&backup).unwrap();
        let backup: Backup = serde_json::from_str(&text).unwrap();
        let restored = restore(&to, backup.clone(), false).unwrap();
        assert_eq!(restored.namespaces[&ns("radiology")].associations_added, 1);
        assert_eq!(restored.namespaces[&ns("imaging")].ae_added, 1);
        assert_eq!(take(&to).unwrap(), backup);
        // Again: kept, unless overwrite.
        let again = restore(&to, backup.clone(), false).unwrap();
        assert_eq!(again.namespaces[&ns("radiology")].associations_kept, 1);
        assert_eq!(again.namespaces[&ns("imaging")].ae_kept, 1);
        let again = restore(&to, backup, true).unwrap();
        assert_eq!(again.namespaces[&ns("radiology")].associations_replaced, 1);
        assert_eq!(again.namespaces[&ns("imaging")].ae_replaced, 1);
    }

    #[test]
    fn an_invalid_entry_or_version_changes_nothing_and_says_which() {
        let (_dirs, from, to) = filled_and_empty();
        let mut backup = take(&from).unwrap();
        let mut newer = backup.clone();
        newer.version = 2;
        let error = restore(&to, newer, false).unwrap_err().to_string();
        assert!(error.contains("version 2"), "{error}");
        backup
            .namespaces
            .get_mut(&ns("imaging"))
            .unwrap()
            .ae_directory[0]
            .port = 0;
        let error = restore(&to, backup, false).unwrap_err().to_string();
        assert!(error.contains("namespace imaging, AE PACS"), "{error}");
        assert!(take(&to).unwrap().namespaces.is_empty(), "nothing restored");
    }
}
