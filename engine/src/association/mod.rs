//! Association contexts: which application entities may talk, with which
//! presentation contexts, and the AE directory: where the ones the engine
//! calls are. Pure logic only: the model, the import-file format
//! and negotiation from both sides (the acceptor's in [`negotiation`], the
//! requestor's in [`request`]). No I/O here; the store and the network use
//! these types.

pub mod binding;
pub mod directory;
pub mod import;
pub mod model;
pub mod negotiation;
pub mod request;

pub use binding::{BindingError, CertificateBinding, PeerCertificate};
pub use directory::{AeEntry, DirectoryError};
pub use model::{
    AeTitle, AssociationContext, IMPLICIT_VR_LITTLE_ENDIAN, ModelError, PairKey,
    PresentationContext, Uid, VERIFICATION,
};
