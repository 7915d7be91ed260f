//! Store-and-forward benchmark: DCMTK `storescu` → `storescp` directly, and
//! the same through Switchboard's store-and-forward (fsync on, group
//! commit), in the same run; reports the ratio.
//!
//! Scenarios:
//! 1. sequential: one `storescu` sends N instances of S KiB;
//! 2. concurrent: C `storescu` processes send F instances each;
//! 3. large (with `--large`): 3 multi-frame instances of 100 MiB, with the
//!    engine's peak RSS.
//!
//! With `--plugin PATH` (the route-by-modality component, e.g.
//! `target/wasm32-wasip2/release/route_by_modality.wasm`), each scenario
//! also runs through a `wasm` routing process between the service and the
//! operation, and reports its throughput against plain store-and-forward.
//!
//! "Through" is timed from the start of `storescu` until the archive has
//! every instance (end to end, forwarding included). Every run starts with
//! a `sync`, so that none waits behind the write-back of what the runs
//! before it wrote. What the runs write is removed only at the end: on a
//! file system that delays the reuse of recently freed inodes (ext4 without
//! a journal), deleting thousands of files makes every file created in the
//! next seconds slower, which would tax whichever run came next. The engine's peak RSS
//! (VmHWM) is read from /proc when it exits.
//!
//! Build and run (release, with the engine binary next to this one):
//! `cargo build --release -p switchboard-engine -p benches &&
//!  target/release/forward-bench [--count N] [--kib S] [--senders C] [--files F] [--large]`

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use benches::{EXPLICIT, dcmtk_and_engine, free_port, generate, wait_tcp};

/// Store-and-forward benchmark (see the module documentation).
#[derive(Debug, clap::Parser)]
struct Options {
    /// Instances sent by the one storescu of the sequential scenario.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Size of each instance in KiB.
    #[arg(long, default_value_t = 512)]
    kib: usize,
    /// storescu processes of the concurrent scenario.
    #[arg(long, default_value_t = 50)]
    senders: usize,
    /// Instances each of them sends.
    #[arg(long, default_value_t = 20)]
    files: usize,
    /// Also send 3 multi-frame instances of 100 MiB.
    #[arg(long)]
    large: bool,
    /// A routing plugin (route-by-modality) to run each scenario through
    /// as well.
    #[arg(long)]
    plugin: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let mut o = <Options as clap::Parser>::parse();
    if let Some(path) = o.plugin.take() {
        o.plugin =
            Some(std::fs::canonicalize(&path).with_context(|| format!("{}", path.display()))?);
    }
    let engine = dcmtk_and_engine()?;
    let dir = tempfile::tempdir()?;
    let root = dir.path();

    println!(
        "# store-and-forward benchmark (DCMTK storescu → storescp, TCP_NODELAY=1, fsync on)\n"
    );

    // 1. sequential
    let input = root.join("seq");
    let files = generate(&input, "seq", 1, o.count, o.kib * 1024, 1)?;
    let direct = direct_run(root, std::slice::from_ref(&files))?;
    let (through, rss) = through_run(root, &engine, std::slice::from_ref(&files), "seq", None)?;
    report(
        &format!("{} × {} KiB, one storescu", o.count, o.kib),
        o.count,
        direct,
        through,
        rss,
    );
    if let Some(p) = &o.plugin {
        let (pass, rss) = through_run(
            root,
            &engine,
            std::slice::from_ref(&files),
            "seq-pass",
            Some(Path::new("-")),
        )?;
        report_process("a pass-through process", o.count, through, pass, rss);
        let (with, rss) = through_run(root, &engine, &[files], "seq-wasm", Some(p))?;
        report_process(
            "a wasm routing process (route-by-modality)",
            o.count,
            through,
            with,
            rss,
        );
    }

    // 2. concurrent
    let mut groups = Vec::new();
    for s in 0..o.senders {
        let d = root.join(format!("con{s}"));
        groups.push(generate(
            &d,
            &format!("c{s}"),
            100 + s,
            o.files,
            o.kib * 1024,
            1,
        )?);
    }
    let direct = direct_run(root, &groups)?;
    let (through, rss) = through_run(root, &engine, &groups, "con", None)?;
    report(
        &format!(
            "{} storescu × {} × {} KiB, concurrent",
            o.senders, o.files, o.kib
        ),
        o.senders * o.files,
        direct,
        through,
        rss,
    );
    if let Some(p) = &o.plugin {
        let n = o.senders * o.files;
        let (pass, rss) = through_run(root, &engine, &groups, "con-pass", Some(Path::new("-")))?;
        report_process("a pass-through process", n, through, pass, rss);
        let (with, rss) = through_run(root, &engine, &groups, "con-wasm", Some(p))?;
        report_process(
            "a wasm routing process (route-by-modality)",
            n,
            through,
            with,
            rss,
        );
    }

    // 3. large
    if o.large {
        let d = root.join("large");
        let files = generate(&d, "large", 2, 3, 100 * 1024 * 1024, 100)?;
        let direct = direct_run(root, std::slice::from_ref(&files))?;
        let (through, rss) = through_run(root, &engine, &[files], "large", None)?;
        report(
            "3 × 100 MiB multi-frame, one storescu",
            3,
            direct,
            through,
            rss,
        );
        let mib = 300.0;
        println!(
            "  MiB/s: direct {:.1}, through {:.1}",
            mib / direct.as_secs_f64(),
            mib / through.as_secs_f64()
        );
    }
    Ok(())
}

fn report(name: &str, n: usize, direct: Duration, through: Duration, rss_kib: u64) {
    let d = n as f64 / direct.as_secs_f64();
    let t = n as f64 / through.as_secs_f64();
    println!(
        "{name}:\n  direct  {:>8.2} s  {:>8.1} images/s\n  through {:>8.2} s  {:>8.1} images/s   ratio {:.2} (time ×{:.2}), engine peak RSS {:.1} MiB\n",
        direct.as_secs_f64(),
        d,
        through.as_secs_f64(),
        t,
        t / d,
        through.as_secs_f64() / direct.as_secs_f64(),
        rss_kib as f64 / 1024.0
    );
}

fn report_process(what: &str, n: usize, through: Duration, with: Duration, rss_kib: u64) {
    let t = n as f64 / through.as_secs_f64();
    let w = n as f64 / with.as_secs_f64();
    println!(
        "  with {what}:\n  through+process {:>8.2} s  {:>8.1} images/s   ratio to plain store-and-forward {:.2}, engine peak RSS {:.1} MiB\n",
        with.as_secs_f64(),
        w,
        w / t,
        rss_kib as f64 / 1024.0
    );
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn storescp(port: u16, out: &Path) -> anyhow::Result<Killed> {
    std::fs::create_dir_all(out)?;
    let child = Command::new("/usr/bin/storescp")
        .env("TCP_NODELAY", "1")
        // --fork: one process per association, so concurrent senders are
        // served at once (the engine's lanes too).
        .args(["--fork", "-aet", "ARCHIVE", "-od"])
        .arg(out)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    wait_tcp(port, Duration::from_secs(30))?;
    Ok(Killed(child))
}

/// Runs one storescu per group at once and waits for all.
fn send(port: u16, called: &str, groups: &[Vec<PathBuf>]) -> anyhow::Result<()> {
    let children: Vec<Child> = groups
        .iter()
        .map(|files| {
            Command::new("/usr/bin/storescu")
                .env("TCP_NODELAY", "1")
                .args(["-aec", called, "127.0.0.1"])
                .arg(port.to_string())
                .args(files)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for mut c in children {
        let status = c.wait()?;
        anyhow::ensure!(status.success(), "storescu failed: {status}");
    }
    Ok(())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Waits until `dir` holds `n` files.
fn wait_files(dir: &Path, n: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    while count_files(dir) < n {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "only {} of {n} instances arrived in {}",
            count_files(dir),
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Writes every dirty page to disk, so that a run does not wait behind the
/// write-back of what the runs before it wrote (the engine's `fdatasync`
/// would, a `storescp` without it would not).
fn settle() {
    Command::new("sync").status().ok();
}

fn direct_run(root: &Path, groups: &[Vec<PathBuf>]) -> anyhow::Result<Duration> {
    settle();
    let port = free_port()?;
    let out = root.join(format!("direct-{port}"));
    let _scp = storescp(port, &out)?;
    let start = Instant::now();
    send(port, "ARCHIVE", groups)?;
    let n: usize = groups.iter().map(Vec::len).sum();
    wait_files(&out, n)?;
    Ok(start.elapsed())
}

fn through_run(
    root: &Path,
    engine: &Path,
    groups: &[Vec<PathBuf>],
    tag: &str,
    plugin: Option<&Path>,
) -> anyhow::Result<(Duration, u64)> {
    let (port, archive_port) = (free_port()?, free_port()?);
    let base = root.join(format!("through-{tag}"));
    let (first, process) = match plugin {
        // A plugin path of "-" means a pass-through process (no plugin), for comparison.
        Some(p) if p == Path::new("-") => (
            "ROUTE",
            "[processes.ROUTE]\ntype = \"pass-through\"\ntargets = [\"OUT\"]".to_string(),
        ),
        Some(p) => (
            "ROUTE",
            format!(
                "[processes.ROUTE]\ntype = \"wasm\"\nplugin = \"{}\"\nconfig = {{ routes = {{ CT = [\"OUT\"] }}, default = [\"OUT\"] }}\ntargets = [\"OUT\"]",
                p.display()
            ),
        ),
        None => ("OUT", String::new()),
    };
    let productions = base.join("productions/bench");
    std::fs::create_dir_all(&productions)?;
    std::fs::write(
        productions.join("forward.toml"),
        format!(
            r#"version = 1
[[associations]]
calling_ae_title = "STORESCU"
called_ae_title = "ROUTER"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}", "1.2.840.10008.1.2"]
[[associations]]
calling_ae_title = "ROUTER"
called_ae_title = "ARCHIVE"
abstract_syntaxes = ["storage"]
transfer_syntaxes = ["{EXPLICIT}", "1.2.840.10008.1.2"]
[services.IN]
type = "dicom-tcp"
port = {port}
ae_title = "ROUTER"
targets = ["{first}"]
{process}
[operations.OUT]
type = "dicom-tcp"
host = "127.0.0.1"
port = {archive_port}
remote_ae_title = "ARCHIVE"
local_ae_title = "ROUTER"
max_associations = 4
"#
        ),
    )?;
    let out = base.join("archive");
    settle();
    let _scp = storescp(archive_port, &out)?;
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
    let pid = child.id();
    let mut engine_proc = Killed(child);
    wait_tcp(port, Duration::from_secs(30))?;
    let start = Instant::now();
    send(port, "ROUTER", groups)?;
    let acked = start.elapsed();
    let n: usize = groups.iter().map(Vec::len).sum();
    wait_files(&out, n)?;
    let took = start.elapsed();
    println!(
        "  (through: every instance acknowledged after {:.2} s, {:.1} images/s)",
        acked.as_secs_f64(),
        n as f64 / acked.as_secs_f64()
    );
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    // utime + stime, in clock ticks (100 per second on Linux).
    let cpu_ticks: u64 = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = after.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    println!(
        "  (engine CPU {:.2} s, {:.2} ms per instance)",
        cpu_ticks as f64 / 100.0,
        cpu_ticks as f64 * 10.0 / n as f64
    );
    if std::env::var_os("BENCH_THREADS").is_some() {
        println!("  (engine CPU by thread: {})", thread_cpu(pid));
    }
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .ok();
    engine_proc.0.wait().ok();
    Ok((took, rss))
}

/// The engine's CPU time per thread name, in ms (utime+stime), busiest first.
fn thread_cpu(pid: u32) -> String {
    let mut by_name = std::collections::BTreeMap::<String, (u64, u64, usize)>::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("?", |(_, n)| n).to_string();
        let f: Vec<&str> = tail.split_whitespace().collect();
        let (u, s) = (
            f[11].parse::<u64>().unwrap_or(0),
            f[12].parse::<u64>().unwrap_or(0),
        );
        let e = by_name.entry(name).or_default();
        e.0 += u * 10;
        e.1 += s * 10;
        e.2 += 1;
    }
    let mut v: Vec<_> = by_name.into_iter().collect();
    v.sort_by_key(|(_, (u, s, _))| std::cmp::Reverse(u + s));
    v.iter()
        .map(|(n, (u, s, c))| format!("{n}×{c} user {u} sys {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}
