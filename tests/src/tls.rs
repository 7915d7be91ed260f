//! Certificates for TLS tests, made with `openssl` in a folder: a CA, a
//! server certificate for 127.0.0.1, localhost and switchboard.test (a name
//! that is not loopback's), a client certificate,
//! and a second CA that signed none of them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files [`Certificates::make`] wrote.
#[derive(Debug, Clone)]
pub struct Certificates {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 key and a self-signed CA certificate `NAME.pem`, `NAME.key`,
/// whose subject names `dir` too: two CAs with one subject would make a
/// verifier check one's signature with the other's key (BadSignature)
/// instead of finding no issuer.
fn ca(dir: &Path, name: &str) {
    let subject = format!("/CN={name} {}", dir.display().to_string().replace('/', "-"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &subject,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// `NAME.pem` and `NAME.key` for the subject `/CN=CN`, signed by `ca`,
/// valid for 30 days.
fn leaf(dir: &Path, name: &str, cn: &str, ca: &str) {
    key_and_request(dir, name, cn);
    sign(dir, name, ca, "30");
}

/// `NAME.key` and the request `NAME.csr` for the subject `/CN=CN`.
fn key_and_request(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/O=Switchboard tests/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    let extensions = dir.join(format!("{name}.ext"));
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:switchboard.test\n\
         extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n",
    )
    .expect("extensions file");
}

/// `NAME.pem` from `NAME.csr`, signed by `ca`, for `days` from now (a
/// negative number makes one that expired).
fn sign(dir: &Path, name: &str, ca: &str, days: &str) {
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            days,
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

impl Certificates {
    /// Makes them in `dir`: the server's subject CN is `server_cn`, the
    /// client's `client_cn`.
    ///
    /// # Panics
    /// When `openssl` fails.
    pub fn make(dir: &Path, server_cn: &str, client_cn: &str) -> Self {
        std::fs::create_dir_all(dir).expect("certificates folder");
        ca(dir, "ca");
        ca(dir, "other-ca");
        leaf(dir, "server", server_cn, "ca");
        leaf(dir, "client", client_cn, "ca");
        Self {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.pem"),
        }
    }

    /// `[services.SERVICE.tls]` for a production file: the server
    /// certificate and key, and our CA for the requesters' certificates.
    pub fn service_tls(&self, service: &str) -> String {
        format!(
            "\n[services.{service}.tls]\ncertificate = {:?}\nprivate_key = {:?}\nclient_ca = {:?}\n",
            path(&self.server_cert),
            path(&self.server_key),
            path(&self.ca)
        )
    }

    /// `[operations.OPERATION.tls]` for a production file: our CA for the
    /// remote's certificate, the client certificate and key.
    pub fn operation_tls(&self, operation: &str) -> String {
        format!(
            "\n[operations.{operation}.tls]\nca = {:?}\ncertificate = {:?}\nprivate_key = {:?}\n",
            path(&self.ca),
            path(&self.client_cert),
            path(&self.client_key)
        )
    }

    /// DCMTK's TLS options as a server (`storescp`): `+tls KEY CERT +cf CA`.
    pub fn dcmtk_server(&self) -> [&str; 5] {
        [
            "+tls",
            path(&self.server_key),
            path(&self.server_cert),
            "+cf",
            path(&self.ca),
        ]
    }

    /// DCMTK's TLS options as a client (`storescu`, `echoscu`).
    pub fn dcmtk_client(&self) -> [&str; 5] {
        [
            "+tls",
            path(&self.client_key),
            path(&self.client_cert),
            "+cf",
            path(&self.ca),
        ]
    }

    /// The server's certificate again, same key and CA, but expired since
    /// yesterday: `expired-server.pem`.
    pub fn expired_server(&self) -> PathBuf {
        let dir = self.ca.parent().expect("certificates folder");
        std::fs::copy(dir.join("server.csr"), dir.join("expired-server.csr")).expect("request");
        std::fs::copy(dir.join("server.ext"), dir.join("expired-server.ext")).expect("extensions");
        sign(dir, "expired-server", "ca", "-1");
        dir.join("expired-server.pem")
    }
}

/// A path as the text a command line or a production file takes.
fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}
