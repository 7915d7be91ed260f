//! Test harness: start the engine and real DICOM peers on 127.0.0.1.

pub mod dicom;
pub mod plugins;

use std::path::PathBuf;
use std::process::{Command, Output};

pub mod archive;
pub mod data_dir;
pub mod engine_process;
pub mod instances;

pub use data_dir::{DataDir, Run};

/// The built `switchboard` binary: `<target dir>/debug/switchboard`, found
/// from this test executable (`<target dir>/debug/deps/it-…`), since
/// `CARGO_BIN_EXE_switchboard` is only set for the engine's own tests.
/// `SWITCHBOARD_BIN` overrides it.
///
/// # Panics
/// When the binary is missing: build it first (`cargo build -p switchboard-engine`,
/// or `scripts/test`, which builds the workspace).
pub fn switchboard_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHBOARD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executable lives in <target>/debug/deps");
    let bin = debug.join(format!("switchboard{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p switchboard-engine` (or scripts/test) first",
        bin.display()
    );
    bin
}

/// Runs `switchboard ARGS…` to completion and returns what it printed.
pub fn switchboard(args: &[&str]) -> Output {
    Command::new(switchboard_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the switchboard binary")
}
