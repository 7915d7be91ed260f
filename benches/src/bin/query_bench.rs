//! C-FIND relayed by Switchboard vs asked directly, in the same run, with
//! the same client (our SCU library): a fresh association per query
//! (connect, A-ASSOCIATE, C-FIND, every response, A-RELEASE), to DCMTK's
//! `dcmqrscp` holding a few studies (p50/p99 per query, and what the relay
//! adds, opening an association upstream per query and with `keep_open`),
//! then one Modality Worklist query to `wlmscpfs` with MATCHES items
//! (when the first match arrives vs the final response, and how much the
//! engine's peak RSS grew).
//!
//! Usage (release build, with the engine built in the same profile):
//! `cargo build --release -p switchboard-engine -p benches &&
//!  target/release/query-bench [QUERIES] [MATCHES]`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use integration_tests::dcmtk::{dcmtk_command, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::peer::Peer;
use integration_tests::production::{Association, DicomService, Production};
use integration_tests::uids::{EXPLICIT, IMPLICIT};
use switchboard::dimse::scu::{ScuOptions, connect};
use switchboard::dimse::{Priority, Status};

const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
const MWL_FIND: &str = "1.2.840.10008.5.1.4.31";

/// QueryRetrieveLevel = STUDY, PatientName and StudyInstanceUID asked,
/// implicit VR little endian.
const STUDY_QUERY: &[u8] = &[
    0x08, 0, 0x52, 0, 6, 0, 0, 0, b'S', b'T', b'U', b'D', b'Y', b' ', 0x10, 0, 0x10, 0, 0, 0, 0, 0,
    0x20, 0, 0x0D, 0, 0, 0, 0, 0,
];

/// PatientName and AccessionNumber asked, implicit VR little endian.
const WORKLIST_QUERY: &[u8] = &[0x08, 0, 0x50, 0, 0, 0, 0, 0, 0x10, 0, 0x10, 0, 0, 0, 0, 0];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let queries: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(200);
    let matches: usize = args
        .get(2)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let (port, qr_port, mwl_port) = (Port::reserve(), Port::reserve(), Port::reserve());
    let kept_port = Port::reserve();
    let (qr, mwl) = (qr_port.get(), mwl_port.get());
    let models = [STUDY_ROOT_FIND, MWL_FIND];
    let text = format!(
        "{}
[[ae_directory]]
ae_title = \"QRSCP\"
host = \"127.0.0.1\"
port = {qr}

[[ae_directory]]
ae_title = \"MWL-SCP\"
host = \"127.0.0.1\"
port = {mwl}

[operations.PACS]
type = \"dicom-query\"
remote_ae_title = \"QRSCP\"
local_ae_title = \"ROUTER\"

[operations.PACS-KEPT]
type = \"dicom-query\"
remote_ae_title = \"QRSCP\"
local_ae_title = \"ROUTER\"
keep_open = \"60s\"

[operations.MWL]
type = \"dicom-query\"
remote_ae_title = \"MWL-SCP\"
local_ae_title = \"ROUTER-MWL\"
",
        Production::new()
            .association(Association::new("BENCH", "ROUTER", &models, &[IMPLICIT]))
            .association(Association::new(
                "BENCH",
                "ROUTER-MWL",
                &models,
                &[IMPLICIT]
            ))
            .association(Association::new("ROUTER", "QRSCP", &models, &[IMPLICIT]))
            .association(Association::new(
                "ROUTER-MWL",
                "MWL-SCP",
                &models,
                &[IMPLICIT]
            ))
            .association(Association::new(
                "BENCH",
                "ROUTER-KEPT",
                &models,
                &[IMPLICIT]
            ))
            .dicom_service(DicomService::new("QR", port.get(), "ROUTER").targets(["PACS"]))
            .dicom_service(
                DicomService::new("QR-KEPT", kept_port.get(), "ROUTER-KEPT").targets(["PACS-KEPT"])
            )
            .dicom_service(
                DicomService::new("WL", Port::reserve().get(), "ROUTER-MWL").targets(["MWL"])
            )
    );
    let engine = TestEngine::start(&[("bench", "query", &text)]).await;
    let root = engine.folder("qr");
    let dcmqrscp = start_dcmqrscp(&root, qr_port).await?;
    let input = engine.folder("input");
    let files: Vec<PathBuf> = (0..6)
        .flat_map(|i| write_instances(&input, &format!("s{i}"), Modality::Ct, EXPLICIT, 1, 64))
        .map(|(p, _)| p)
        .collect();
    ensure!(
        storescu("QRSCP", qr, &files, &[]).await.ok,
        "could not fill dcmqrscp"
    );

    println!("# C-FIND, fresh association per query; client: Switchboard SCU in one process");
    println!("# {queries} STUDY-level queries to dcmqrscp holding 6 studies");
    for _ in 0..20 {
        query_once("BENCH", "QRSCP", qr, STUDY_ROOT_FIND, STUDY_QUERY).await?;
        query_once("BENCH", "ROUTER", port.get(), STUDY_ROOT_FIND, STUDY_QUERY).await?;
        query_once(
            "BENCH",
            "ROUTER-KEPT",
            kept_port.get(),
            STUDY_ROOT_FIND,
            STUDY_QUERY,
        )
        .await?;
    }
    let (mut direct, mut relayed, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..queries {
        kept.push(
            query_once(
                "BENCH",
                "ROUTER-KEPT",
                kept_port.get(),
                STUDY_ROOT_FIND,
                STUDY_QUERY,
            )
            .await?
            .total,
        );
        direct.push(
            query_once("ROUTER", "QRSCP", qr, STUDY_ROOT_FIND, STUDY_QUERY)
                .await?
                .total,
        );
        relayed.push(
            query_once("BENCH", "ROUTER", port.get(), STUDY_ROOT_FIND, STUDY_QUERY)
                .await?
                .total,
        );
    }
    let (d50, d99) = percentiles(&mut direct);
    let (r50, r99) = percentiles(&mut relayed);
    let (k50, k99) = percentiles(&mut kept);
    println!("  direct    p50 {d50:>8.2?}  p99 {d99:>8.2?}");
    println!(
        "  relayed   p50 {r50:>8.2?}  p99 {r99:>8.2?}   adds {:.2?} at p50 (an association upstream per query)",
        r50.saturating_sub(d50)
    );
    println!(
        "  relayed   p50 {k50:>8.2?}  p99 {k99:>8.2?}   adds {:.2?} at p50 (keep_open: the upstream association reused)",
        k50.saturating_sub(d50)
    );
    drop(dcmqrscp);

    let folder = worklist(&engine.folder("mwl"), matches).await?;
    let mut command = dcmtk_command("wlmscpfs");
    command
        .args(["-dfr", "-dfp"])
        .arg(&folder)
        .arg(mwl.to_string());
    let _wlmscpfs = Peer::start("wlmscpfs", command, mwl_port).await;
    let wl_service = service_port(&engine).await?;
    let before = engine.peak_memory_mib();
    let run = query_once("BENCH", "ROUTER-MWL", wl_service, MWL_FIND, WORKLIST_QUERY).await?;
    let after = engine.peak_memory_mib();
    ensure!(
        run.matches == matches,
        "{} matches relayed, {matches} expected",
        run.matches
    );
    println!("# one worklist query, {matches} matches relayed from wlmscpfs");
    println!(
        "  first match after {:.2?}, final response after {:.2?}; engine peak RSS {before} → {after} MiB",
        run.first.unwrap_or_default(),
        run.total
    );
    Ok(())
}

/// The port the `WL` service listens on (`status --json`).
async fn service_port(engine: &TestEngine) -> anyhow::Result<u16> {
    let text = std::fs::read_to_string(engine.productions_dir().join("bench/query.toml"))?;
    let after = text
        .split("[services.WL]")
        .nth(1)
        .context("the WL service")?;
    let port = after
        .lines()
        .find_map(|l| l.strip_prefix("port = "))
        .context("the WL port")?;
    Ok(port.trim().parse()?)
}

struct Run {
    first: Option<Duration>,
    total: Duration,
    matches: usize,
}

/// One query on a fresh association: when the first match came, when the
/// final response came, how many matches.
async fn query_once(
    calling: &str,
    called: &str,
    port: u16,
    model: &str,
    identifier: &[u8],
) -> anyhow::Result<Run> {
    let started = Instant::now();
    let options = ScuOptions::new(calling, called).with_context(model, &[IMPLICIT]);
    let mut assoc = connect(&format!("127.0.0.1:{port}"), &options).await?;
    let id = assoc
        .find(model, IMPLICIT, Priority::Medium, identifier)
        .await?;
    let (mut first, mut matches) = (None, 0);
    loop {
        let rsp = assoc.find_response(id).await?;
        if rsp.identifier.is_some() {
            matches += 1;
            first.get_or_insert_with(|| started.elapsed());
            continue;
        }
        ensure!(rsp.status == Status::SUCCESS, "final status {}", rsp.status);
        break;
    }
    let total = started.elapsed();
    assoc.release().await?;
    Ok(Run {
        first,
        total,
        matches,
    })
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

async fn start_dcmqrscp(root: &Path, port: Port) -> anyhow::Result<Peer> {
    let db = root.join("db/QRSCP");
    std::fs::create_dir_all(&db)?;
    let config = root.join("dcmqrscp.cfg");
    std::fs::write(
        &config,
        format!(
            "NetworkTCPPort = {}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\
             HostTable BEGIN\nHostTable END\nVendorTable BEGIN\nVendorTable END\n\
             AETable BEGIN\nQRSCP {} RW (100, 1024mb) ANY\nAETable END\n",
            port.get(),
            db.display()
        ),
    )?;
    let mut command = dcmtk_command("dcmqrscp");
    command.arg("-c").arg(&config).current_dir(root);
    Ok(Peer::start("dcmqrscp", command, port).await)
}

/// A wlmscpfs folder (`MWL-SCP/`) with `count` copies of one item.
async fn worklist(root: &Path, count: usize) -> anyhow::Result<PathBuf> {
    let folder = root.join("wl");
    let scp = folder.join("MWL-SCP");
    std::fs::create_dir_all(&scp)?;
    std::fs::write(scp.join("lockfile"), "")?;
    let dump = root.join("item.dump");
    std::fs::write(
        &dump,
        "(0008,0050) SH [ACC001]\n(0010,0010) PN [DOE^JANE]\n(0010,0020) LO [P1]\n\
         (0020,000d) UI [1.2.826.0.1.3680043.8.498.1]\n(0040,0100) SQ\n(fffe,e000) -\n\
         (0008,0060) CS [MR]\n(0040,0001) AE [MODALITY1]\n(0040,0002) DA [20261206]\n\
         (0040,0009) SH [SPS1]\n(fffe,e00d) -\n(fffe,e0dd) -\n(0040,1001) SH [RP1]\n",
    )?;
    let first = scp.join("item-0.wl");
    let out = dcmtk_command("dump2dcm")
        .arg(&dump)
        .arg(&first)
        .output()
        .await?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 1..count {
        std::fs::copy(&first, scp.join(format!("item-{i}.wl")))?;
    }
    Ok(folder)
}
