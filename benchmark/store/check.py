"""`db check`: compare the DB with the run artefacts row by row; every difference is a Finding.

A Finding says what is wrong and, where the artefacts say what is right, carries
the fix `db check --repair` applies: a result.json without its DB rows is stored;
DB rows that differ from their result.json are replaced by it (the artefact is
written first, so it is the fuller record); a DB row without its result.json gets
the file back from the DB; a `running` run whose process is gone is marked failed
in both; rows of no run are deleted; an old schema is migrated. A result.json that
cannot be read is reported by path and left for the user (never deleted).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import duckdb

from .db import connect_read, migrate, resolve, write
from .errors import StoreEmpty
from .owner import Owner
from .reference_data import load_reference_csv
from .result_format import RESULT_FILE, RunResult, format_time, parse_time, utc_now
from .schema import SCHEMA_VERSION, apply_migrations, current_version, one
from .writes import RUN_COLUMNS, default_runs_dir, put_run

CHILD_TABLES = ("metrics", "fid", "attribute_dist", "costs", "surrogate")


@dataclass
class Finding:
    """One difference; `fix()` repairs it and returns what it did (None: only the user can decide)."""

    message: str
    fix: Callable[[], str] | None = None
    db_unreadable: bool = False  # the DB itself could not be read: nothing else can be compared


def db_error_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 9) if math.isfinite(v) else repr(v)
    return v


def _rows(con: duckdb.DuckDBPyConnection, table: str, ids: set[str] | None = None) -> dict[str, list]:
    """run id -> its rows (sorted) of one table; for `runs` the columns put_run writes."""
    if table == "runs":
        cur = con.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs")
    else:
        cur = con.execute(f"SELECT * FROM {table}")
    names = [d[0] for d in cur.description]
    key = names.index("id" if table == "runs" else "run_id")
    out: dict[str, list] = {}
    for row in cur.fetchall():
        out.setdefault(row[key], []).append(tuple(_norm(v) for v in row))
    return {k: sorted(v, key=repr) for k, v in out.items()}


def _first_difference(db_row: tuple, art_row: tuple) -> str:
    for col, a, b in zip(RUN_COLUMNS, db_row, art_row):
        if a != b:
            return f"{col} is {str(a)[:60]!r} in the DB but {str(b)[:60]!r} in its {RESULT_FILE}"
    return "the rows differ"


def check_runs(db_path: str | Path | None = None, runs_dir: str | Path | None = None,
               timeout: float | None = None) -> list[Finding]:
    """Every difference between the DB and runs/<id>/result.json, each with its fix where there is one."""
    from .rebuild import scan_runs  # rebuild imports this module's Finding users; keep the import one-way

    path = resolve(db_path)
    folder = Path(runs_dir) if runs_dir else default_runs_dir(path)
    out: list[Finding] = []
    artefacts, unreadable = scan_runs(folder)
    out += [Finding(f"unreadable artefact (skipped; fix or remove it): {m}") for m in unreadable]
    bad_ids = {Path(m.split(": ", 1)[0]).parent.name for m in unreadable}
    try:
        with connect_read(path, timeout) as con:
            version = current_version(con)
            db = {t: _rows(con, t) for t in ("runs", *CHILD_TABLES)}
            n_ref = one(con, "SELECT count(*) FROM reference")[0]
            orphans = {t: one(con, f"SELECT count(*) FROM {t} WHERE run_id NOT IN (SELECT id FROM runs)")[0]
                       for t in CHILD_TABLES}
    except StoreEmpty as e:
        if not artefacts:
            return [Finding(str(e))] + out
        # no DB yet, but artefacts: each is a missing row (a run killed before its first DB write)
        version, n_ref, orphans = SCHEMA_VERSION, len(load_reference_csv()), {}
        db = {t: {} for t in ("runs", *CHILD_TABLES)}
    except duckdb.Error as e:
        return [Finding(f"{path}: the DB cannot be read ({db_error_line(e)}); `aostbench db rebuild` recreates "
                        "it from the run and submission files and keeps the old file", db_unreadable=True)] + out
    if version != SCHEMA_VERSION:
        out.append(Finding(f"schema version {version}, expected {SCHEMA_VERSION}",
                           lambda: f"migrated to schema {migrate(path, timeout)}"))
    n_csv = len(load_reference_csv())
    if n_ref != n_csv:
        out.append(Finding(f"reference table has {n_ref} rows, the packaged paper_tables.csv {n_csv}",
                           lambda: f"reloaded the paper's rows (schema {migrate(path, timeout)})"))
    for table, n in orphans.items():
        if n:
            out.append(Finding(f"{n} row(s) in {table} belong to no run", _delete_orphans(path, table, timeout)))

    out += _leftovers(path, folder)

    # what the DB should hold for each artefact: the same rows, written by the same code, in memory
    expected: dict[str, dict[str, list]] = {t: {} for t in ("runs", *CHILD_TABLES)}
    good: dict[str, RunResult] = {}
    mem = duckdb.connect(":memory:")
    try:
        apply_migrations(mem)
        for r in artefacts:
            try:
                mem.execute("BEGIN TRANSACTION")
                put_run(mem, r)
                mem.execute("COMMIT")
                good[r.id] = r
            except duckdb.Error as e:
                mem.execute("ROLLBACK")
                out.append(Finding(f"unreadable artefact (skipped): {folder / r.id / RESULT_FILE}: cannot be stored "
                                   f"({db_error_line(e)})"))
        expected = {t: _rows(mem, t) for t in ("runs", *CHILD_TABLES)}
    finally:
        mem.close()

    db_ids, art_ids = set(db["runs"]), set(good)
    status_col, tests_col = RUN_COLUMNS.index("status"), RUN_COLUMNS.index("test_sets")
    for rid in sorted(db_ids):
        row = db["runs"][rid][0]
        if row[status_col] != "completed":
            continue
        have = {m[1] for m in db["metrics"].get(rid, [])}
        try:
            wanted = [t for t in json.loads(row[tests_col] or "[]") if t not in have]
        except (ValueError, TypeError):
            wanted = []
        if not have:
            out.append(Finding(f"run {rid} is completed but has no metrics"))
        elif wanted:
            out.append(Finding(f"run {rid} is completed but lacks metrics for {', '.join(map(str, wanted))}"))
    for rid in sorted(db_ids - art_ids):
        where = folder / rid / RESULT_FILE
        if rid in bad_ids:
            out.append(Finding(f"run {rid} is in the DB but its {where} cannot be read (see above)"))
        else:
            out.append(Finding(f"run {rid} is in the DB but has no {where}",
                               _restore_artefact(path, folder, rid, timeout)))
    for rid in sorted(art_ids - db_ids):
        r = good[rid]
        if _stale(r):
            out.append(Finding(f"run {rid} has a {RESULT_FILE} but no DB row, and is 'running' though its process "
                               f"{r.owner_pid} on {r.owner_host} is gone", _fail_stale(path, folder, r, timeout)))
        else:
            out.append(Finding(f"run {rid} has a {RESULT_FILE} but no DB row", _store(path, r, timeout)))
    for rid in sorted(db_ids & art_ids):
        r = good[rid]
        if _stale(r):
            out.append(Finding(f"run {rid} is 'running' but its process {r.owner_pid} on {r.owner_host} is gone",
                               _fail_stale(path, folder, r, timeout)))
            continue
        diffs = []
        if db["runs"][rid] != expected["runs"][rid]:
            diffs.append(_first_difference(db["runs"][rid][0], expected["runs"][rid][0]))
        for t in CHILD_TABLES:
            a, b = db[t].get(rid, []), expected[t].get(rid, [])
            if a != b:
                diffs.append(f"{t}: {len(a)} row(s) in the DB, {len(b)} in its {RESULT_FILE}"
                             + (" with other values" if len(a) == len(b) else ""))
        if diffs:
            out.append(Finding(f"run {rid} differs between the DB and its result.json: {'; '.join(diffs)}",
                               _store(path, r, timeout)))
    return out


def _stale(r: RunResult) -> bool:
    return (r.status == "running" and bool(r.owner_host) and r.owner_pid is not None
            and not Owner(r.owner_host, int(r.owner_pid), r.owner_start).is_alive())


def _store(path: Path, r: RunResult, timeout: float | None) -> Callable[[], str]:
    def fix() -> str:
        write(path, lambda con: put_run(con, r), timeout)
        return f"stored run {r.id} from its {RESULT_FILE}"
    return fix


def _fail_stale(path: Path, folder: Path, r: RunResult, timeout: float | None) -> Callable[[], str]:
    def fix() -> str:
        r.status = "failed"
        r.error = f"interrupted: process {r.owner_pid} on {r.owner_host} ended without finishing the run"
        r.ended_at = r.ended_at or utc_now()
        r.save(folder)  # the artefact first, as every write does
        write(path, lambda con: put_run(con, r), timeout)
        return f"marked run {r.id} failed (its process is gone) in {RESULT_FILE} and the DB"
    return fix


def _restore_artefact(path: Path, folder: Path, rid: str, timeout: float | None) -> Callable[[], str]:
    def fix() -> str:
        from .queries import load_run_result

        r = load_run_result(rid, path, timeout)
        if (folder / rid / RESULT_FILE).exists():
            return f"left run {rid} alone: {folder / rid / RESULT_FILE} appeared meanwhile"
        if r.status == "running" and _stale(r):
            r.status, r.error = "failed", "interrupted: its process ended without finishing the run"
            r.ended_at = r.ended_at or format_time(parse_time(utc_now()))
            write(path, lambda con: put_run(con, r), timeout)
        r.save(folder)
        return f"wrote {folder / rid / RESULT_FILE} from the DB"
    return fix


def _delete_orphans(path: Path, table: str, timeout: float | None) -> Callable[[], str]:
    def fix() -> str:
        n = write(path, lambda con: con.execute(
            f"DELETE FROM {table} WHERE run_id NOT IN (SELECT id FROM runs) RETURNING 1").fetchall(), timeout)
        return f"deleted {len(n)} row(s) of {table} that belonged to no run"
    return fix


STALE_TMP_SECONDS = 600  # RunResult.save writes and renames its temporary file within a second


def _leftovers(path: Path, folder: Path) -> list[Finding]:
    """Temporary files a killed process left: a half-written result.json, a half-built rebuild."""
    import os
    import re
    import time

    out = []
    now = time.time()
    for tmp in sorted(folder.glob("*/.result-*.json.tmp")) if folder.is_dir() else []:
        try:
            old = now - tmp.lstat().st_mtime > STALE_TMP_SECONDS
        except OSError:
            continue
        if old:
            out.append(Finding(f"{tmp} is a result.json that was never finished (its writer was killed)",
                               _unlink(tmp)))
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.rebuild-(\d+)\.tmp(\.wal)?$")
    for tmp in sorted(path.parent.iterdir()) if path.parent.is_dir() else []:
        m = pattern.match(tmp.name)
        if m and not os.path.exists(f"/proc/{m.group(1)}") and os.path.isdir("/proc"):
            out.append(Finding(f"{tmp} is a DB a killed `db rebuild` did not finish", _unlink(tmp)))
    return out


def _unlink(p: Path) -> Callable[[], str]:
    def fix() -> str:
        p.unlink(missing_ok=True)
        return f"removed {p}"
    return fix
