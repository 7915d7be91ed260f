//! A real browser for the portal: Debian's chromium driven by playwright
//! from the test venv (its own browser download cannot work here). A flow
//! is a Python script in `tests/browser/`; it saves full-page screenshots
//! in the test's output folder, and talks with the test over lines: it
//! prints `wait <what>` and goes on when the test answers, so that the test
//! can change the world (start an archive) in between.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Where Debian puts chromium (`apt-get install chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The folder a test's screenshots go to, emptied of an earlier run's:
/// `<workspace>/target/portal-screenshots/<test>`.
pub fn screenshots(test: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/portal-screenshots")
        .join(test);
    std::fs::remove_dir_all(&folder).ok();
    folder
}

/// A running flow.
#[derive(Debug)]
pub struct Flow {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    name: String,
}

impl Flow {
    /// Starts `tests/browser/<script>` with `args`.
    ///
    /// # Panics
    /// When chromium or playwright is missing, with how to set them up.
    pub fn start(script: &str, args: &[&str]) -> Flow {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run `apt-get install chromium` (scripts/test does it as root)"
        );
        let python = crate::pynetdicom::python();
        let ok = std::process::Command::new(&python)
            .args(["-c", "import playwright.sync_api"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{} lacks playwright: run `.venv/bin/pip install playwright` (scripts/test does it; \
             never `playwright install`, chromium comes from Debian)",
            python.display()
        );
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
        let mut child = Command::new(python)
            .arg(folder.join(script))
            .args(args)
            .current_dir(&folder)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the browser flow");
        let stdout = child.stdout.take().expect("piped stdout");
        Flow {
            child,
            lines: BufReader::new(stdout).lines(),
            name: script.to_string(),
        }
    }

    /// The next thing the flow waits for, or `None` when it ended well.
    ///
    /// # Panics
    /// When the flow failed (its error is on the test's stderr) or hangs.
    pub async fn next_wait(&mut self) -> Option<String> {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(180), self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("{} said nothing for 180 s", self.name))
                .expect("read the flow's output");
            match line {
                Some(l) if l.starts_with("wait ") => return Some(l[5..].to_string()),
                Some(l) if l == "done" => {
                    let status = self.child.wait().await.expect("the flow ends");
                    assert!(status.success(), "{} ended with {status}", self.name);
                    return None;
                }
                Some(l) => eprintln!("{}: {l}", self.name),
                None => {
                    let status = self.child.wait().await.expect("the flow ends");
                    panic!(
                        "{} failed ({status}); its error is above, its screenshots in target/portal-screenshots",
                        self.name
                    );
                }
            }
        }
    }

    /// Lets the flow go on after a wait.
    pub async fn resume(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"go\n").await.expect("answer the flow");
        stdin.flush().await.expect("answer the flow");
    }
}
