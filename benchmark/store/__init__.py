"""The results store: DuckDB tables, run artefacts (runs/<id>/result.json), the paper's reference rows.

    from benchmark.store import Store, RunResult, StoreEmpty
    store = Store()                      # ./results/aostbench.duckdb, or AOSTBENCH_DB
    run = RunResult.new("sim-finegpr+aost", profile, seed=0, test_sets=["sim-market1501"])
    store.start_run(run)                 # status running, owned by this process
    run.metrics["sim-market1501"] = Metrics(r1=..., r5=..., map=...)
    store.finish_run(run)                # everything in one transaction; status completed

Where things are, in three parts (report and queries never import the writers):
- report: tables.py (CLI text, Markdown, LaTeX, CSV, JSON), aggregate.py (the paper's table shape);
- queries (read-only: never migrate, mark or write): queries.py, app_queries.py;
- persistence: writes.py (Store: runs, datasets, submissions; mark_stale_runs), rebuild.py
  (db rebuild / check), schema.py (migrations), db.py (connections, retries), result_format.py
  (the result.json codec), naming.py, owner.py, errors.py.
"""
from __future__ import annotations

from .db import connect_read, connect_write, migrate
from .errors import RunNotFound, StoreBusy, StoreEmpty, StoreError, StoreOutdated, SubmissionNotFound
from .check import Finding, check_runs
from .rebuild import RebuildReport, check_db, rebuild_from_runs
from .result_format import (AttributeDist, BadArtefact, Cost, FidRow, Metrics, RunResult, SurrogateFit, new_run_id,
                            read_result, utc_now)
from .schema import SCHEMA_VERSION
from .writes import Store, default_runs_dir, mark_stale_runs

__all__ = [
    "Store", "RunResult", "Metrics", "FidRow", "AttributeDist", "Cost", "SurrogateFit", "new_run_id", "utc_now",
    "StoreEmpty", "StoreError", "StoreBusy", "StoreOutdated", "RunNotFound", "SubmissionNotFound",
    "rebuild_from_runs", "check_db", "check_runs", "Finding", "RebuildReport", "read_result", "BadArtefact", "mark_stale_runs", "default_runs_dir",
    "connect_read", "connect_write", "migrate", "SCHEMA_VERSION",
]
