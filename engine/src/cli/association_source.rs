//! Where the testing commands (`echo`, `association test`) read the stored
//! association for a pair: the store when this process can open it, else the
//! running engine that holds it (through the admin socket), with the same
//! result either way.

use anyhow::{anyhow, bail};

use super::GlobalArgs;
use crate::admin::{self, Request, Response};
use crate::association::model::{AeTitle, AssociationContext};

/// The association stored for exactly (calling, called) in the namespace,
/// if any. A data directory that does not exist yet holds none (and is not
/// created).
///
/// # Errors
/// When the store cannot be read, or the engine holding it does not answer.
pub async fn stored_association(
    global: &GlobalArgs,
    calling: &AeTitle,
    called: &AeTitle,
) -> anyhow::Result<Option<AssociationContext>> {
    if !global.data_dir.exists() {
        return Ok(None);
    }
    let request = Request::Lookup {
        calling_aet: calling.clone(),
        called_aet: called.clone(),
        wildcards: false,
    };
    match admin::with_store_or_engine(&global.data_dir, &global.namespace, request).await? {
        Ok(Response::LookedUp { association }) => Ok(association.map(AssociationContext::from)),
        Ok(other) => bail!("unexpected answer to a lookup: {other:?}"),
        Err(reply) => Err(anyhow!("{reply}")),
    }
}
