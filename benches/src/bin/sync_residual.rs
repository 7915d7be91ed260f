//! What a durable acknowledgement must wait for after an instance's last
//! byte: instances written the way the engine spools them (fragments as
//! they arrive, each one's write-out to disk started at once), at the pace
//! a network delivers them, then `fdatasync`; the time of that sync is the
//! least any engine that answers only once an instance is durable adds to
//! every instance of a sender that waits for each answer before sending
//! the next (storescu, or dcmqrscp performing a C-MOVE).
//!
//! Usage (release build; DIR on the engine's file system, a temporary
//! folder under the current one by default):
//! `target/release/sync-residual [--kib 512] [--mb-per-s 650] [--count 300] [--dir DIR]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard::store::spool::SpoolWriter;

#[derive(clap::Parser)]
struct Options {
    /// Size of each instance.
    #[arg(long, default_value_t = 512)]
    kib: usize,
    /// How fast the instance arrives (0: as fast as it can be written).
    #[arg(long, default_value_t = 650.0)]
    mb_per_s: f64,
    /// Instances written.
    #[arg(long, default_value_t = 300)]
    count: usize,
    /// Where to write.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// The fragment size: a 64 KiB PDU's worth.
const FRAGMENT: usize = 64 * 1024;

fn main() -> anyhow::Result<()> {
    let o = <Options as clap::Parser>::parse();
    let base = match &o.dir {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir_in(".")?,
    };
    let fragment: Vec<u8> = (0..FRAGMENT).map(|n| (n * 7) as u8).collect();
    let pace = if o.mb_per_s > 0.0 {
        Duration::from_secs_f64(FRAGMENT as f64 / (o.mb_per_s * 1e6))
    } else {
        Duration::ZERO
    };
    let mut syncs = Vec::with_capacity(o.count);
    let mut wholes = Vec::with_capacity(o.count);
    for n in 0..o.count {
        let file = std::fs::File::create(base.path().join(format!("{n}.part")))?;
        let mut writer = SpoolWriter::new(file);
        let start = Instant::now();
        for k in 0..(o.kib * 1024).div_ceil(FRAGMENT) {
            writer.write(&fragment)?;
            // The next fragment arrives at the network's pace.
            let due = start + pace * u32::try_from(k + 1)?;
            while Instant::now() < due {
                std::hint::spin_loop();
            }
        }
        let file = writer.finish().complete()?;
        let last_byte = Instant::now();
        file.sync_data()?;
        syncs.push(last_byte.elapsed());
        wholes.push(start.elapsed());
    }
    syncs.sort();
    wholes.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    println!(
        "{} × {} KiB arriving at {} MB/s in {} KiB fragments: fdatasync after the last byte median {:.3} ms, p90 {:.3} ms; whole instance median {:.3} ms",
        o.count,
        o.kib,
        o.mb_per_s,
        FRAGMENT / 1024,
        ms(at(&syncs, 0.5)),
        ms(at(&syncs, 0.9)),
        ms(at(&wholes, 0.5)),
    );
    Ok(())
}
