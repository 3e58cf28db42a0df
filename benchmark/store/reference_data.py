"""The paper's Tables 2-3 as data: `reference/paper_tables.csv`, checked on read."""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

REFERENCE_CSV = Path(__file__).with_name("reference") / "paper_tables.csv"
COLUMNS = ("table", "train_set", "synthetic", "supervised", "bboxes", "time_days",
           "test_set", "rank1", "rank5", "map", "note")


def _bool(text: str, where: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no"):
        return False
    raise ValueError(f"{where}: expected true/false, got {text!r}")


def _num(text: str, cast: type, where: str) -> float | int | None:
    t = text.strip()
    if not t:
        return None
    try:
        return cast(t)
    except ValueError:
        raise ValueError(f"{where}: expected a number or nothing, got {text!r}") from None


def load_reference_csv(path: str | Path | None = None) -> list[dict]:
    """The paper's rows in file order, typed; a ValueError names the file, line and column on bad input."""
    p = Path(path) if path else REFERENCE_CSV
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{p}: expected header {','.join(COLUMNS)}, got {','.join(reader.fieldnames or [])}")
        rows = []
        for i, raw in enumerate(reader, start=2):
            w = f"{p}:{i}"
            rows.append({
                "table": int(_num(raw["table"], int, w + " table") or 0),
                "row_order": i - 2,
                "train_set": raw["train_set"].strip(),
                "synthetic": _bool(raw["synthetic"], w + " synthetic"),
                "supervised": _bool(raw["supervised"], w + " supervised"),
                "bboxes": _num(raw["bboxes"], int, w + " bboxes"),
                "time_days": _num(raw["time_days"], float, w + " time_days"),
                "test_set": raw["test_set"].strip(),
                "rank1": _num(raw["rank1"], float, w + " rank1"),
                "rank5": _num(raw["rank5"], float, w + " rank5"),
                "map": _num(raw["map"], float, w + " map"),
                "note": raw["note"].strip() or None,
            })
            if rows[-1]["table"] not in (2, 3):
                raise ValueError(f"{w}: table must be 2 or 3, got {raw['table']!r}")
    return rows


def reference_sha(path: str | Path | None = None) -> str:
    """Content hash, so a DB reloads the reference rows when the packaged file changes."""
    return hashlib.sha256((Path(path) if path else REFERENCE_CSV).read_bytes()).hexdigest()
