"""The DB is a cache of the artefacts: recreate it from runs/<id>/result.json (and the submissions' files).

A rebuild never deletes anything: the old DB file (and its WAL) is renamed to
`<name>.old-<UTC time>` beside the new one and stays until the user removes it.
Each artefact is read by `read_result` and stored in its own transaction, so a
bad one is reported by path and skipped while every other is restored.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from .check import Finding, check_runs, db_error_line
from .db import connect_write, resolve
from .errors import StoreError
from .result_format import RESULT_FILE, BadArtefact, RunResult, read_result
from .writes import default_runs_dir, put_run

# tables that do not come from run artefacts: carried over from the old DB when it can be read
_CARRIED = ("datasets", "submissions")


@dataclass
class RebuildReport:
    db_path: Path
    runs: int = 0
    skipped: list[str] = field(default_factory=list)  # artefacts that could not be restored, with why
    carried: dict[str, int] = field(default_factory=dict)  # rows kept from the old DB per table
    submissions_from_files: int = 0  # submission versions restored from submission.toml files
    kept_old: Path | None = None  # where the old DB file now is


def scan_runs(runs_dir: str | Path) -> tuple[list[RunResult], list[str]]:
    """Every restorable runs_dir/<id>/result.json (sorted by id) and a one-line message per bad one."""
    folder = Path(runs_dir)
    results, problems = [], []
    if not folder.is_dir():
        return results, problems
    for p in sorted(folder.glob(f"*/{RESULT_FILE}")):
        try:
            results.append(read_result(p))
        except BadArtefact as e:
            problems.append(str(e))
    return results, problems


def _carry_over(old: Path, problems: list[str]) -> dict[str, tuple[list[str], list[tuple]]]:
    """Datasets and submissions from the old DB, opened read-only (it is never written)."""
    if not old.is_file():
        return {}
    out = {}
    try:
        con = duckdb.connect(str(old), read_only=True)
    except duckdb.Error as e:
        problems.append(f"{old}: the old DB cannot be read ({db_error_line(e)}); datasets and submissions "
                        "come from their files only")
        return {}
    try:
        for table in _CARRIED:
            try:
                cur = con.execute(f"SELECT * FROM {table}")
                out[table] = ([d[0] for d in cur.description], cur.fetchall())
            except duckdb.Error as e:
                problems.append(f"{old}: its {table} table cannot be read ({db_error_line(e)})")
    finally:
        con.close()
    return out


def _merge_submissions(carried: tuple[list[str], list[tuple]] | None, from_files: list[dict],
                       report: RebuildReport) -> tuple[list[str], list[tuple]] | None:
    """The old DB's submission rows, plus every version the files know that the old DB does not."""
    cols, rows = carried if carried else ([], [])
    if not from_files:
        return carried
    if not cols:
        cols = list(from_files[0])
    have = {(r[cols.index("name")], r[cols.index("version")]) for r in rows}
    rows = list(rows)
    for r in from_files:
        if (r["name"], r["version"]) not in have:
            rows.append(tuple(r.get(c) for c in cols))
            report.submissions_from_files += 1
    return cols, rows


def rebuild_from_runs(runs_dir: str | Path | None = None, db_path: str | Path | None = None,
                      timeout: float | None = None, submission_rows: list[dict] | None = None,
                      problems: list[str] | None = None) -> RebuildReport:
    """Recreate the DB from every restorable runs/<id>/result.json (+ submission rows restored from files).

    Datasets and submissions of the old DB are kept when it can be read. The new file is built
    beside the old one; the old one is then renamed to `<name>.old-<time>` (kept), the new one put
    in its place. Run it while nothing writes to the DB."""
    path = resolve(db_path)
    folder = Path(runs_dir) if runs_dir else default_runs_dir(path)
    if not folder.is_dir() and not submission_rows:
        raise StoreError(f"no run artefacts folder at {folder} (expected {folder}/<run id>/{RESULT_FILE})")
    results, skipped = scan_runs(folder)
    report = RebuildReport(path, skipped=list(problems or []) + skipped)
    carried = _carry_over(path, report.skipped)
    subs = _merge_submissions(carried.get("submissions"), submission_rows or [], report)
    if subs is not None:
        carried["submissions"] = subs
    tmp = path.with_name(f".{path.name}.rebuild-{os.getpid()}.tmp")
    for stale in (tmp, Path(str(tmp) + ".wal")):
        if stale.exists():
            stale.unlink()
    try:
        with connect_write(tmp, timeout) as con:
            for table, (cols, rows) in carried.items():
                report.carried[table] = _insert_rows(con, table, cols, rows, report.skipped)
            for r in results:
                con.execute("BEGIN TRANSACTION")
                try:
                    put_run(con, r)
                    con.execute("COMMIT")
                    report.runs += 1
                except duckdb.Error as e:
                    con.execute("ROLLBACK")
                    report.skipped.append(f"{folder / r.id / RESULT_FILE}: cannot be stored ({db_error_line(e)})")
            con.execute("CHECKPOINT")
        if path.exists() or Path(str(path) + ".wal").exists():
            report.kept_old = _keep_aside(path)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(str(tmp) + ".wal")):
            if leftover.exists():
                leftover.unlink()
    if "submissions" in report.carried:
        report.carried["submissions"] -= report.submissions_from_files
    return report


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, cols: list[str], rows: list[tuple],
                 problems: list[str]) -> int:
    """Rows one by one in a transaction each, so one bad row costs only itself."""
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    n = 0
    for r in rows:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql, list(r))
            con.execute("COMMIT")
            n += 1
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            problems.append(f"a {table} row ({', '.join(str(v) for v in r[:2])}) could not be kept "
                            f"({db_error_line(e)})")
    return n


def _keep_aside(path: Path) -> Path:
    """Rename the old DB (and its WAL, which belongs to it) to `<name>.old-<UTC time>`; never delete it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    kept = path.with_name(f"{path.name}.old-{stamp}")
    if path.exists():
        os.rename(path, kept)
    wal = Path(str(path) + ".wal")
    if wal.exists():
        os.rename(wal, Path(str(kept) + ".wal"))
    return kept


def check_db(db_path: str | Path | None = None, runs_dir: str | Path | None = None,
             timeout: float | None = None) -> list[str]:
    """The messages of check_runs (an empty list means the DB and the run artefacts agree)."""
    return [f.message for f in check_runs(db_path, runs_dir, timeout)]


__all__ = ["RebuildReport", "scan_runs", "rebuild_from_runs", "check_db", "check_runs", "Finding"]
