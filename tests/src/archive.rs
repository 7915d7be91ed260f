//! DCMTK storescp as an archive: what it received, by SOP instance UID.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::process::Child;

use crate::dicom::{dcmtk_command, wait_for_tcp};
use crate::engine_process::TestEngine;

/// DCMTK storescp as the archive, writing what it receives bit for bit.
pub struct Archive {
    _child: Child,
    dir: PathBuf,
}

impl Archive {
    /// Starts storescp as `ae_title` on `port`, writing into `dir`.
    pub async fn start(ae_title: &str, port: u16, dir: &Path) -> Self {
        let child = dcmtk_command("storescp")
            .args(["-aet", ae_title, "+B", "-od"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start storescp");
        wait_for_tcp(
            SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(10),
        )
        .await;
        Self {
            _child: child,
            dir: dir.to_path_buf(),
        }
    }

    /// The files received so far, by SOP instance UID.
    pub fn received(&self) -> BTreeMap<String, PathBuf> {
        std::fs::read_dir(&self.dir)
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

    /// Waits until every UID has arrived and the engine has every delivery
    /// of `namespace` acknowledged. A file appears as soon as storescp starts writing it;
    /// it is whole only once storescp has answered, which is when the
    /// engine marks the delivery done.
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
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
