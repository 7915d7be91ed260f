//! The portal's pages with a full store: MESSAGES messages (the oldest 100
//! failed, the rest delivered) and ASSOCIATIONS associations, each page
//! asked ROUNDS times, each time on a fresh connection; p50, p95 and max
//! per page, against the budget of 50 ms at p95. The same listings asked
//! through the admin socket (`switchboard messages list`) are the peer in
//! the same run.
//!
//! Usage (release build, with the engine built in the same profile):
//! `cargo build --release -p switchboard-engine -p benches &&
//!  target/release/portal-bench [MESSAGES] [ASSOCIATIONS] [ROUNDS]`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use benches::Engine;
use integration_tests::dcmtk::dcmtk_command;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{
    Association, DicomOperation, DicomService, FileOperation, Production,
};
use integration_tests::switchboard_bin;
use integration_tests::uids::EXPLICIT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Files per storescu run.
const BATCH: usize = 2_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    benches::check_tools();
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| -> anyhow::Result<usize> {
        Ok(args
            .get(i)
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (messages, associations, rounds) = (arg(1, 100_000)?, arg(2, 1_000)?, arg(3, 50)?);
    let base = tempfile::tempdir()?;
    let (port, failing_port, closed) = (Port::reserve(), Port::reserve(), Port::reserve());
    let folder = base.path().join("productions").join("bench");
    std::fs::create_dir_all(&folder)?;
    let text = Production::new()
        .association(Association::storage("STORESCU", "ROUTER"))
        .association(Association::storage("ROUTER", "DOWN"))
        .dicom_service(DicomService::new("IN", port.get(), "ROUTER").targets(["OUT"]))
        .dicom_service(DicomService::new("IN-FAIL", failing_port.get(), "ROUTER").targets(["DOWN"]))
        .file_operation(FileOperation::new("OUT", &base.path().join("out")))
        .dicom_operation(
            DicomOperation::new("DOWN", closed.get(), "DOWN", "ROUTER")
                .retry("10ms", 1.0, "10ms")
                .max_attempts(1),
        )
        .to_string();
    std::fs::write(folder.join("store.toml"), text)?;
    let engine = Engine::start_with(base.path(), &port, &["--portal", "127.0.0.1:0"]).await?;
    let data = base.path().join("data");

    // The store: 100 failed first (the oldest), then the rest delivered.
    let started = Instant::now();
    let files: Vec<PathBuf> = write_instances(
        &base.path().join("in"),
        "ct",
        Modality::Ct,
        EXPLICIT,
        2,
        512,
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    send(failing_port.get(), &files, 100).await?;
    send(port.get(), &files, messages.saturating_sub(100)).await?;
    wait_idle(&data).await?;
    println!(
        "{messages} messages stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let import = base.path().join("contexts.txt");
    std::fs::write(
        &import,
        "1.2.840.10008.1.1\n1.2.840.10008.5.1.4.1.1.2\\1.2.840.10008.1.2.1\n",
    )?;
    for n in 0..associations {
        let calling = format!("SCU{n:05}");
        cli(
            &data,
            &["--namespace", "bench", "association", "import"],
            &[
                import.as_os_str(),
                "--calling".as_ref(),
                calling.as_ref(),
                "--called".as_ref(),
                "ROUTER".as_ref(),
            ],
        )
        .await?;
    }
    println!(
        "{associations} associations imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let url = std::fs::read_to_string(data.join("portal.token"))?;
    let rest = url.trim().strip_prefix("http://").context("login URL")?;
    let (address, login) = rest.split_once('/').context("login URL")?;
    let answer = get(address, &format!("/{login}"), None).await?;
    let cookie = answer
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .context("session cookie")?
        .to_string();
    let first =
        first_id(&get(address, "/messages", Some(&cookie)).await?).context("a message id")?;
    let pages = [
        "/".to_string(),
        "/messages".into(),
        "/messages?ns=bench".into(),
        format!("/messages?before={}", first / 2),
        "/messages?status=failed".into(),
        "/messages?item=DOWN&status=failed".into(),
        "/messages?sop_class=1.2.840.10008.5.1.4.1.1.4".into(),
        format!("/messages/{first}"),
        "/associations?ns=bench".into(),
        "/associations?ns=bench&filter=SCU00999".into(),
        format!(
            "/associations/show?ns=bench&calling=SCU{:05}&called=ROUTER",
            associations / 2
        ),
        "/queues".into(),
        "/events".into(),
        "/reference/dictionary".into(),
        "/reference/abstract-syntax".into(),
    ];
    println!(
        "\n{:<60} {:>9} {:>9} {:>9} {:>8}",
        "page", "p50 ms", "p95 ms", "max ms", "KiB"
    );
    for page in &pages {
        let mut times = Vec::with_capacity(rounds);
        let mut size = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let answer = get(address, page, Some(&cookie)).await?;
            times.push(t.elapsed());
            ensure!(
                answer.starts_with("HTTP/1.1 200"),
                "{page}: {}",
                answer.lines().next().unwrap_or("")
            );
            size = answer.len();
        }
        report(page, &mut times, size);
    }
    // The peer: the newest 50 and the failed ones through the admin socket.
    for (name, extra) in [
        ("messages list (CLI, newest 50)", &[][..]),
        (
            "messages list --status failed (CLI)",
            &["--status", "failed"][..],
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..rounds.min(20) {
            let t = Instant::now();
            cli(
                &data,
                &["messages", "list", "--limit", "50", "--json"],
                &extra
                    .iter()
                    .map(|s| s.as_ref())
                    .collect::<Vec<&std::ffi::OsStr>>(),
            )
            .await?;
            times.push(t.elapsed());
        }
        report(name, &mut times, 0);
    }
    engine.stop().await?;
    Ok(())
}

fn report(name: &str, times: &mut [Duration], size: usize) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| {
        times[((times.len() as f64 * q).ceil() as usize)
            .saturating_sub(1)
            .min(times.len() - 1)]
    };
    println!(
        "{name:<60} {:>9.2} {:>9.2} {:>9.2} {:>8}",
        ms(p(0.5)),
        ms(p(0.95)),
        ms(times[times.len() - 1]),
        size / 1024
    );
}

/// Sends `count` C-STOREs of `files` over and over, BATCH per association.
async fn send(port: u16, files: &[PathBuf], count: usize) -> anyhow::Result<()> {
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH);
        let batch: Vec<&PathBuf> = files.iter().cycle().take(n).collect();
        let out = dcmtk_command("storescu")
            .args(["-aet", "STORESCU", "-aec", "ROUTER", "127.0.0.1"])
            .arg(port.to_string())
            .args(batch)
            .output()
            .await?;
        ensure!(
            out.status.success(),
            "storescu: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        left -= n;
    }
    Ok(())
}

/// Runs the CLI on the data directory (through the engine's socket).
async fn cli(data: &Path, args: &[&str], more: &[&std::ffi::OsStr]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(switchboard_bin())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .args(more)
        .output()
        .await?;
    ensure!(
        out.status.success(),
        "switchboard {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits until no queue holds a message.
async fn wait_idle(data: &Path) -> anyhow::Result<()> {
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&cli(data, &["status", "--json"], &[]).await?)?;
        let busy = status["productions"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["items"].as_array().into_iter().flatten())
            .any(|i| i["queue_depth"].as_u64().unwrap_or(0) > 0);
        if !busy {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One GET on a fresh connection: the whole answer.
async fn get(address: &str, path: &str, cookie: Option<&str>) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n{cookie}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// The first message id a list page links to.
fn first_id(page: &str) -> Option<u64> {
    page.split("href=\"/messages/")
        .nth(1)?
        .split('"')
        .next()?
        .parse()
        .ok()
}
