"""The two layouts a submission may use, read from its list of files.

Market-style: `bounding_box_train/` (required), `query/` and `bounding_box_test/`
(optional), images named `PID_cCAM<rest>.jpg|png`, e.g. `0002_c1s1_000451_03.jpg`:
PID and CAM are integers, CAM starts at 1 (camid = CAM - 1, as torchreid reads
Market), <rest> is letters, digits, '_', '.', '-' and does not start with a digit.

Manifest: a `manifest.csv` with a header row and the columns `path` (relative
to the folder holding manifest.csv, '/'-separated), `pid` and `camid`
(non-negative integers, camid used as given), optional `split` (train, query or
gallery; default train) and optional attribute columns (see attribute_table).

Either may sit at the top of the submission or inside its single top folder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from benchmark.submissions.archive import Source
from benchmark.submissions.csv_rows import CsvRows
from benchmark.submissions.findings import Findings
from benchmark.submissions.images import read_file
from benchmark.submissions.limits import IMAGE_EXTENSIONS, REFUSED_IMAGE_EXTENSIONS, Limits
from benchmark.submissions.names import CAMID, PID, normal_path, path_problem, shown

SPLITS = ("train", "query", "gallery")
MARKET_DIRS = {"bounding_box_train": "train", "query": "query", "bounding_box_test": "gallery"}
MARKET_NAME = re.compile(r"^(\d{1,9})_c(\d{1,4})(?:[A-Za-z_.-][A-Za-z0-9_.-]*)?\.(?:jpe?g|png)$", re.IGNORECASE)
MARKET_RULE = "PID_cCAM[...].jpg|png with integer PID and CAM >= 1 (e.g. 0002_c1s1_000451_03.jpg)"
MANIFEST = "manifest.csv"
REQUIRED_COLUMNS = ("path", "pid", "camid")
LAYOUT_HELP = ("a Market-style folder (bounding_box_train/ with PID_cCAM....jpg images; optional query/ and "
               "bounding_box_test/) or a folder with manifest.csv (columns path, pid, camid[, split][, attributes])")
MAX_MANIFEST_BYTES = 256 * 1024 * 1024


@dataclass
class Item:
    """One labelled image of the submission."""

    split: str
    rel: str  # relative to Source.root
    pid: int
    camid: int
    raw_attrs: dict[str, str] = field(default_factory=dict)  # manifest attribute columns (non-empty cells)


@dataclass
class Parsed:
    layout: str  # market | manifest
    base: str  # the layout's folder, relative to Source.root ("" or "top/")
    items: list[Item] = field(default_factory=list)
    attribute_columns: list[str] = field(default_factory=list)  # manifest columns beyond the fixed ones


def _is_image(rel: str) -> bool:
    return rel.lower().endswith(IMAGE_EXTENSIONS)


def _is_refused_image(rel: str) -> bool:
    return rel.lower().endswith(REFUSED_IMAGE_EXTENSIONS)


def find_base(src: Source) -> tuple[str, str] | None:
    """(layout, base) from the file list: at the top, or inside the one top-level folder."""
    def at(prefix: str) -> str | None:
        if prefix + MANIFEST in src.files:
            return "manifest"
        if any(r.startswith(prefix + "bounding_box_train/") for r in src.files):
            return "market"
        return None

    found = at("")
    if found:
        return found, ""
    tops = {r.split("/", 1)[0] for r in src.files}
    if len(tops) == 1 and any("/" in r for r in src.files):
        prefix = next(iter(tops)) + "/"
        found = at(prefix)
        if found:
            return found, prefix
    return None


def parse(src: Source, limits: Limits, findings: Findings) -> Parsed | None:
    """The labelled images of the submission; problems go to `findings` (None when no layout is found)."""
    where = find_base(src)
    if where is None:
        findings.error(f"no layout found in {shown(src.given)}: expected {LAYOUT_HELP}")
        return None
    layout, base = where
    if layout == "manifest" and any(r.startswith(base + "bounding_box_train/") for r in src.files):
        findings.note(f"{MANIFEST} found: it alone says which images count and their labels (file names are not parsed)")
    parsed = Parsed(layout=layout, base=base)
    if layout == "market":
        _parse_market(src, parsed, findings)
    else:
        _parse_manifest(src, parsed, limits, findings)
    return parsed


def _parse_market(src: Source, parsed: Parsed, findings: Findings) -> None:
    base = parsed.base
    unread = 0
    present: set[str] = set()
    for rel in sorted(src.files):
        if not rel.startswith(base):
            continue
        inner = rel[len(base):]
        top, _, name = inner.partition("/")
        split = MARKET_DIRS.get(top) if name else None
        if split is None or "/" in name:
            if _is_image(rel) or _is_refused_image(rel):
                unread += 1
            continue
        present.add(split)
        if _is_refused_image(name):
            findings.error(f"{shown(rel)}: unsupported image format; accepted: jpg, jpeg, png")
            continue
        if not _is_image(name):
            continue
        m = MARKET_NAME.fullmatch(name)
        if m is None:
            findings.error(f"bad file name {shown(rel)}: expected {MARKET_RULE}")
            continue
        pid, cam = int(m.group(1)), int(m.group(2))
        if cam < 1:
            findings.error(f"bad camera in {shown(rel)}: c{cam}; cameras are numbered from c1")
            continue
        parsed.items.append(Item(split, rel, pid, cam - 1))
    if unread:
        findings.warn(f"{unread} image(s) outside bounding_box_train/, query/ and bounding_box_test/ "
                      "(or in their subfolders) were not read")
    if ("query" in present) != ("gallery" in present):
        findings.warn("query/ and bounding_box_test/ come together: with only one of them nothing can be "
                      "evaluated on this submission (training is unaffected)")


def _parse_manifest(src: Source, parsed: Parsed, limits: Limits, findings: Findings) -> None:
    base = parsed.base
    rel_manifest = base + MANIFEST
    if src.files[rel_manifest] > MAX_MANIFEST_BYTES:
        findings.error(f"{shown(rel_manifest)} is larger than {MAX_MANIFEST_BYTES:,} bytes")
        return
    try:
        text = read_file(src.root / rel_manifest, MAX_MANIFEST_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        findings.error(f"{shown(rel_manifest)} is not UTF-8 text ({exc.reason} at byte {exc.start})")
        return
    except OSError as exc:
        findings.error(f"cannot read {shown(rel_manifest)}: {exc.strerror or exc}")
        return
    rows = CsvRows(text, shown(rel_manifest), findings)
    header = next(rows, None)
    if rows.failed:
        return
    if not header:
        findings.error(f"{shown(rel_manifest)} is empty; expected a header row with {', '.join(REQUIRED_COLUMNS)}")
        return
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if missing or dupes or "" in columns:
        what = []
        if missing:
            what.append(f"missing column(s) {', '.join(missing)}")
        if dupes:
            what.append(f"repeated column(s) {', '.join(shown(d) for d in dupes)}")
        if "" in columns:
            what.append("an empty column name")
        findings.error(f"{shown(rel_manifest)}: {'; '.join(what)}; expected a header with path, pid, camid "
                       "[, split][, attribute columns]")
        return
    index = {c: i for i, c in enumerate(columns)}
    parsed.attribute_columns = [c for c in columns if c not in REQUIRED_COLUMNS and c != "split"]
    listed: set[str] = set()
    for line_no, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(listed) >= limits.max_files:
            findings.error(f"{shown(rel_manifest)} lists more than {limits.max_files:,} images (the limit)")
            break
        where = f"{shown(rel_manifest)} line {line_no}"
        if len(row) != len(columns):
            findings.error(f"{where}: {len(row)} fields, the header has {len(columns)}")
            continue
        cell = {c: row[i].strip() for c, i in index.items()}
        item = _manifest_item(cell, base, src, where, limits, findings)
        if item is None:
            continue
        if item.rel in listed:
            findings.error(f"{where}: {shown(cell['path'])} is listed more than once")
            continue
        listed.add(item.rel)
        item.raw_attrs = {c: cell[c] for c in parsed.attribute_columns if cell[c]}
        parsed.items.append(item)
    unlisted = sum(1 for r in src.files if r.startswith(base) and _is_image(r) and r not in listed)
    if unlisted:
        findings.note(f"{unlisted} image file(s) not listed in {MANIFEST} were ignored")


def _manifest_item(cell: dict[str, str], base: str, src: Source, where: str, limits: Limits,
                   findings: Findings) -> Item | None:
    raw = cell["path"]
    why = path_problem(raw, max_chars=limits.max_path_chars, max_name_bytes=limits.max_name_bytes,
                       max_depth=limits.max_depth)
    if why:
        findings.error(f"{where}: unsafe path {shown(raw)}: {why}")
        return None
    rel = base + normal_path(raw)
    if _is_refused_image(rel):
        findings.error(f"{where}: {shown(raw)} has an unsupported image format; accepted: jpg, jpeg, png")
        return None
    if not _is_image(rel):
        findings.error(f"{where}: {shown(raw)} is not a .jpg, .jpeg or .png file")
        return None
    if rel not in src.files:
        findings.error(f"{where}: {shown(raw)} is not in the submission")
        return None
    split = cell.get("split") or "train"
    if split not in SPLITS:
        findings.error(f"{where}: split {shown(split)}; expected train, query or gallery")
        return None
    if not PID.fullmatch(cell["pid"]):
        findings.error(f"{where}: pid {shown(cell['pid'])}; expected a non-negative integer (at most 9 digits)")
        return None
    if not CAMID.fullmatch(cell["camid"]):
        findings.error(f"{where}: camid {shown(cell['camid'])}; expected a non-negative integer (at most 4 digits)")
        return None
    return Item(split, rel, int(cell["pid"]), int(cell["camid"]))
