//! Where the testing commands (`echo`, `association test`) read the stored
//! association for a pair: the store when this process can open it, else the
//! running engine that holds it.

use crate::association::model::{AeTitle, AssociationContext};

use super::GlobalArgs;

/// The association stored for exactly (calling, called) in the namespace,
/// if any.
///
/// # Errors
/// When the store cannot be read.
pub async fn stored_association(
    global: &GlobalArgs,
    calling: &AeTitle,
    called: &AeTitle,
) -> anyhow::Result<Option<AssociationContext>> {
    // Wired to the store and admin client once they land on main.
    let _pending = (global, calling, called);
    Ok(None)
}
