"""Attributes of a submission: manifest columns and/or a separate --attributes CSV.

A column whose name is a FineGPR attribute (benchmark.attributes: gender,
hair_length, ..., upper_colour, lower_colour, viewpoint, weather, illumination,
scene; spaces and '-' count as '_') takes FineGPR value names (case-insensitive)
or their 1-based codes. Any other column is the submitter's own categorical
attribute: name `[a-z][a-z0-9_]{0,31}`, values of letters, digits, ' _.+-'
(at most 32 characters, at most Limits.max_own_values distinct), coded 1..n in
sorted order. An empty cell means "unknown" and lowers the column's coverage.

The --attributes CSV is keyed by `pid` (one row per identity, applied to all
its images) or by `path` (one row per image, the path as in the submission,
e.g. bounding_box_train/0001_c1s1_000001_01.jpg), never both.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.attributes import BY_NAME
from benchmark.submissions.csv_rows import CsvRows
from benchmark.submissions.findings import Findings
from benchmark.submissions.layouts import Item
from benchmark.submissions.limits import Limits
from benchmark.submissions.names import PID, normal_path, path_problem, shown

OWN_COLUMN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
OWN_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,31}$")
MAX_CSV_BYTES = 256 * 1024 * 1024


@dataclass
class Column:
    """One attribute column: what it is, where it came from, how well it covers the train images."""

    name: str
    kind: str  # finegpr | own
    level: str  # id | env (FineGPR) | own
    values: tuple[str, ...]  # values[k-1] is the name of code k
    source: str  # manifest | attributes csv
    per: str  # image | id
    coverage: float = 0.0  # share of train images with a value
    counts: dict[str, int] = field(default_factory=dict)  # train images per value name

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "level": self.level, "values": list(self.values),
                "source": self.source, "per": self.per, "coverage": round(self.coverage, 6), "counts": self.counts}


@dataclass
class AttributeCsv:
    per: str  # id | image
    columns: list[str]  # raw (lower-cased) attribute column names
    rows: dict[object, dict[str, str]]  # pid (int) or relative path -> column -> non-empty value


def normal_column(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def read_attributes_csv(path: str | Path, base: str, limits: Limits, findings: Findings) -> AttributeCsv | None:
    """The --attributes file, or None (with findings) when it cannot be used."""
    p = Path(path).expanduser()
    label = shown(p.name)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_CSV_BYTES + 1)
    except OSError as exc:
        findings.error(f"cannot read the attributes file {shown(p)}: {exc.strerror or exc}")
        return None
    if len(data) > MAX_CSV_BYTES:
        findings.error(f"attributes file {label} is larger than {MAX_CSV_BYTES:,} bytes")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        findings.error(f"attributes file {label} is not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    reader = CsvRows(text, f"attributes file {label}", findings)
    header = [h.strip().lower() for h in next(reader, [])]
    if reader.failed:
        return None
    keys = [k for k in ("pid", "path") if k in header]
    if len(keys) != 1 or len(set(header)) != len(header) or "" in header:
        findings.error(f"attributes file {label}: the header needs exactly one key column, pid (per identity) "
                       "or path (per image), then attribute columns, each named once")
        return None
    key = keys[0]
    cols = [h for h in header if h != key]
    table = AttributeCsv("id" if key == "pid" else "image", cols, {})
    ki = header.index(key)
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        where = f"attributes file {label} line {line_no}"
        if len(row) != len(header):
            findings.error(f"{where}: {len(row)} fields, the header has {len(header)}")
            continue
        if len(table.rows) >= limits.max_files:
            findings.error(f"attributes file {label} has more than {limits.max_files:,} rows (the limit)")
            break
        raw = row[ki].strip()
        if key == "pid":
            if not PID.fullmatch(raw):
                findings.error(f"{where}: pid {shown(raw)}; expected a non-negative integer")
                continue
            k: object = int(raw)
        else:
            why = path_problem(raw, max_chars=limits.max_path_chars, max_name_bytes=limits.max_name_bytes,
                               max_depth=limits.max_depth)
            if why:
                findings.error(f"{where}: unsafe path {shown(raw)}: {why}")
                continue
            k = base + normal_path(raw)
        if k in table.rows:
            findings.error(f"{where}: {key} {shown(raw)} appears more than once")
            continue
        table.rows[k] = {c: row[i].strip() for i, c in enumerate(header) if c != key and row[i].strip()}
    return table


def _finegpr_code(name: str, raw: str) -> int | None:
    attr = BY_NAME[name]
    if raw.isdigit():
        code = int(raw)
        return code if 1 <= code <= attr.n else None
    try:
        return attr.code(raw)
    except ValueError:
        return None


def _own_codes(name: str, raws: Counter, limits: Limits, findings: Findings) -> dict[str, int] | None:
    bad = [v for v in raws if not OWN_VALUE.fullmatch(v)]
    for v in bad[:5]:
        findings.error(f"attribute {shown(name)}: value {shown(v)} ({raws[v]} image(s)); own attribute values are "
                       "1-32 letters, digits, spaces or _.+- starting with a letter or digit")
    if bad:
        return None
    if len(raws) > limits.max_own_values:
        findings.error(f"attribute {shown(name)} has {len(raws)} distinct values; a categorical attribute may have "
                       f"at most {limits.max_own_values}")
        return None

    def order(v: str):  # numbers in numeric order, then words
        return (0, float(v), v) if re.fullmatch(r"\d+(\.\d+)?", v) else (1, 0.0, v)

    return {v: k for k, v in enumerate(sorted(raws, key=order), start=1)}


def resolve(items: list[Item], manifest_columns: list[str], table: AttributeCsv | None, limits: Limits,
            findings: Findings) -> tuple[list[Column], list[dict[str, int]]]:
    """The attribute schema and, per item, {attribute name: code} (empty when it has no attributes)."""
    sources: list[tuple[str, str, str]] = [(c, "manifest", "image") for c in manifest_columns]
    if table is not None:
        sources += [(c, "attributes csv", table.per) for c in table.columns]
    codes: list[dict[str, int]] = [{} for _ in items]
    if not sources:
        return [], codes
    if len(sources) > limits.max_attribute_columns:
        findings.error(f"{len(sources)} attribute columns; at most {limits.max_attribute_columns} are accepted")
        return [], codes
    names = [normal_column(c) for c, _, _ in sources]
    for n in sorted({n for n in names if names.count(n) > 1}):
        findings.error(f"attribute {shown(n)} is given more than once (manifest.csv and the attributes file "
                       "together may name each attribute once)")
    if not findings.ok:
        return [], codes
    schema: list[Column] = []
    for (raw_col, source, per), name in zip(sources, names):
        if source == "manifest":
            raw_values = [it.raw_attrs.get(raw_col) for it in items]
        else:
            raw_values = [table.rows.get(it.pid if per == "id" else it.rel, {}).get(raw_col) for it in items]
        present = Counter(v for v in raw_values if v)
        col = _column(name, source, per, present, limits, findings)
        if col is None:
            continue
        if col.kind == "finegpr":
            lookup = {v: _finegpr_code(name, v) for v in present}
        else:
            lookup = {v: k for k, v in enumerate(col.values, start=1)}
        for i, v in enumerate(raw_values):
            if v:
                codes[i][name] = lookup[v]
        schema.append(col)
    if table is not None:
        _unmatched(items, table, findings)
    _coverage(items, schema, codes)
    _id_consistency(items, schema, codes, findings)
    return schema, codes


def _column(name: str, source: str, per: str, present: Counter, limits: Limits,
            findings: Findings) -> Column | None:
    if name in BY_NAME:
        attr = BY_NAME[name]
        bad = [v for v in present if _finegpr_code(name, v) is None]
        for v in bad[:5]:
            findings.error(f"attribute {name}: value {shown(v)} ({present[v]} image(s)) is not a FineGPR {name}; "
                           f"expected one of {', '.join(attr.values)} or a code 1..{attr.n}")
        if len(bad) > 5:
            findings.error(f"attribute {name}: {len(bad) - 5} more unknown values")
        if bad:
            return None
        return Column(name, "finegpr", attr.level, attr.values, source, per)
    if not OWN_COLUMN.fullmatch(name):
        findings.error(f"attribute column {shown(name)}: own attribute names are 1-32 characters of a-z, 0-9, _ "
                       "starting with a letter (or use a FineGPR attribute name)")
        return None
    close = difflib.get_close_matches(name, list(BY_NAME), n=1, cutoff=0.8)
    if close:
        findings.warn(f"attribute column {shown(name)} is not a FineGPR attribute and is kept as your own "
                      f"categorical attribute; did you mean {close[0]}?")
    mapping = _own_codes(name, present, limits, findings)
    if mapping is None:
        return None
    return Column(name, "own", "own", tuple(mapping), source, per)


def _unmatched(items: list[Item], table: AttributeCsv, findings: Findings) -> None:
    known = {it.pid for it in items} if table.per == "id" else {it.rel for it in items}
    extra = [k for k in table.rows if k not in known]
    if extra:
        what = "ids" if table.per == "id" else "paths"
        findings.warn(f"the attributes file names {len(extra)} {what} that have no image in the submission "
                      f"(e.g. {shown(extra[0])})")


def _coverage(items: list[Item], schema: list[Column], codes: list[dict[str, int]]) -> None:
    train = [i for i, it in enumerate(items) if it.split == "train"]
    for col in schema:
        got = Counter(codes[i][col.name] for i in train if col.name in codes[i])
        col.coverage = sum(got.values()) / len(train) if train else 0.0
        col.counts = {col.values[k - 1]: n for k, n in sorted(got.items())}


def _id_consistency(items: list[Item], schema: list[Column], codes: list[dict[str, int]], findings: Findings) -> None:
    """FineGPR's id-level attributes describe a person; varying within one id is worth a warning."""
    for col in schema:
        if col.level != "id" or col.per == "id":
            continue
        seen: dict[int, set[int]] = {}
        for it, c in zip(items, codes):
            if col.name in c:
                seen.setdefault(it.pid, set()).add(c[col.name])
        varying = sorted(p for p, v in seen.items() if len(v) > 1)
        if varying:
            findings.warn(f"attribute {col.name} is an identity attribute in FineGPR but varies within "
                          f"{len(varying)} id(s) (e.g. pid {varying[0]}); the per-image values are kept")
