//! The association contexts of one namespace: tree `<namespace>/associations`,
//! key `calling AET` NUL `called AET`, value = version byte + JSON record.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::keys::{associations_tree, decode_pair_key, display_key, pair_key};
use super::{Store, StoreError, versioned};
use crate::association::{
    AeTitle, AssociationContext, CertificateBinding, PairKey, PeerCertificate, PresentationContext,
};
use crate::ids::NamespaceId;

/// The stored form, version 1. Kept apart from the model so that the model can
/// change without silently changing what is on disk.
#[derive(Serialize, Deserialize)]
struct RecordV1 {
    calling_ae_title: AeTitle,
    called_ae_title: AeTitle,
    name: String,
    description: String,
    presentation_contexts: Vec<PresentationContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_pdu_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    certificates: Vec<CertificateBinding>,
}

/// Association contexts as last decoded, by namespace and key, with the
/// bytes they were decoded from: every association a service accepts
/// looks its context up, and with every storage SOP class in it (211
/// presentation contexts of 7 transfer syntaxes each) decoding and
/// checking it took about 0.5 ms, a copy of the decoded one a fifth of
/// that. An entry is used only while the stored bytes are the same, so a
/// change is seen at once, whichever way it was made. Such an entry takes
/// about 200 KB.
#[derive(Debug, Default)]
pub(super) struct Decoded(Mutex<DecodedMap>);

type DecodedMap = HashMap<(NamespaceId, Vec<u8>), (sled::IVec, AssociationContext)>;

/// Entries [`Decoded`] holds at most; past that it starts again empty.
const DECODED_AT_MOST: usize = 64;

impl Decoded {
    fn get(&self, namespace: &NamespaceId, key: &[u8], bytes: &[u8]) -> Option<AssociationContext> {
        let decoded = self.lock();
        let (from, ctx) = decoded.get(&(namespace.clone(), key.to_vec()))?;
        (from.as_ref() == bytes).then(|| ctx.clone())
    }

    fn put(
        &self,
        namespace: &NamespaceId,
        key: Vec<u8>,
        bytes: sled::IVec,
        ctx: &AssociationContext,
    ) {
        let mut decoded = self.lock();
        if decoded.len() >= DECODED_AT_MOST {
            decoded.clear();
        }
        decoded.insert((namespace.clone(), key), (bytes, ctx.clone()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DecodedMap> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The association contexts of one namespace. Cheap to clone; every method
/// blocks (see the module docs of [`crate::store`]).
#[derive(Debug, Clone)]
pub struct Associations {
    store: Store,
    namespace: NamespaceId,
}

impl Associations {
    pub(super) fn new(store: Store, namespace: NamespaceId) -> Self {
        Self { store, namespace }
    }

    /// The namespace these contexts belong to.
    pub fn namespace(&self) -> &NamespaceId {
        &self.namespace
    }

    fn tree(&self) -> Result<sled::Tree, StoreError> {
        self.store.tree(&associations_tree(&self.namespace))
    }

    /// The association context stored for exactly this pair.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    pub fn get(&self, key: &PairKey) -> Result<Option<AssociationContext>, StoreError> {
        let k = pair_key(key);
        let Some(bytes) = self.tree()?.get(&k)? else {
            return Ok(None);
        };
        let decoded = &self.store.inner.decoded;
        if let Some(ctx) = decoded.get(&self.namespace, &k, &bytes) {
            return Ok(Some(ctx));
        }
        let ctx = self.decode(&k, &bytes)?;
        decoded.put(&self.namespace, k, bytes, &ctx);
        Ok(Some(ctx))
    }

    /// Every association context of the namespace, sorted by calling then
    /// called AE title.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    pub fn list(&self) -> Result<Vec<AssociationContext>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree()?.iter() {
            let (k, v) = item?;
            out.push(self.decode(&k, &v)?);
        }
        Ok(out)
    }

    /// The association context that governs a (calling, called) pair: the
    /// exact pair first, then (calling, `*`), then (`*`, called), then
    /// (`*`, `*`).
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    pub fn lookup(
        &self,
        calling_ae_title: &AeTitle,
        called_ae_title: &AeTitle,
    ) -> Result<Option<AssociationContext>, StoreError> {
        let any = AeTitle::wildcard();
        let candidates = [
            (calling_ae_title, called_ae_title),
            (calling_ae_title, &any),
            (&any, called_ae_title),
            (&any, &any),
        ];
        for (calling, called) in candidates {
            let key = PairKey::new(calling.clone(), called.clone());
            if let Some(ctx) = self.get(&key)? {
                return Ok(Some(ctx));
            }
        }
        Ok(None)
    }

    /// The calling AE titles whose association contexts bind `certificate`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    pub fn bound_to(&self, certificate: &PeerCertificate) -> Result<Vec<AeTitle>, StoreError> {
        let mut titles: Vec<AeTitle> = self
            .list()?
            .into_iter()
            .filter(|ctx| ctx.certificates.iter().any(|b| b.matches(certificate)))
            .map(|ctx| ctx.calling_ae_title)
            .collect();
        titles.dedup();
        Ok(titles)
    }

    /// The other namespaces that store exactly this pair.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    pub fn defined_elsewhere(
        &self,
        calling_ae_title: &AeTitle,
        called_ae_title: &AeTitle,
    ) -> Result<Vec<NamespaceId>, StoreError> {
        let key = PairKey::new(calling_ae_title.clone(), called_ae_title.clone());
        let mut out = Vec::new();
        for ns in self.store.association_namespaces() {
            if ns != self.namespace && self.store.associations(&ns).get(&key)?.is_some() {
                out.push(ns);
            }
        }
        Ok(out)
    }

    /// Stores an association context. Without `overwrite`, an existing pair is
    /// an error and nothing changes; with it, the stored one is replaced as a
    /// whole.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when the context breaks a model rule,
    /// [`StoreError::AlreadyExists`], or a backend error.
    pub fn put(&self, ctx: AssociationContext, overwrite: bool) -> Result<(), StoreError> {
        let key = ctx.key();
        let mut ctx = Some(ctx);
        self.modify(&key, |existing| {
            if existing.is_some() && !overwrite {
                return Err(StoreError::AlreadyExists {
                    namespace: self.namespace.clone(),
                    key: key.clone(),
                });
            }
            Ok(ctx.take().or(existing))
        })?;
        Ok(())
    }

    /// Changes a stored association context in place and returns the result.
    /// The closure may run more than once (when another writer got in first),
    /// so it must only compute. The AE titles never change.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Invalid`] when the result
    /// breaks a model rule, whatever the closure returns, or a backend error.
    /// On any error nothing is written.
    pub fn update<E, F>(&self, key: &PairKey, mut f: F) -> Result<AssociationContext, E>
    where
        E: From<StoreError>,
        F: FnMut(&mut AssociationContext) -> Result<(), E>,
    {
        let updated = self.modify::<E, _>(key, |existing| {
            let Some(mut ctx) = existing else {
                return Err(StoreError::NotFound {
                    namespace: self.namespace.clone(),
                    key: key.clone(),
                }
                .into());
            };
            f(&mut ctx)?;
            Ok(Some(ctx))
        })?;
        updated.ok_or_else(|| {
            StoreError::NotFound {
                namespace: self.namespace.clone(),
                key: key.clone(),
            }
            .into()
        })
    }

    /// Removes a stored association context and returns it.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] or a backend error.
    pub fn delete(&self, key: &PairKey) -> Result<AssociationContext, StoreError> {
        let mut removed = None;
        self.modify(key, |existing| match existing {
            Some(ctx) => {
                removed = Some(ctx);
                Ok(None)
            }
            None => Err(StoreError::NotFound {
                namespace: self.namespace.clone(),
                key: key.clone(),
            }),
        })?;
        removed.ok_or_else(|| StoreError::NotFound {
            namespace: self.namespace.clone(),
            key: key.clone(),
        })
    }

    /// The one read-modify-write primitive: reads the pair's context (if
    /// any), lets `f` compute the new one (`None` removes it), validates it
    /// and writes it with a compare-and-swap, retrying from the read when
    /// another writer got in first. Then flushes and fsyncs. Returns what is
    /// stored afterwards.
    ///
    /// `f` may run more than once, so it must only compute. The AE titles of
    /// the result are forced to the key's: the pair never changes.
    ///
    /// # Errors
    /// Whatever `f` returns, [`StoreError::Invalid`] when the result breaks a
    /// model rule, or a backend error. On any error nothing is written.
    pub fn modify<E, F>(&self, key: &PairKey, mut f: F) -> Result<Option<AssociationContext>, E>
    where
        E: From<StoreError>,
        F: FnMut(Option<AssociationContext>) -> Result<Option<AssociationContext>, E>,
    {
        // A no-op below returns without syncing: after a failed sync, the
        // value it left in memory must not read as stored.
        self.store.check_latch()?;
        let tree = self.tree()?;
        let k = pair_key(key);
        loop {
            let old = tree.get(&k).map_err(StoreError::from)?;
            let current = match &old {
                Some(bytes) => Some(self.decode(&k, bytes)?),
                None => None,
            };
            let unchanged = current.clone();
            let mut next = f(current)?;
            if let Some(ctx) = next.as_mut() {
                ctx.calling_ae_title = key.calling_ae_title.clone();
                ctx.called_ae_title = key.called_ae_title.clone();
                ctx.validate().map_err(StoreError::from)?;
            }
            if next == unchanged {
                return Ok(next);
            }
            let new = next.as_ref().map(|c| self.encode(c)).transpose()?;
            match tree
                .compare_and_swap(&k, old, new)
                .map_err(StoreError::from)?
            {
                Ok(()) => {
                    self.store.sync()?;
                    return Ok(next);
                }
                // Someone else wrote the pair in between: start over from
                // what is stored now.
                Err(_) => continue,
            }
        }
    }

    fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<AssociationContext, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            namespace: self.namespace.clone(),
            key: display_key(key),
            reason,
        };
        let record: RecordV1 = versioned::decode(bytes).map_err(corrupt)?;
        let ctx = AssociationContext {
            calling_ae_title: record.calling_ae_title,
            called_ae_title: record.called_ae_title,
            name: record.name,
            description: record.description,
            presentation_contexts: record.presentation_contexts,
            max_pdu_length: record.max_pdu_length,
            certificates: record.certificates,
        };
        if decode_pair_key(key).as_ref() != Some(&ctx.key()) {
            return Err(corrupt(
                "the key does not match the stored AE titles".to_string(),
            ));
        }
        ctx.validate().map_err(|e| corrupt(e.to_string()))?;
        Ok(ctx)
    }

    fn encode(&self, ctx: &AssociationContext) -> Result<Vec<u8>, StoreError> {
        let record = RecordV1 {
            calling_ae_title: ctx.calling_ae_title.clone(),
            called_ae_title: ctx.called_ae_title.clone(),
            name: ctx.name.clone(),
            description: ctx.description.clone(),
            presentation_contexts: ctx.presentation_contexts.clone(),
            max_pdu_length: ctx.max_pdu_length,
            certificates: ctx.certificates.clone(),
        };
        // Serialising plain structs of strings and numbers cannot fail; map the
        // error anyway rather than panic.
        versioned::encode(&record).map_err(|e| StoreError::Corrupt {
            namespace: self.namespace.clone(),
            key: ctx.key().to_string(),
            reason: e.to_string(),
        })
    }
}
