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
use std::process::Stdio;
use std::time::{Duration, Instant};

use benches::Engine;
use integration_tests::dcmtk::{Archive, dcmtk_command};
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::{Port, wait_for_tcp};
use integration_tests::production::{self, DicomOperation, DicomService, Production};
use integration_tests::uids::EXPLICIT;

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

// One thread: the benchmark itself only waits for its children and polls.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let o = <Options as clap::Parser>::parse();
    benches::check_tools();
    let dir = tempfile::tempdir()?;
    println!("# hot reload benchmark\n");
    latency(dir.path(), o.rounds).await?;
    throughput(dir.path(), o.count, o.kib).await?;
    Ok(())
}

fn echo_production(port: &Port) -> String {
    Production::echo("ECHOSCU", port.get()).to_string()
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

async fn latency(root: &Path, rounds: usize) -> anyhow::Result<()> {
    let base = root.join("latency");
    let ns = base.join("productions/bench");
    std::fs::create_dir_all(&ns)?;
    let file = ns.join("echo.toml");
    let port = Port::reserve();
    std::fs::write(&file, echo_production(&port))?;
    let engine = Engine::start(&base, &port).await?;
    let timeout = Duration::from_secs(30);

    // The ports stay reserved until the end, so that none is reused.
    let mut ports = Vec::new();
    let mut changed = Vec::new();
    for _ in 0..rounds {
        let next = Port::reserve();
        let written = Instant::now();
        production::save(&file, &echo_production(&next));
        let serving = wait_for_tcp(next.addr(), timeout).await;
        changed.push(serving - written);
        ports.push(next);
        // Let the watcher settle so that rounds do not merge.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    report_latency("port of a running production changed", changed);

    let mut added = Vec::new();
    for n in 0..rounds {
        let next = Port::reserve();
        let new = ns.join(format!("new{n}.toml"));
        let written = Instant::now();
        production::save(&new, &echo_production(&next));
        let serving = wait_for_tcp(next.addr(), timeout).await;
        added.push(serving - written);
        ports.push(next);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    report_latency("new production file", added);
    println!();
    engine.stop().await
}

/// Store and forward, one association at a time to the archive, with the
/// service's association limit and OUT's first retry delay as given.
fn forward_production(port: u16, archive_port: u16, delay: &str, limit: u32) -> String {
    Production::store_and_forward(port, archive_port)
        .dicom_service(
            DicomService::new("IN", port, "ROUTER")
                .max_associations(limit)
                .targets(["OUT"]),
        )
        .dicom_operation(
            DicomOperation::new("OUT", archive_port, "ARCHIVE", "ROUTER")
                .max_associations(1)
                .retry(delay, 2.0, "1s"),
        )
        .to_string()
}

async fn throughput(root: &Path, count: usize, kib: usize) -> anyhow::Result<()> {
    let base = root.join("throughput");
    let ns = base.join("productions/bench");
    std::fs::create_dir_all(&ns)?;
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let (to, at) = (port.get(), archive_port.get());
    let file = ns.join("forward.toml");
    std::fs::write(&file, forward_production(to, at, "100ms", 100))?;
    let files: Vec<_> = write_instances(
        &base.join("input"),
        "i",
        Modality::Ct,
        EXPLICIT,
        count,
        kib * 1024,
    )
    .into_iter()
    .map(|(path, _)| path)
    .collect();
    let out = base.join("archive");
    let _archive = Archive::start_with("ARCHIVE", archive_port, &out, &[]).await;
    let engine = Engine::start(&base, &port).await?;

    // Associations of 100 instances, one after the other.
    let sender = tokio::spawn(async move {
        for chunk in files.chunks(100) {
            let status = dcmtk_command("storescu")
                .args(["-aec", "ROUTER", "127.0.0.1"])
                .arg(to.to_string())
                .args(chunk)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await?;
            anyhow::ensure!(status.success(), "storescu failed: {status}");
        }
        anyhow::Ok(())
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
            production::save(&file, &forward_production(to, at, "200ms", 100));
            reloads.push((start.elapsed(), "operation changed (~OUT)"));
        } else if reloads.len() == 1 && delivered >= count * 6 / 10 {
            production::save(&file, &forward_production(to, at, "200ms", 50));
            reloads.push((start.elapsed(), "service changed (~IN), socket taken over"));
        }
        anyhow::ensure!(
            t < Duration::from_secs(600),
            "only {delivered} of {count} delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sender.await??;
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
    engine.stop().await
}
