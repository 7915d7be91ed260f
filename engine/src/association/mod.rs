//! Association contexts: which application entities may talk, with which
//! presentation contexts. Pure logic only: the model, the import-file format
//! and negotiation. No I/O here; the store and the network use these types.

pub mod import;
pub mod model;
pub mod negotiation;

pub use model::{
    AeTitle, AssociationContext, IMPLICIT_VR_LITTLE_ENDIAN, ModelError, PairKey,
    PresentationContext, Uid, VERIFICATION,
};
