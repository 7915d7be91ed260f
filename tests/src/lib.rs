//! The test kit: what the integration tests (`it/`) and the benchmarks
//! (`benches/`) use to run the engine and real DICOM peers on 127.0.0.1.
//!
//! - [`net`]: ports reserved for peers ([`net::Port`]) and readiness waits.
//! - [`peer`]: a peer program serving on a reserved port.
//! - [`dcmtk`]: DCMTK: storescp as an archive, storescu and echoscu runs.
//! - [`pynetdicom`]: pynetdicom: scripts, an SCP, an echo client.
//! - [`scp`]: a Switchboard SCP in this process.
//! - [`engine_process`]: `switchboard run` as a child process.
//! - [`data_dir`]: a throw-away data directory and commands against it.
//! - [`production`]: production files, from a typed builder.
//! - [`instances`]: the one DICOM file writer.
//! - [`plugins`]: routing plugins built from `plugins/`.
//! - [`uids`]: the UIDs the tests name.
//!
//! A missing peer or a failed step panics with what to do: the kit serves
//! tests and benchmark programs, where that is the report wanted.

pub mod browser;
pub mod data_dir;
pub mod dcmtk;
pub mod engine_process;
pub mod instances;
pub mod net;
pub mod peer;
pub mod plugins;
pub mod production;
pub mod pynetdicom;
pub mod scp;
pub mod tls;
pub mod uids;

use std::path::PathBuf;
use std::process::{Command, Output};

pub use data_dir::{DataDir, Run};

/// A temporary folder only this user may use, as the engine requires of a
/// data directory (`tempfile::tempdir` leaves the mode to the umask).
///
/// # Panics
/// When no folder can be created.
pub fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("a temporary folder")
}

/// The built `switchboard` binary of the running program's profile: next to
/// it (a benchmark in `<target>/release/`), or one folder up (a test in
/// `<target>/debug/deps/`; `CARGO_BIN_EXE_switchboard` is only set for the
/// engine's own tests). `SWITCHBOARD_BIN` overrides it.
///
/// # Panics
/// When the binary is missing: build it first (`cargo build -p switchboard-engine`,
/// or `scripts/test`, which builds the workspace).
pub fn switchboard_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SWITCHBOARD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("path of the running program");
    let name = format!("switchboard{}", std::env::consts::EXE_SUFFIX);
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join(&name))
        .collect();
    candidates
        .iter()
        .find(|bin| bin.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{} is missing: run `cargo build -p switchboard-engine` (or scripts/test) first, \
                 in the profile of {}",
                candidates
                    .last()
                    .map_or_else(String::new, |p| p.display().to_string()),
                exe.display()
            )
        })
}

/// Runs `switchboard ARGS…` to completion and returns what it printed.
pub fn switchboard(args: &[&str]) -> Output {
    Command::new(switchboard_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run the switchboard binary")
}

/// A finished command's status and output, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
