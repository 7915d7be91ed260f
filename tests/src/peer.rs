//! A peer program (DCMTK storescp, a pynetdicom SCP) serving on a reserved
//! port: started, waited for until it listens, killed when dropped.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::net::Port;

/// How long a peer may take to listen (Python imports pynetdicom first).
const START: Duration = Duration::from_secs(30);

/// A child process listening on its port; killed when dropped.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    /// Always set; taken by [`Peer::stop`] only.
    port: Option<Port>,
}

impl Peer {
    /// Spawns `command` (which must listen on `port`) and waits until it
    /// accepts connections.
    ///
    /// # Panics
    /// When it cannot be started, exits, or does not listen within 30 s.
    pub async fn start(what: &str, mut command: Command, port: Port) -> Self {
        command.kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let started = Instant::now();
        while TcpStream::connect(port.addr()).await.is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{what} exited ({status}) before it listened on {}",
                    port.addr()
                );
            }
            assert!(
                started.elapsed() < START,
                "{what} does not listen on {} after {START:?}",
                port.addr()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Self {
            child,
            port: Some(port),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port.as_ref().map_or(0, Port::get)
    }

    /// Kills it, waits until it has exited, and hands back its port, still
    /// reserved, for a successor.
    ///
    /// # Panics
    /// When it cannot be waited for.
    pub async fn stop(mut self) -> Port {
        let _killed = self.child.start_kill();
        self.child.wait().await.expect("wait for the peer");
        self.port.take().expect("a running peer has its port")
    }

    /// Its process id.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _killed = self.child.start_kill();
    }
}
