//! Association contexts end to end through the built binary: the
//! reference's import example, export → import round trips, refused input
//! that changes nothing, namespace isolation, `create` against the registry,
//! and the admin socket used while another process holds the store.

use integration_tests::{DataDir, Run};
use serde_json::Value;

const REFERENCE_EXAMPLE: &str = "1.2.840.10008.1.1
1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2
1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2.1
1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2.2
";

const PAIR: [&str; 4] = ["--calling", "ENS-SCU", "--called", "MWL-SCP"];

fn with_pair<'a>(command: &[&'a str], pair: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["association"];
    args.extend_from_slice(command);
    args.extend_from_slice(pair);
    args
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

fn contexts(value: &Value) -> Vec<(String, Vec<String>)> {
    value["presentation_contexts"]
        .as_array()
        .expect("presentation_contexts is an array")
        .iter()
        .map(|pc| {
            (
                pc["abstract_syntax"].as_str().unwrap().to_string(),
                pc["transfer_syntaxes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn import_reference_example(data: &DataDir, namespace: &str) {
    let file = data.write("MyAssociations.txt", REFERENCE_EXAMPLE);
    let file = file.to_str().unwrap();
    data.run_in(namespace, &with_pair(&["import", file], &PAIR))
        .ok();
}

#[test]
fn reference_example_gives_two_contexts() {
    let data = DataDir::new();
    let file = data.write("MyAssociations.txt", REFERENCE_EXAMPLE);
    let run = data
        .run(&with_pair(&["import", file.to_str().unwrap()], &PAIR))
        .ok();
    assert!(
        run.stdout.contains("Imported 2 presentation contexts"),
        "{}",
        run.stdout
    );

    let show = json(&data.run(&with_pair(&["show", "--json"], &PAIR)).ok());
    assert_eq!(show["calling_aet"], "ENS-SCU");
    assert_eq!(show["called_aet"], "MWL-SCP");
    assert_eq!(show["name"], "");
    assert_eq!(show["description"], "");
    assert_eq!(
        contexts(&show),
        vec![
            (
                "1.2.840.10008.1.1".to_string(),
                vec!["1.2.840.10008.1.2".to_string()]
            ),
            (
                "1.2.840.10008.5.1.4.31".to_string(),
                vec![
                    "1.2.840.10008.1.2".to_string(),
                    "1.2.840.10008.1.2.1".to_string(),
                    "1.2.840.10008.1.2.2".to_string()
                ]
            ),
        ]
    );
    let list = json(&data.run(&["association", "list", "--json"]).ok());
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0], show);

    // The text form names SOP classes and transfer syntaxes, in order.
    let text = data.run(&with_pair(&["show"], &PAIR)).ok().stdout;
    let verification = text.find("Verification SOP Class (1.2.840.10008.1.1)");
    let implicit = text.rfind("Implicit VR Little Endian (1.2.840.10008.1.2)");
    let big_endian = text.find("(1.2.840.10008.1.2.2)");
    assert!(verification.is_some() && implicit < big_endian, "{text}");

    // A second import without --overwrite is refused and says so.
    let again = data
        .run(&with_pair(&["import", file.to_str().unwrap()], &PAIR))
        .fails();
    assert!(
        again.stderr.contains("already exists") && again.stderr.contains("--overwrite"),
        "{}",
        again.stderr
    );
}

/// A deterministic generator (xorshift64*) so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn uid(&mut self) -> String {
        let mut s = String::from("1.2.826.0.1");
        for _ in 0..=self.below(4) {
            s.push_str(&format!(".{}", self.below(1_000_000)));
        }
        s
    }

    /// A random import file: SOP classes, some TS lines, some SOP-only
    /// lines, comments, blank lines and CRLF.
    fn import_file(&mut self) -> String {
        let pool = [
            "1.2.840.10008.1.2".to_string(),
            "1.2.840.10008.1.2.1".to_string(),
            "1.2.840.10008.1.2.2".to_string(),
            "1.2.840.10008.1.2.4.50".to_string(),
            self.uid(),
        ];
        let eol = if self.below(2) == 0 { "\r\n" } else { "\n" };
        let mut lines = vec!["# random association".to_string()];
        for _ in 0..=self.below(15) {
            let sop = if self.below(5) == 0 {
                "1.2.840.10008.1.1".to_string()
            } else {
                self.uid()
            };
            match self.below(4) {
                0 => lines.push(sop),
                _ => {
                    for _ in 0..=self.below(4) {
                        lines.push(format!("{sop}\\{}", pool[self.below(pool.len())]));
                    }
                }
            }
            if self.below(5) == 0 {
                lines.push(String::new());
            }
        }
        lines.join(eol) + eol
    }
}

#[test]
fn random_export_import_round_trips() {
    let data = DataDir::new();
    let mut rng = Rng(0x00C0_FFEE_D1C0_2026);
    for round in 0..20 {
        let source = data.write(&format!("random-{round}.txt"), rng.import_file());
        let first = ["--calling", "RANDOM-SCU", "--called", "RANDOM-SCP"];
        let second = ["--calling", "COPY-SCU", "--called", "COPY-SCP"];
        data.run(&with_pair(
            &["import", source.to_str().unwrap(), "--overwrite"],
            &first,
        ))
        .ok();
        let exported = data.file(&format!("export-{round}.txt"));
        let exported = exported.to_str().unwrap();
        data.run(&with_pair(&["export", "-o", exported], &first))
            .ok();
        data.run(&with_pair(&["import", exported, "--overwrite"], &second))
            .ok();

        let a = json(&data.run(&with_pair(&["show", "--json"], &first)).ok());
        let b = json(&data.run(&with_pair(&["show", "--json"], &second)).ok());
        assert_eq!(contexts(&a), contexts(&b), "round {round}");

        // Export → import into the same pair → export gives the same bytes.
        let before = data.run(&with_pair(&["export"], &first)).ok().stdout;
        let again = data.write(&format!("again-{round}.txt"), &before);
        data.run(&with_pair(
            &["import", again.to_str().unwrap(), "--overwrite"],
            &first,
        ))
        .ok();
        let after = data.run(&with_pair(&["export"], &first)).ok().stdout;
        assert_eq!(before, after, "round {round}");
    }
}

/// A few associations in two namespaces, as the "before" of refused
/// commands.
fn seeded() -> DataDir {
    let data = DataDir::new();
    import_reference_example(&data, "default");
    data.run(&[
        "association",
        "create",
        "--calling",
        "JD-SCU",
        "--called",
        "ENS-SCP",
        "--transfer-syntax",
        "1.2.840.10008.1.2.1",
    ])
    .ok();
    data.run(&[
        "association",
        "edit",
        "--calling",
        "JD-SCU",
        "--called",
        "ENS-SCP",
        "--name",
        "JD",
    ])
    .ok();
    data
}

#[test]
fn bad_uid_on_line_3_changes_nothing() {
    let data = seeded();
    let before = data.run(&["association", "list", "--json"]).ok().stdout;
    let bad = data.write(
        "Bad.txt",
        "1.2.840.10008.1.1\n1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2\n1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2.x\n1.2.840.10008.5.1.4.1.1.2\n",
    );
    let bad = bad.to_str().unwrap();
    for args in [
        with_pair(
            &["import", bad],
            &["--calling", "NEW-SCU", "--called", "NEW-SCP"],
        ),
        with_pair(&["import", bad, "--overwrite"], &PAIR),
    ] {
        let run = data.run(&args).fails();
        assert!(run.stderr.contains(&format!("{bad}:3:")), "{}", run.stderr);
        assert!(run.stderr.contains("1.2.840.10008.1.2.x"), "{}", run.stderr);
        assert!(!run.stderr.contains(":4:"), "{}", run.stderr);
        let after = data.run(&["association", "list", "--json"]).ok().stdout;
        assert_eq!(before, after);
    }
}

#[test]
fn invalid_ae_titles_and_uids_change_nothing() {
    let data = seeded();
    let before = data.run(&["association", "list", "--json"]).ok().stdout;
    let good = data.write("Good.txt", REFERENCE_EXAMPLE);
    let good = good.to_str().unwrap();
    let long_name = "n".repeat(65);
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            with_pair(
                &["import", good],
                &["--calling", "MUCH-TOO-LONG-AE-TITLE", "--called", "X"],
            ),
            "MUCH-TOO-LONG-AE-TITLE",
            "16",
        ),
        (
            with_pair(
                &["import", good, "--overwrite"],
                &["--calling", "ENS\\SCU", "--called", "MWL-SCP"],
            ),
            "ENS\\\\SCU",
            "backslash",
        ),
        (
            with_pair(&["create"], &["--calling", "  ", "--called", "X"]),
            "\"  \"",
            "1 to 16",
        ),
        (
            with_pair(
                &[
                    "context",
                    "add",
                    "--abstract-syntax",
                    "1.2.3",
                    "--transfer-syntax",
                    "1.02",
                ],
                &PAIR,
            ),
            "1.02",
            "leading zero",
        ),
        (
            with_pair(
                &["create", "--overwrite", "--transfer-syntax", "1..2"],
                &PAIR,
            ),
            "1..2",
            "empty component",
        ),
        (
            with_pair(&["edit", "--name", &long_name], &PAIR),
            "65",
            "64",
        ),
    ];
    for (args, value, rule) in cases {
        let run = data.run(&args).fails();
        assert!(
            run.stderr.contains(value) && run.stderr.contains(rule),
            "{args:?}: {}",
            run.stderr
        );
        let after = data.run(&["association", "list", "--json"]).ok().stdout;
        assert_eq!(before, after, "{args:?}");
    }
}

#[test]
fn namespaces_holding_the_same_pair_stay_separate() {
    let data = DataDir::new();
    import_reference_example(&data, "site-a");
    data.run_in(
        "site-b",
        &with_pair(
            &["create", "--transfer-syntax", "1.2.840.10008.1.2.1"],
            &PAIR,
        ),
    )
    .ok();
    let a = json(
        &data
            .run_in("site-a", &with_pair(&["show", "--json"], &PAIR))
            .ok(),
    );
    let b = json(
        &data
            .run_in("site-b", &with_pair(&["show", "--json"], &PAIR))
            .ok(),
    );
    assert_eq!(contexts(&a).len(), 2);
    assert!(contexts(&b).len() > 2);
    assert!(
        contexts(&b)
            .iter()
            .all(|(_, ts)| ts == &["1.2.840.10008.1.2.1"])
    );

    let empty = data.run(&["association", "list", "--json"]).ok();
    assert_eq!(json(&empty), Value::Array(vec![]));
    data.run(&with_pair(&["show"], &PAIR)).fails();

    data.run_in("site-a", &with_pair(&["delete"], &PAIR)).ok();
    let b_after = json(
        &data
            .run_in("site-b", &with_pair(&["show", "--json"], &PAIR))
            .ok(),
    );
    assert_eq!(b, b_after);
    data.run_in("site-a", &with_pair(&["show"], &PAIR)).fails();
}

#[test]
fn create_gives_one_context_per_registry_sop_class_in_the_given_order() {
    let data = DataDir::new();
    let tss = [
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.2",
    ];
    let pair = ["--calling", "JD-SCU", "--called", "ENS-SCP"];
    let mut args = with_pair(&["create"], &pair);
    for ts in tss {
        args.extend(["--transfer-syntax", ts]);
    }
    let run = data.run(&args).ok();
    let registry: Vec<&str> = switchboard::dictionary::sop_classes()
        .iter()
        .map(|c| c.uid)
        .collect();
    assert!(
        run.stdout
            .contains(&format!("Created {} presentation contexts", registry.len())),
        "{}",
        run.stdout
    );
    let show = json(&data.run(&with_pair(&["show", "--json"], &pair)).ok());
    let got = contexts(&show);
    assert_eq!(
        got.iter().map(|(sop, _)| sop.as_str()).collect::<Vec<_>>(),
        registry
    );
    assert!(got.iter().all(|(_, ts)| ts == &tss));

    // Without --transfer-syntax: Implicit VR Little Endian only.
    let default_pair = ["--calling", "A", "--called", "B"];
    data.run(&with_pair(&["create"], &default_pair)).ok();
    let show = json(
        &data
            .run(&with_pair(&["show", "--json"], &default_pair))
            .ok(),
    );
    assert!(
        contexts(&show)
            .iter()
            .all(|(_, ts)| ts == &["1.2.840.10008.1.2"])
    );
}

#[test]
fn maintain_commands_edit_contexts_in_place() {
    let data = DataDir::new();
    import_reference_example(&data, "default");
    data.run(&with_pair(
        &[
            "edit",
            "--name",
            "Worklist",
            "--description",
            "MWL of the CT",
            "--max-pdu-length",
            "32768",
        ],
        &PAIR,
    ))
    .ok();
    data.run(&with_pair(
        &[
            "context",
            "add",
            "--abstract-syntax",
            "1.2.840.10008.1.1",
            "--transfer-syntax",
            "1.2.840.10008.1.2.1",
        ],
        &PAIR,
    ))
    .ok();
    data.run(&with_pair(
        &[
            "context",
            "add",
            "--abstract-syntax",
            "1.2.999.7",
            "--transfer-syntax",
            "1.2.840.10008.1.2",
        ],
        &PAIR,
    ))
    .ok();
    data.run(&with_pair(
        &[
            "context",
            "remove",
            "--abstract-syntax",
            "1.2.840.10008.5.1.4.31",
            "--transfer-syntax",
            "1.2.840.10008.1.2.2",
        ],
        &PAIR,
    ))
    .ok();
    let show = json(&data.run(&with_pair(&["show", "--json"], &PAIR)).ok());
    assert_eq!(show["name"], "Worklist");
    assert_eq!(show["description"], "MWL of the CT");
    assert_eq!(show["max_pdu_length"], 32768);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        contexts(&show),
        vec![
            (
                "1.2.840.10008.1.1".into(),
                s(&["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
            ),
            (
                "1.2.840.10008.5.1.4.31".into(),
                s(&["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
            ),
            ("1.2.999.7".into(), s(&["1.2.840.10008.1.2"])),
        ]
    );
    let text = data.run(&with_pair(&["show"], &PAIR)).ok().stdout;
    assert!(text.contains("(unknown) (1.2.999.7)"), "{text}");

    data.run(&with_pair(
        &["context", "remove", "--abstract-syntax", "1.2.999.7"],
        &PAIR,
    ))
    .ok();
    data.run(&with_pair(&["delete"], &PAIR)).ok();
    data.run(&with_pair(&["delete"], &PAIR)).fails();
    assert_eq!(
        json(&data.run(&["association", "list", "--json"]).ok()),
        Value::Array(vec![])
    );
}

/// Runs the same commands on a data directory this process holds (so the
/// CLI must go through the admin socket) and on one it does not (so the CLI
/// opens the store itself), and compares everything printed.
#[test]
fn admin_socket_gives_the_same_output_as_a_local_store() {
    use switchboard::admin::{AdminServer, socket_path};
    use switchboard::store::Store;

    let local = DataDir::new();
    let served = DataDir::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = Store::open(&served.path()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let _entered = runtime.enter();
        AdminServer::bind(&socket_path(&served.path()), store.clone()).unwrap()
    };
    let task = runtime.spawn(server.run(async {
        stopped.await.ok();
    }));

    let file = "MyAssociations.txt";
    local.write(file, REFERENCE_EXAMPLE);
    served.write(file, REFERENCE_EXAMPLE);
    let script: Vec<Vec<&str>> = vec![
        with_pair(&["import", file], &PAIR),
        with_pair(&["import", file], &PAIR), // refused: exists
        with_pair(
            &["create", "--transfer-syntax", "1.2.840.10008.1.2.1"],
            &["--calling", "JD-SCU", "--called", "ENS-SCP"],
        ),
        with_pair(&["edit", "--name", "Worklist"], &PAIR),
        with_pair(
            &[
                "context",
                "add",
                "--abstract-syntax",
                "1.2.999.1",
                "--transfer-syntax",
                "1.2.840.10008.1.2",
            ],
            &PAIR,
        ),
        with_pair(
            &[
                "context",
                "remove",
                "--abstract-syntax",
                "1.2.999.1",
                "--transfer-syntax",
                "1.2.840.10008.1.2",
            ],
            &PAIR,
        ), // refused: last TS
        vec!["association", "list"],
        vec!["association", "list", "--json"],
        with_pair(&["show"], &PAIR),
        with_pair(&["show", "--json"], &PAIR),
        with_pair(&["export"], &PAIR),
        with_pair(&["export", "-o", "out.txt"], &PAIR),
        with_pair(&["delete"], &["--calling", "JD-SCU", "--called", "ENS-SCP"]),
        with_pair(&["delete"], &["--calling", "JD-SCU", "--called", "ENS-SCP"]), // refused: gone
    ];
    for args in &script {
        let a = local.run(args);
        let b = served.run(args);
        assert_eq!(a, b, "{args:?}");
    }
    assert_eq!(
        std::fs::read(local.file("out.txt")).unwrap(),
        std::fs::read(served.file("out.txt")).unwrap()
    );
    // The writes went into the store this process holds.
    let held = store
        .associations(&switchboard::ids::NamespaceId::default())
        .list()
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].name, "Worklist");

    // Once the engine stops answering, a held store is reported as such.
    stop.send(()).unwrap();
    runtime.block_on(task).unwrap().unwrap();
    let run = served.run(&["association", "list"]).fails();
    assert!(
        run.stderr.contains("held by a running engine"),
        "{}",
        run.stderr
    );
    drop(store);
    // Released: the CLI opens the store itself and finds the same data.
    let list = json(&served.run(&["association", "list", "--json"]).ok());
    assert_eq!(list[0]["name"], "Worklist");
}
