"""What runs inside one grid job (a local process or a Slurm job): one cell, no DB.

The head pickles a CellJob (through submitit) naming the run id it chose, the
run request and the runs folder. The job makes that run exist, completed:
a run folder that is already there is resumed (finished stages reloaded,
training from its checkpoint), one already completed is left alone. It
writes only `runs/<id>/`; the head ingests the result into DuckDB.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CellJob:
    run_id: str
    runs_dir: str  # absolute, on the filesystem the jobs share
    request: dict = field(default_factory=dict)  # RunRequest fields (no db)
    threads: int | None = None  # torch threads in this job
    label: str = ""


def run_cell_job(job: CellJob) -> dict:
    """Run (or resume) one cell's run writing only its run folder; returns where and when it ran."""
    started = time.time()
    if job.threads:  # before torch is imported in this process
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(job.threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if job.threads:
        torch.set_num_threads(job.threads)

    from benchmark.pipeline import RunRequest, run
    from benchmark.store import RunResult, Store
    from benchmark.store.result_format import RESULT_FILE

    def log(message: str) -> None:
        print(message, flush=True)

    store = Store(None, job.runs_dir, artefacts_only=True)
    path = Path(job.runs_dir) / job.run_id / RESULT_FILE
    existing = RunResult.load(path) if path.is_file() else None
    status = existing.status if existing else None
    if status != "completed":
        req = RunRequest(**{**job.request, "db": None, "runs_dir": job.runs_dir, "progress": False,
                            "run_id": None if existing else job.run_id, "resume": job.run_id if existing else None})
        log(f"{job.label}: {'resume' if existing else 'run'} {job.run_id} on {socket.gethostname()} "
            f"(pid {os.getpid()}, {torch.get_num_threads()} torch threads)")
        status = run(req, store=store, log=log).status
    return {"run_id": job.run_id, "status": status, "host": socket.gethostname(), "pid": os.getpid(),
            "started": started, "ended": time.time(), "threads": torch.get_num_threads()}
