//! The portal's guard, over plain HTTP: loopback only, a login URL with a
//! token in a 0600 file, the token exchanged for a session cookie, a
//! foreign Host header refused, security headers on every answer, and the
//! production board behind it.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use integration_tests::engine_process::TestEngine;
use integration_tests::net::Port;
use integration_tests::production::{DicomService, Production};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One GET to the portal at `address` with this Host header (and cookie):
/// the status code and the whole answer.
async fn get(address: &str, path: &str, host: &str, cookie: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n");
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
    let rest = url.trim().strip_prefix("http://").unwrap();
    let (address, login) = rest.split_once('/').unwrap();
    let login = format!("/{login}");

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
    let (status, _) = get(address, "/", "localhost:1", Some(session)).await;
    assert_eq!(status, 421, "the Host must name this portal's port");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_portal_on_an_address_other_than_loopback_is_refused() {
    let root = integration_tests::private_tempdir();
    std::fs::create_dir_all(root.path().join("productions")).unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(integration_tests::switchboard_bin())
            .arg("--data-dir")
            .arg(root.path().join("data"))
            .args(["run", "--portal", "0.0.0.0:0", "--productions"])
            .arg(root.path().join("productions"))
            .output(),
    )
    .await
    .expect("the engine refuses at once")
    .unwrap();
    let text = integration_tests::text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("loopback addresses only"), "{text}");
}
