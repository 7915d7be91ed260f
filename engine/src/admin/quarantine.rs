//! The quarantine commands (`switchboard quarantine …`) against the store
//! and the data directory's quarantine folder. A restore only writes the
//! body back and its queue entries; when an engine runs, its admin server
//! then wakes the items' queue readers, as after a resend.

use super::api::Response;
use super::error::CommandError;
use crate::store::Store;
use crate::store::quarantine::{self, Quarantine, RestoreError};

fn read_error(quarantine: &Quarantine, source: std::io::Error) -> CommandError {
    CommandError::QuarantineRead {
        path: quarantine.dir().to_path_buf(),
        source,
    }
}

pub(super) fn list(store: &Store) -> Result<Response, CommandError> {
    let q = Quarantine::new(store.data_dir());
    Ok(Response::Quarantine {
        folder: q.dir().display().to_string(),
        bodies: q
            .bodies()
            .map_err(|e| read_error(&q, e))?
            .into_iter()
            .map(Into::into)
            .collect(),
        records: quarantine::records(store)?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}

pub(super) fn restore(
    store: &Store,
    names: Vec<String>,
    all: bool,
) -> Result<Response, CommandError> {
    let q = Quarantine::new(store.data_dir());
    let bodies = store
        .bodies()
        .map_err(|source| CommandError::QuarantineRead {
            path: store.data_dir().join(crate::store::bodies::BODIES_DIR),
            source,
        })?;
    let listed = q.bodies().map_err(|e| read_error(&q, e))?;
    if names.is_empty() && !all {
        return Err(CommandError::NothingToRestore);
    }
    let names = if all {
        listed.iter().map(|b| b.name.clone()).collect()
    } else {
        // All or none: every named file must be there and read again
        // before the first one moves.
        for name in &names {
            quarantine::check(&q, name)?;
        }
        names
    };
    let mut restored = Vec::new();
    for name in names {
        match quarantine::restore(store, &bodies, &q, &name) {
            Ok(r) => restored.push(r.into()),
            Err(RestoreError::StillUnreadable { .. }) if all => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Response::QuarantineRestored {
        restored,
        left: q
            .bodies()
            .map_err(|e| read_error(&q, e))?
            .into_iter()
            .map(Into::into)
            .collect(),
    })
}
