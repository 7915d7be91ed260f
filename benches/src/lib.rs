//! Benchmarks: Switchboard side by side with peers. The programs are in
//! `src/bin/`; they run the engine and its peers with the test kit
//! (`integration_tests`: reserved ports, DCMTK peers, instances,
//! productions). This library holds the one thing the kit does not: the
//! engine as a benchmark runs it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use integration_tests::dcmtk::dcmtk;
use integration_tests::net::{Port, wait_for_tcp};
use integration_tests::switchboard_bin;
use tokio::process::{Child, Command};

/// Checks, before anything is measured, that DCMTK's `storescu` and
/// `storescp` are installed and the engine is built in the benchmark's
/// profile.
///
/// # Panics
/// Saying what to install or build.
pub fn check_tools() {
    for tool in ["storescu", "storescp"] {
        dcmtk(tool);
    }
    switchboard_bin();
}

/// `switchboard run` as a benchmark runs it: the binary of the benchmark's
/// own profile, logging at `warn` (or `BENCH_ENGINE_LOG`) to the terminal
/// (the test kit's engine logs at `info` into a file, which costs CPU time
/// a benchmark would count). Killed when dropped.
#[derive(Debug)]
pub struct Engine {
    child: Child,
}

impl Engine {
    /// Runs the productions in `<base>/productions` on `<base>/data` and
    /// waits until `port` (a service's) accepts connections.
    ///
    /// # Errors
    /// The engine cannot be started.
    ///
    /// # Panics
    /// The port does not open within 30 s.
    pub async fn start(base: &Path, port: &Port) -> anyhow::Result<Self> {
        Self::start_with(base, port, &[]).await
    }

    /// [`Engine::start`] with more `switchboard run` arguments.
    ///
    /// # Errors
    /// The engine cannot be started.
    ///
    /// # Panics
    /// The port does not open within 30 s.
    pub async fn start_with(base: &Path, port: &Port, run_args: &[&str]) -> anyhow::Result<Self> {
        let child = Command::new(switchboard_bin())
            .arg("--data-dir")
            .arg(base.join("data"))
            .args(["run", "--productions"])
            .arg(base.join("productions"))
            .args(run_args)
            .env(
                "RUST_LOG",
                std::env::var("BENCH_ENGINE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        wait_for_tcp(port.addr(), Duration::from_secs(30)).await;
        Ok(Self { child })
    }

    /// Its process id, for what /proc tells about it.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, then waits for the exit.
    ///
    /// # Errors
    /// The signal cannot be sent or the wait fails.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await?;
        }
        self.child.wait().await?;
        Ok(())
    }
}
