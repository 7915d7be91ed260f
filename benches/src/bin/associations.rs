//! Association benchmarks, in milliseconds:
//!
//! - import of a 5,000-line file (1,000 SOP classes × 5 transfer syntaxes),
//! - `show` of a `create`d association with three transfer syntaxes,
//! - opening the store (holding those two associations).
//!
//! Each is measured in-process through the library (parse + execute + render,
//! what the command does after start-up) and, when the `switchboard` binary
//! sits next to this one, end to end as a user runs it (process start
//! included). Run with
//! `cargo build --release -p switchboard-engine -p benches && target/release/associations [ROUNDS]`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use switchboard::admin::{Request, Response, execute};
use switchboard::association::{AeTitle, Uid, import};
use switchboard::cli::association::render_show;
use switchboard::ids::NamespaceId;
use switchboard::store::Store;

const TRANSFER_SYNTAXES: [&str; 5] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.90",
];

fn main() -> anyhow::Result<()> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("ROUNDS must be a number")?,
        None => 20,
    };
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("data");
    let file = dir.path().join("five-thousand.txt");
    std::fs::write(&file, five_thousand_lines())?;
    let ns = NamespaceId::default();
    let ae = |s: &str| AeTitle::new(s).context("AE title");
    let three_ts: Vec<Uid> = TRANSFER_SYNTAXES[..3]
        .iter()
        .map(|t| Uid::new(t))
        .collect::<Result<_, _>>()?;

    println!("{rounds} rounds each; median (min–max) in ms\n");

    // In-process: the work each command does once the process runs.
    {
        let store = Store::open(&data_dir)?;
        let bytes = std::fs::read(&file)?;
        report(
            "import 5,000 lines (library: parse + store)",
            rounds,
            || {
                let contexts =
                    import::parse_file("five-thousand.txt", &bytes)?.presentation_contexts;
                anyhow::ensure!(contexts.len() == 1000, "expected 1000 contexts");
                execute(
                    &store,
                    &ns,
                    Request::Import {
                        calling_aet: ae("BENCH-SCU")?,
                        called_aet: ae("BENCH-SCP")?,
                        presentation_contexts: contexts,
                        overwrite: true,
                        certificates: Vec::new(),
                    },
                )?;
                Ok(())
            },
        )?;
        execute(
            &store,
            &ns,
            Request::Create {
                calling_aet: ae("JD-SCU")?,
                called_aet: ae("ENS-SCP")?,
                transfer_syntaxes: three_ts.clone(),
                overwrite: true,
            },
        )?;
        report("show created, 3 TS (library: get + render)", rounds, || {
            let Response::Association { association } = execute(
                &store,
                &ns,
                Request::Show {
                    calling_aet: ae("JD-SCU")?,
                    called_aet: ae("ENS-SCP")?,
                },
            )?
            else {
                bail!("unexpected answer to show");
            };
            anyhow::ensure!(!render_show(&association).is_empty());
            Ok(())
        })?;
    }
    report("open the store (library)", rounds, || {
        let store = Store::open(&data_dir)?;
        drop(store);
        Ok(())
    })?;

    // End to end, as a user types it.
    let Some(bin) = switchboard_bin() else {
        println!("\n(no switchboard binary next to this one: end-to-end runs skipped)");
        return Ok(());
    };
    println!("\nend to end with {}", bin.display());
    let file_arg = file.to_string_lossy().into_owned();
    let data_arg = data_dir.to_string_lossy().into_owned();
    report(
        "switchboard association import (5,000 lines)",
        rounds,
        || {
            run(
                &bin,
                &[
                    "--data-dir",
                    &data_arg,
                    "association",
                    "import",
                    &file_arg,
                    "--calling",
                    "BENCH-SCU",
                    "--called",
                    "BENCH-SCP",
                    "--overwrite",
                ],
            )
        },
    )?;
    report(
        "switchboard association show (created, 3 TS)",
        rounds,
        || {
            run(
                &bin,
                &[
                    "--data-dir",
                    &data_arg,
                    "association",
                    "show",
                    "--calling",
                    "JD-SCU",
                    "--called",
                    "ENS-SCP",
                ],
            )
        },
    )?;
    report(
        "switchboard association list (store open + 2 rows)",
        rounds,
        || run(&bin, &["--data-dir", &data_arg, "association", "list"]),
    )?;
    report("switchboard --version (process start only)", rounds, || {
        run(&bin, &["--version"])
    })?;
    Ok(())
}

/// 1,000 SOP classes with five transfer syntax lines each.
fn five_thousand_lines() -> String {
    let mut out = String::with_capacity(5000 * 40);
    for sop in 0..1000 {
        for ts in TRANSFER_SYNTAXES {
            out.push_str(&format!("1.2.826.0.1.3680043.9999.{}\\{ts}\n", sop + 1));
        }
    }
    out
}

fn switchboard_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.join("switchboard");
    bin.is_file().then_some(bin)
}

fn run(bin: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(bin).args(args).output()?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn report(
    label: &str,
    rounds: usize,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    f()?; // warm-up
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<52} {:>8.2}  ({:.2}–{:.2})",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
    Ok(())
}
