//! Ports and readiness on 127.0.0.1.
//!
//! A port picked ahead for a peer (a production file names it, or the
//! archive starts after the engine) is a [`Port`]: reserved for as long as
//! the guard lives, so that no other program (another test, an outgoing
//! connection) is handed the same port before the peer binds it, or after
//! the peer closed it while the test still checks that it is closed.
//!
//! The guard is a socket bound to the port with `SO_REUSEADDR` that never
//! listens. Linux hands out a port with such a socket on it neither to
//! `bind(…:0)` nor to an outgoing connection, while a program that binds
//! the port by number with `SO_REUSEADDR` still can, and every peer the
//! tests start does: the engine (std and tokio listeners set it), DCMTK and
//! pynetdicom. So the guard is kept until the test ends, not dropped before
//! the peer starts.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::{TcpSocket, TcpStream};

/// How often the waits below try to connect: short enough not to blur the
/// reload benchmark's latency, cheap on loopback.
const POLL: Duration = Duration::from_millis(2);

/// A TCP port reserved for a peer until dropped (see the module
/// documentation).
#[derive(Debug)]
pub struct Port {
    port: u16,
    /// Bound, never listening: holds the reservation.
    _socket: TcpSocket,
}

impl Port {
    /// Reserves a port from the kernel's ephemeral range.
    ///
    /// # Panics
    /// When no socket can be bound.
    pub fn reserve() -> Self {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
            .expect("bind an ephemeral port");
        let port = socket.local_addr().expect("the bound address").port();
        Self {
            port,
            _socket: socket,
        }
    }

    /// The port number.
    pub fn get(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    /// A listener of the test's own on the reserved port (a stand-in
    /// remote), with at most `recv_buffer` bytes of receive window per
    /// connection when given (so that a peer's writes block soon).
    ///
    /// # Panics
    /// When the port cannot be bound.
    pub fn listen(&self, recv_buffer: Option<u32>) -> tokio::net::TcpListener {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        if let Some(bytes) = recv_buffer {
            socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        }
        socket.bind(self.addr()).expect("bind the reserved port");
        socket.listen(64).expect("listen")
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.port.fmt(f)
    }
}

/// `127.0.0.1:<port>`.
pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Waits until something accepts TCP connections at `addr`, and returns
/// when it first did.
///
/// # Panics
/// After `timeout`.
pub async fn wait_for_tcp(addr: SocketAddr, timeout: Duration) -> Instant {
    let start = Instant::now();
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Instant::now();
        }
        assert!(
            start.elapsed() < timeout,
            "nothing listens on {addr} after {timeout:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until nothing accepts TCP connections at `addr` any more.
///
/// # Panics
/// After `timeout`, with `context` (e.g. the engine's log).
pub async fn wait_until_closed(addr: SocketAddr, timeout: Duration, context: impl Fn() -> String) {
    let start = Instant::now();
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            start.elapsed() < timeout,
            "{addr} still accepts after {timeout:?}; {}",
            context()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// How many TCP connections on this machine are established to local
/// `port` from a client socket (read from `/proc/net/tcp`): the
/// associations a client keeps open to a peer listening there.
pub fn established_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl, local address, remote address, state (01: established)
            fields.len() > 3 && fields[2].ends_with(&port) && fields[3] == "01"
        })
        .count()
}

/// Kills (SIGKILL) every child process of `parent`: a forking server's
/// per-connection workers.
pub fn kill_children(parent: u32) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid …: the comm may hold spaces, so read after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            let killed = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            assert!(killed.is_ok(), "kill {pid}: {killed:?}");
        }
    }
}
