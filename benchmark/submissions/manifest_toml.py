"""`<submissions_dir>/<name>/submission.toml`: the human-readable record of an accepted submission.

Written atomically (a temporary file in the same folder, then os.replace), so a
reader sees the old file or the new one, never half of one. Python reads TOML
(tomllib) but does not write it; the writer below covers exactly the value
kinds this file holds (strings, numbers, booleans, lists, tables, arrays of tables).
"""
from __future__ import annotations

import math
import os
import tempfile
import tomllib
from pathlib import Path

from benchmark.submissions.errors import SubmissionError

TOML_NAME = "submission.toml"
ENV = "AOSTBENCH_SUBMISSIONS"


def default_submissions_dir() -> Path:
    """The resolved Paths' submissions folder: $AOSTBENCH_SUBMISSIONS, else ./submissions."""
    from benchmark import paths

    return paths.current().submissions


def _string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"TOML cannot hold {v}")
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def _key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "_-" for c in k) and k.isascii() else _string(k)


def dumps(doc: dict, _prefix: str = "") -> str:
    """TOML text of a dict: scalars and lists first, then sub-tables, then arrays of tables."""
    lines = []
    tables, arrays = [], []
    for k, v in doc.items():
        if v is None:
            continue
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables:
        name = f"{_prefix}{_key(k)}"
        lines += ["", f"[{name}]", dumps(v, name + ".").rstrip("\n")]
    for k, v in arrays:
        name = f"{_prefix}{_key(k)}"
        for item in v:
            lines += ["", f"[[{name}]]", dumps(item, name + ".").rstrip("\n")]
    return "\n".join(line for line in lines if line is not None) + "\n"


def write_toml(path: Path, doc: dict, header: str = "") -> None:
    text = (header + "\n" if header else "") + dumps(doc)
    tomllib.loads(text)  # never write what cannot be read back
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def toml_doc(row: dict, history: list[dict]) -> dict:
    """submission.toml of an accepted version, from its DB row (name, version, path, counts, report)
    and the earlier versions of the name: the one shape `submit` writes and `db check --repair` restores."""
    report = row.get("report") or {}
    counts = report.get("counts") or {}
    total = counts.get("total") or {"images": row.get("n_images"), "ids": row.get("n_ids"),
                                    "cameras": row.get("n_cams")}
    created = row.get("created_at")
    return {
        "name": row["name"], "version": int(row["version"]), "status": "accepted",
        "created": created if isinstance(created, str) else str(created or ""),
        "content_hash": report.get("content_hash", ""), "store_path": str(row.get("path") or ""),
        "layout": report.get("layout"), "source_kind": (report.get("source") or {}).get("kind"),
        "description": report.get("description", ""), "license": report.get("license", ""),
        "has_attributes": bool(row.get("has_attributes")), "fingerprint": row.get("fingerprint") or "",
        "counts": {**{k: v for k, v in total.items() if v is not None},
                   **{s: counts[s] for s in ("train", "query", "gallery") if (counts.get(s) or {}).get("images")}},
        "attributes": [{k: c[k] for k in ("name", "kind", "level", "per", "source", "coverage", "values") if k in c}
                       for c in (report.get("attributes") or {}).get("columns", [])],
        "history": [{"version": int(r["version"]), "status": r["status"],
                     "content_hash": (r.get("report") or {}).get("content_hash", ""),
                     "created": str(r.get("created_at") or "")} for r in history],
    }


def read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SubmissionError(f"cannot read {path}: {exc}") from None
