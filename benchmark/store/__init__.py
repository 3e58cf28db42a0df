"""The results store: DuckDB tables, run artefacts (runs/<id>/result.json), the paper's reference rows.

    from benchmark.store import Store, RunResult, StoreEmpty
    store = Store()                      # ./results/aostbench.duckdb, or AOSTBENCH_DB
    run = RunResult.new("sim-finegpr+aost", profile, seed=0, test_sets=["sim-market1501"])
    store.start_run(run)                 # status running, owned by this process
    run.metrics["sim-market1501"] = Metrics(r1=..., r5=..., map=...)
    store.finish_run(run)                # everything in one transaction; status completed

Reading (CLI tables, the leaderboard app) goes through benchmark.store.queries.
"""
from __future__ import annotations

from .db import connect_read, connect_write, migrate
from .errors import RunNotFound, StoreBusy, StoreEmpty, StoreError, SubmissionNotFound
from .check import Finding, check_runs
from .rebuild import RebuildReport, check_db, rebuild_from_runs
from .result_format import (AttributeDist, BadArtefact, Cost, FidRow, Metrics, RunResult, SurrogateFit, new_run_id,
                            read_result, utc_now)
from .schema import SCHEMA_VERSION
from .writes import Store, default_runs_dir, mark_stale_runs

__all__ = [
    "Store", "RunResult", "Metrics", "FidRow", "AttributeDist", "Cost", "SurrogateFit", "new_run_id", "utc_now",
    "StoreEmpty", "StoreError", "StoreBusy", "RunNotFound", "SubmissionNotFound",
    "rebuild_from_runs", "check_db", "check_runs", "Finding", "RebuildReport", "read_result", "BadArtefact", "mark_stale_runs", "default_runs_dir",
    "connect_read", "connect_write", "migrate", "SCHEMA_VERSION",
]
