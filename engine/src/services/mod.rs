//! Business services: the inbound items of a production. Each kind lives in
//! its own folder with the same files (mod.rs, config.rs, service.rs,
//! tests.rs). Services never import the runtime; they receive what they need.

pub mod dicom_scp;
