//! DCMTK as a peer: `storescp` as an archive, `dcmqrscp` as a
//! query/retrieve archive, and `storescu` and `echoscu` runs read back.
//!
//! Every tool runs by absolute path (pynetdicom's console scripts shadow the
//! same names on PATH) with `TCP_NODELAY=1` (DCMTK 3.6.7 leaves Nagle's
//! algorithm on otherwise, which costs 40 ms per round trip).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::engine_process::TestEngine;
use crate::net::Port;
use crate::peer::Peer;

/// A DCMTK tool by absolute path.
///
/// # Panics
/// When DCMTK is not installed, with how to install it.
pub fn dcmtk(tool: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(tool);
    assert!(
        path.is_file(),
        "{} is missing: install DCMTK (`sudo apt-get install dcmtk`) or run scripts/test as root",
        path.display()
    );
    path
}

/// A DCMTK command with Nagle's algorithm off, killed when dropped.
pub fn dcmtk_command(tool: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(dcmtk(tool));
    command.env("TCP_NODELAY", "1").kill_on_drop(true);
    command
}

/// Writes `dump` (dcmdump's text form, raw bytes allowed) beside `out` and
/// turns it into the DICOM file `out` with `dump2dcm` and its `options`.
///
/// # Panics
/// When `dump2dcm` fails, with what it said.
pub async fn dump2dcm(dump: &[u8], out: &Path, options: &[&str]) {
    let dump_path = out.with_extension("dump");
    std::fs::write(&dump_path, dump).expect("write the dump");
    let ran = dcmtk_command("dump2dcm")
        .args(options)
        .arg(&dump_path)
        .arg(out)
        .output()
        .await
        .expect("run dump2dcm");
    assert!(
        ran.status.success(),
        "dump2dcm {}: {}",
        dump_path.display(),
        String::from_utf8_lossy(&ran.stderr)
    );
}

/// What a DCMTK client printed (stdout and stderr) and whether it exited 0.
#[derive(Debug, Clone)]
pub struct Ran {
    /// Whether it exited 0.
    pub ok: bool,
    /// Its stdout, then its stderr.
    pub output: String,
}

impl Ran {
    /// How many C-STORE-RSP with status Success storescu reported.
    pub fn acknowledged(&self) -> usize {
        self.output
            .matches("Received Store Response (Success)")
            .count()
    }
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exit = if self.ok { "0" } else { "non-zero" };
        write!(f, "[exit {exit}]\n{}", self.output)
    }
}

async fn run(mut command: tokio::process::Command) -> Ran {
    let out = command.output().await.expect("run a DCMTK tool");
    Ran {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// `storescu -v -aec CALLED EXTRA… 127.0.0.1 PORT FILES…` (calling AE title
/// `STORESCU`, DCMTK's default, unless `extra` sets `-aet`).
pub async fn storescu(called: &str, port: u16, files: &[PathBuf], extra: &[&str]) -> Ran {
    let mut command = dcmtk_command("storescu");
    command
        .args(["-v", "-aec", called])
        .args(extra)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .args(files);
    run(command).await
}

/// `echoscu -v -aet CALLING -aec CALLED EXTRA… 127.0.0.1 PORT`.
pub async fn echoscu(calling: &str, called: &str, port: u16, extra: &[&str]) -> Ran {
    let mut command = dcmtk_command("echoscu");
    command
        .args(["-v", "-aet", calling, "-aec", called])
        .args(extra)
        .arg("127.0.0.1")
        .arg(port.to_string());
    run(command).await
}

/// The files a DCMTK tool (storescp, getscu) wrote in `dir`, named
/// `<modality>.<SOP instance UID>`, by SOP instance UID.
pub fn files_by_uid(dir: &Path) -> BTreeMap<String, PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let uid = name.split_once('.')?.1.to_string();
                    Some((uid, e.path()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// DCMTK storescp as an archive: it files what it receives in a folder as
/// `<modality>.<SOP instance UID>`.
#[derive(Debug)]
pub struct Archive {
    peer: Peer,
    dir: PathBuf,
}

impl Archive {
    /// Starts storescp as `ae_title` on `port`, writing into `dir` bit for
    /// bit what it receives (`+B`), and waits until it listens.
    pub async fn start(ae_title: &str, port: Port, dir: &Path) -> Self {
        Self::start_with(ae_title, port, dir, &["+B"]).await
    }

    /// [`Archive::start`] with these storescp options instead of `+B`
    /// (e.g. `--fork`, one process per association).
    ///
    /// # Panics
    /// When storescp cannot be started or does not listen.
    pub async fn start_with(ae_title: &str, port: Port, dir: &Path, options: &[&str]) -> Self {
        std::fs::create_dir_all(dir).expect("the archive's folder");
        let mut command = dcmtk_command("storescp");
        command
            .args(["-aet", ae_title])
            .args(options)
            .arg("-od")
            .arg(dir)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Self {
            peer: Peer::start("storescp", command, port).await,
            dir: dir.to_path_buf(),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.peer.port()
    }

    /// Its process id.
    pub fn id(&self) -> Option<u32> {
        self.peer.id()
    }

    /// The files received so far, by SOP instance UID.
    pub fn received(&self) -> BTreeMap<String, PathBuf> {
        files_by_uid(&self.dir)
    }

    /// Asserts that every `(file, UID)` sent arrived here with its data set
    /// unchanged.
    ///
    /// # Panics
    /// Naming the first instance missing or changed.
    pub fn assert_identical(&self, sent: &[(PathBuf, String)]) {
        let got = self.received();
        for (path, uid) in sent {
            let arrived = got
                .get(uid)
                .unwrap_or_else(|| panic!("{uid} did not arrive"));
            assert!(
                crate::instances::data_set_bytes(path) == crate::instances::data_set_bytes(arrived),
                "the data set of {uid} changed on the way"
            );
        }
    }

    /// Kills it and hands back its port, still reserved, for a successor.
    pub async fn stop(self) -> Port {
        self.peer.stop().await
    }

    /// Waits until every UID has arrived and the engine has every delivery
    /// of `namespace` acknowledged. A file appears as soon as storescp
    /// starts writing it; it is whole only once storescp has answered,
    /// which is when the engine marks the delivery done.
    ///
    /// # Panics
    /// After two minutes, with the engine's log.
    pub async fn wait_for(&self, uids: &[String], engine: &TestEngine, namespace: &str) {
        let start = Instant::now();
        loop {
            let got = self.received();
            if uids.iter().all(|u| got.contains_key(u)) && engine.all_delivered(namespace).await {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{} of {} instances arrived; engine log:\n{}",
                uids.iter().filter(|u| got.contains_key(*u)).count(),
                uids.len(),
                engine.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Starts `dcmqrscp` as `ae_title` on `port` (fork mode: `-s` crashes after
/// its first association), storing into `root/db/<ae_title>`; it can move
/// to `destinations` (AE title, port on 127.0.0.1).
///
/// # Panics
/// When it cannot be started or does not listen.
pub async fn dcmqrscp(
    root: &Path,
    ae_title: &str,
    port: Port,
    destinations: &[(&str, u16)],
) -> Peer {
    let db = root.join("db").join(ae_title);
    std::fs::create_dir_all(&db).expect("dcmqrscp's folder");
    // The host table takes host names, not addresses.
    let hosts: String = destinations
        .iter()
        .map(|(ae, port)| format!("{} = ({ae}, localhost, {port})\n", ae.to_lowercase()))
        .collect();
    let config = root.join("dcmqrscp.cfg");
    std::fs::write(
        &config,
        format!(
            "NetworkTCPPort = {}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\
             HostTable BEGIN\n{hosts}HostTable END\nVendorTable BEGIN\nVendorTable END\n\
             AETable BEGIN\n{ae_title} {} RW (1000, 1024mb) ANY\nAETable END\n",
            port.get(),
            db.display()
        ),
    )
    .expect("dcmqrscp.cfg");
    let mut command = dcmtk_command("dcmqrscp");
    command
        .arg("-c")
        .arg(&config)
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Peer::start("dcmqrscp", command, port).await
}

/// The matches `findscu -v` printed: each response's data set lines, the
/// responses sorted (upstreams merged by the engine may answer in another
/// order than a direct query).
pub fn find_matches(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split("Find Response:")
        .skip(1)
        .map(|block| {
            block
                .lines()
                .filter(|l| l.contains('(') && !l.contains("Find Response"))
                .map(|l| l.trim_start_matches("I: ").trim().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    out.sort();
    out
}
