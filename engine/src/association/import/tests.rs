use super::*;
use crate::association::{AeTitle, IMPLICIT_VR_LITTLE_ENDIAN};

const REFERENCE_EXAMPLE: &str = "1.2.840.10008.1.1
1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2
1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2.1
1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2.2
";

/// The presentation contexts of a file.
fn parsed(bytes: &[u8]) -> Result<Vec<PresentationContext>, Vec<LineError>> {
    parse(bytes).map(|file| file.presentation_contexts)
}

fn uid(s: &str) -> Uid {
    Uid::new(s).unwrap()
}

fn pc(sop: &str, tss: &[&str]) -> PresentationContext {
    PresentationContext::new(uid(sop), tss.iter().map(|t| uid(t)).collect()).unwrap()
}

fn ctx_with(contexts: Vec<PresentationContext>) -> AssociationContext {
    let mut ctx = AssociationContext::new(
        AeTitle::new("ENS-SCU").unwrap(),
        AeTitle::new("MWL-SCP").unwrap(),
    );
    ctx.presentation_contexts = contexts;
    ctx
}

#[test]
fn default_transfer_syntax_is_a_valid_uid() {
    assert_eq!(
        Uid::new(IMPLICIT_VR_LITTLE_ENDIAN).unwrap(),
        Uid::implicit_vr_little_endian()
    );
}

#[test]
fn reference_example_gives_two_contexts() {
    let contexts = parsed(REFERENCE_EXAMPLE.as_bytes()).unwrap();
    assert_eq!(
        contexts,
        vec![
            pc("1.2.840.10008.1.1", &["1.2.840.10008.1.2"]),
            pc(
                "1.2.840.10008.5.1.4.31",
                &[
                    "1.2.840.10008.1.2",
                    "1.2.840.10008.1.2.1",
                    "1.2.840.10008.1.2.2"
                ]
            ),
        ]
    );
}

#[test]
fn crlf_bom_blank_lines_and_comments_are_accepted() {
    let text = format!(
        "\u{feff}# worklist modality\r\n\r\n{}   \r\n  # indented comment\r\n",
        REFERENCE_EXAMPLE
            .lines()
            .map(|l| format!("{l} # trailing comment"))
            .collect::<Vec<_>>()
            .join("\r\n")
    );
    assert_eq!(
        parsed(text.as_bytes()).unwrap(),
        parsed(REFERENCE_EXAMPLE.as_bytes()).unwrap()
    );
}

#[test]
fn accumulates_in_file_order_and_defaults_only_when_no_ts() {
    let text = "1.2.3\n1.2.4\\1.2.840.10008.1.2.1\n1.2.3\\1.2.840.10008.1.2.2\n1.2.4\\1.2.840.10008.1.2\n1.2.4\\1.2.840.10008.1.2.1\n1.2.5\n1.2.6\\1.2.840.10008.1.2.1\\1.2.840.10008.1.2\n";
    assert_eq!(
        parsed(text.as_bytes()).unwrap(),
        vec![
            pc("1.2.3", &["1.2.840.10008.1.2.2"]),
            pc("1.2.4", &["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]),
            pc("1.2.5", &["1.2.840.10008.1.2"]),
            pc("1.2.6", &["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]),
        ]
    );
}

#[test]
fn every_bad_line_is_reported_with_its_number() {
    let text = b"1.2.840.10008.1.1\n\n1.2.x\n1.2.3\\\n\\1.2.3\n1.2.3\\01.2\n\xff\xfe\n1.2.3\\1.2.840.10008.1.2\n";
    let err = parse_file("My.txt", text).unwrap_err();
    let lines: Vec<usize> = err.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7]);
    let shown = err.to_string();
    let first = shown.lines().next().unwrap();
    assert!(first.starts_with("My.txt:3: SOP class"), "{first}");
    assert!(
        first.contains("\"1.2.x\"") && first.contains("digits and dots"),
        "{first}"
    );
    assert!(
        shown.contains("My.txt:6: transfer syntax: invalid UID \"01.2\""),
        "{shown}"
    );
    assert!(shown.contains("My.txt:7: is not valid UTF-8"), "{shown}");
}

#[test]
fn long_error_lists_are_capped() {
    let text = "x\n".repeat(MAX_REPORTED_ERRORS + 5);
    let err = parse_file("f", text.as_bytes()).unwrap_err();
    assert_eq!(err.errors.len(), MAX_REPORTED_ERRORS + 5);
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), MAX_REPORTED_ERRORS + 1);
    assert!(shown.ends_with("f: 5 more bad lines not shown"), "{shown}");
}

#[test]
fn empty_file_gives_no_context() {
    assert_eq!(parsed(b"").unwrap(), vec![]);
    assert_eq!(parsed(b"\n# nothing\n").unwrap(), vec![]);
}

#[test]
fn export_writes_every_ts_explicitly() {
    let ctx = ctx_with(parsed(REFERENCE_EXAMPLE.as_bytes()).unwrap());
    let text = export(&ctx);
    let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        [
            "1.2.840.10008.1.1\\1.2.840.10008.1.2",
            "1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2",
            "1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2.1",
            "1.2.840.10008.5.1.4.31\\1.2.840.10008.1.2.2",
        ]
    );
    assert!(text.starts_with("# Presentation contexts of association ENS-SCU -> MWL-SCP\n"));
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn uid(&mut self) -> Uid {
        let mut s = String::from("1.2");
        for _ in 0..self.below(6) + 1 {
            let component = match self.below(4) {
                0 => 0,
                1 => self.below(10),
                _ => self.below(100_000),
            };
            s.push_str(&format!(".{component}"));
        }
        Uid::new(&s).unwrap()
    }
    /// Transfer syntaxes drawn from a small pool (so that the default one
    /// and repeats across contexts happen often), duplicate-free.
    fn transfer_syntaxes(&mut self, pool: &[Uid]) -> Vec<Uid> {
        let mut out: Vec<Uid> = Vec::new();
        for _ in 0..self.below(4) + 1 {
            let ts = pool[self.below(pool.len() as u64) as usize].clone();
            if !out.contains(&ts) {
                out.push(ts);
            }
        }
        out
    }
    fn contexts(&mut self) -> Vec<PresentationContext> {
        let mut pool = vec![
            Uid::implicit_vr_little_endian(),
            uid("1.2.840.10008.1.2.1"),
            uid("1.2.840.10008.1.2.4.50"),
        ];
        pool.push(self.uid());
        let mut out: Vec<PresentationContext> = Vec::new();
        for _ in 0..self.below(12) {
            let sop = self.uid();
            if out.iter().any(|p| p.abstract_syntax == sop) {
                continue;
            }
            let tss = self.transfer_syntaxes(&pool);
            out.push(PresentationContext::new(sop, tss).unwrap());
        }
        out
    }
}

#[test]
fn random_export_import_round_trips() {
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    for _ in 0..500 {
        let ctx = ctx_with(rng.contexts());
        let text = export(&ctx);
        let back = parse_file("export.txt", text.as_bytes())
            .unwrap()
            .presentation_contexts;
        assert_eq!(back, ctx.presentation_contexts, "file:\n{text}");
        // And the export of what came back is the same file.
        assert_eq!(export(&ctx_with(back)), text);
    }
}

#[test]
fn random_file_layouts_parse_to_the_same_contexts() {
    // The same contexts written with CRLF, a BOM, comments, blank lines,
    // SOP-only lines, repeated lines and shuffled-but-order-preserving
    // interleaving of SOP classes all parse to the same result.
    let mut rng = Rng(0x0BAD_5EED_1234_5678);
    for _ in 0..300 {
        let expected = rng.contexts();
        // Interleave: keep a cursor per context and emit lines from random
        // contexts, which keeps each context's own TS order.
        let mut cursors = vec![0usize; expected.len()];
        let mut lines: Vec<String> = Vec::new();
        // Every SOP class alone first, which fixes their order; then the
        // TS lines interleaved.
        for p in &expected {
            lines.push(p.abstract_syntax.to_string());
        }
        loop {
            let open: Vec<usize> = (0..expected.len())
                .filter(|i| cursors[*i] < expected[*i].transfer_syntaxes.len())
                .collect();
            if open.is_empty() {
                break;
            }
            let i = open[rng.below(open.len() as u64) as usize];
            let p = &expected[i];
            let ts = &p.transfer_syntaxes[cursors[i]];
            let only_default =
                p.transfer_syntaxes.len() == 1 && *ts == Uid::implicit_vr_little_endian();
            if !(only_default && rng.below(2) == 0) {
                lines.push(format!("{}\\{}", p.abstract_syntax, ts));
                if rng.below(5) == 0 {
                    lines.push(format!("{}\\{}", p.abstract_syntax, ts));
                }
            }
            cursors[i] += 1;
            if rng.below(6) == 0 {
                lines.push(String::new());
            }
            if rng.below(6) == 0 {
                lines.push("# a comment".to_string());
            }
        }
        let eol = if rng.below(2) == 0 { "\r\n" } else { "\n" };
        let bom = if rng.below(3) == 0 { "\u{feff}" } else { "" };
        let text = format!("{bom}{}{eol}", lines.join(eol));
        assert_eq!(parsed(text.as_bytes()).unwrap(), expected, "file:\n{text}");
    }
}

#[test]
fn certificate_lines_bind_the_calling_ae_title_and_round_trip() {
    let mut ctx = ctx_with(vec![pc("1.2.840.10008.1.1", &["1.2.840.10008.1.2"])]);
    ctx.certificates = vec![
        "cn:ENS-SCU".parse().unwrap(),
        format!("sha256:{}", "0a".repeat(32)).parse().unwrap(),
    ];
    let text = export(&ctx);
    assert!(text.contains("\ncertificate cn:ENS-SCU\n"), "{text}");
    let back = parse_file("export.txt", text.as_bytes()).unwrap();
    assert_eq!(back.certificates, ctx.certificates);
    assert_eq!(back.presentation_contexts, ctx.presentation_contexts);
    // A bad binding is a bad line like any other.
    let err = parse_file("f", b"1.2.840.10008.1.1\ncertificate STORESCU\n").unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].line, 2);
    assert!(err.errors[0].message.contains("cn:NAME"), "{err}");
}
