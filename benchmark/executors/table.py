"""The grid's job table: one JSON file per cell under `<runs>/grid/jobs/`, written only by the head.

Files, not DuckDB: the table must be readable and writable while jobs run and
without the DB's single-writer rule. Each file is replaced atomically.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

STATES = ("queued", "running", "completed", "failed", "cancelled")
DONE_STATES = ("completed", "failed", "cancelled")
GRID_DIR = "grid"


def cell_id(cell, run_key: str | None = None) -> str:
    """A cell's file name in the table: a digest of its run key, seed and test sets.

    The run key (benchmark.runkey) holds everything that changes the result, so a
    cell with other settings or other data is another record. Without a key (its
    data cannot be read yet) the cell's own fields stand in."""
    if run_key:
        d = {"run_key": run_key, "seed": cell.seed, "tests": sorted(cell.tests)}
    else:
        d = asdict(cell)
        d.pop("recipe", None)  # the same run whichever recipe file names it
    text = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start:
        return None
    a = datetime.fromisoformat(start.replace("Z", "+00:00"))
    b = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else datetime.now(timezone.utc)
    return max(0.0, (b - a).total_seconds())


@dataclass
class JobRecord:
    cell_id: str
    label: str
    cell: dict
    run_id: str
    executor: str  # local | slurm
    state: str = "queued"
    reason: str = ""  # why it failed / was cancelled, from the job or the engine
    job_id: str | None = None
    folder: str | None = None  # submitit's folder for this job (pickles, logs)
    stdout: str | None = None
    stderr: str | None = None
    result_pickle: str | None = None
    host: str | None = None  # local: the job's controller process (its liveness)
    pid: int | None = None
    pid_start: int | None = None
    submitted_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    attempts: int = 0
    cancel_requested: bool = False
    gathered: bool = False  # its result.json is in the DB (or it left none)
    outcome: dict = field(default_factory=dict)  # what the job returned (host, pid, times)

    def elapsed(self) -> float | None:
        return seconds_between(self.started_at or self.submitted_at, self.ended_at) if self.job_id else None


class JobTable:
    def __init__(self, runs_dir: str | Path):
        self.root = Path(runs_dir) / GRID_DIR
        self.jobs_dir = self.root / "jobs"

    def path(self, cid: str) -> Path:
        return self.jobs_dir / f"{cid}.json"

    def get(self, cid: str) -> JobRecord | None:
        p = self.path(cid)
        if not p.is_file():
            return None
        return _load(p)

    def save(self, rec: JobRecord) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        p = self.path(rec.cell_id)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(rec), indent=2, default=str), encoding="utf-8")
        os.replace(tmp, p)

    def all(self) -> tuple[list[JobRecord], list[str]]:
        """Every record (oldest submission first) and a message per unreadable file."""
        recs, problems = [], []
        for p in sorted(self.jobs_dir.glob("*.json")) if self.jobs_dir.is_dir() else []:
            try:
                recs.append(_load(p))
            except ValueError as e:
                problems.append(str(e))
        recs.sort(key=lambda r: (r.submitted_at or "~", r.label))
        return recs, problems

    @contextmanager
    def head_lock(self) -> Iterator[None]:
        """One head per runs folder: a second `aostbench grid` on it stops instead of submitting twice."""
        self.root.mkdir(parents=True, exist_ok=True)
        f = open(self.root / "head.lock", "a+")
        try:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(f"another `aostbench grid` is gathering this runs folder ({self.root}); "
                                   "wait for it, or see `aostbench grid status`") from None
            yield
        finally:
            f.close()


def _load(p: Path) -> JobRecord:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        known = {f.name for f in fields(JobRecord)}
        return JobRecord(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"{p}: not a readable grid job record ({e})") from None
