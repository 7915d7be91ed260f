//! The portal over plain HTTP: loopback only, a login URL with a token in
//! a 0600 file, the token exchanged for a session cookie, a foreign Host
//! header refused, security headers on every answer, the production board
//! behind it; the message viewer without patient data, a message's visual
//! trace, and a resend that needs the session's CSRF token and a request
//! from the portal's own pages.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use std::path::PathBuf;

use integration_tests::dcmtk::{Archive, storescu};
use integration_tests::engine_process::TestEngine;
use integration_tests::instances::{Modality, write_instances};
use integration_tests::net::Port;
use integration_tests::production::{Association, DicomOperation, DicomService, Production};
use integration_tests::tls::Certificates;
use integration_tests::uids::{CT_IMAGE_STORAGE, EXPLICIT, MR_IMAGE_STORAGE};
use switchboard::dimse::tls::ClientTls;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One GET to the portal at `address` with this Host header (and cookie):
/// the status code and the whole answer.
async fn get(address: &str, path: &str, host: &str, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n");
    exchange(address, &request).await
}

/// One POST of a form with these extra header lines (each ending in CRLF).
async fn post(address: &str, path: &str, cookie: &str, headers: &str, form: &str) -> (u16, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n{headers}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{form}",
        form.len()
    );
    exchange(address, &request).await
}

/// Sends a whole request; the status code and the whole answer.
async fn exchange(address: &str, request: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    exchange_on(stream, request).await
}

/// Sends a whole request on `stream`; the status code and the whole answer.
async fn exchange_on(
    mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    request: &str,
) -> (u16, String) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("the portal answers")
        .unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// The portal's address and the login path of a login URL.
fn login_parts(url: &str) -> (String, String) {
    let rest = url.trim().strip_prefix("http://").unwrap();
    let (address, login) = rest.split_once('/').unwrap();
    (address.to_string(), format!("/{login}"))
}

/// Logs in: the session cookie (`name=value`).
async fn log_in(url: &str) -> String {
    let (address, login) = login_parts(url);
    let (status, answer) = get(&address, &login, &address, None).await;
    assert_eq!(status, 303, "{answer}");
    let cookie = header(&answer, "set-cookie").unwrap();
    cookie.split(';').next().unwrap().to_string()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_board_is_behind_a_token_login_and_a_host_check_with_strict_headers() {
    let port = Port::reserve();
    let text = Production::new()
        .dicom_service(DicomService::new("BOARD-IN", port.get(), "ROUTER"))
        .to_string();
    let engine = TestEngine::start_with(
        &[("radiology", "board", &text)],
        &["--portal", "127.0.0.1:0"],
        |_| {},
    )
    .await;
    let token_file = engine.data_dir().join("portal.token");
    let url = std::fs::read_to_string(&token_file).unwrap();
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let printed = engine.command(&["portal", "url"]).await;
    assert_eq!(String::from_utf8_lossy(&printed.stdout), url);
    let (address, login) = login_parts(&url);
    let address = address.as_str();

    // Without a session: refused, with the security headers.
    let (status, answer) = get(address, "/", address, None).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("Log in first"), "{answer}");
    for (name, value) in [
        ("content-security-policy", "default-src 'none'"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert!(
            header(&answer, name).is_some_and(|v| v.contains(value)),
            "{name}: {answer}"
        );
    }
    // A wrong token, and the right one under a foreign Host: refused.
    let (status, _) = get(address, "/login?token=0123", address, None).await;
    assert_eq!(status, 403);
    let (status, _) = get(address, &login, "rebound.example.org", None).await;
    assert_eq!(status, 421);

    // The token buys a session cookie; the board shows the production.
    let (status, answer) = get(address, &login, address, None).await;
    assert_eq!(status, 303, "{answer}");
    let cookie = header(&answer, "set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap();
    let (status, board) = get(address, "/", address, Some(session)).await;
    assert_eq!(status, 200, "{board}");
    assert!(
        board.contains("radiology/board") && board.contains("BOARD-IN"),
        "{board}"
    );
    assert!(board.contains("running"), "{board}");
    let (status, item) = get(
        address,
        "/item?ns=radiology&production=board&item=BOARD-IN",
        address,
        Some(session),
    )
    .await;
    assert_eq!(status, 200, "{item}");
    assert!(
        item.contains("Settings") && item.contains(&format!("port = {}", port.get())),
        "{item}"
    );
    let (status, _) = get(address, "/", "localhost:1", Some(session)).await;
    assert_eq!(status, 421, "the Host must name this portal's port");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_portal_on_an_address_other_than_loopback_is_refused_without_https() {
    let root = integration_tests::private_tempdir();
    std::fs::create_dir_all(root.path().join("productions")).unwrap();
    let missing = root.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    for (https, expected) in [
        (&[][..], "loopback addresses only"),
        (
            &[
                "--portal-certificate",
                missing,
                "--portal-private-key",
                missing,
            ][..],
            "the portal's HTTPS files do not make TLS settings",
        ),
    ] {
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(integration_tests::switchboard_bin())
                .arg("--data-dir")
                .arg(root.path().join("data"))
                .args(["run", "--portal", "0.0.0.0:0", "--productions"])
                .arg(root.path().join("productions"))
                .args(https)
                .output(),
        )
        .await
        .expect("the engine refuses at once")
        .unwrap();
        let text = integration_tests::text(&out);
        assert!(!out.status.success(), "{text}");
        assert!(text.contains(expected), "{text}");
        assert!(https.is_empty() || text.contains(missing), "{text}");
    }
}

/// A portal served over HTTPS on every address, reached as the name its
/// certificate carries through a client that trusts only the test CA.
struct Https {
    client: ClientTls,
    port: u16,
    host: String,
}

impl Https {
    /// One request with this Host header and these extra header lines.
    async fn send(
        &self,
        method: &str,
        path: &str,
        host: &str,
        headers: &str,
        body: &str,
    ) -> (u16, String) {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (stream, _) = self.client.connect(tcp, "127.0.0.1").await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        exchange_on(stream, &request).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn over_https_the_portal_may_listen_on_any_address_and_answers_to_its_certificates_names() {
    let folder = integration_tests::private_tempdir();
    let certificates = Certificates::make(folder.path(), "portal", "browser");
    let text = Production::new()
        .dicom_service(DicomService::new(
            "BOARD-IN",
            Port::reserve().get(),
            "ROUTER",
        ))
        .to_string();
    let engine = TestEngine::start_with(
        &[("radiology", "board", &text)],
        &[
            "--portal",
            "0.0.0.0:0",
            "--portal-certificate",
            certificates.server_cert.to_str().unwrap(),
            "--portal-private-key",
            certificates.server_key.to_str().unwrap(),
        ],
        |_| {},
    )
    .await;
    let url = std::fs::read_to_string(engine.data_dir().join("portal.token")).unwrap();
    let rest = url
        .trim()
        .strip_prefix("https://switchboard.test:")
        .unwrap();
    let (port, login) = rest.split_once('/').unwrap();
    let mut client = ClientTls::new(&certificates.ca, None).unwrap();
    client.server_name = Some("switchboard.test".to_string());
    let https = Https {
        client,
        port: port.parse().unwrap(),
        host: format!("switchboard.test:{port}"),
    };
    let host = https.host.as_str();

    // The token buys a Secure session cookie; the board shows the production.
    let (status, answer) = https.send("GET", &format!("/{login}"), host, "", "").await;
    assert_eq!(status, 303, "{answer}");
    let cookie = header(&answer, "set-cookie").unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let session = format!("Cookie: {}\r\n", cookie.split(';').next().unwrap());
    let (status, board) = https.send("GET", "/", host, &session, "").await;
    assert_eq!(status, 200, "{board}");
    assert!(board.contains("BOARD-IN"), "{board}");
    // Loopback names still do; names the certificate lacks do not.
    let (status, _) = https
        .send("GET", "/", &format!("localhost:{port}"), &session, "")
        .await;
    assert_eq!(status, 200);
    for foreign in [
        format!("rebound.example.org:{port}"),
        "switchboard.test:1".to_string(),
    ] {
        let (status, _) = https.send("GET", "/", &foreign, &session, "").await;
        assert_eq!(status, 421, "{foreign}");
    }

    // A change from its own https origin is taken; from its http one not.
    let (_, messages) = https.send("GET", "/messages", host, &session, "").await;
    let csrf = messages
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no CSRF token in {messages}"));
    let form = format!("csrf={csrf}&ns=radiology");
    for (scheme, expected) in [("https", 200), ("http", 403)] {
        let headers = format!(
            "{session}Origin: {scheme}://{host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        );
        let (status, answer) = https
            .send("POST", "/messages/resend-failed", host, &headers, &form)
            .await;
        assert_eq!(status, expected, "{scheme}: {answer}");
    }

    // Plain HTTP on the HTTPS port gets no page.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", https.port))
        .await
        .unwrap();
    plain
        .write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), plain.read_to_end(&mut answer))
        .await
        .expect("the portal closes a connection that is not TLS")
        .ok();
    assert!(
        !answer.starts_with(b"HTTP/"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_messages_are_listed_traced_and_resent_from_the_portal() {
    let (port, archive_port) = (Port::reserve(), Port::reserve());
    let text = Production::store_and_forward(port.get(), archive_port.get())
        .association(Association::new(
            "STORESCU",
            "ROUTER",
            &[CT_IMAGE_STORAGE, MR_IMAGE_STORAGE],
            &[EXPLICIT],
        ))
        .association(Association::new(
            "ROUTER",
            "ARCHIVE",
            &[CT_IMAGE_STORAGE],
            &[EXPLICIT],
        ))
        .dicom_operation(DicomOperation::new(
            "OUT",
            archive_port.get(),
            "ARCHIVE",
            "ROUTER",
        ))
        .to_string();
    let engine = TestEngine::start_with(
        &[("viewer", "forward", &text)],
        &["--portal", "127.0.0.1:0"],
        |_| {},
    )
    .await;
    let _archive = Archive::start("ARCHIVE", archive_port, &engine.folder("archive")).await;
    let input = engine.folder("input");
    let files: Vec<PathBuf> = write_instances(&input, "mr", Modality::Mr, EXPLICIT, 2, 1024)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let stored = storescu("ROUTER", port.get(), &files, &[]).await;
    assert!(stored.ok, "{stored}");

    let url = std::fs::read_to_string(engine.data_dir().join("portal.token")).unwrap();
    let (address, _) = login_parts(&url);
    let address = address.as_str();
    let cookie = log_in(&url).await;
    let failed_rows = async || {
        let (_, page) = get(
            address,
            "/messages?ns=viewer&status=failed",
            address,
            Some(&cookie),
        )
        .await;
        page.matches("class=\"failed\">failed").count()
    };
    engine
        .wait_until("2 failed in the viewer", async || failed_rows().await == 2)
        .await;
    let events = engine
        .json(&["events", "--level", "error", "--item", "OUT", "--json"])
        .await;
    let events = events.as_array().expect("an array");
    assert!(
        events.len() >= 2
            && events
                .iter()
                .all(|e| e["level"] == "ERROR" && e["item"] == "OUT"),
        "{events:?}"
    );
    assert_eq!(
        events[0]["message"],
        "Message failed; it was not delivered."
    );
    let (_, board) = get(address, "/", address, Some(&cookie)).await;
    assert!(
        board.contains("<td class=\"number failed\">2</td>"),
        "OUT's 2 failed on the board: {board}"
    );
    let (status, list) = get(
        address,
        "/messages?status=failed&item=OUT",
        address,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains("MR Image Storage") && list.contains("STORESCU"),
        "{list}"
    );
    assert!(
        !list.contains("Doe^Jane"),
        "no patient data in the list: {list}"
    );
    let ids: Vec<String> = list
        .split("name=\"id\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    let csrf = list
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let (status, bad) = get(address, "/messages?since=yesterday", address, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(bad.contains("is not a UTC time"), "{bad}");

    let (status, page) = get(
        address,
        &format!("/messages/{}", ids[0]),
        address,
        Some(&cookie),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Visual trace") && page.contains("event failed"),
        "{page}"
    );
    assert!(page.contains("no presentation context"), "{page}");

    // Refused: no token, a cross-site request, a foreign origin.
    let selected = format!("id={}&id={}&confirm=yes", ids[0], ids[1]);
    let with_token = format!("csrf={csrf}&{selected}");
    for (headers, form) in [
        ("", selected.as_str()),
        ("Sec-Fetch-Site: cross-site\r\n", with_token.as_str()),
        ("Origin: http://evil.example\r\n", with_token.as_str()),
    ] {
        let (status, answer) = post(address, "/messages/resend", &cookie, headers, form).await;
        assert_eq!(status, 403, "{headers}: {answer}");
    }
    let (status, _) = post(
        address,
        "/messages/resend",
        "switchboard_session=guess",
        "",
        &with_token,
    )
    .await;
    assert_eq!(status, 401, "a form needs a session");

    // Fix the cause, then resend both from the portal: asked first, then done.
    let out = engine
        .command(&[
            "--namespace",
            "viewer",
            "association",
            "context",
            "add",
            "--calling",
            "ROUTER",
            "--called",
            "ARCHIVE",
            "--abstract-syntax",
            MR_IMAGE_STORAGE,
            "--transfer-syntax",
            EXPLICIT,
        ])
        .await;
    assert!(out.status.success(), "{}", integration_tests::text(&out));
    let every = format!("csrf={csrf}&ns=viewer&item=OUT");
    let (status, confirm) = post(address, "/messages/resend-failed", &cookie, "", &every).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(
        confirm.contains("Resend every failed message that matches?")
            && confirm.contains("namespace viewer, item OUT"),
        "{confirm}"
    );
    let ask = format!("csrf={csrf}&id={}&id={}", ids[0], ids[1]);
    let (status, confirm) = post(
        address,
        "/messages/resend",
        &cookie,
        "Sec-Fetch-Site: same-origin\r\n",
        &ask,
    )
    .await;
    assert_eq!(status, 200, "{confirm}");
    assert!(confirm.contains("Resend 2 messages?"), "{confirm}");
    let origin = format!("Origin: http://{address}\r\n");
    let (status, done) = post(address, "/messages/resend", &cookie, &origin, &with_token).await;
    assert_eq!(status, 303, "{done}");
    engine
        .wait_until("both delivered", async || {
            let (_, page) = get(
                address,
                "/messages?ns=viewer&status=delivered",
                address,
                Some(&cookie),
            )
            .await;
            page.matches("class=\"delivered\">delivered").count() == 2
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ae_directory_is_kept_from_the_portal_as_from_the_cli() {
    let engine = TestEngine::start_with(&[], &["--portal", "127.0.0.1:0"], |_| {}).await;
    let url = std::fs::read_to_string(engine.data_dir().join("portal.token")).unwrap();
    let (address, _) = login_parts(&url);
    let address = address.as_str();
    let cookie = log_in(&url).await;
    let (status, page) = get(address, "/ae?ns=imaging", address, Some(&cookie)).await;
    assert_eq!(status, 200, "{page}");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let same = "Sec-Fetch-Site: same-origin\r\n";
    let add = |host: &str, port: &str| {
        format!(
            "csrf={csrf}&ns=imaging&action=save&ae_title=PACS&host={host}&port={port}&description=Archive"
        )
    };
    let (status, page) = post(address, "/ae", &cookie, same, &add("bad_host!", "0")).await;
    assert_eq!(status, 400, "{page}");
    assert_eq!(
        page.matches("class=\"invalid\"").count(),
        2,
        "host and port in red: {page}"
    );
    let listed = engine
        .json(&["--namespace", "imaging", "ae", "list", "--json"])
        .await;
    assert_eq!(listed, serde_json::json!([]), "nothing stored");

    let (status, _) = post(
        address,
        "/ae",
        &cookie,
        same,
        &add("pacs.example.org", "11112"),
    )
    .await;
    assert_eq!(status, 303);
    let listed = engine
        .json(&["--namespace", "imaging", "ae", "list", "--json"])
        .await;
    assert_eq!(listed[0]["ae_title"], "PACS");
    assert_eq!(listed[0]["port"], 11112);

    let delete = format!("csrf={csrf}&ns=imaging&action=delete&ae_title=PACS");
    let (status, confirm) = post(address, "/ae", &cookie, same, &delete).await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains("Delete PACS from the AE directory of imaging?"),
        "{confirm}"
    );
    let (status, _) = post(
        address,
        "/ae",
        &cookie,
        same,
        &format!("{delete}&confirm=yes"),
    )
    .await;
    assert_eq!(status, 303);
    let listed = engine
        .json(&["--namespace", "imaging", "ae", "list", "--json"])
        .await;
    assert_eq!(listed, serde_json::json!([]));

    // The audit trail has the login and both changes, as the session's;
    // the refused add and the reads are not in it.
    let audit = engine.json(&["audit", "list", "--json"]).await;
    let audit = audit.as_array().unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["portal login", "ae add", "ae delete"],
        "{audit:#?}"
    );
    let who = audit[0]["who"].as_str().unwrap();
    assert!(who.starts_with("portal session "), "{who}");
    assert!(audit.iter().all(|r| r["who"] == who), "{audit:#?}");
    assert_eq!(audit[1]["after"]["host"], "pacs.example.org");
    assert_eq!(audit[2]["before"]["ae_title"], "PACS");
    assert!(audit[2].get("after").is_none());
}
