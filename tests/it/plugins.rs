//! `switchboard plugin check` and `switchboard plugin run` through the binary.

use integration_tests::instances::{Instance, Modality};
use integration_tests::plugins::plugin;
use integration_tests::switchboard;

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_prints_contract_version_and_exports_of_every_example_plugin() {
    for name in [
        "route-by-modality",
        "route-by-ae-title",
        "tag-morph",
        "filter",
    ] {
        let path = plugin(name);
        let out = switchboard(&["plugin", "check", path.to_str().unwrap()]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(
            stdout.contains("contract: switchboard:router@1.1.0"),
            "{name}: {stdout}"
        );
        assert!(
            stdout.contains("switchboard:router/plugin@1.1.0: init, route"),
            "{name}: {stdout}"
        );
        assert!(
            stdout.contains("switchboard:router/host@1.1.0"),
            "{name}: {stdout}"
        );
    }
}

#[test]
fn check_runs_init_with_a_config() {
    let path = plugin("route-by-modality");
    let good = switchboard(&[
        "plugin",
        "check",
        path.to_str().unwrap(),
        "--config",
        r#"{"default": ["A"]}"#,
    ]);
    assert!(good.status.success());
    assert!(text(&good).0.contains("init:     ok"));
    let bad = switchboard(&[
        "plugin",
        "check",
        path.to_str().unwrap(),
        "--config",
        r#"{"routs": {}}"#,
    ]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).1.contains("unknown field `routs`"),
        "{}",
        text(&bad).1
    );
}

#[test]
fn check_refuses_a_corrupt_file_and_a_wrong_contract_version() {
    let dir = integration_tests::private_tempdir();
    let corrupt = dir.path().join("corrupt.wasm");
    std::fs::write(&corrupt, b"this is not wasm at all").unwrap();
    let out = switchboard(&["plugin", "check", corrupt.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("not a valid WebAssembly component"),
        "{}",
        text(&out).1
    );

    let mut truncated = std::fs::read(plugin("filter")).unwrap();
    truncated.truncate(truncated.len() / 2);
    let half = dir.path().join("half.wasm");
    std::fs::write(&half, truncated).unwrap();
    let out = switchboard(&["plugin", "check", half.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("not a valid WebAssembly component"),
        "{}",
        text(&out).1
    );

    let wrong = plugin("test-wrong-version");
    let out = switchboard(&["plugin", "check", wrong.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out).1;
    assert!(
        stderr.contains("built for contract switchboard:router@2.0.0") && stderr.contains("1.x"),
        "{stderr}"
    );

    let missing = switchboard(&[
        "plugin",
        "check",
        dir.path().join("nope.wasm").to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).1.contains("cannot read"),
        "{}",
        text(&missing).1
    );
}

#[test]
fn run_prints_each_decision() {
    let dir = integration_tests::private_tempdir();
    let ct = dir.path().join("ct.dcm");
    let mr = dir.path().join("mr.dcm");
    Instance::new(Modality::Ct).patient_id("1").write(&ct);
    Instance::new(Modality::Mr).patient_id("2").write(&mr);
    let path = plugin("route-by-modality");
    let out = switchboard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--config",
        r#"{"routes": {"CT": ["CT-ARCHIVE"]}, "default": ["ARCHIVE"]}"#,
        "--targets",
        "CT-ARCHIVE,ARCHIVE",
        ct.to_str().unwrap(),
        mr.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("{}: forward to CT-ARCHIVE\n", ct.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}: forward to ARCHIVE\n", mr.display())),
        "{stdout}"
    );

    let morph = plugin("tag-morph");
    let out = switchboard(&[
        "plugin",
        "run",
        morph.to_str().unwrap(),
        "--config",
        r#"{"remove": ["PatientName"]}"#,
        ct.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(
        text(&out).0.contains("  remove (0010,0010)"),
        "{}",
        text(&out).0
    );
}

#[test]
fn run_reports_a_failing_message_and_exits_non_zero() {
    let dir = integration_tests::private_tempdir();
    let good = dir.path().join("good.dcm");
    let looping = dir.path().join("loop.dcm");
    Instance::new(Modality::Ct).patient_id("ok").write(&good);
    Instance::new(Modality::Ct)
        .patient_id("loop")
        .write(&looping);
    let path = plugin("test-misbehave");
    let out = switchboard(&[
        "plugin",
        "run",
        path.to_str().unwrap(),
        "--targets",
        "A",
        looping.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("loop.dcm: failed: plugin ran past its deadline of 10 ms"),
        "{stdout}"
    );
    assert!(stdout.contains("good.dcm: forward to A"), "{stdout}");
    assert!(stderr.contains("1 of 2 messages failed"), "{stderr}");
}
