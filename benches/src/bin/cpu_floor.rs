//! The least CPU time a durable store-and-forward spends per instance (see
//! [`benches::relay`]), moving the bytes five ways, each with a new file per
//! instance, with one file overwritten in place, with a file each that was
//! written before and is no longer cached (what a recycled body file is),
//! one after the other into a large file written before and no longer
//! cached (a segment of bodies overwritten in place), and one after the
//! other into one new file (a segment of bodies appended to):
//! - `copy`: `recv`, `pwrite`, `pread`, `send`: four copies of every byte;
//! - `kept`: the same, but sent from the buffer it was received into, not
//!   read back from the file: three copies;
//! - `splice`: socket → pipe → file, file → socket: one copy;
//! - `splice-in`: socket → pipe → file, then `pread`, `send`: what splicing
//!   the receive alone saves against `copy`;
//! - `direct`: as `kept`, written with `O_DIRECT`: two copies, no page cache.
//!
//! Every way but `direct` starts the write-out of each piece as it is
//! written, as the engine's spool does for a lone sender.
//!
//! Usage (release build; DIR on the engine's file system, a temporary
//! folder under the current one by default):
//! `target/release/cpu-floor [--kib 512] [--count 1000] [--dir DIR]`

use std::path::PathBuf;

use benches::relay::{Files, Moving, run};

#[derive(clap::Parser)]
struct Options {
    /// Size of each instance.
    #[arg(long, default_value_t = 512)]
    kib: usize,
    /// Instances relayed in each run.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Where to write.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let o = <Options as clap::Parser>::parse();
    let base = match &o.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir_in(".")?,
    };
    println!(
        "{} × {} KiB relayed by one thread (receive, write, fdatasync, answer, send); its CPU per instance:",
        o.count, o.kib
    );
    // Each run in a folder of its own, all removed at the end: on ext4
    // without a journal, a file created within a minute of many deletions
    // in the same block group costs a scan past every recently deleted
    // inode (`recently_deleted` in fs/ext4/ialloc.c), so removing one run's
    // files would charge the next run for them.
    for (n, moving) in [
        Moving::Copy,
        Moving::Kept,
        Moving::Splice,
        Moving::SpliceIn,
        Moving::Direct,
    ]
    .into_iter()
    .enumerate()
    {
        for (m, files) in [
            Files::New,
            Files::Overwritten,
            Files::Recycled,
            Files::Segment,
            Files::Appended,
        ]
        .into_iter()
        .enumerate()
        {
            let dir = base.path().join(format!("run-{n}-{m}"));
            std::fs::create_dir_all(&dir)?;
            start_afresh();
            let (cpu, wall) = run(&dir, o.kib * 1024, o.count, moving, files)?;
            println!(
                "  {:<9} {:<24} {:.3} ms CPU ({:.3} ms wall)",
                match moving {
                    Moving::Copy => "copy",
                    Moving::Kept => "kept",
                    Moving::Splice => "splice",
                    Moving::SpliceIn => "splice-in",
                    Moving::Direct => "direct",
                },
                match files {
                    Files::New => "a new file each",
                    Files::Overwritten => "one file overwritten",
                    Files::Recycled => "recycled files",
                    Files::Segment => "one segment written on",
                    Files::Appended => "one segment appended to",
                },
                cpu * 1000.0 / o.count as f64,
                wall * 1000.0 / o.count as f64,
            );
        }
    }
    Ok(())
}

/// Every run from the same page cache, as `forward-bench`'s: dirty pages
/// written, then (as root) the clean ones dropped, so that no run pays for
/// the page cache's growth into memory the host must back again (see
/// BENCHMARKS.md) because of what the runs before it wrote.
fn start_afresh() {
    std::process::Command::new("sync").status().ok();
    benches::refill_page_cache(&[]);
}
