//! Test harness: start the engine and real DICOM peers on 127.0.0.1.
