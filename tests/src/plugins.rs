//! Routing plugins for tests, built from source (never committed as
//! binaries).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Every plugin crate under `plugins/`, examples and test fixtures.
pub const PLUGINS: &[&str] = &[
    "route-by-modality",
    "route-by-ae-title",
    "tag-morph",
    "filter",
    "worklist-scope",
    "test-misbehave",
    "test-wrong-version",
    "test-contract-1-0",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf()
}

/// The target directory of this test build (`<target>/debug/deps/it-…` → `<target>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.ancestors()
        .nth(3)
        .expect("test executable lives in <target>/debug/deps")
        .to_path_buf()
}

static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Builds every plugin for `wasm32-wasip2` (release) once per test process
/// and returns the folder holding the `.wasm` files. Cargo makes this a
/// quick no-op when nothing changed (scripts/build-plugins builds the same
/// thing into the same place).
///
/// # Panics
/// When the build fails; the message says how to build by hand.
pub fn plugin_dir() -> PathBuf {
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(dir) = built.as_ref() {
        return dir.clone();
    }
    // The test build's own target dir: cargo has released its lock by the time
    // tests run, and scripts/build-plugins has usually built these already.
    let target = target_dir();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--release",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for p in PLUGINS {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().expect("run cargo to build the plugins");
    assert!(
        status.success(),
        "building the plugins for wasm32-wasip2 failed: run `rustup target add wasm32-wasip2` and `scripts/build-plugins`"
    );
    let dir = target.join("wasm32-wasip2").join("release");
    *built = Some(dir.clone());
    dir
}

/// The `.wasm` of one plugin crate, e.g. `plugin("route-by-modality")`.
pub fn plugin(name: &str) -> PathBuf {
    let path = plugin_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}
