"""Gather run folders written without the DB into DuckDB (`aostbench db ingest`, the grid's head).

A grid job never opens the DuckDB file: it writes only `runs/<id>/result.json`
(and `datasets.json`, the datasets it read). The head process, the DB's only
writer, ingests those files here, one run per transaction, so a run is either
wholly in the DB or not at all. Ingesting is idempotent: a run whose row already
says what its file says is left alone. A file that cannot be read or fails
validation is reported by path and skipped; a `running` file is skipped too
(its job is still going, or died before it could say so: `aostbench grid`
marks such a run failed with the engine's reason).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import duckdb

from .db import connect_read, connect_write, resolve
from .errors import StoreEmpty
from .result_format import RESULT_FILE, RunResult, parse_time, read_result  # the one checked loader
from .writes import DATASETS_FILE, put_dataset, put_run


@dataclass
class IngestReport:
    db_path: Path
    ingested: list[str] = field(default_factory=list)  # run ids written
    unchanged: list[str] = field(default_factory=list)  # run ids already in the DB as their file says
    skipped: list[str] = field(default_factory=list)  # "<path>: why", one per file not ingested

    def merge(self, other: "IngestReport") -> None:
        self.ingested += other.ingested
        self.unchanged += other.unchanged
        self.skipped += other.skipped


def _read_datasets(run_dir: Path) -> list[dict]:
    p = run_dir / DATASETS_FILE
    if not p.is_file():
        return []
    try:
        rows = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(rows, list) or not all(isinstance(r, dict) and r.get("key") and r.get("kind")
                                                 for r in rows):
            raise ValueError("expected a list of objects with key and kind")
    except (OSError, ValueError) as e:
        raise ValueError(f"{p}: not a readable datasets file ({e})") from None
    return rows


def _same(db_row: tuple, run: RunResult) -> bool:
    status, ended, wall = db_row
    if status != run.status or ended != parse_time(run.ended_at):
        return False
    if wall is None or run.wall_seconds is None:
        return wall is None and run.wall_seconds is None
    return math.isclose(float(wall), float(run.wall_seconds), rel_tol=0, abs_tol=1e-9)


def ingest_files(paths: Iterable[str | Path], db_path: str | Path | None = None,
                 timeout: float | None = None) -> IngestReport:
    """Ingest the given result.json files (each one transaction); see the module docstring."""
    path = resolve(db_path)
    report = IngestReport(path)
    todo: list[tuple[Path, RunResult, list[dict]]] = []
    for p in (Path(x) for x in paths):
        try:
            run = read_result(p)
            datasets = _read_datasets(p.parent)
        except ValueError as e:
            report.skipped.append(str(e))
            continue
        if run.status == "running":
            report.skipped.append(f"{p}: run {run.id} is still running (or its job died before saying so)")
            continue
        todo.append((p, run, datasets))
    if not todo:
        return report
    try:
        with connect_read(path, timeout) as con:
            rows = con.execute("SELECT id, status, ended_at, wall_seconds FROM runs").fetchall()
        in_db = {r[0]: tuple(r[1:]) for r in rows}
    except StoreEmpty:
        in_db = {}
    with connect_write(path, timeout) as con:
        for p, run, datasets in todo:
            have = in_db.get(run.id)
            if have is not None and _same(have, run):
                report.unchanged.append(run.id)
                continue
            if have is not None and have[0] == "completed":
                report.skipped.append(f"{p}: run {run.id} is completed in the DB "
                                      f"but its file says {run.status!r}; left as it is")
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                for d in datasets:
                    put_dataset(con, d["key"], d["kind"], d.get("root"), d.get("counts") or {},
                                d.get("fingerprint"), run.ended_at)
                put_run(con, run)
                con.execute("COMMIT")
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                raise
            report.ingested.append(run.id)
    return report


def ingest_runs(runs_dir: str | Path, db_path: str | Path | None = None,
                timeout: float | None = None) -> IngestReport:
    """Ingest every runs_dir/<id>/result.json."""
    folder = Path(runs_dir)
    if not folder.is_dir():
        raise ValueError(f"no runs folder at {folder} (expected {folder}/<run id>/{RESULT_FILE})")
    return ingest_files(sorted(folder.glob(f"*/{RESULT_FILE}")), db_path, timeout)
