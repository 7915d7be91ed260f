//! Hot reload benchmark, against the built `switchboard` binary.
//!
//! 1. Latency: the time from writing a production file (temporary file +
//!    rename, as editors save) until the new configuration serves, i.e. the
//!    new port accepts a TCP connection. Two cases, each `--rounds` times:
//!    the port of a running production changes; a new production file
//!    appears. Includes the watcher's debounce. Reports p50, p90 and max.
//! 2. Throughput around a reload: DCMTK `storescu` streams instances through
//!    store-and-forward to DCMTK `storescp` while the production file is
//!    rewritten (the operation changes, then the service changes). Reports
//!    the instances delivered in the second around each reload against the
//!    median of the other whole seconds.
//!
//! Build and run (release, with the engine binary next to this one):
//! `cargo build --release -p switchboard-engine -p benches &&
//!  target/release/reload-bench [--rounds N] [--count N] [--kib S]`

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use benches::{EXPLICIT, dcmtk_and_engine, free_port, generate, wait_tcp};

const IMPLICIT: &str = "1.2.840.10008.1.2";

/// Hot-reload benchmark (see the module documentation).
#[derive(Debug, clap::Parser)]
struct Options {
    /// Reloads measured per kind of change.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
    /// Instances streamed while the production file is rewritten.
    #[arg(long, default_value_t = 6000)]
    count: usize,
    /// Size of each instance in KiB.
    #[arg(long, default_value_t = 8)]
    kib: usize,
}

fn main() -> anyhow::Result<()> {
    let o = <Options as clap::Parser>::parse();
    let engine = dcmtk_and_engine()?;
    let dir = tempfile::tempdir()?;
    println!("# hot reload benchmark\n");
    latency(dir.path(), &engine, o.rounds)?;
    throughput(dir.path(), &engine, o.count, o.kib)?;
    Ok(())
}

fn echo_production(port: u16) -> String {
    format!(
        r#"version = 1
[[associations]]
calling_ae_title = "ECHOSCU"
called_ae_title = "ENS-SCP"
abstract_syntaxes = ["1.2.840.10008.1.1"]
transfer_syntaxes = ["{IMPLICIT}"]
[services.ECHO-SCP]
type = "dicom-tcp"
port = {port}
ae_title = "ENS-SCP"
"#
    )
}

fn save(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("toml.tmp~");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status()
            .ok();
        self.0.wait().ok();
    }
}

fn start_engine(engine: &Path, base: &Path) -> anyhow::Result<Killed> {
    let child = Command::new(engine)
        .arg("--data-dir")
        .arg(base.join("data"))
        .args(["run", "--productions"])
        .arg(base.join("productions"))
        .env(
            "RUST_LOG",
            std::env::var("BENCH_ENGINE_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(Killed(child))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn report_latency(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name} ({} rounds): p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        ms(samples.last().copied().unwrap_or_default())
    );
}

fn latency(root: &Path, engine: &Path, rounds: usize) -> anyhow::Result<()> {
    let base = root.join("latency");
    let ns = base.join("productions/bench");
    std::fs::create_dir_all(&ns)?;
    let file = ns.join("echo.toml");
    let port = free_port()?;
    std::fs::write(&file, echo_production(port))?;
    let _engine = start_engine(engine, &base)?;
    wait_tcp(port, Duration::from_secs(30))?;

    let mut changed = Vec::new();
    for _ in 0..rounds {
        let next = free_port()?;
        let written = Instant::now();
        save(&file, &echo_production(next))?;
        let serving = wait_tcp(next, Duration::from_secs(30))?;
        changed.push(serving - written);
        // Let the watcher settle so that rounds do not merge.
        std::thread::sleep(Duration::from_millis(150));
    }
    report_latency("port of a running production changed", changed);

    let mut added = Vec::new();
    for n in 0..rounds {
        let next = free_port()?;
        let new = ns.join(format!("new{n}.toml"));
        let written = Instant::now();
        save(&new, &echo_production(next))?;
        let serving = wait_tcp(next, Duration::from_secs(30))?;
        added.push(serving - written);
        std::thread::sleep(Duration::from_millis(150));
    }
    report_latency("new production file", added);
    println!();
    Ok(())
}

fn forward_production(port: u16, archive_port: u16, delay: &str, limit: u32) -> String {
    format!(
        r#"version = 1
[[associations]]
calling_ae_title = "STORESCU"
called_ae_title = "ROUTER"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}", "{IMPLICIT}"]
[[associations]]
calling_ae_title = "ROUTER"
called_ae_title = "ARCHIVE"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}", "{IMPLICIT}"]
[services.IN]
type = "dicom-tcp"
port = {port}
ae_title = "ROUTER"
max_associations = {limit}
targets = ["OUT"]
[operations.OUT]
type = "dicom-tcp"
host = "127.0.0.1"
port = {archive_port}
remote_ae_title = "ARCHIVE"
local_ae_title = "ROUTER"
max_associations = 1
retry = {{ initial_delay = "{delay}", factor = 2.0, max_delay = "1s" }}
"#
    )
}

fn throughput(root: &Path, engine: &Path, count: usize, kib: usize) -> anyhow::Result<()> {
    let base = root.join("throughput");
    let ns = base.join("productions/bench");
    std::fs::create_dir_all(&ns)?;
    let (port, archive_port) = (free_port()?, free_port()?);
    let file = ns.join("forward.toml");
    std::fs::write(&file, forward_production(port, archive_port, "100ms", 100))?;
    let files = generate(&base.join("input"), "i", 0, count, kib * 1024, 1)?;
    let out = base.join("archive");
    std::fs::create_dir_all(&out)?;
    let _archive = Killed(
        Command::new("/usr/bin/storescp")
            .env("TCP_NODELAY", "1")
            .args(["-aet", "ARCHIVE", "-od"])
            .arg(&out)
            .arg(archive_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_tcp(archive_port, Duration::from_secs(30))?;
    let _engine = start_engine(engine, &base)?;
    wait_tcp(port, Duration::from_secs(30))?;

    // Associations of 100 instances, one after the other.
    let sender = std::thread::spawn(move || -> anyhow::Result<()> {
        for chunk in files.chunks(100) {
            let status = Command::new("/usr/bin/storescu")
                .env("TCP_NODELAY", "1")
                .args(["-aec", "ROUTER", "127.0.0.1"])
                .arg(port.to_string())
                .args(chunk)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            anyhow::ensure!(status.success(), "storescu failed: {status}");
        }
        Ok(())
    });

    // Sample the archive every 10 ms; reload twice in the middle.
    let start = Instant::now();
    let mut samples: Vec<(Duration, usize)> = Vec::new();
    let mut reloads: Vec<(Duration, &str)> = Vec::new();
    let mut delivered = 0;
    while delivered < count {
        delivered = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
        let t = start.elapsed();
        samples.push((t, delivered));
        if reloads.is_empty() && delivered >= count * 3 / 10 {
            save(&file, &forward_production(port, archive_port, "200ms", 100))?;
            reloads.push((start.elapsed(), "operation changed (~OUT)"));
        } else if reloads.len() == 1 && delivered >= count * 6 / 10 {
            save(&file, &forward_production(port, archive_port, "200ms", 50))?;
            reloads.push((start.elapsed(), "service changed (~IN), socket taken over"));
        }
        anyhow::ensure!(
            t < Duration::from_secs(600),
            "only {delivered} of {count} delivered"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sender panicked"))??;
    let total = start.elapsed();

    let at = |t: Duration| -> usize {
        samples
            .iter()
            .take_while(|(s, _)| *s <= t)
            .last()
            .map_or(0, |(_, n)| *n)
    };
    let rate = |from: Duration, to: Duration| -> f64 {
        (at(to) - at(from)) as f64 / (to - from).as_secs_f64()
    };
    // Whole seconds that do not touch a reload's ±0.5 s window; the first
    // and last are ramp-up and tail.
    let second = Duration::from_secs(1);
    let half = Duration::from_millis(500);
    let mut steady: Vec<f64> = (1..total.as_secs())
        .map(Duration::from_secs)
        .filter(|from| {
            reloads
                .iter()
                .all(|(r, _)| *from + second + half <= *r || *from >= *r + half)
        })
        .map(|from| rate(from, from + second))
        .collect();
    steady.sort_by(f64::total_cmp);
    let median = steady.get(steady.len() / 2).copied().unwrap_or(0.0);
    println!(
        "throughput: {count} × {kib} KiB through store-and-forward in {:.1} s; steady state (median of {} whole seconds) {median:.0} images/s",
        total.as_secs_f64(),
        steady.len()
    );
    for (t, what) in &reloads {
        let around = rate(t.saturating_sub(half), *t + half);
        println!(
            "  reload at {:.1} s, {what}: {around:.0} images/s in the second around it ({:.0} % of steady)",
            t.as_secs_f64(),
            if median > 0.0 {
                around / median * 100.0
            } else {
                0.0
            }
        );
    }
    Ok(())
}
