#!/usr/bin/env python3
"""Generate the committed reference tables from dicom-dictionary-std's sources.

dicom-dictionary-std can look a UID or a tag up, but it cannot list them, and
it has neither display names nor value multiplicities for data elements. Both
exist in the doc comments of its generated `uids.rs` and `tags.rs`, so this
script reads those once, at development time, and writes plain Rust tables:

    engine/src/dictionary/sop_classes.rs    every SOP Class and Meta SOP Class
    engine/src/dictionary/data_elements.rs  every data element (tag, keyword,
                                            name, VR, VM, retired)

Usage:
    scripts/gen-dictionary.py [--check] [CRATE_SRC_DIR]

--check writes nothing and exits 1 if the committed tables differ from what
the script would write (for CI).

CRATE_SRC_DIR is the crate's `src` folder; by default the one in cargo's
registry (~/.cargo/registry/src/*/dicom-dictionary-std-0.10.1/src). Run it
again after upgrading the crate. The tables are written one entry per line
under `#[rustfmt::skip]`, so `cargo fmt` leaves them as generated.

Standard library only; nothing is parsed at build time.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass
from typing import NoReturn

CRATE = "dicom-dictionary-std-0.10.1"
COMMAND = "scripts/gen-dictionary.py"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "engine", "src", "dictionary")

# ---------------------------------------------------------------------------
# uids.rs
# ---------------------------------------------------------------------------

# /// SOP Class: Storage Commitment Pull Model SOP Class (Retired)
# #[deprecated(note = "Retired DICOM UID")]
# #[rustfmt::skip]
# pub const STORAGE_COMMITMENT_PULL_MODEL: &str = "1.2.840.10008.1.20.2";
UID_DOC = re.compile(r"^/// (?P<type>[^:]+): (?P<name>.+)$")
UID_CONST = re.compile(r'^pub const (?P<ident>[A-Z0-9_]+): &str = "(?P<uid>[0-9.]+)";$')
# E::new("1.2.840.10008.1.1", "Verification SOP Class", "Verification", SopClass, false),
UID_ENTRY = re.compile(
    r'^\s*E::new\("(?P<uid>[0-9.]+)", "(?P<name>[^"]*)", "(?P<keyword>[^"]*)", '
    r"(?P<type>\w+), (?P<retired>true|false)\),$"
)
SOP_CLASS_TYPES = ("SOP Class", "Meta SOP Class")
UID_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


@dataclass
class SopClass:
    uid: str
    name: str
    keyword: str
    retired: bool


def parse_uids(text: str) -> list[SopClass]:
    """Every UID whose doc comment says `SOP Class` or `Meta SOP Class`."""
    keywords: dict[str, tuple[str, str, bool]] = {}
    for line in text.splitlines():
        m = UID_ENTRY.match(line)
        if m:
            keywords[m["uid"]] = (m["name"], m["keyword"], m["retired"] == "true")

    out: list[SopClass] = []
    doc: re.Match[str] | None = None
    deprecated = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("/// "):
            doc = UID_DOC.match(line)
            deprecated = False
            continue
        if line.startswith("#[deprecated"):
            deprecated = True
            continue
        m = UID_CONST.match(line)
        if not m:
            continue
        if doc is None:
            fail(f"uids.rs:{lineno}: constant without a doc comment")
        kind, name = doc["type"], doc["name"]
        doc = None
        if kind not in SOP_CLASS_TYPES:
            continue
        uid = m["uid"]
        if not UID_RE.match(uid) or len(uid) > 64:
            fail(f"uids.rs:{lineno}: not a valid UID: {uid}")
        if uid not in keywords:
            fail(f"uids.rs:{lineno}: {uid} has no entry in the lookup tables")
        table_name, keyword, retired = keywords[uid]
        if table_name != name:
            fail(f"uids.rs:{lineno}: doc name {name!r} differs from table name {table_name!r}")
        if retired != deprecated or retired != name.endswith("(Retired)"):
            fail(f"uids.rs:{lineno}: {uid}: retired flags disagree")
        out.append(SopClass(uid, name, keyword, retired))

    uids = [s.uid for s in out]
    if len(set(uids)) != len(uids):
        fail("uids.rs: duplicate SOP class UIDs")
    out.sort(key=lambda s: [int(c) for c in s.uid.split(".")])
    return out


# ---------------------------------------------------------------------------
# tags.rs
# ---------------------------------------------------------------------------

# /// OverlayData (6000-60FF,3000) ox 1 DICOM
TAG_DOC = re.compile(
    r"^/// (?P<keyword>[A-Za-z0-9]+) "
    r"\((?P<group>[0-9A-F]{4}(?:-[0-9A-F]{4})?),(?P<element>[0-9A-F]{4}(?:-[0-9A-F]{4})?)\) "
    r"(?P<vr>[A-Za-z]{2}) (?P<vm>[0-9n-]+) (?P<source>\S+)$"
)

# DCMTK's pseudo VRs, written the way PS3.6 writes them.
PSEUDO_VR = {
    "ox": "OB or OW",
    "px": "OB or OW",
    "xs": "US or SS",
    "lt": "US or SS or OW",
    "up": "UL",
}
STANDARD_VR = set(
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)


@dataclass
class DataElement:
    tag: str
    keyword: str
    name: str
    vr: str
    vm: str
    retired: bool
    sort_key: tuple[int, int]


def range_part(part: str, lineno: int) -> str:
    """`6000-60FF` -> `60xx`; `3100-31FF` -> `31xx`; `0010` stays."""
    if "-" not in part:
        return part
    low, high = part.split("-")
    if low[:2] != high[:2] or low[2:] != "00" or high[2:] != "FF":
        fail(f"tags.rs:{lineno}: unexpected tag range {part}")
    return low[:2] + "xx"


def parse_tags(text: str) -> list[DataElement]:
    out: list[DataElement] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.startswith("/// ") or line.startswith("/// #"):
            continue
        m = TAG_DOC.match(line)
        if not m:
            fail(f"tags.rs:{lineno}: unexpected doc comment: {line}")
        vr = PSEUDO_VR.get(m["vr"], m["vr"])
        if vr not in STANDARD_VR and vr not in PSEUDO_VR.values():
            fail(f"tags.rs:{lineno}: unknown VR {m['vr']}")
        group = range_part(m["group"], lineno)
        element = range_part(m["element"], lineno)
        sort_key = (int(group.replace("xx", "00"), 16), int(element.replace("xx", "00"), 16))
        keyword = m["keyword"]
        out.append(
            DataElement(
                tag=f"({group},{element})",
                keyword=keyword,
                name=readable_name(keyword),
                vr=vr,
                vm=m["vm"],
                retired=m["source"].endswith("/retired"),
                sort_key=sort_key,
            )
        )
    tags = [e.tag for e in out]
    if len(set(tags)) != len(tags):
        fail("tags.rs: duplicate tags")
    out.sort(key=lambda e: e.sort_key)
    return out


# ---------------------------------------------------------------------------
# Display names from keywords
# ---------------------------------------------------------------------------

# Tokens the splitter cannot get right by case alone, written as PS3.6 writes
# them. Keys are whole words of the split name.
WORD_FIXES = {
    "X Ray": "X-Ray",
    "C Arm": "C-Arm",
    "K Space": "K-Space",
    "Two D": "2D",
    "CTD Ivol": "CTDIvol",
    "CI Exy": "CIExy",
    "d Bdt": "dB/dt",
    "Inu S": "in uS",
    "Framek V": "Frame kV",
    "35 mm": "35mm",
    "HL 7": "HL7",
    "DVHROI": "DVH ROI",
    "RTROI": "RT ROI",
    "VOILUT": "VOI LUT",
    "RGBLUT": "RGB LUT",
    "MRFOV": "MR FOV",
    "XAXRF": "XA/XRF",
    "STOWRS": "STOW-RS",
    "WADORS": "WADO-RS",
    "MACID": "MAC ID",
    "GPSDOP": "GPS DOP",
}

# Small words PS3.6 writes in lower case unless they open the name.
SMALL_WORDS = {"Of", "In", "To", "For", "And", "Or", "The", "On", "By", "With", "At", "From", "Per", "Into", "As"}

# An acronym followed by a plural "s" (UIDs, ROIs, IDs) stays one word.
TOKEN = re.compile(
    r"""
      [A-Z]+(?:s(?=[A-Z0-9]|$))?(?=[A-Z][a-z]|[0-9]|$)   # acronym (SOP, UID, ROIs)
    | [A-Z]?[a-z]+                                       # word (Patient, vol)
    | [0-9]+[A-Z]?(?=[A-Z][a-z]|$)                       # number (3, 3D, 2D)
    | [0-9]+                                             # number before an acronym
    | [A-Z]+                                             # acronym before a number
    """,
    re.VERBOSE,
)
# A single capital letter and the digit after it are one symbol (T1, T2, B1).
LETTER_DIGIT = re.compile(r"\b([A-Z]) ([0-9])\b")


def readable_name(keyword: str) -> str:
    """PatientName -> "Patient Name"; SOPInstanceUID -> "SOP Instance UID"."""
    tokens = TOKEN.findall(keyword)
    if "".join(tokens) != keyword:
        fail(f"cannot split keyword {keyword!r}: {tokens}")
    tokens = [t.lower() if i > 0 and t in SMALL_WORDS else t for i, t in enumerate(tokens)]
    name = " ".join(tokens)
    for wrong, right in WORD_FIXES.items():
        name = re.sub(rf"(?<![\w-]){re.escape(wrong)}(?![\w-])", right, name)
    return LETTER_DIGIT.sub(r"\1\2", name)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def header(crate_src: str, what: str) -> str:
    return (
        f"//! {what}\n"
        "//!\n"
        f"//! GENERATED by `{COMMAND}` from {CRATE} (`src/{crate_src}`).\n"
        "//! Do not edit by hand: change the script and run it again.\n"
    )


def rust_str(value: str) -> str:
    if any(c in value for c in '"\\') or not value.isprintable():
        fail(f"unexpected character in {value!r}")
    return f'"{value}"'


def write_sop_classes(classes: list[SopClass]) -> str:
    lines = [header("uids.rs", "Every SOP Class and Meta SOP Class of PS3.6, sorted by UID."),
             "use super::SopClass;\n",
             "#[rustfmt::skip]",
             "pub(super) static SOP_CLASSES: &[SopClass] = &["]
    for s in classes:
        lines.append(
            f"    s({rust_str(s.uid)}, {rust_str(s.name)}, {rust_str(s.keyword)}, "
            f"{'true' if s.retired else 'false'}),"
        )
    lines += [
        "];",
        "",
        "#[rustfmt::skip]",
        "const fn s(uid: &'static str, name: &'static str, keyword: &'static str, retired: bool) -> SopClass {",
        "    SopClass { uid, name, keyword, retired }",
        "}",
        "",
    ]
    return "\n".join(lines)


def write_data_elements(elements: list[DataElement]) -> str:
    lines = [header("tags.rs", "Every data element of the standard data dictionary, sorted by tag."),
             "use super::DataElement;\n",
             "#[rustfmt::skip]",
             "pub(super) static DATA_ELEMENTS: &[DataElement] = &["]
    for e in elements:
        lines.append(
            f"    d({rust_str(e.tag)}, {rust_str(e.keyword)}, {rust_str(e.name)}, "
            f"{rust_str(e.vr)}, {rust_str(e.vm)}, {'true' if e.retired else 'false'}),"
        )
    lines += [
        "];",
        "",
        "#[rustfmt::skip]",
        "const fn d(",
        "    tag: &'static str, keyword: &'static str, name: &'static str,",
        "    vr: &'static str, vm: &'static str, retired: bool,",
        ") -> DataElement {",
        "    DataElement { tag, keyword, name, vr, vm, retired }",
        "}",
        "",
    ]
    return "\n".join(lines)


def fail(message: str) -> NoReturn:
    print(f"gen-dictionary: {message}", file=sys.stderr)
    sys.exit(1)


def default_src() -> str:
    pattern = os.path.expanduser(f"~/.cargo/registry/src/*/{CRATE}/src")
    found = sorted(glob.glob(pattern))
    if not found:
        fail(f"{pattern} not found: run `cargo fetch` first, or pass the crate's src folder")
    return found[-1]


def read_source(src: str, name: str) -> str:
    path = os.path.join(src, name)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        fail(f"cannot read {path}: {err.strerror}; pass the src folder of {CRATE}")


def main(argv: list[str]) -> None:
    args = argv[1:]
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        sys.exit(0)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    src = args[0] if args else default_src()
    classes = parse_uids(read_source(src, "uids.rs"))
    elements = parse_tags(read_source(src, "tags.rs"))
    outputs = {
        "sop_classes.rs": write_sop_classes(classes),
        "data_elements.rs": write_data_elements(elements),
    }
    if check:
        stale = []
        for file, text in outputs.items():
            path = os.path.join(OUT_DIR, file)
            try:
                with open(path, encoding="utf-8") as f:
                    same = f.read() == text
            except FileNotFoundError:
                same = False
            if not same:
                stale.append(path)
        if stale:
            fail(f"out of date: {', '.join(stale)}; run {COMMAND}")
        print(f"up to date: {len(classes)} SOP classes, {len(elements)} data elements")
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    for file, text in outputs.items():
        with open(os.path.join(OUT_DIR, file), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    print(f"wrote {len(classes)} SOP classes and {len(elements)} data elements to {OUT_DIR}")


if __name__ == "__main__":
    main(sys.argv)
