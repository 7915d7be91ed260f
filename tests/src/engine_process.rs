//! A `switchboard run` process on temporary data and productions folders:
//! start, stop with SIGTERM, `kill -9`, restart on the same data, and
//! run other commands against it.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::switchboard_bin;

/// How long a wait for the engine may take before the test fails.
const WAIT: Duration = Duration::from_secs(120);

/// A running engine. Killed when dropped.
pub struct TestEngine {
    root: tempfile::TempDir,
    child: Option<Child>,
    runs: usize,
    /// More `run` options, on every start.
    run_args: Vec<String>,
}

impl TestEngine {
    /// Writes `productions/<namespace>/<name>.toml` for each `(namespace,
    /// name, text)`, starts the engine and waits until it runs.
    pub async fn start(productions: &[(&str, &str, &str)]) -> Self {
        Self::start_with(productions, &[], |_| {}).await
    }

    /// [`TestEngine::start`] with more `run` options, once `prepare` has
    /// seen the (not yet created) data directory, e.g. to mount a small
    /// file system there.
    pub async fn start_with(
        productions: &[(&str, &str, &str)],
        run_args: &[&str],
        prepare: impl FnOnce(&Path),
    ) -> Self {
        let root = crate::private_tempdir();
        prepare(&root.path().join("data"));
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
            run_args: run_args.iter().map(ToString::to_string).collect(),
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
            .args(&self.run_args)
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

    /// The most memory the engine process has held so far (its `VmHWM`), in MiB.
    pub fn peak_memory_mib(&self) -> u64 {
        self.status_field("VmHWM:") / 1024
    }

    /// A number field of the engine's `/proc/PID/status` (kB for sizes).
    fn status_field(&self, name: &str) -> u64 {
        proc_status_field(self.pid(), name).unwrap_or_else(|| panic!("{name} in /proc status"))
    }

    /// The engine process's resident memory, open file descriptors and
    /// threads, now.
    pub fn figures(&self) -> Figures {
        let open_files = std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("the engine's /proc fd")
            .count();
        Figures {
            rss_mib: self.status_field("VmRSS:") / 1024,
            open_files,
            threads: self.status_field("Threads:"),
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

    /// `kill -9` while `sender` (a storescu) sends to the engine; how many
    /// instances it had acknowledged, at least one.
    ///
    /// # Panics
    /// When storescu had no instance acknowledged.
    pub async fn kill9_while_storing(
        &mut self,
        sender: tokio::task::JoinHandle<crate::dcmtk::Ran>,
    ) -> usize {
        self.kill9().await;
        let stored = sender.await.expect("storescu task");
        let acked = stored.acknowledged();
        assert!(acked >= 1, "{stored}");
        acked
    }

    /// SIGHUP: the engine reads its productions folder again.
    pub fn reload(&self) {
        signal(self.pid(), "-HUP");
    }

    /// How many times the current run's log says `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until the current run's log says `needle` at least `times`
    /// times.
    ///
    /// # Panics
    /// After two minutes (compiling a plugin in a debug build takes a
    /// while), showing the log.
    pub async fn wait_for_log(&self, needle: &str, times: usize) {
        self.wait_until(&format!("{times} × {needle:?} in the log"), async || {
            self.log_count(needle) >= times
        })
        .await;
    }

    /// Polls `done` until it holds (every 20 ms, plus the time `done` takes).
    ///
    /// # Panics
    /// After two minutes, saying `what` and showing the log.
    pub async fn wait_until(&self, what: &str, mut done: impl AsyncFnMut() -> bool) {
        let start = Instant::now();
        while !done().await {
            assert!(
                start.elapsed() < WAIT,
                "waited {WAIT:?} for {what}; engine log:\n{}",
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

    /// Runs a command that prints JSON and returns what it printed.
    ///
    /// # Panics
    /// When the command fails or prints something else.
    pub async fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.command(args).await;
        assert!(out.status.success(), "{args:?}: {}", crate::text(&out));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", crate::text(&out)))
    }

    /// Every message of `namespace`, oldest first (`messages list --json`).
    pub async fn messages(&self, namespace: &str) -> Vec<serde_json::Value> {
        let list = self.json(&messages_list(namespace)).await;
        list.as_array().cloned().unwrap_or_default()
    }

    /// Whether every message of `namespace` is delivered to every target
    /// (false while the list cannot be read).
    /// A peer such as storescp creates a file before it has written it whole
    /// and answers only after; the engine marks a delivery done on that
    /// answer, so from then on the file is complete.
    pub async fn all_delivered(&self, namespace: &str) -> bool {
        let out = self.command(&messages_list(namespace)).await;
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

    /// The queue depth of a running item, from `switchboard status --json`.
    pub async fn queue_depth(&self, production: &str, item: &str) -> Option<usize> {
        let status = self.json(&["status", "--json"]).await;
        status["productions"]
            .as_array()?
            .iter()
            .filter(|p| p["name"] == production)
            .flat_map(|p| p["items"].as_array().cloned().unwrap_or_default())
            .find(|i| i["name"] == item)?["queue_depth"]
            .as_u64()
            .and_then(|d| usize::try_from(d).ok())
    }

    /// Replaces `productions/<namespace>/<name>.toml` the way editors do:
    /// a temporary file, then a rename over the original.
    pub fn save(&self, namespace: &str, name: &str, text: &str) {
        let dir = self.productions_dir().join(namespace);
        std::fs::create_dir_all(&dir).expect("the namespace's folder");
        crate::production::save(&dir.join(format!("{name}.toml")), text);
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

/// `messages list --json` of every message of `namespace`.
fn messages_list(namespace: &str) -> [&str; 7] {
    [
        "--namespace",
        namespace,
        "messages",
        "list",
        "--json",
        "--limit",
        "1000000",
    ]
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(sig)
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid} failed");
}

/// What a process holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub rss_mib: u64,
    pub open_files: usize,
    pub threads: u64,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RSS {} MiB, {} open files, {} threads",
            self.rss_mib, self.open_files, self.threads
        )
    }
}

/// A number field of a process's `/proc/PID/status`, e.g. `"VmHWM:"` (kB
/// for sizes); `None` when the process or the field is not there.
pub fn proc_status_field(pid: u32, name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
