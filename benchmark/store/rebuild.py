"""The DB is a cache of the run artefacts: recreate it from runs/<id>/result.json, or check it against them."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .db import connect_read, connect_write, resolve
from .errors import StoreEmpty, StoreError
from .owner import Owner
from .reference_data import load_reference_csv
from .result_format import RESULT_FILE, RunResult
from .schema import SCHEMA_VERSION, current_version, one
from .writes import default_runs_dir, put_run

# tables that do not come from run artefacts: carried over from the old DB by a rebuild
_CARRIED = ("datasets", "submissions")


@dataclass
class RebuildReport:
    db_path: Path
    runs: int = 0
    skipped: list[str] = field(default_factory=list)  # artefacts that could not be read, with why
    carried: dict[str, int] = field(default_factory=dict)  # rows kept from the old DB per table


def scan_runs(runs_dir: str | Path) -> tuple[list[RunResult], list[str]]:
    """Every readable runs_dir/<id>/result.json (sorted by id) and a message per unreadable one."""
    folder = Path(runs_dir)
    results, problems = [], []
    if not folder.is_dir():
        return results, problems
    for p in sorted(folder.glob(f"*/{RESULT_FILE}")):
        try:
            r = RunResult.load(p)
            r.validate()
        except ValueError as e:
            problems.append(str(e))
            continue
        if r.id != p.parent.name:
            problems.append(f"{p}: holds run id {r.id!r} but lives in folder {p.parent.name!r}")
            continue
        results.append(r)
    return results, problems


def _carry_over(old: Path, timeout: float | None, problems: list[str]) -> dict[str, tuple[list[str], list[tuple]]]:
    """Datasets and submissions from the old DB (checkpointed first so no WAL is left behind).

    A damaged old DB is why one rebuilds: then they are reported lost instead of failing the rebuild."""
    if not old.is_file():
        return {}
    out = {}
    try:
        with connect_write(old, timeout) as con:
            con.execute("CHECKPOINT")
            for table in _CARRIED:
                cur = con.execute(f"SELECT * FROM {table}")
                out[table] = ([d[0] for d in cur.description], cur.fetchall())
    except duckdb.Error as e:
        problems.append(f"{old}: could not read datasets/submissions from the old DB, they are not kept ({e})")
        return {}
    return out


def rebuild_from_runs(runs_dir: str | Path | None = None, db_path: str | Path | None = None,
                      timeout: float | None = None) -> RebuildReport:
    """Recreate the DB from all runs/<id>/result.json (datasets and submissions are kept from the old DB).

    The new file is built beside the old one and swapped in atomically; a process
    writing to the old file during the rebuild loses that write (run it when idle)."""
    path = resolve(db_path)
    folder = Path(runs_dir) if runs_dir else default_runs_dir(path)
    if not folder.is_dir():
        raise StoreError(f"no run artefacts folder at {folder} (expected {folder}/<run id>/{RESULT_FILE})")
    results, problems = scan_runs(folder)
    carried = _carry_over(path, timeout, problems)
    tmp = path.with_name(f".{path.name}.rebuild-{os.getpid()}.tmp")
    for stale in (tmp, Path(str(tmp) + ".wal")):
        if stale.exists():
            stale.unlink()
    report = RebuildReport(path, skipped=problems)
    try:
        with connect_write(tmp, timeout) as con:
            con.execute("BEGIN TRANSACTION")
            for table, (cols, rows) in carried.items():
                if rows:
                    marks = ", ".join("?" for _ in cols)
                    con.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                                    [list(r) for r in rows])
                report.carried[table] = len(rows)
            for r in results:
                put_run(con, r)
            con.execute("COMMIT")
            con.execute("CHECKPOINT")
        os.replace(tmp, path)
        wal = Path(str(path) + ".wal")
        if wal.exists():  # belonged to the old file (checkpointed above); must not replay onto the new one
            wal.unlink()
    finally:
        for leftover in (tmp, Path(str(tmp) + ".wal")):
            if leftover.exists():
                leftover.unlink()
    report.runs = len(results)
    return report


def check_db(db_path: str | Path | None = None, runs_dir: str | Path | None = None,
             timeout: float | None = None) -> list[str]:
    """Problems found between the DB and the run artefacts; an empty list means consistent.

    Checks: schema version, the paper's reference rows, runs in the DB without an
    artefact and the reverse, status or metrics that differ, completed runs without
    metrics for their test sets, running runs whose process is gone, orphan rows."""
    path = resolve(db_path)
    folder = Path(runs_dir) if runs_dir else default_runs_dir(path)
    problems: list[str] = []
    try:
        with connect_read(path, timeout) as con:
            version = current_version(con)
            runs = {r[0]: r for r in con.execute(
                "SELECT id, status, test_sets, owner_host, owner_pid, owner_start FROM runs").fetchall()}
            metrics: dict[str, dict[str, tuple]] = {}
            for rid, test, r1, r5, mp in con.execute("SELECT run_id, test_set, r1, r5, map FROM metrics").fetchall():
                metrics.setdefault(rid, {})[test] = (r1, r5, mp)
            n_ref = one(con, "SELECT count(*) FROM reference")[0]
            orphans = {t: one(con, f"SELECT count(*) FROM {t} WHERE run_id NOT IN (SELECT id FROM runs)")[0]
                       for t in ("metrics", "fid", "attribute_dist", "costs", "surrogate")}
    except StoreEmpty as e:
        return [str(e)]
    if version != SCHEMA_VERSION:
        problems.append(f"schema version {version}, expected {SCHEMA_VERSION} (any write migrates it)")
    n_csv = len(load_reference_csv())
    if n_ref != n_csv:
        problems.append(f"reference table has {n_ref} rows, the packaged paper_tables.csv {n_csv}")
    for table, n in orphans.items():
        if n:
            problems.append(f"{n} row(s) in {table} belong to no run")

    artefacts, unreadable = scan_runs(folder)
    problems += [f"unreadable artefact: {m}" for m in unreadable]
    by_id = {r.id: r for r in artefacts}
    for rid in sorted(set(runs) - set(by_id)):
        problems.append(f"run {rid} is in the DB but has no {folder / rid / RESULT_FILE}")
    for rid in sorted(set(by_id) - set(runs)):
        problems.append(f"run {rid} has an artefact but no DB row (`aostbench db rebuild` restores it)")
    for rid, (_, status, test_sets, host, pid, start) in sorted(runs.items()):
        art = by_id.get(rid)
        if art is not None and art.status != status:
            problems.append(f"run {rid}: status {status!r} in the DB but {art.status!r} in its result.json")
        if status == "completed":
            have = metrics.get(rid, {})
            if not have:
                problems.append(f"run {rid} is completed but has no metrics")
            missing = [t for t in (json.loads(test_sets) if test_sets else []) if t not in have]
            if have and missing:
                problems.append(f"run {rid} is completed but lacks metrics for {', '.join(missing)}")
        if status == "running" and host and pid is not None and not Owner(host, int(pid), start).is_alive():
            problems.append(f"run {rid} is 'running' but its process {pid} on {host} is gone "
                            "(`aostbench runs list` marks it failed)")
        if art is not None:
            for test, m in art.metrics.items():
                db = metrics.get(rid, {}).get(test)
                if db is None or not all(_same(a, b) for a, b in zip(db, (m.r1, m.r5, m.map))):
                    problems.append(f"run {rid}: metrics for {test} differ between the DB and its result.json")
    return problems


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-9)
