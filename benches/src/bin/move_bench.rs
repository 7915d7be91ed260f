//! C-MOVE through Switchboard vs asked directly, in the same run: DCMTK's
//! `dcmqrscp` holds one study of INSTANCES CT instances (KIB KiB each,
//! 512 by default);
//! `movescu` moves it to a `storescp` either directly (dcmqrscp stores to
//! it) or through the engine (dcmqrscp stores to the engine, which takes
//! each instance in durably and forwards it; the final response comes once
//! every instance reached the destination). Rounds alternate the two, from
//! the same page-cache state (the same files, read by dcmqrscp each time);
//! the destination's folder is emptied between moves. Prints each round's
//! wall time and the ratio direct / through (1.0: as fast as direct).
//!
//! Each round also times the durable floor's writes: the study's files
//! written to new files with one `fdatasync` each, on the engine's file
//! system. dcmqrscp sends its sub-operations one at a time, each after the
//! answer to the one before, and the engine may answer only once an
//! instance is durable: so the write and sync of each instance adds to its
//! transfer instead of overlapping it, and the fastest a durable move
//! through any engine can be is direct + writes (the serial floor). The
//! engine's time is reported against that floor too.
//!
//! Usage (release build, with the engine built in the same profile):
//! `cargo build --release -p switchboard-engine -p benches &&
//!  target/release/move-bench [INSTANCES] [ROUNDS] [KIB]`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use integration_tests::dcmtk::{Archive, dcmqrscp, dcmtk_command, storescu};
use integration_tests::engine_process::proc_status_field;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomService, Production};
use integration_tests::uids::{EXPLICIT, IMPLICIT};

const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let instances: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let rounds: usize = args.get(2).map(|a| a.parse()).transpose()?.unwrap_or(3);
    let kib: usize = args.get(3).map(|a| a.parse()).transpose()?.unwrap_or(512);
    benches::check_tools();
    let (port, qr_port, dest_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let (qr, dest) = (qr_port.get(), dest_port.get());
    let models = [STUDY_ROOT_MOVE];
    let syntaxes = [EXPLICIT, IMPLICIT];
    let text = format!(
        "{}
[[ae_directory]]
ae_title = \"QRSCP\"
host = \"127.0.0.1\"
port = {qr}

[[ae_directory]]
ae_title = \"STORESCP\"
host = \"127.0.0.1\"
port = {dest}

[operations.PACS]
type = \"dicom-query\"
remote_ae_title = \"QRSCP\"
local_ae_title = \"ROUTER\"
",
        Production::new()
            .association(Association::new("BENCH", "ROUTER", &models, &syntaxes))
            .association(Association::new("ROUTER", "QRSCP", &models, &syntaxes))
            .association(Association::storage("QRSCP", "ROUTER"))
            .association(Association::storage("ROUTER", "STORESCP"))
            .dicom_service(DicomService::new("IN", port.get(), "ROUTER").targets(["PACS"]))
    );
    let root = tempfile::tempdir()?;
    let base = root.path().join("engine");
    let productions = base.join("productions/bench");
    std::fs::create_dir_all(&productions)?;
    std::fs::write(productions.join("move.toml"), text)?;
    let engine = benches::Engine::start(&base, &port).await?;
    let folder = |name: &str| -> anyhow::Result<PathBuf> {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    };
    let destination_dir = folder("destination")?;
    // One process per association: the engine keeps its association to
    // the destination open a second after a move, which would hold a
    // single-association storescp from the next direct move.
    let _destination =
        Archive::start_with("STORESCP", dest_port, &destination_dir, &["+B", "--fork"]).await;
    let _dcmqrscp = dcmqrscp(
        &folder("qr")?,
        "QRSCP",
        qr_port,
        &[("STORESCP", dest), ("ROUTER", port.get())],
    )
    .await;
    let study = write_instances(
        &folder("input")?,
        "ct",
        Modality::Ct,
        EXPLICIT,
        instances,
        kib * 1024,
    );
    let files: Vec<PathBuf> = study.iter().map(|(p, _)| p.clone()).collect();
    ensure!(
        storescu("QRSCP", qr, &files, &[]).await.acknowledged() == instances,
        "could not fill dcmqrscp"
    );
    let series = study[0].1.rsplit_once('.').context("a UID")?.0.to_string();
    let study_uid = format!("{series}.9");

    println!("# C-MOVE of one study of {instances} CT instances ({kib} KiB), dcmqrscp → storescp");
    println!("# round  direct      through the engine  direct/through  writes     floor/through");
    let (mut ratios, mut of_floor) = (Vec::new(), Vec::new());
    // One warm-up of each, not counted.
    for round in 0..=rounds {
        benches::settle().await;
        let direct = timed_move(("QRSCP", qr), &study_uid, instances, &destination_dir).await?;
        let through = timed_move(
            ("ROUTER", port.get()),
            &study_uid,
            instances,
            &destination_dir,
        )
        .await?;
        if round == 0 {
            continue;
        }
        let floor_dir = root.path().join(format!("floor-{round}"));
        let writes = benches::durable_writes(&floor_dir, &files).await?;
        std::fs::remove_dir_all(&floor_dir)?;
        let ratio = direct.as_secs_f64() / through.as_secs_f64();
        let floor = (direct + writes).as_secs_f64() / through.as_secs_f64();
        ratios.push(ratio);
        of_floor.push(floor);
        println!(
            "  {round:>5}  {direct:>9.2?}  {through:>18.2?}  {ratio:>14.2}  {writes:>9.2?}  {floor:>13.2}"
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("# median direct/through: {:.2}", median(&mut ratios));
    println!(
        "# median serial floor (direct + writes)/through: {:.2}",
        median(&mut of_floor)
    );
    let rss = engine
        .pid()
        .and_then(|pid| proc_status_field(pid, "VmHWM:"))
        .unwrap_or(0);
    println!("# engine peak RSS: {:.1} MiB", rss as f64 / 1024.0);
    Ok(())
}

/// Moves the study to STORESCP by asking `called` on `port`; the time until
/// the final response, after checking that every instance arrived (then
/// removed for the next move).
async fn timed_move(
    (called, port): (&str, u16),
    study_uid: &str,
    instances: usize,
    destination: &std::path::Path,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = dcmtk_command("movescu")
        .args(["-S", "-aet", "BENCH", "-aec", called, "-aem", "STORESCP"])
        .args(["-k", "QueryRetrieveLevel=STUDY"])
        .args(["-k", &format!("StudyInstanceUID={study_uid}")])
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .await?;
    let took = started.elapsed();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "movescu via {called}: {text}");
    // storescp --fork writes in its children: give the last one a moment.
    let mut arrived: Vec<_> = Vec::new();
    for _ in 0..50 {
        arrived = std::fs::read_dir(destination)?.flatten().collect();
        if arrived.len() == instances {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(
        arrived.len() == instances,
        "{} of {instances} instances arrived via {called}: {}",
        arrived.len(),
        text.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    for file in arrived {
        std::fs::remove_file(file.path())?;
    }
    Ok(took)
}
