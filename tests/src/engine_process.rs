//! A `switchboard run` process on temporary data and productions folders:
//! start, stop with SIGTERM, `kill -9`, restart on the same data, and
//! run other commands against it.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::switchboard_bin;

/// A running engine. Killed when dropped.
pub struct TestEngine {
    root: tempfile::TempDir,
    child: Option<Child>,
    runs: usize,
}

impl TestEngine {
    /// Writes `productions/<namespace>/<name>.toml` for each `(namespace,
    /// name, text)`, starts the engine and waits until it runs.
    pub async fn start(productions: &[(&str, &str, &str)]) -> Self {
        let root = tempfile::tempdir().expect("a temporary folder");
        for (namespace, name, text) in productions {
            let dir = root.path().join("productions").join(namespace);
            std::fs::create_dir_all(&dir).expect("productions folder");
            std::fs::write(dir.join(format!("{name}.toml")), text).expect("production file");
        }
        std::fs::create_dir_all(root.path().join("productions")).expect("productions folder");
        let mut engine = Self {
            root,
            child: None,
            runs: 0,
        };
        engine.spawn().await;
        engine
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// A scratch folder next to the data directory, created on first use.
    pub fn folder(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.root.path().join(format!("engine-{run}.log"))
    }

    /// What the current run logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.runs)).unwrap_or_default()
    }

    async fn spawn(&mut self) {
        self.runs += 1;
        let log = std::fs::File::create(self.log_path(self.runs)).expect("log file");
        let child = Command::new(switchboard_bin())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["run", "--grace-period", "5s", "--productions"])
            .arg(self.root.path().join("productions"))
            .current_dir(self.root.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("start switchboard run");
        self.child = Some(child);
        let start = Instant::now();
        while !self.log().contains("Engine running.") {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("the engine exited ({status}):\n{}", self.log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the engine did not start:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .and_then(Child::id)
            .expect("the engine runs")
    }

    /// SIGTERM, then waits for the exit.
    pub async fn stop(&mut self) -> ExitStatus {
        signal(self.pid(), "-TERM");
        let mut child = self.child.take().expect("the engine runs");
        tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the engine stops within 30 s")
            .expect("wait for the engine")
    }

    /// `kill -9`: no chance to clean up.
    pub async fn kill9(&mut self) {
        signal(self.pid(), "-KILL");
        if let Some(mut child) = self.child.take() {
            child.wait().await.ok();
        }
    }

    /// SIGHUP: the engine reads its productions folder again.
    pub fn reload(&self) {
        signal(self.pid(), "-HUP");
    }

    /// Waits until the current run's log contains `text`.
    ///
    /// # Panics
    /// After 30 s, showing the log.
    pub async fn wait_for_log(&self, text: &str) {
        let start = Instant::now();
        while !self.log().contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the log never said {text:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the engine again on the same data and productions.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the engine first");
        self.spawn().await;
    }

    /// Runs `switchboard --data-dir <data> ARGS…` and returns its output.
    pub async fn command(&self, args: &[&str]) -> std::process::Output {
        Command::new(switchboard_bin())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .await
            .expect("run switchboard")
    }

    /// Whether every message of `namespace` is delivered to every target.
    /// A peer such as storescp creates a file before it has written it whole
    /// and answers only after; the engine marks a delivery done on that
    /// answer, so from then on the file is complete.
    pub async fn all_delivered(&self, namespace: &str) -> bool {
        let out = self
            .command(&[
                "--namespace",
                namespace,
                "messages",
                "list",
                "--json",
                "--limit",
                "1000000",
            ])
            .await;
        let Ok(list) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
            return false;
        };
        list.as_array().is_some_and(|messages| {
            messages.iter().all(|m| {
                m["deliveries"]
                    .as_array()
                    .is_some_and(|d| d.iter().all(|d| d["status"] == "delivered"))
            })
        })
    }

    /// The productions folder.
    pub fn productions_dir(&self) -> PathBuf {
        self.root.path().join("productions")
    }

    /// The root of the temporary folders.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid} failed");
}
