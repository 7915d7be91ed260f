//! C-ECHO associations per second served by Switchboard (the engine, and
//! its SCP library alone) vs DCMTK storescp and, when installed, Orthanc,
//! in the same run, with the same client (our SCU library, one process):
//! a fresh association per echo (connect, A-ASSOCIATE, C-ECHO, A-RELEASE),
//! sequentially and from 32 concurrent clients; p50/p99 association set-up
//! latency (connect to A-ASSOCIATE-AC); memory per open association.
//!
//! Usage (release build recommended):
//! `cargo run --release -p benches --bin echo-bench -- [ASSOCIATIONS] [CONCURRENCY]`
//!
//! The engine runs a production with one DICOM service; the SCP library
//! alone (the test kit's SCP) runs in a child process (`echo-bench serve`,
//! which prints the port it listens on) so client and server do not share
//! a runtime; storescp and Orthanc run with TCP_NODELAY=1 (DCMTK leaves
//! Nagle on otherwise).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use benches::{Engine, Orthanc};
use integration_tests::dcmtk::Archive;
use integration_tests::engine_process::proc_status_field;
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomService, Production};
use integration_tests::scp::{TestScp, association};
use integration_tests::uids::{IMPLICIT, VERIFICATION};
use switchboard::dimse::scu::{ScuOptions, connect};
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve().await;
    }
    let associations: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let concurrency: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(32);

    let mut ours = Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut announced = String::new();
    tokio::io::BufReader::new(ours.stdout.take().context("the SCP's stdout")?)
        .read_line(&mut announced)
        .await?;
    let ours_port: u16 = announced
        .trim()
        .parse()
        .with_context(|| format!("the SCP announced {announced:?}, not its port"))?;
    let out_dir = tempfile::tempdir()?;
    let storescp = Archive::start_with("ENS-SCP", Port::reserve(), out_dir.path(), &[]).await;
    let storescp_fork =
        Archive::start_with("ENS-SCP", Port::reserve(), out_dir.path(), &["--fork"]).await;
    let storescp_port = storescp.port();
    let storescp_fork_port = storescp_fork.port();
    let engine_port = Port::reserve();
    let production = Production::new()
        .association(Association::new(
            "ENS-SCU",
            "ENS-SCP",
            &[VERIFICATION],
            &[IMPLICIT],
        ))
        .dicom_service(DicomService::new("ECHO", engine_port.get(), "ENS-SCP").max_associations(64))
        .to_string();
    let engine_dir = tempfile::tempdir()?;
    let productions = engine_dir.path().join("productions/bench");
    std::fs::create_dir_all(&productions)?;
    std::fs::write(productions.join("echo.toml"), production)?;
    let engine = Engine::start(engine_dir.path(), &engine_port).await?;
    let orthanc_port = Port::reserve();
    let orthanc = if std::path::Path::new(benches::ORTHANC).is_file() {
        Some(Orthanc::start(&engine_dir.path().join("orthanc"), &orthanc_port, None).await?)
    } else {
        println!("# Orthanc is not installed: not measured");
        None
    };

    println!("# C-ECHO, fresh association per echo; client: Switchboard SCU in one process");
    println!(
        "# {associations} associations per run, {concurrency} concurrent clients in the concurrent runs"
    );
    println!(
        "{:<36} {:>10} {:>12} {:>12} {:>12}",
        "server / mode", "assoc/s", "setup p50", "setup p99", "total"
    );
    let mut servers = vec![
        ("switchboard engine", engine_port.get()),
        ("switchboard SCP library", ours_port),
        ("storescp", storescp_port),
        ("storescp --fork", storescp_fork_port),
    ];
    if orthanc.is_some() {
        servers.push(("orthanc", orthanc_port.get()));
    }
    // Warm-up, then the measured runs interleaved so drift hits all alike.
    for &(_, port) in &servers {
        run(port, 50, 1).await?;
    }
    for &(name, port) in &servers {
        report(
            &format!("{name} sequential"),
            &run(port, associations, 1).await?,
        );
    }
    for &(name, port) in &servers {
        report(
            &format!("{name} {concurrency} concurrent"),
            &run(port, associations, concurrency).await?,
        );
    }

    // Memory per open association (server RSS growth with N held open).
    let held = 200;
    if let Some(pid) = ours.id() {
        let per = memory_per_association(pid, ours_port, held).await?;
        println!(
            "switchboard SCP library: {per:.1} KiB RSS per open association ({held} held open)"
        );
    }
    if let Some(pid) = storescp_fork.id() {
        let per = forked_memory_per_association(pid, storescp_fork_port, 20).await?;
        println!(
            "storescp --fork: {per:.1} KiB RSS per open association (one process each, 20 held open)"
        );
    }
    engine.stop().await?;
    // The other children are killed as they drop.
    Ok(())
}

struct Run {
    total: Duration,
    setups: Vec<Duration>,
}

fn report(name: &str, run: &Run) {
    let mut setups = run.setups.clone();
    setups.sort();
    let pct = |p: f64| setups[((setups.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{:<36} {:>10.0} {:>9.3} ms {:>9.3} ms {:>10.2} s",
        name,
        setups.len() as f64 / run.total.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        run.total.as_secs_f64()
    );
}

fn options() -> ScuOptions {
    ScuOptions::new("ENS-SCU", "ENS-SCP").with_context(VERIFICATION, &[IMPLICIT])
}

async fn one(address: &str, options: &ScuOptions) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut association = connect(address, options).await?;
    let setup = start.elapsed();
    let status = association.echo().await?;
    if !status.is_success() {
        bail!("echo status {status}");
    }
    association.release().await?;
    Ok(setup)
}

async fn run(port: u16, associations: usize, concurrency: usize) -> anyhow::Result<Run> {
    let address = Arc::new(format!("127.0.0.1:{port}"));
    let options = Arc::new(options());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let count = associations / concurrency + usize::from(worker < associations % concurrency);
        let address = address.clone();
        let options = options.clone();
        tasks.push(tokio::spawn(async move {
            let mut setups = Vec::with_capacity(count);
            for _ in 0..count {
                setups.push(one(&address, &options).await?);
            }
            anyhow::Ok(setups)
        }));
    }
    let mut setups = Vec::with_capacity(associations);
    for task in tasks {
        setups.extend(task.await??);
    }
    Ok(Run {
        total: start.elapsed(),
        setups,
    })
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    proc_status_field(pid, "VmRSS:").with_context(|| format!("VmRSS of process {pid}"))
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

async fn hold_open(
    port: u16,
    n: usize,
) -> anyhow::Result<Vec<switchboard::dimse::scu::ScuAssociation<switchboard::dimse::tls::Stream>>> {
    let address = format!("127.0.0.1:{port}");
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut association = connect(&address, &options()).await?;
        association.echo().await?;
        held.push(association);
    }
    Ok(held)
}

async fn memory_per_association(pid: u32, port: u16, n: usize) -> anyhow::Result<f64> {
    let before = rss_kib(pid)?;
    let held = hold_open(port, n).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_kib(pid)?;
    for association in held {
        association.release().await?;
    }
    Ok((after.saturating_sub(before)) as f64 / n as f64)
}

async fn forked_memory_per_association(pid: u32, port: u16, n: usize) -> anyhow::Result<f64> {
    let held = hold_open(port, n).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kids = children(pid);
    let total: u64 = kids.iter().filter_map(|k| rss_kib(*k).ok()).sum();
    for association in held {
        association.release().await?;
    }
    Ok(total as f64 / kids.len().max(1) as f64)
}

/// The Switchboard side: the test kit's SCP, accepting Verification from
/// anyone; prints its port, then serves until killed.
async fn serve() -> anyhow::Result<()> {
    let scp = TestScp::start(
        "ENS-SCP",
        vec![association("*", "ENS-SCP", &[(VERIFICATION, &[IMPLICIT])])],
        |c| {
            c.max_associations = 1000;
            c.trace = false;
        },
    )
    .await;
    println!("{}", scp.addr.port());
    std::future::pending::<()>().await;
    Ok(())
}
