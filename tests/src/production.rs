//! Production files, written by a typed builder, so that a test shows in a
//! few lines which production it runs, and a variation reads as the one
//! thing it changes:
//!
//! ```text
//! Production::store_and_forward(port, archive_port)
//!     .dicom_operation(DicomOperation::archive(archive_port).retry("250ms", 2.0, "1s"))
//! ```
//!
//! Items of one kind are kept in the order given; giving an item a name it
//! already has replaces it in place. `Display` writes the TOML (schema:
//! `productions/README.md`).

use std::fmt::{self, Display};
use std::path::{Path, PathBuf};

use crate::uids::{EXPLICIT, IMPLICIT, VERIFICATION};

/// A production file.
#[derive(Debug, Clone, Default)]
pub struct Production {
    description: Option<String>,
    comment: Option<String>,
    associations: Vec<Association>,
    services: Vec<(String, String)>,
    processes: Vec<(String, String)>,
    operations: Vec<(String, String)>,
}

impl Production {
    /// An empty production (`version = 1` and nothing else).
    pub fn new() -> Self {
        Self::default()
    }

    /// Store and forward as the demo runs it: `STORESCU` sends to service
    /// `IN` (AE title `ROUTER`) on `port`, which hands every instance to
    /// operation `OUT`, which sends it to `ARCHIVE` on `archive_port`
    /// ([`DicomOperation::archive`]). Both associations allow every
    /// storage SOP class in Explicit, then Implicit VR Little Endian.
    pub fn store_and_forward(port: u16, archive_port: u16) -> Self {
        Self::new()
            .association(Association::storage("STORESCU", "ROUTER"))
            .association(Association::storage("ROUTER", "ARCHIVE"))
            .dicom_service(DicomService::new("IN", port, "ROUTER").targets(["OUT"]))
            .dicom_operation(DicomOperation::archive(archive_port))
    }

    /// An SCP `ECHO-SCP` (AE title `ENS-SCP`) on `port` that answers C-ECHO
    /// from `calling` in Implicit VR Little Endian.
    pub fn echo(calling: &str, port: u16) -> Self {
        Self::new()
            .association(Association::verification(calling, "ENS-SCP"))
            .dicom_service(DicomService::new("ECHO-SCP", port, "ENS-SCP"))
    }

    /// With a `description`.
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_string());
        self
    }

    /// With a comment line: an edit that changes no item.
    pub fn comment(mut self, text: &str) -> Self {
        self.comment = Some(text.to_string());
        self
    }

    /// With this association (replacing one for the same pair).
    pub fn association(mut self, association: Association) -> Self {
        let pair = |a: &Association| (a.calling.clone(), a.called.clone());
        match self
            .associations
            .iter_mut()
            .find(|a| pair(a) == pair(&association))
        {
            Some(a) => *a = association,
            None => self.associations.push(association),
        }
        self
    }

    /// With this `dicom-tcp` service.
    pub fn dicom_service(mut self, service: DicomService) -> Self {
        put(&mut self.services, &service.name, service.to_string());
        self
    }

    /// With this `file` service.
    pub fn file_service(mut self, service: FileService) -> Self {
        put(&mut self.services, &service.name, service.to_string());
        self
    }

    /// With this process.
    pub fn process(mut self, process: Process) -> Self {
        put(&mut self.processes, &process.name, process.to_string());
        self
    }

    /// With this `dicom-tcp` operation.
    pub fn dicom_operation(mut self, operation: DicomOperation) -> Self {
        put(&mut self.operations, &operation.name, operation.to_string());
        self
    }

    /// With this `file` operation.
    pub fn file_operation(mut self, operation: FileOperation) -> Self {
        put(&mut self.operations, &operation.name, operation.to_string());
        self
    }

    /// Without the item called `name`, of whatever kind.
    pub fn without(mut self, name: &str) -> Self {
        for items in [
            &mut self.services,
            &mut self.processes,
            &mut self.operations,
        ] {
            items.retain(|(n, _)| n != name);
        }
        self
    }
}

fn put(items: &mut Vec<(String, String)>, name: &str, text: String) {
    match items.iter_mut().find(|(n, _)| n == name) {
        Some(item) => item.1 = text,
        None => items.push((name.to_string(), text)),
    }
}

impl Display for Production {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "version = 1")?;
        if let Some(d) = &self.description {
            writeln!(f, "description = {}", quote(d))?;
        }
        if let Some(c) = &self.comment {
            writeln!(f, "# {c}")?;
        }
        for a in &self.associations {
            write!(f, "\n{a}")?;
        }
        for (_, text) in self
            .services
            .iter()
            .chain(&self.processes)
            .chain(&self.operations)
        {
            write!(f, "\n{text}")?;
        }
        Ok(())
    }
}

/// An association context the production creates when its pair is absent.
#[derive(Debug, Clone)]
pub struct Association {
    calling: String,
    called: String,
    abstract_syntaxes: Vec<String>,
    transfer_syntaxes: Vec<String>,
    certificates: Vec<String>,
}

impl Association {
    /// `calling` → `called` with these abstract syntaxes (UIDs, or
    /// `"storage"` for every storage SOP class), each with these transfer
    /// syntaxes in this order.
    pub fn new(
        calling: &str,
        called: &str,
        abstract_syntaxes: &[&str],
        transfer_syntaxes: &[&str],
    ) -> Self {
        Self {
            calling: calling.to_string(),
            called: called.to_string(),
            abstract_syntaxes: strings(abstract_syntaxes),
            transfer_syntaxes: strings(transfer_syntaxes),
            certificates: Vec::new(),
        }
    }

    /// Binds the calling AE title to these client certificates
    /// (`cn:NAME`, `san:DNS-NAME`, `sha256:FINGERPRINT`).
    pub fn bound_to(mut self, certificates: &[&str]) -> Self {
        self.certificates = strings(certificates);
        self
    }

    /// Every storage SOP class in Explicit, then Implicit VR Little Endian.
    pub fn storage(calling: &str, called: &str) -> Self {
        Self::new(calling, called, &["storage"], &[EXPLICIT, IMPLICIT])
    }

    /// Verification in Implicit VR Little Endian.
    pub fn verification(calling: &str, called: &str) -> Self {
        Self::new(calling, called, &[VERIFICATION], &[IMPLICIT])
    }
}

impl Display for Association {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[[associations]]")?;
        writeln!(f, "calling_ae_title = {}", quote(&self.calling))?;
        writeln!(f, "called_ae_title = {}", quote(&self.called))?;
        writeln!(f, "abstract_syntaxes = {}", list(&self.abstract_syntaxes))?;
        if !self.certificates.is_empty() {
            writeln!(f, "certificates = {}", list(&self.certificates))?;
        }
        writeln!(f, "transfer_syntaxes = {}", list(&self.transfer_syntaxes))
    }
}

/// A `dicom-tcp` service: an SCP.
#[derive(Debug, Clone)]
pub struct DicomService {
    name: String,
    port: u16,
    ae_title: String,
    max_associations: Option<u32>,
    targets: Vec<String>,
    cut_through_above: Option<u64>,
}

impl DicomService {
    /// Service `name` listening on `port` as `ae_title`, with no targets
    /// (it answers C-ECHO only).
    pub fn new(name: &str, port: u16, ae_title: &str) -> Self {
        Self {
            name: name.to_string(),
            port,
            ae_title: ae_title.to_string(),
            max_associations: None,
            targets: Vec::new(),
            cut_through_above: None,
        }
    }

    /// Data sets past this many bytes go out while they arrive.
    pub fn cut_through_above(mut self, bytes: u64) -> Self {
        self.cut_through_above = Some(bytes);
        self
    }

    /// Where received instances go.
    pub fn targets<'a>(mut self, targets: impl IntoIterator<Item = &'a str>) -> Self {
        self.targets = targets.into_iter().map(str::to_string).collect();
        self
    }

    /// Associations open at once, past which it rejects.
    pub fn max_associations(mut self, n: u32) -> Self {
        self.max_associations = Some(n);
        self
    }
}

impl Display for DicomService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[services.{}]", self.name)?;
        writeln!(f, "type = \"dicom-tcp\"")?;
        writeln!(f, "port = {}", self.port)?;
        writeln!(f, "ae_title = {}", quote(&self.ae_title))?;
        if let Some(n) = self.max_associations {
            writeln!(f, "max_associations = {n}")?;
        }
        if !self.targets.is_empty() {
            writeln!(f, "targets = {}", list(&self.targets))?;
        }
        if let Some(bytes) = self.cut_through_above {
            writeln!(f, "cut_through_above = {bytes}")?;
        }
        Ok(())
    }
}

/// A `file` service: a watched folder.
#[derive(Debug, Clone)]
pub struct FileService {
    name: String,
    folder: PathBuf,
    poll_interval: Option<String>,
    targets: Vec<String>,
}

impl FileService {
    /// Service `name` taking in the files dropped into `folder` and sending
    /// them to `targets`.
    pub fn new<'a>(name: &str, folder: &Path, targets: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            name: name.to_string(),
            folder: folder.to_path_buf(),
            poll_interval: None,
            targets: targets.into_iter().map(str::to_string).collect(),
        }
    }

    /// How often it looks at the folder (e.g. `"100ms"`).
    pub fn poll_interval(mut self, every: &str) -> Self {
        self.poll_interval = Some(every.to_string());
        self
    }
}

impl Display for FileService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[services.{}]", self.name)?;
        writeln!(f, "type = \"file\"")?;
        writeln!(f, "folder = {}", quote(&self.folder.display().to_string()))?;
        if let Some(every) = &self.poll_interval {
            writeln!(f, "poll_interval = {}", quote(every))?;
        }
        writeln!(f, "targets = {}", list(&self.targets))
    }
}

/// A process: pass-through, or a WebAssembly routing plugin.
#[derive(Debug, Clone)]
pub struct Process {
    name: String,
    /// `type = …` and the kind's own fields.
    kind: String,
    targets: Vec<String>,
}

impl Process {
    /// A `pass-through` process: every message goes to every target.
    pub fn pass_through<'a>(name: &str, targets: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            name: name.to_string(),
            kind: "type = \"pass-through\"\n".to_string(),
            targets: targets.into_iter().map(str::to_string).collect(),
        }
    }

    /// A `wasm` process running `plugin` with `config` (an inline TOML
    /// table, e.g. `{ default = ["OUT"] }`), which may send to `targets`.
    pub fn wasm<'a>(
        name: &str,
        plugin: &Path,
        config: &str,
        targets: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let kind = format!(
            "type = \"wasm\"\nplugin = {}\nconfig = {config}\n",
            quote(&plugin.display().to_string())
        );
        Self {
            name: name.to_string(),
            kind,
            targets: targets.into_iter().map(str::to_string).collect(),
        }
    }
}

impl Process {
    /// Its name, for the items that target it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[processes.{}]", self.name)?;
        write!(f, "{}", self.kind)?;
        writeln!(f, "targets = {}", list(&self.targets))
    }
}

/// A `dicom-tcp` operation: an SCU sending to a remote on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct DicomOperation {
    name: String,
    port: u16,
    remote_ae_title: String,
    local_ae_title: String,
    max_associations: Option<u32>,
    idle_release: Option<String>,
    retry: Option<(String, f64, String)>,
    max_attempts: Option<u32>,
    write_timeout: Option<String>,
}

impl DicomOperation {
    /// Operation `name` sending as `local_ae_title` to `remote_ae_title` at
    /// 127.0.0.1:`port`, with the engine's defaults.
    pub fn new(name: &str, port: u16, remote_ae_title: &str, local_ae_title: &str) -> Self {
        Self {
            name: name.to_string(),
            port,
            remote_ae_title: remote_ae_title.to_string(),
            local_ae_title: local_ae_title.to_string(),
            max_associations: None,
            idle_release: None,
            retry: None,
            max_attempts: None,
            write_timeout: None,
        }
    }

    /// `OUT`: `ROUTER` → `ARCHIVE` on `port`, one association at a time
    /// (DCMTK storescp serves one at a time), released after 1 s idle,
    /// retried from 100 ms, doubling, up to 1 s (so that a test waits
    /// little for an archive that comes up).
    pub fn archive(port: u16) -> Self {
        Self::new("OUT", port, "ARCHIVE", "ROUTER")
            .max_associations(1)
            .idle_release("1s")
            .retry("100ms", 2.0, "1s")
    }

    /// Associations open at once.
    pub fn max_associations(mut self, n: u32) -> Self {
        self.max_associations = Some(n);
        self
    }

    /// How long an idle association stays open.
    pub fn idle_release(mut self, after: &str) -> Self {
        self.idle_release = Some(after.to_string());
        self
    }

    /// Back-off: the n-th retry waits `initial_delay × factor^(n-1)`, at
    /// most `max_delay`.
    pub fn retry(mut self, initial_delay: &str, factor: f64, max_delay: &str) -> Self {
        self.retry = Some((initial_delay.to_string(), factor, max_delay.to_string()));
        self
    }

    /// After this many attempts a delivery fails for good.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// How long one write waits for a remote that stops reading.
    pub fn write_timeout(mut self, after: &str) -> Self {
        self.write_timeout = Some(after.to_string());
        self
    }
}

impl Display for DicomOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[operations.{}]", self.name)?;
        writeln!(f, "type = \"dicom-tcp\"")?;
        writeln!(f, "host = \"127.0.0.1\"")?;
        writeln!(f, "port = {}", self.port)?;
        writeln!(f, "remote_ae_title = {}", quote(&self.remote_ae_title))?;
        writeln!(f, "local_ae_title = {}", quote(&self.local_ae_title))?;
        if let Some(n) = self.max_associations {
            writeln!(f, "max_associations = {n}")?;
        }
        if let Some(after) = &self.idle_release {
            writeln!(f, "idle_release = {}", quote(after))?;
        }
        if let Some(after) = &self.write_timeout {
            writeln!(f, "write_timeout = {}", quote(after))?;
        }
        let mut retry = Vec::new();
        if let Some((initial, factor, max)) = &self.retry {
            retry.push(format!("initial_delay = {}", quote(initial)));
            retry.push(format!("factor = {factor:?}"));
            retry.push(format!("max_delay = {}", quote(max)));
        }
        if let Some(n) = self.max_attempts {
            retry.push(format!("max_attempts = {n}"));
        }
        if !retry.is_empty() {
            writeln!(f, "retry = {{ {} }}", retry.join(", "))?;
        }
        Ok(())
    }
}

/// A `file` operation: writes each instance into a folder.
#[derive(Debug, Clone)]
pub struct FileOperation {
    name: String,
    folder: PathBuf,
}

impl FileOperation {
    /// Operation `name` writing into `folder`.
    pub fn new(name: &str, folder: &Path) -> Self {
        Self {
            name: name.to_string(),
            folder: folder.to_path_buf(),
        }
    }
}

impl Display for FileOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[operations.{}]", self.name)?;
        writeln!(f, "type = \"file\"")?;
        writeln!(f, "folder = {}", quote(&self.folder.display().to_string()))
    }
}

/// Replaces the production file `path` the way editors do: a temporary
/// file, then a rename over the original (the watcher sees one change).
///
/// # Panics
/// When the file cannot be written.
pub fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.tmp~");
    std::fs::write(&tmp, text).expect("write the temporary file");
    std::fs::rename(&tmp, path).expect("rename over the production file");
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// A TOML string, escaped.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML array of strings.
fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}
