//! A throw-away data directory and a runner for `switchboard` commands
//! against it; a data directory seeded with associations, and its store
//! held (with the admin socket served) the way a running engine holds it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use switchboard::association::model::AssociationContext;

use crate::switchboard_bin;

/// A temporary data directory (deleted on drop), plus a folder beside it for
/// input and output files.
pub struct DataDir {
    root: tempfile::TempDir,
}

/// What one run of the binary did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// How it exited.
    pub status: ExitStatus,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// Asserts the command succeeded, showing what it printed if not.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "command failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts the command failed, showing what it printed if not.
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            !self.status.success(),
            "command unexpectedly succeeded:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Default for DataDir {
    fn default() -> Self {
        Self::new()
    }
}

impl DataDir {
    /// A fresh, empty data directory.
    ///
    /// # Panics
    /// When no temporary directory can be created.
    pub fn new() -> Self {
        let root = crate::private_tempdir();
        std::fs::create_dir_all(root.path().join("files")).expect("create the files folder");
        Self { root }
    }

    /// The data directory (`--data-dir`).
    pub fn path(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// A path for an input or output file, outside the data directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.path().join("files").join(name)
    }

    /// Writes an input file and returns its path.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.file(name);
        std::fs::write(&path, contents).expect("write a test file");
        path
    }

    /// Runs `switchboard --data-dir DIR ARGS…` in the default namespace.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in("default", args)
    }

    /// Runs `switchboard --data-dir DIR --namespace NS ARGS…`, with the
    /// files folder as working directory.
    ///
    /// # Panics
    /// When the binary cannot be started.
    pub fn run_in(&self, namespace: &str, args: &[&str]) -> Run {
        let output = Command::new(switchboard_bin())
            .arg("--data-dir")
            .arg(self.path())
            .arg("--namespace")
            .arg(namespace)
            .args(args)
            .current_dir(self.root.path().join("files"))
            .env_remove("RUST_LOG")
            .env_remove("SWITCHBOARD_DATA_DIR")
            .env_remove("SWITCHBOARD_NAMESPACE")
            .output()
            .expect("run the switchboard binary");
        Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The root of the temporary tree (data directory and files folder).
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

/// A data directory whose store holds these associations in the default
/// namespace (the store is closed again, so a command can open it).
pub fn data_dir_with(associations: Vec<AssociationContext>) -> tempfile::TempDir {
    let dir = crate::private_tempdir();
    let store = switchboard::store::Store::open(dir.path()).expect("open the store");
    let namespace = Default::default();
    for ctx in associations {
        store
            .associations(&namespace)
            .put(ctx, true)
            .expect("store");
    }
    drop(store);
    dir
}

/// Holds a data directory's store the way a running engine does, and serves
/// its admin socket, until released.
pub struct HeldStore {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl HeldStore {
    /// Opens the store of `data_dir` and serves its admin socket.
    pub async fn hold(data_dir: &Path) -> Self {
        let store = switchboard::store::Store::open(data_dir).expect("open the store");
        let server = switchboard::admin::AdminServer::bind(
            &switchboard::admin::socket_path(data_dir),
            store,
        )
        .expect("bind the admin socket");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _served = server
                .run(async move {
                    let _stopped = rx.await;
                })
                .await;
        });
        Self {
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Stops serving and closes the store.
    pub async fn release(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _sent = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _joined = handle.await;
        }
    }
}

/// Runs `switchboard --data-dir DIR ARGS…`.
pub async fn switchboard_in(data_dir: &Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(switchboard_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run switchboard")
}
