//! A throw-away data directory and a runner for `switchboard` commands
//! against it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crate::switchboard_bin;

/// A temporary data directory (deleted on drop), plus a folder beside it for
/// input and output files.
pub struct DataDir {
    root: tempfile::TempDir,
}

/// What one run of the binary did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
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
        let root = tempfile::tempdir().expect("create a temporary directory");
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
