//! The AE directory of one namespace: tree `<namespace>/ae-directory`, key
//! = AE title, value = version byte + JSON entry ([`super::versioned`]). Every write is one
//! compare-and-swap, then a sync: all or nothing, as for associations.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, versioned};
use crate::association::{AeEntry, AeTitle};
use crate::ids::NamespaceId;

/// The stored form, version 1, apart from the model.
#[derive(Serialize, Deserialize)]
struct RecordV1 {
    ae_title: AeTitle,
    host: String,
    port: u16,
    description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    move_callers: Vec<AeTitle>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    tls: bool,
}

/// The AE directory of one namespace. Cheap to clone; every method blocks.
#[derive(Debug, Clone)]
pub struct AeDirectory {
    store: Store,
    namespace: NamespaceId,
}

impl Store {
    /// The AE directory of a namespace.
    pub fn ae_directory(&self, namespace: &NamespaceId) -> AeDirectory {
        AeDirectory {
            store: self.clone(),
            namespace: namespace.clone(),
        }
    }
}

impl AeDirectory {
    fn tree(&self) -> Result<sled::Tree, StoreError> {
        self.store.tree(&format!("{}/ae-directory", self.namespace))
    }

    /// The entry of an AE title.
    ///
    /// # Errors
    /// A backend error, or [`StoreError::Corrupt`].
    pub fn get(&self, ae_title: &AeTitle) -> Result<Option<AeEntry>, StoreError> {
        let key = ae_title.as_str().as_bytes();
        self.tree()?
            .get(key)?
            .map(|bytes| self.decode(key, &bytes))
            .transpose()
    }

    /// Every entry, sorted by AE title.
    ///
    /// # Errors
    /// A backend error, or [`StoreError::Corrupt`].
    pub fn list(&self) -> Result<Vec<AeEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree()?.iter() {
            let (k, v) = item?;
            out.push(self.decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Stores an entry; returns whether it replaced one. Without
    /// `overwrite`, an existing AE title is an error and nothing changes.
    ///
    /// # Errors
    /// [`StoreError::AeExists`], [`StoreError::InvalidEntry`], or a backend
    /// error.
    pub fn put(&self, entry: AeEntry, overwrite: bool) -> Result<bool, StoreError> {
        let ae_title = entry.ae_title.clone();
        let mut replaced = false;
        self.modify(&ae_title, |existing| {
            if existing.is_some() && !overwrite {
                return Err(StoreError::AeExists {
                    namespace: self.namespace.clone(),
                    ae_title: ae_title.clone(),
                });
            }
            replaced = existing.is_some();
            Ok(Some(entry.clone()))
        })?;
        Ok(replaced)
    }

    /// Changes an entry in place and returns it. `f` may run more than once,
    /// so it must only compute; the AE title never changes.
    ///
    /// # Errors
    /// [`StoreError::AeNotFound`], [`StoreError::InvalidEntry`], or a
    /// backend error. On any error nothing is written.
    pub fn update(
        &self,
        ae_title: &AeTitle,
        f: impl Fn(&mut AeEntry),
    ) -> Result<AeEntry, StoreError> {
        let updated = self.modify(ae_title, |existing| {
            let mut entry = existing.ok_or_else(|| self.not_found(ae_title))?;
            f(&mut entry);
            Ok(Some(entry))
        })?;
        updated.ok_or_else(|| self.not_found(ae_title))
    }

    /// Removes an entry and returns it.
    ///
    /// # Errors
    /// [`StoreError::AeNotFound`] or a backend error.
    pub fn delete(&self, ae_title: &AeTitle) -> Result<AeEntry, StoreError> {
        let mut removed = None;
        self.modify(ae_title, |existing| {
            removed = Some(existing.ok_or_else(|| self.not_found(ae_title))?);
            Ok(None)
        })?;
        removed.ok_or_else(|| self.not_found(ae_title))
    }

    fn not_found(&self, ae_title: &AeTitle) -> StoreError {
        StoreError::AeNotFound {
            namespace: self.namespace.clone(),
            ae_title: ae_title.clone(),
        }
    }

    /// Reads the entry, lets `f` compute the new one (`None` removes it),
    /// checks it and writes it with a compare-and-swap (again from the read
    /// when another writer got in first), then syncs.
    fn modify(
        &self,
        ae_title: &AeTitle,
        mut f: impl FnMut(Option<AeEntry>) -> Result<Option<AeEntry>, StoreError>,
    ) -> Result<Option<AeEntry>, StoreError> {
        self.store.check_latch()?;
        let tree = self.tree()?;
        let key = ae_title.as_str().as_bytes();
        loop {
            let old = tree.get(key)?;
            let current = old
                .as_ref()
                .map(|bytes| self.decode(key, bytes))
                .transpose()?;
            let unchanged = current.clone();
            let mut next = f(current)?;
            if let Some(entry) = next.as_mut() {
                entry.ae_title = ae_title.clone();
                entry.check()?;
            }
            if next == unchanged {
                return Ok(next);
            }
            let new = next.as_ref().map(encode).transpose()?;
            if tree.compare_and_swap(key, old, new)?.is_ok() {
                self.store.sync()?;
                return Ok(next);
            }
        }
    }

    fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<AeEntry, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            namespace: self.namespace.clone(),
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        };
        let r: RecordV1 = versioned::decode(bytes).map_err(corrupt)?;
        if r.ae_title.as_str().as_bytes() != key {
            return Err(corrupt("the key does not match the stored AE title".into()));
        }
        let entry = AeEntry {
            ae_title: r.ae_title,
            host: r.host,
            port: r.port,
            description: r.description,
            move_callers: r.move_callers,
            tls: r.tls,
        };
        entry.check().map_err(|e| corrupt(e.to_string()))?;
        Ok(entry)
    }
}

fn encode(entry: &AeEntry) -> Result<Vec<u8>, StoreError> {
    let record = RecordV1 {
        ae_title: entry.ae_title.clone(),
        host: entry.host.clone(),
        port: entry.port,
        description: entry.description.clone(),
        move_callers: entry.move_callers.clone(),
        tls: entry.tls,
    };
    versioned::encode(&record).map_err(|e| StoreError::Corrupt {
        namespace: NamespaceId::default(),
        key: entry.ae_title.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ae(s: &str) -> AeTitle {
        AeTitle::new(s).unwrap()
    }

    #[test]
    fn add_list_edit_delete_all_or_nothing() {
        let dir = crate::store::private_tempdir();
        let store = Store::open(dir.path()).unwrap();
        let ns = NamespaceId::new("radiology").unwrap();
        let directory = store.ae_directory(&ns);
        let pacs = AeEntry::new(ae("PACS"), "pacs.local", 104, "archive").unwrap();
        assert!(!directory.put(pacs.clone(), false).unwrap());
        assert!(matches!(
            directory.put(pacs.clone(), false),
            Err(StoreError::AeExists { .. })
        ));
        let mwl = AeEntry::new(ae("MWL"), "10.0.0.9", 4242, "").unwrap();
        directory.put(mwl.clone(), false).unwrap();
        assert_eq!(directory.list().unwrap(), vec![mwl.clone(), pacs.clone()]);
        // Another namespace has its own directory.
        assert!(
            store
                .ae_directory(&NamespaceId::default())
                .list()
                .unwrap()
                .is_empty()
        );

        let moved = directory.update(&ae("PACS"), |e| e.port = 11112).unwrap();
        assert_eq!(moved.port, 11112);
        let refused = directory.update(&ae("PACS"), |e| e.host = "bad host".into());
        assert!(matches!(refused, Err(StoreError::InvalidEntry(_))));
        assert_eq!(directory.get(&ae("PACS")).unwrap(), Some(moved.clone()));
        assert!(matches!(
            directory.update(&ae("NOPE"), |_| {}),
            Err(StoreError::AeNotFound { .. })
        ));
        assert_eq!(directory.delete(&ae("PACS")).unwrap(), moved);
        assert_eq!(directory.list().unwrap(), vec![mwl]);
        assert!(matches!(
            directory.delete(&ae("PACS")),
            Err(StoreError::AeNotFound { .. })
        ));
    }
}
