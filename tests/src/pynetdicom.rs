//! pynetdicom as a peer: scripts run with the Python that has it, an SCP,
//! and an echo client that reads an association rejection right.

use std::path::{Path, PathBuf};
use std::process::Output;

use tokio::process::Command;

use crate::net::Port;
use crate::peer::Peer;

/// The Python interpreter with pynetdicom: `SWITCHBOARD_PYTHON`, else
/// `<workspace>/.venv/bin/python`.
///
/// # Panics
/// When it is missing or lacks pynetdicom, with how to set it up.
pub fn python() -> PathBuf {
    let path = std::env::var_os("SWITCHBOARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let ok = std::process::Command::new(&path)
        .args(["-c", "import pynetdicom"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} with pynetdicom is missing: run `python3 -m venv .venv && .venv/bin/pip install 'pynetdicom>=3,<4'` \
         in the workspace, or set SWITCHBOARD_PYTHON (scripts/test does both)",
        path.display()
    );
    path
}

/// Runs a Python script with pynetdicom and returns its output.
pub async fn run_python(script: &str, args: &[&str]) -> Output {
    Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run python")
}

/// Starts a pynetdicom SCP with AE title `ae_title` that accepts
/// Verification (Implicit and Explicit VR LE) and CT Image Storage (Explicit
/// VR LE only) and requires the called AE title to match.
pub async fn start_scp(ae_title: &str) -> Peer {
    const SCRIPT: &str = r#"
import sys
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification, CTImageStorage
ae = AE(ae_title=sys.argv[1])
ae.require_called_aet = True
ae.add_supported_context(Verification, ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
ae.add_supported_context(CTImageStorage, ["1.2.840.10008.1.2.1"])
def on_store(event):
    return 0x0000
ae.start_server(("127.0.0.1", int(sys.argv[2])), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])
"#;
    let port = Port::reserve();
    let mut command = Command::new(python());
    command
        .arg("-c")
        .arg(SCRIPT)
        .arg(ae_title)
        .arg(port.to_string());
    Peer::start("the pynetdicom SCP", command, port).await
}

/// Starts pynetdicom's own Query/Retrieve SCP (`python -m pynetdicom
/// qrscp`) as `ae_title` on `port`, keeping what it is sent in `folder`
/// (an SQLite database and the instances).
pub async fn start_qrscp(ae_title: &str, port: Port, folder: &Path) -> Peer {
    start_qrscp_moving_to(ae_title, port, folder, &[]).await
}

/// [`start_qrscp`] that can move to `destinations` (AE title, port on
/// 127.0.0.1), given in its configuration file.
pub async fn start_qrscp_moving_to(
    ae_title: &str,
    port: Port,
    folder: &Path,
    destinations: &[(&str, u16)],
) -> Peer {
    std::fs::create_dir_all(folder.join("instances")).expect("qrscp folder");
    // Every key of its default.ini: it reads them all.
    let mut ini = format!(
        "[DEFAULT]\nae_title: {ae_title}\nport: {}\nmax_pdu: 16382\nacse_timeout: 30\n\
         dimse_timeout: 30\nnetwork_timeout: 30\nbind_address:\ninstance_location: instances\n\
         database_location: instances.sqlite\nlog_identifier: False\n",
        port.get()
    );
    for (ae, port) in destinations {
        ini.push_str(&format!("\n[{ae}]\naddress: 127.0.0.1\nport: {port}\n"));
    }
    let config = folder.join("qrscp.ini");
    std::fs::write(&config, ini).expect("qrscp.ini");
    let with_sqlalchemy = std::process::Command::new(python())
        .args(["-c", "import sqlalchemy"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        with_sqlalchemy,
        "pynetdicom's qrscp needs sqlalchemy: `.venv/bin/pip install 'sqlalchemy>=2,<3'` (scripts/test does it)"
    );
    let mut command = Command::new(python());
    command
        .args(["-m", "pynetdicom", "qrscp", "--port", &port.to_string()])
        .arg("--config")
        .arg(&config)
        .args(["--ae-title", ae_title])
        .arg("--database-location")
        .arg(folder.join("instances.sqlite"))
        .arg("--instance-location")
        .arg(folder.join("instances"))
        .current_dir(folder);
    Peer::start("pynetdicom's qrscp", command, port).await
}

/// Requests an association for Verification and prints one line: `status
/// 0xNNNN` (accepted, echoed), `rejected result=R source=S reason=D` (the
/// A-ASSOCIATE-RJ as pynetdicom's ACSE reports it), `lost rejection …`
/// (see [`echo`]) or `aborted`.
const ECHO: &str = r#"
import sys
from pynetdicom import AE, evt
from pynetdicom.pdu import A_ASSOCIATE_RJ
received = []
def on_pdu(event):
    if isinstance(event.pdu, A_ASSOCIATE_RJ):
        received.append(event.pdu)
ae = AE(ae_title=sys.argv[1])
ae.add_requested_context("1.2.840.10008.1.1")
assoc = ae.associate("127.0.0.1", int(sys.argv[3]), ae_title=sys.argv[2],
                     evt_handlers=[(evt.EVT_PDU_RECV, on_pdu)])
if assoc.is_established:
    status = assoc.send_c_echo()
    print("status 0x%04X" % status.Status)
    assoc.release()
elif assoc.is_rejected:
    rj = assoc.acceptor.primitive
    print("rejected result=%d source=%d reason=%d" % (rj.result, rj.result_source, rj.diagnostic))
elif received:
    rj = received[0]
    print("lost rejection result=%d source=%d reason=%d" % (rj.result, rj.source, rj.reason_diagnostic))
else:
    print("aborted")
"#;

/// How often [`echo`] asks again when pynetdicom lost the rejection.
const ATTEMPTS: usize = 10;

/// pynetdicom's client asks `calling` → `called` on `port` for an
/// association and a C-ECHO; returns what it printed (see `ECHO` above).
///
/// pynetdicom 3.0's requestor sometimes reports a rejection as an abort:
/// its DUL thread handles the A-ASSOCIATE-RJ and closes the connection
/// before the requesting thread has checked that the connection is up,
/// which then finds it closed and aborts. The rejection did arrive (its
/// PDU went by); only the client's bookkeeping lost it. Such a run is
/// repeated, so that what the caller reads is always pynetdicom's own
/// report of the rejection; an abort with no rejection PDU is returned as
/// it is.
pub async fn echo(calling: &str, called: &str, port: u16) -> Output {
    let port = port.to_string();
    let mut out = run_python(ECHO, &[calling, called, &port]).await;
    for _ in 1..ATTEMPTS {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !stdout.contains("lost rejection") {
            break;
        }
        eprintln!(
            "pynetdicom lost the rejection ({}); asking again",
            stdout.trim()
        );
        out = run_python(ECHO, &[calling, called, &port]).await;
    }
    out
}
