//! Benchmarks: Switchboard side by side with peers. The programs are in
//! `src/bin/`; they run the engine and its peers with the test kit
//! (`integration_tests`: reserved ports, DCMTK peers, instances,
//! productions). This library holds the one thing the kit does not: the
//! engine as a benchmark runs it, and the relay that measures the least
//! CPU time a store-and-forward can spend ([`relay`]).

pub mod relay;

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
        let mut command = Command::new(switchboard_bin());
        command
            .arg("--data-dir")
            .arg(base.join("data"))
            .args(["run", "--productions"])
            .arg(base.join("productions"))
            .args(run_args)
            .env(
                "RUST_LOG",
                std::env::var("BENCH_ENGINE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stderr(Stdio::inherit());
        let child = listening(command, port).await?;
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

/// Runs `command` (its output dropped, killed when dropped) and waits until
/// `port` accepts connections.
///
/// # Panics
/// The port does not open within 30 s.
async fn listening(mut command: Command, port: &Port) -> anyhow::Result<Child> {
    let child = command.stdout(Stdio::null()).kill_on_drop(true).spawn()?;
    wait_for_tcp(port.addr(), Duration::from_secs(30)).await;
    Ok(child)
}

/// Where Debian's `orthanc` package installs the server.
pub const ORTHANC: &str = "/usr/sbin/Orthanc";

/// Orthanc as a benchmark runs it: storage and index in its own folder,
/// DICOM as `ORTHANC` on a port, HTTP off; with a destination, the routing
/// the Orthanc Book documents: a Lua `OnStoredInstance` that sends every
/// stored instance on with `SendToModality`. Killed when dropped.
#[derive(Debug)]
pub struct Orthanc {
    child: Child,
}

/// `OnStoredInstance`, sending each instance received over DICOM on to the
/// modality `destination`.
const FORWARD: &str = r#"
function OnStoredInstance(instanceId, tags, metadata, origin)
   if origin['RequestOrigin'] ~= 'Lua' then
      SendToModality(instanceId, 'destination')
   end
end
"#;

impl Orthanc {
    /// Runs it in `dir` on `port`, forwarding to `forward_to` (AE title and
    /// port on 127.0.0.1) when given, and waits until the port accepts
    /// connections.
    ///
    /// # Errors
    /// Orthanc is not installed, or cannot be started.
    ///
    /// # Panics
    /// The port does not open within 30 s.
    pub async fn start(
        dir: &Path,
        port: &Port,
        forward_to: Option<(&str, u16)>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            Path::new(ORTHANC).is_file(),
            "{ORTHANC} is missing: install Debian's orthanc package (`apt-get install orthanc`), \
             or run scripts/benchmarks as root, which installs it"
        );
        std::fs::create_dir_all(dir)?;
        let lua = dir.join("forward.lua");
        std::fs::write(&lua, FORWARD)?;
        let modalities = forward_to.map_or(
            serde_json::json!({}),
            |(ae, p)| serde_json::json!({ "destination": [ae, "127.0.0.1", p] }),
        );
        let config = serde_json::json!({
            "Name": "benchmark",
            "StorageDirectory": dir.join("storage"),
            "IndexDirectory": dir.join("index"),
            "DicomAet": "ORTHANC",
            "DicomPort": port.get(),
            "DicomCheckCalledAet": false,
            "HttpServerEnabled": false,
            "DicomModalities": modalities,
            "LuaScripts": if forward_to.is_some() { vec![lua] } else { Vec::new() },
            "Plugins": [],
        });
        let path = dir.join("orthanc.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
        let log = std::fs::File::create(dir.join("orthanc.log"))?;
        // Orthanc's DICOM is DCMTK's, which leaves Nagle on without this
        // (~40 ms per round trip), as for DCMTK's own tools.
        let mut command = Command::new(ORTHANC);
        command
            .arg(&path)
            .env("TCP_NODELAY", "1")
            .current_dir(dir)
            .stderr(log);
        let child = listening(command, port).await?;
        Ok(Self { child })
    }

    /// Its process id, for what /proc tells about it.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Waits for the page cache's dirty pages to be written (`sync`), so that
/// a run does not wait behind the write-back of what the runs before it
/// wrote.
pub async fn settle() {
    Command::new("sync").status().await.ok();
}

/// [`settle`]; then, as root, empties the page cache of its clean pages
/// (`vm.drop_caches`) and reads `inputs` back into it, so that every run
/// starts from the same page cache and as much free memory. On a virtual
/// machine, a page cache that grows into memory the host must back again
/// makes every writer several times slower (see BENCHMARKS.md); without
/// this, how much the runs before had written decided which run that hit.
pub async fn start_afresh(inputs: &[std::path::PathBuf]) {
    settle().await;
    refill_page_cache(inputs);
}

/// As root, empties the page cache of its clean pages (`vm.drop_caches`)
/// and reads `inputs` back into it; otherwise does nothing. Settle first:
/// dirty pages stay.
pub fn refill_page_cache(inputs: &[std::path::PathBuf]) {
    if std::fs::write("/proc/sys/vm/drop_caches", "1").is_ok() {
        for file in inputs {
            std::fs::read(file).ok();
        }
    }
}

/// The time to write the bytes of `files` to new files in `dir`, one after
/// the other, with one `fdatasync` each: what an engine that acknowledges
/// only durable instances cannot avoid. The files are read before each
/// write, outside the time; `dir` is created, and settled first.
///
/// # Errors
/// A file cannot be read or written.
pub async fn durable_writes(dir: &Path, files: &[std::path::PathBuf]) -> anyhow::Result<Duration> {
    use std::io::Write as _;
    settle().await;
    std::fs::create_dir_all(dir)?;
    let mut took = Duration::ZERO;
    for (n, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file)?;
        let start = std::time::Instant::now();
        let mut out = std::fs::File::create(dir.join(format!("{n}.dcm")))?;
        out.write_all(&bytes)?;
        out.sync_data()?;
        took += start.elapsed();
    }
    Ok(took)
}

/// CPU time in clock ticks (100 per second on Linux) from `/proc/<pid>/stat`:
/// the process's own (utime + stime) and that of the children it has
/// waited for (cutime + cstime). Zeros when unreadable.
pub fn cpu_ticks(pid: &str) -> CpuTicks {
    let fields: Vec<u64> = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, after) = stat.rsplit_once(')')?;
            Some(
                after
                    .split_whitespace()
                    .skip(11)
                    .take(4)
                    .map(|f| f.parse().unwrap_or(0))
                    .collect(),
            )
        })
        .unwrap_or_default();
    let sum = |range: std::ops::Range<usize>| fields.get(range).map_or(0, |f| f.iter().sum());
    CpuTicks {
        own: sum(0..2),
        reaped: sum(2..4),
    }
}

/// A process's CPU ticks: its own, and its reaped children's.
#[derive(Debug, Clone, Copy)]
pub struct CpuTicks {
    pub own: u64,
    pub reaped: u64,
}

/// CPU ticks of process `pid`, its reaped children and the children it has
/// not reaped yet (running or exited): a `storescp --fork` and the process
/// it forked for each association.
pub fn tree_cpu_ticks(pid: u32) -> u64 {
    let parent = format!("{pid}");
    let children: u64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|name| {
            std::fs::read_to_string(format!("/proc/{name}/stat"))
                .ok()
                .and_then(|s| Some(s.rsplit_once(')')?.1.split_whitespace().nth(1)? == parent))
                .unwrap_or(false)
        })
        .map(|name| {
            let t = cpu_ticks(&name);
            t.own + t.reaped
        })
        .sum();
    let t = cpu_ticks(&parent);
    t.own + t.reaped + children
}
