//! Store-and-forward benchmark: DCMTK `storescu` → `storescp` directly, and
//! the same through Switchboard's store-and-forward (fsync on, group
//! commit), in the same run; reports the ratio.
//!
//! Scenarios:
//! 1. sequential: one `storescu` sends N instances of S KiB;
//! 2. concurrent: C `storescu` processes send F instances each;
//! 3. large (with `--large`): 3 multi-frame instances of 100 MiB, with the
//!    engine's peak RSS, through the engine with cut-through (the default
//!    for instances this large) and without.
//!
//! With `--tls`, the sequential and concurrent scenarios also run with
//! DICOM TLS on every hop (storescu +tls → the engine's TLS service, its
//! TLS operation → storescp +tls, certificates made with `openssl`), and
//! report the time against the same without TLS, directly and through.
//! `--rounds N` repeats each pair of runs (direct and through; through
//! without and with TLS), alternating which goes first, and reports every
//! round's ratio and their median.
//!
//! With `--orthanc`, every workload also runs through Orthanc (Debian's
//! package, a Lua `OnStoredInstance` that sends each instance on with
//! `SendToModality`) in every round. The sequential and large workloads
//! time the durable floor's writes in every round too. At the end, a
//! Markdown table per workload: each round's times, each against direct,
//! and the medians (`scripts/benchmarks` and BENCHMARKS.md).
//!
//! With `--plugin PATH` (the route-by-modality component, e.g.
//! `target/wasm32-wasip2/release/route_by_modality.wasm`), each scenario
//! also runs through a `wasm` routing process between the service and the
//! operation, and reports its throughput against plain store-and-forward.
//!
//! The sequential and large scenarios also report the durable floor: the
//! slower of direct and writing the same bytes to new files with one
//! `fdatasync` each, on the file system of the engine's data directory (a
//! `storescp` never syncs; an engine that acknowledges only durable
//! instances must), and the engine's rate against it.
//!
//! With `--recycled`, the sequential workload also runs, in every round,
//! through the engine in a steady state: an earlier run of the same
//! workload went through the engine, and on restart retention (purging
//! every delivered body) recycled the files of those bodies into the spool
//! pool, up to its 256 MiB; the new instances are spooled into them.
//!
//! Each direct run reports the CPU time its peers spent per instance
//! (`storescu`; `storescp` with the process it forks), each run through
//! the engine the engine's while the workload ran (not its start, nor the
//! retention pass of `--recycled`). Every scenario also reports the CPU
//! bound: the least time any engine can take on the machine's cores, from
//! the peers' CPU and that of a bare relay
//! ([`benches::relay`]: receive, write, `fdatasync`, send), the least of
//! three runs with the same instances' size.
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
//!  target/release/forward-bench [--count N] [--kib S] [--senders C] [--files F] [--large] [--tls]
//!  [--rounds N] [--orthanc] [--recycled] [--cut-through-above BYTES]`

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use benches::relay::{Files, Moving};
use benches::{Engine, Orthanc};
use integration_tests::dcmtk::{Archive, dcmtk_command};
use integration_tests::engine_process::proc_status_field;
use integration_tests::instances::{Instance, Modality, write_series};
use integration_tests::net::Port;
use integration_tests::production::{DicomOperation, DicomService, Process, Production};
use integration_tests::tls::Certificates;

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
    /// Also run the sequential and concurrent scenarios with TLS on every
    /// hop.
    #[arg(long)]
    tls: bool,
    /// Run the sequential and concurrent scenarios this many times, direct
    /// and through alternating (with `--tls`, through with and without TLS
    /// too), and report the median of the time ratios (one run's ratio
    /// varies by ±20 % on a two-core machine).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Also run every workload through Orthanc (Debian's `orthanc`, a Lua
    /// `OnStoredInstance` forwarding each instance to the archive), in
    /// every round.
    #[arg(long)]
    orthanc: bool,
    /// Also run the sequential workload through the engine in a steady
    /// state, in every round: on a data directory where retention has just
    /// recycled the body files of an earlier run of the same workload (up
    /// to the pool's 256 MiB).
    #[arg(long)]
    recycled: bool,
    /// The service's `cut_through_above` in every run through the engine
    /// (but the large workload's run with cut-through off); the engine's
    /// default when not given.
    #[arg(long)]
    cut_through_above: Option<u64>,
}

/// `--cut-through-above`, set once at the start.
static CUT_THROUGH_ABOVE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

// One thread: the benchmark itself only waits for its children.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut o = <Options as clap::Parser>::parse();
    if let Some(bytes) = o.cut_through_above {
        CUT_THROUGH_ABOVE.get_or_init(|| bytes);
    }
    if let Some(path) = o.plugin.take() {
        o.plugin =
            Some(std::fs::canonicalize(&path).with_context(|| format!("{}", path.display()))?);
    }
    benches::check_tools();
    let dir = tempfile::tempdir()?;
    let root = dir.path();
    let tls = if o.tls {
        let pki = root.join("pki");
        std::fs::create_dir_all(&pki)?;
        Some(Certificates::make(&pki, "ROUTER", "STORESCU"))
    } else {
        None
    };

    println!(
        "# store-and-forward benchmark (DCMTK storescu → storescp, TCP_NODELAY=1, fsync on)\n"
    );

    // The sequential and large workloads also time the durable floor's
    // writes; every workload runs through Orthanc too with --orthanc.
    let mut runs = vec![Run::Direct, Run::Through];
    let mut floored = vec![Run::Direct, Run::Through, Run::Writes];
    if o.orthanc {
        runs.push(Run::Orthanc);
        floored.push(Run::Orthanc);
    }
    let mut rows = Vec::new();

    // 1. sequential
    let input = root.join("seq");
    let files = generate(&input, "seq", o.count, o.kib * 1024, 1);
    let seq = std::slice::from_ref(&files);
    let d = direct_run(root, seq, None).await?;
    let direct = d.took;
    let (through, rss) = through_run(root, seq, "seq", None, None, None, false).await?;
    let workload = format!("{} × {} KiB, one storescu", o.count, o.kib);
    report(&workload, o.count, direct, through, rss);
    cpu_bound(root, &d, o.count, o.kib * 1024).await?;
    let writes = durable_writes(root, "seq", seq).await?;
    report_floor(direct, writes, through);
    let mut seq_runs = floored.clone();
    if o.recycled {
        seq_runs.push(Run::Recycled);
    }
    let first = first_round(root, seq, "seq", &seq_runs, vec![direct, through, writes]).await?;
    let times = rounds(root, seq, "seq", &seq_runs, o.rounds, first).await?;
    rows.push(Row {
        workload,
        runs: seq_runs,
        times,
    });
    if let Some(c) = &tls {
        let direct_tls = direct_run(root, seq, Some(c)).await?.took;
        let (through_tls, rss) =
            through_run(root, seq, "seq-tls", None, Some(c), None, false).await?;
        report_tls(o.count, direct, through, direct_tls, through_tls, rss);
        let pair = [Run::Through, Run::ThroughTls(c)];
        let first = vec![through, through_tls];
        rounds(root, seq, "seq-tls", &pair, o.rounds, first).await?;
    }
    if let Some(p) = &o.plugin {
        let (pass, rss) = through_run(
            root,
            seq,
            "seq-pass",
            Some(Path::new("-")),
            None,
            None,
            false,
        )
        .await?;
        report_process("a pass-through process", o.count, through, pass, rss);
        let (with, rss) = through_run(root, seq, "seq-wasm", Some(p), None, None, false).await?;
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
        groups.push(generate(&d, &format!("c{s}"), o.files, o.kib * 1024, 1));
    }
    if !groups.is_empty() {
        let n = o.senders * o.files;
        let d = direct_run(root, &groups, None).await?;
        let direct = d.took;
        let (through, rss) = through_run(root, &groups, "con", None, None, None, false).await?;
        let workload = format!(
            "{} storescu × {} × {} KiB, concurrent",
            o.senders, o.files, o.kib
        );
        report(&workload, n, direct, through, rss);
        cpu_bound(root, &d, n, o.kib * 1024).await?;
        let first = first_round(root, &groups, "con", &runs, vec![direct, through]).await?;
        let times = rounds(root, &groups, "con", &runs, o.rounds, first).await?;
        rows.push(Row {
            workload,
            runs: runs.clone(),
            times,
        });
        if let Some(c) = &tls {
            let direct_tls = direct_run(root, &groups, Some(c)).await?.took;
            let (through_tls, rss) =
                through_run(root, &groups, "con-tls", None, Some(c), None, false).await?;
            report_tls(n, direct, through, direct_tls, through_tls, rss);
            let pair = [Run::Through, Run::ThroughTls(c)];
            let first = vec![through, through_tls];
            rounds(root, &groups, "con-tls", &pair, o.rounds, first).await?;
        }
        if let Some(p) = &o.plugin {
            let (pass, rss) = through_run(
                root,
                &groups,
                "con-pass",
                Some(Path::new("-")),
                None,
                None,
                false,
            )
            .await?;
            report_process("a pass-through process", n, through, pass, rss);
            let (with, rss) =
                through_run(root, &groups, "con-wasm", Some(p), None, None, false).await?;
            report_process(
                "a wasm routing process (route-by-modality)",
                n,
                through,
                with,
                rss,
            );
        }
    }

    // 3. large
    if o.large {
        let size = 100 * 1024 * 1024;
        let files = generate(&root.join("large"), "large", 3, size, 100);
        let large = std::slice::from_ref(&files);
        let d = direct_run(root, large, None).await?;
        let direct = d.took;
        let writes = durable_writes(root, "large", large).await?;
        let (through, rss) = through_run(root, large, "large", None, None, None, false).await?;
        let workload = "3 × 100 MiB multi-frame, one storescu".to_string();
        report(&workload, 3, direct, through, rss);
        cpu_bound(root, &d, 3, size).await?;
        report_floor(direct, writes, through);
        let mib = 300.0;
        println!(
            "  MiB/s: direct {:.1}, through {:.1}",
            mib / direct.as_secs_f64(),
            mib / through.as_secs_f64()
        );
        // Cut-through against store then forward, in the same rounds.
        let mut with_store_first = floored.clone();
        with_store_first.push(Run::StoreFirst);
        let known = vec![direct, through, writes];
        let first = first_round(root, large, "large", &with_store_first, known).await?;
        let times = rounds(root, large, "large", &with_store_first, o.rounds, first).await?;
        rows.push(Row {
            workload,
            runs: with_store_first,
            times,
        });
    }
    for row in &rows {
        println!();
        table(row);
    }
    Ok(())
}

/// The first round: `times` of the runs already made, then the rest.
async fn first_round(
    root: &Path,
    groups: &[Vec<PathBuf>],
    label: &str,
    runs: &[Run<'_>],
    mut times: Vec<Duration>,
) -> anyhow::Result<Vec<Duration>> {
    for run in runs.iter().skip(times.len()) {
        times.push(run.time(root, groups, label).await?);
    }
    Ok(times)
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

fn report_tls(
    n: usize,
    direct: Duration,
    through: Duration,
    direct_tls: Duration,
    through_tls: Duration,
    rss_kib: u64,
) {
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "  with TLS on every hop:\n  direct  {:>8.2} s  {:>8.1} images/s   time ×{:.2} of direct without TLS\n  through {:>8.2} s  {:>8.1} images/s   time ×{:.2} of through without TLS, ratio to direct with TLS {:.2}, engine peak RSS {:.1} MiB\n",
        direct_tls.as_secs_f64(),
        rate(direct_tls),
        direct_tls.as_secs_f64() / direct.as_secs_f64(),
        through_tls.as_secs_f64(),
        rate(through_tls),
        through_tls.as_secs_f64() / through.as_secs_f64(),
        rate(through_tls) / rate(direct_tls),
        rss_kib as f64 / 1024.0
    );
}

/// One way of carrying a workload to the archive.
#[derive(Clone, Copy)]
enum Run<'a> {
    /// storescu → storescp directly.
    Direct,
    /// Through the engine's store-and-forward.
    Through,
    /// Through the engine with TLS on every hop.
    ThroughTls(&'a Certificates),
    /// Through the engine with cut-through off: every instance is sent on
    /// once it is durable.
    StoreFirst,
    /// Through the engine in a steady state: retention has just recycled
    /// the files of the bodies of an earlier run of the same workload.
    Recycled,
    /// Through Orthanc, forwarding with Lua.
    Orthanc,
    /// The same bytes written to new files with one `fdatasync` each: the
    /// durable floor's other half.
    Writes,
}

impl Run<'_> {
    async fn time(
        self,
        root: &Path,
        groups: &[Vec<PathBuf>],
        label: &str,
    ) -> anyhow::Result<Duration> {
        match self {
            Run::Direct => Ok(direct_run(root, groups, None).await?.took),
            Run::Through => Ok(through_run(root, groups, label, None, None, None, false)
                .await?
                .0),
            Run::ThroughTls(c) => {
                let label = format!("{label}-tls");
                Ok(
                    through_run(root, groups, &label, None, Some(c), None, false)
                        .await?
                        .0,
                )
            }
            Run::StoreFirst => {
                let label = format!("{label}-store-first");
                let off = Some(i64::MAX.unsigned_abs());
                Ok(through_run(root, groups, &label, None, None, off, false)
                    .await?
                    .0)
            }
            Run::Recycled => {
                let label = format!("{label}-recycled");
                Ok(through_run(root, groups, &label, None, None, None, true)
                    .await?
                    .0)
            }
            Run::Orthanc => orthanc_run(root, groups, label).await,
            Run::Writes => durable_writes(root, label, groups).await,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Run::Direct => "direct",
            Run::Through => "Switchboard",
            Run::ThroughTls(_) => "Switchboard with TLS",
            Run::StoreFirst => "Switchboard, cut-through off",
            Run::Recycled => "Switchboard, recycled files",
            Run::Orthanc => "Orthanc",
            Run::Writes => "writes with fdatasync",
        }
    }
}

/// The median of `values` (sorted here).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Rounds 2..=`rounds` of `runs` after the first round's times `first`
/// (every other round in reverse order, so that a drift of the machine
/// favours none); prints every round's time of each run against the
/// first's and their medians, and returns every round's times.
async fn rounds(
    root: &Path,
    groups: &[Vec<PathBuf>],
    label: &str,
    runs: &[Run<'_>],
    rounds: usize,
    first: Vec<Duration>,
) -> anyhow::Result<Vec<Vec<Duration>>> {
    let mut times = vec![first];
    for round in 2..=rounds {
        let label = format!("{label}-r{round}");
        let mut order: Vec<usize> = (0..runs.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        let mut took = vec![Duration::ZERO; runs.len()];
        for i in order {
            took[i] = runs[i].time(root, groups, &label).await?;
        }
        times.push(took);
    }
    if rounds >= 2 {
        for (i, run) in runs.iter().enumerate().skip(1) {
            let ratios: Vec<f64> = times
                .iter()
                .map(|t| t[i].as_secs_f64() / t[0].as_secs_f64())
                .collect();
            let listed: Vec<String> = ratios.iter().map(|r| format!("×{r:.2}")).collect();
            println!(
                "  {}, time against {}, {rounds} rounds: {}; median ×{:.2}\n",
                run.name(),
                runs[0].name(),
                listed.join(" "),
                median(ratios)
            );
        }
        if let Some(ratios) = of_floor(runs, &times) {
            let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "  Switchboard at the durable floor's rate, {rounds} rounds: {}; median {:.2}\n",
                listed.join(" "),
                median(ratios)
            );
        }
    }
    Ok(times)
}

/// Each round's rate through the engine against the durable floor's (the
/// slower of direct and the synced writes), when both were timed.
fn of_floor(runs: &[Run<'_>], times: &[Vec<Duration>]) -> Option<Vec<f64>> {
    let at = |wanted: fn(&Run<'_>) -> bool| runs.iter().position(wanted);
    let direct = at(|r| matches!(r, Run::Direct))?;
    let writes = at(|r| matches!(r, Run::Writes))?;
    let through = at(|r| matches!(r, Run::Through))?;
    Some(
        times
            .iter()
            .map(|t| t[direct].max(t[writes]).as_secs_f64() / t[through].as_secs_f64())
            .collect(),
    )
}

/// A workload's rounds, for the tables at the end.
struct Row<'a> {
    workload: String,
    runs: Vec<Run<'a>>,
    times: Vec<Vec<Duration>>,
}

/// A workload's side-by-side table (Markdown): each round's times, each
/// against direct, the engine against the durable floor when it was
/// timed, and the medians.
fn table(row: &Row<'_>) {
    let floor = of_floor(&row.runs, &row.times);
    let names: Vec<&str> = row.runs.iter().map(|r| r.name()).collect();
    let extra = if floor.is_some() {
        " Switchboard at the floor's rate |"
    } else {
        ""
    };
    println!("{}\n", row.workload);
    println!("| Round | {} |{extra}", names.join(" | "));
    println!(
        "|---|{}{}",
        "---|".repeat(row.runs.len()),
        if floor.is_some() { "---|" } else { "" }
    );
    let cell = |i: usize, secs: f64, ratio: f64| match i {
        0 => format!("{secs:.2} s"),
        _ => format!("{secs:.2} s (×{ratio:.2})"),
    };
    for (round, times) in row.times.iter().enumerate() {
        let cells: Vec<String> = times
            .iter()
            .enumerate()
            .map(|(i, t)| cell(i, t.as_secs_f64(), t.as_secs_f64() / times[0].as_secs_f64()))
            .collect();
        let extra = floor
            .as_ref()
            .map_or(String::new(), |f| format!(" {:.2} |", f[round]));
        println!("| {} | {} |{extra}", round + 1, cells.join(" | "));
    }
    let medians: Vec<String> = (0..row.runs.len())
        .map(|i| {
            let secs = median(row.times.iter().map(|t| t[i].as_secs_f64()).collect());
            let ratio = median(
                row.times
                    .iter()
                    .map(|t| t[i].as_secs_f64() / t[0].as_secs_f64())
                    .collect(),
            );
            format!("**{}**", cell(i, secs, ratio))
        })
        .collect();
    let extra = floor.map_or(String::new(), |f| format!(" **{:.2}** |", median(f)));
    println!("| median | {} |{extra}", medians.join(" | "));
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

/// `count` CT instances of one series with `bytes` of pixel data in
/// `frames` frames, in `dir`.
fn generate(dir: &Path, tag: &str, count: usize, bytes: usize, frames: usize) -> Vec<PathBuf> {
    let template = Instance::new(Modality::Ct).pixel_data(bytes, frames);
    write_series(dir, tag, count, &template)
        .into_iter()
        .map(|(path, _)| path)
        .collect()
}

/// DCMTK storescp as ARCHIVE; `--fork`: one process per association, so
/// concurrent senders are served at once (the engine's lanes too); with
/// `tls`, over TLS only, taking client certificates its CA signed.
async fn storescp(port: Port, out: &Path, tls: Option<&Certificates>) -> Archive {
    let mut args = vec!["--fork"];
    if let Some(c) = tls {
        args.extend(c.dcmtk_server());
    }
    Archive::start_with("ARCHIVE", port, out, &args).await
}

/// Runs one storescu per group at once (with `tls`, over TLS with the
/// client certificate) and waits for all.
async fn send(
    port: u16,
    called: &str,
    groups: &[Vec<PathBuf>],
    tls: Option<&Certificates>,
) -> anyhow::Result<()> {
    let tls_args: Vec<&str> = tls.map_or(Vec::new(), |c| c.dcmtk_client().to_vec());
    let children: Vec<_> = groups
        .iter()
        .map(|files| {
            dcmtk_command("storescu")
                .args(&tls_args)
                .args(["-aec", called, "127.0.0.1"])
                .arg(port.to_string())
                .args(files)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for c in children {
        // storescu writes to stderr only what went wrong: a few lines.
        let out = c.wait_with_output().await?;
        anyhow::ensure!(
            out.status.success(),
            "storescu failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Waits until `dir` holds `n` files.
async fn wait_files(dir: &Path, n: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    while count_files(dir) < n {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(600),
            "only {} of {n} instances arrived in {}",
            count_files(dir),
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// The durable floor's writes for the files of `groups` (see
/// [`benches::durable_writes`]), in a folder of `root`.
async fn durable_writes(
    root: &Path,
    tag: &str,
    groups: &[Vec<PathBuf>],
) -> anyhow::Result<Duration> {
    let files: Vec<PathBuf> = groups.concat();
    benches::start_afresh(&files).await;
    benches::durable_writes(&root.join(format!("floor-{tag}")), &files).await
}

/// The durable floor (the slower of direct and the synced writes) and the
/// engine against it.
fn report_floor(direct: Duration, writes: Duration, through: Duration) {
    let floor = direct.max(writes);
    println!(
        "  durable floor {:>5.2} s (direct {:.2} s, writes with one fdatasync each {:.2} s): through at {:.2} of the floor's rate\n",
        floor.as_secs_f64(),
        direct.as_secs_f64(),
        writes.as_secs_f64(),
        floor.as_secs_f64() / through.as_secs_f64()
    );
}

/// Direct: `storescu` → `storescp`, from the same page cache as every run
/// ([`benches::start_afresh`]: nor does it wait behind the write-back of
/// what the runs before it wrote, which the engine's `fdatasync` would and
/// a `storescp` without it would not).
async fn direct_run(
    root: &Path,
    groups: &[Vec<PathBuf>],
    tls: Option<&Certificates>,
) -> anyhow::Result<Direct> {
    benches::start_afresh(&groups.concat()).await;
    let port = Port::reserve();
    let out = root.join(format!("direct-{port}"));
    let scp = storescp(port, &out, tls).await;
    let senders_before = benches::cpu_ticks("self").reaped;
    let start = Instant::now();
    send(scp.port(), "ARCHIVE", groups, tls).await?;
    let n: usize = groups.iter().map(Vec::len).sum();
    wait_files(&out, n).await?;
    let took = start.elapsed();
    // What the two peers spend, against the engine's CPU (which receives
    // like storescp and sends like storescu).
    let senders = benches::cpu_ticks("self").reaped - senders_before;
    let archive = scp.id().map_or(0, benches::tree_cpu_ticks);
    println!(
        "  (direct: storescu CPU {:.2} ms, storescp CPU {:.2} ms per instance)",
        senders as f64 * 10.0 / n as f64,
        archive as f64 * 10.0 / n as f64
    );
    Ok(Direct {
        took,
        cpu: Duration::from_millis((senders + archive) * 10),
    })
}

/// A direct run: how long it took, and the CPU time its peers spent.
struct Direct {
    took: Duration,
    cpu: Duration,
}

/// The least time the engine can take on this machine's cores, given the
/// CPU time the peers spent in the direct run and the least a relay
/// spends per instance (see [`benches::relay`]), measured now with the
/// same size of instances in a folder of `root`.
async fn cpu_bound(root: &Path, direct: &Direct, n: usize, bytes: usize) -> anyhow::Result<()> {
    // The least of three runs: a floor, and one run on a busy moment of a
    // shared machine can take several times as long.
    let mut relay = f64::INFINITY;
    for run in 0..3 {
        let dir = root.join(format!("relay-{n}-{run}"));
        std::fs::create_dir_all(&dir)?;
        let (cpu, _) = tokio::task::spawn_blocking(move || {
            benches::relay::run(&dir, bytes, n, Moving::Copy, Files::New)
        })
        .await??;
        relay = relay.min(cpu);
    }
    // Its files stay until the end, as every run's do: deleting them would
    // make the next runs' new files slower (see the cpu-floor program).
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let least = (direct.cpu.as_secs_f64() + relay) / cores as f64;
    println!(
        "  CPU bound: the peers spent {:.2} ms per instance and a bare relay (receive, write, fdatasync, send) {:.2} ms: on {cores} cores no engine takes less than {:.2} s (×{:.2} of direct; direct kept {:.1} cores busy)",
        direct.cpu.as_secs_f64() * 1000.0 / n as f64,
        relay * 1000.0 / n as f64,
        least,
        least / direct.took.as_secs_f64(),
        direct.cpu.as_secs_f64() / direct.took.as_secs_f64(),
    );
    Ok(())
}

/// Store and forward, with up to 4 associations to the archive; with a
/// `ROUTE` process between service and operation when `plugin` is given
/// (`-` for a pass-through process).
fn production(
    port: u16,
    archive_port: u16,
    plugin: Option<&Path>,
    cut_through_above: Option<u64>,
) -> Production {
    let mut service = DicomService::new("IN", port, "ROUTER").targets(["OUT"]);
    if let Some(bytes) = cut_through_above {
        service = service.cut_through_above(bytes);
    }
    let production = Production::store_and_forward(port, archive_port).dicom_operation(
        DicomOperation::new("OUT", archive_port, "ARCHIVE", "ROUTER").max_associations(4),
    );
    let route = match plugin {
        None => return production.dicom_service(service),
        Some(p) if p == Path::new("-") => Process::pass_through("ROUTE", ["OUT"]),
        Some(p) => Process::wasm(
            "ROUTE",
            p,
            r#"{ routes = { CT = ["OUT"] }, default = ["OUT"] }"#,
            ["OUT"],
        ),
    };
    production
        .dicom_service(DicomService::new("IN", port, "ROUTER").targets(["ROUTE"]))
        .process(route)
}

/// Through Orthanc: storescu → Orthanc, whose Lua sends each stored
/// instance on to the archive; timed as through the engine, from the start
/// of storescu until the archive has every instance.
async fn orthanc_run(root: &Path, groups: &[Vec<PathBuf>], tag: &str) -> anyhow::Result<Duration> {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let base = root.join(format!("orthanc-{tag}"));
    let out = base.join("archive");
    benches::start_afresh(&groups.concat()).await;
    let archive = archive_port.get();
    let _scp = storescp(archive_port, &out, None).await;
    let orthanc = Orthanc::start(&base, &port, Some(("ARCHIVE", archive))).await?;
    let start = Instant::now();
    send(port.get(), "ORTHANC", groups, None).await?;
    let n: usize = groups.iter().map(Vec::len).sum();
    wait_files(&out, n).await?;
    let took = start.elapsed();
    let rss = orthanc.pid().map_or(0, peak_rss_kib);
    println!(
        "  (Orthanc: {:.2} s, {:.1} images/s, peak RSS {:.1} MiB)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        rss as f64 / 1024.0
    );
    Ok(took)
}

/// A process's peak RSS (VmHWM) in KiB, 0 when unknown.
fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_field(pid, "VmHWM:").unwrap_or(0)
}

async fn through_run(
    root: &Path,
    groups: &[Vec<PathBuf>],
    tag: &str,
    plugin: Option<&Path>,
    tls: Option<&Certificates>,
    cut_through_above: Option<u64>,
    recycled: bool,
) -> anyhow::Result<(Duration, u64)> {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let base = root.join(format!("through-{tag}"));
    let productions = base.join("productions/bench");
    std::fs::create_dir_all(&productions)?;
    let cut_through_above = cut_through_above.or_else(|| CUT_THROUGH_ABOVE.get().copied());
    let write_production = |archive_port: u16| {
        let mut text = production(port.get(), archive_port, plugin, cut_through_above).to_string();
        if let Some(c) = tls {
            text.push_str(&c.service_tls("IN"));
            text.push_str(&c.operation_tls("OUT"));
        }
        std::fs::write(productions.join("forward.toml"), text)
    };
    // Retention purges every delivered body at each pass, the first at
    // start: a restart recycles the files of the warm-up run's bodies.
    let run_args: &[&str] = if recycled {
        &["--retention-size-mib", "0"]
    } else {
        &[]
    };
    if recycled {
        let warm_port = Port::reserve();
        write_production(warm_port.get())?;
        let warm_out = base.join("warm-up");
        let _scp = storescp(warm_port, &warm_out, tls).await;
        let engine = Engine::start_with(&base, &port, run_args).await?;
        send(port.get(), "ROUTER", groups, tls).await?;
        wait_files(&warm_out, groups.iter().map(Vec::len).sum()).await?;
        engine.stop().await?;
    }
    write_production(archive_port.get())?;
    let out = base.join("archive");
    benches::start_afresh(&groups.concat()).await;
    let _scp = storescp(archive_port, &out, tls).await;
    let engine = Engine::start_with(&base, &port, run_args).await?;
    let pid = engine.pid().context("the engine's pid")?;
    if recycled {
        let files = recycled_files(&base.join("data/bodies")).await;
        println!("  (through recycled files: {files} files of the warm-up run recycled at start)");
    }
    // What the engine spent starting (and, with `recycled`, on the
    // retention pass that recycled files) is not the workload's.
    let cpu_before = benches::cpu_ticks(&pid.to_string()).own;
    let start = Instant::now();
    send(port.get(), "ROUTER", groups, tls).await?;
    let acked = start.elapsed();
    let n: usize = groups.iter().map(Vec::len).sum();
    wait_files(&out, n).await?;
    let took = start.elapsed();
    println!(
        "  (through: every instance acknowledged after {:.2} s, {:.1} images/s)",
        acked.as_secs_f64(),
        n as f64 / acked.as_secs_f64()
    );
    let rss = peak_rss_kib(pid);
    let cpu_ticks = benches::cpu_ticks(&pid.to_string()).own - cpu_before;
    println!(
        "  (engine CPU {:.2} s, {:.2} ms per instance)",
        cpu_ticks as f64 / 100.0,
        cpu_ticks as f64 * 10.0 / n as f64
    );
    if std::env::var_os("BENCH_THREADS").is_some() {
        println!("  (engine CPU by thread: {})", thread_cpu(pid));
        println!(
            "  (engine context switches per instance, of threads still running: {:.1})",
            context_switches(pid) as f64 / n as f64
        );
    }
    engine.stop().await?;
    Ok((took, rss))
}

/// How many recycled body files are in `bodies` once their number stops
/// growing (the retention pass at start recycles them).
async fn recycled_files(bodies: &Path) -> usize {
    let count = || {
        std::fs::read_dir(bodies)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("-r"))
            .count()
    };
    let mut last = count();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = count();
        if now == last && now > 0 {
            return now;
        }
        last = now;
    }
}

/// Voluntary and involuntary context switches of the engine's threads.
fn context_switches(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| task.file_name().to_str()?.parse::<u32>().ok())
        .flat_map(|tid| {
            ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"]
                .map(|field| proc_status_field(tid, field).unwrap_or(0))
        })
        .sum()
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
