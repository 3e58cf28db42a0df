"""The grid's head: submit cells as submitit jobs, watch them, ingest each result as it lands.

Only this process writes the DuckDB file. A cell is skipped when the DB has it
completed; a cell whose job is still queued or running (from an earlier head)
is watched, not submitted again; a cell whose job failed or was cancelled is
submitted again under the same run id, and the job resumes that run (finished
stages are reloaded, training continues from its checkpoint).
"""
from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from benchmark import paths
from benchmark.store.owner import Owner, process_start

from .eta import GridEta, cell_work, training_fraction
from .job import CellJob, run_cell_job
from .options import ExecutorError, ExecutorOptions, make_executor
from .preflight import PreflightError, check_cells
from .table import DONE_STATES, JobRecord, JobTable, cell_id, now, seconds_between

# Slurm job states (sacct) by what they mean for a cell; anything else ended the job without a result
_SLURM_QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "RESV_DEL_HOLD"}
_SLURM_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "SUSPENDED", "RESIZING", "STOPPED"}
_NO_RESULT_GRACE_S = 120.0  # a COMPLETED Slurm job's result file may take a while to appear on NFS


def _runs_dir(db: str | Path | None, runs_dir: str | Path | None) -> Path:
    from benchmark.store import default_runs_dir

    return (Path(runs_dir).expanduser() if runs_dir else default_runs_dir(db)).resolve()


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "the job raised an error"


def _log_tail(path: str | None, n: int = 1) -> str:
    if not path or not Path(path).is_file():
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " | ".join(lines[-n:])


_SLURM_JOBS: dict = {}  # one SlurmJob per id: registering a job again would force another sacct call


def _slurm_job(rec: JobRecord):
    from submitit.slurm.slurm import SlurmJob

    if rec.job_id not in _SLURM_JOBS:
        _SLURM_JOBS[rec.job_id] = SlurmJob(folder=rec.folder, job_id=rec.job_id)
    return _SLURM_JOBS[rec.job_id]


def refresh(rec: JobRecord, table: JobTable | None = None, handle=None) -> JobRecord:
    """Bring a record's state up to date from the engine and the job's result file (saved when `table`)."""
    if table is not None:
        disk = table.get(rec.cell_id)
        if disk is not None and disk.cancel_requested:
            rec.cancel_requested = True
    if rec.state in DONE_STATES or not rec.job_id:
        return rec
    before = (rec.state, rec.reason)
    if handle is not None:
        try:
            handle.done()  # lets submitit reap a finished local process
        except Exception:  # noqa: BLE001 - the result file and the pid decide below
            pass
    pickle = Path(rec.result_pickle) if rec.result_pickle else None
    outcome = None
    if pickle is not None and pickle.is_file():
        from submitit.core.utils import pickle_load

        try:
            outcome = pickle_load(pickle)
        except Exception:  # noqa: BLE001 - written by rename, so this is another problem: say it
            outcome = ("error", f"unreadable job result {pickle}")
    if outcome is not None:
        kind, value = outcome
        if kind == "success":
            rec.state, rec.reason = "completed", ""
            rec.outcome = value if isinstance(value, dict) else {"value": repr(value)}
        else:
            rec.state = "cancelled" if rec.cancel_requested else "failed"
            rec.reason = _last_line(value)
        rec.ended_at = rec.ended_at or now()
    elif rec.executor == "local":
        if Owner(rec.host or socket.gethostname(), int(rec.pid), rec.pid_start).is_alive():
            rec.state = "running"
        else:
            rec.state = "cancelled" if rec.cancel_requested else "failed"
            tail = _log_tail(rec.stderr)
            rec.reason = (f"local job {rec.job_id} ended without a result: its process was killed "
                          "(SIGKILL, out of memory or the time limit)" + (f"; last log line: {tail}" if tail else ""))
            rec.ended_at = now()
    else:
        full = _slurm_job(rec).state or "UNKNOWN"  # e.g. "CANCELLED by 1234"
        state = full.split()[0].upper()
        if state in _SLURM_QUEUED:
            rec.state = "queued"
        elif state in _SLURM_RUNNING:
            rec.state = "running"
            rec.started_at = rec.started_at or now()
        elif state == "COMPLETED":  # finished; its result file is on its way
            seen = rec.outcome.setdefault("slurm_completed_seen", now())
            if (seconds_between(seen, None) or 0) > _NO_RESULT_GRACE_S:
                rec.state, rec.reason, rec.ended_at = "failed", "slurm: COMPLETED but the job left no result", now()
        elif state != "UNKNOWN":  # FAILED, TIMEOUT, CANCELLED by ..., OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, ...
            rec.state = "cancelled" if rec.cancel_requested else "failed"
            rec.reason = f"slurm: {full}"
            rec.ended_at = now()
    if rec.state == "cancelled":
        rec.reason = "cancelled by `aostbench grid cancel`"
    if table is not None and (rec.state, rec.reason) != before:
        table.save(rec)
    return rec


def gather(rec: JobRecord, table: JobTable, runs: Path, db, log: Callable[[str], None]) -> list[str]:
    """Put a finished job's run into the DB (through its result.json); returns problems."""
    from benchmark.store import RunResult, Store
    from benchmark.store.ingest import ingest_files
    from benchmark.store.result_format import RESULT_FILE

    path = runs / rec.run_id / RESULT_FILE
    problems: list[str] = []
    if path.is_file():
        try:
            if rec.state != "completed" and RunResult.load(path).status == "running":
                # the job died before it could say so: its run says what the engine said
                Store(None, runs, artefacts_only=True).fail_run(rec.run_id, rec.reason or rec.state)
            rep = ingest_files([path], db)
            problems += rep.skipped
        except ValueError as e:
            problems.append(str(e))
    elif rec.state == "completed":
        problems.append(f"{path}: the job said it completed but left no result file")
    if rec.state == "completed" and problems:
        rec.state, rec.reason = "failed", problems[0]
    rec.gathered = True
    table.save(rec)
    for p in problems:
        log(f"    not ingested: {p}")
    return problems


def source_size(cell, root: Path, sizes: dict) -> int | None:
    """Training images of the cell's source, as plan_key loaded it (None when it could not be read)."""
    from benchmark.datasets import canonical_key
    from benchmark.specs import parse_spec

    try:
        return sizes.get(parse_spec(cell.spec, dataset=lambda name: canonical_key(name, root)).base)
    except Exception:  # noqa: BLE001 - an unreadable spec is reported by preflight; the ETA just lacks it
        return None


def _submitted(rec: JobRecord, job, kind: str) -> None:
    rec.job_id = str(job.job_id)
    rec.folder = str(Path(job.paths.folder).parent / "%j")
    rec.stdout, rec.stderr = str(job.paths.stdout), str(job.paths.stderr)
    rec.result_pickle = str(job.paths.result_pickle)
    rec.submitted_at = now()
    rec.state, rec.reason, rec.ended_at, rec.started_at = "queued", "", None, None
    rec.attempts += 1
    rec.gathered, rec.cancel_requested, rec.outcome = False, False, {}
    if kind == "local":  # no queue: the process starts now; its pid and start time say whether it lives
        rec.host, rec.pid = socket.gethostname(), int(job.job_id)
        rec.pid_start = process_start(rec.pid)
        rec.state, rec.started_at = "running", rec.submitted_at


def run_cells(cells, opts: ExecutorOptions, *, data_root=None, db=None, runs_dir=None, device: str = "auto",
              fid: bool = True, log: Callable[[str], None] = print):
    """Run the cells as jobs of `opts.kind` (local or slurm), gathering results into `db`. Returns a GridReport."""
    from benchmark.grid import GridReport, _runs_by_cell, cell_key, cell_request
    from benchmark.store import new_run_id

    if opts.kind == "inprocess":
        raise ExecutorError("run_cells submits jobs; the in-process grid is benchmark.grid.run_grid")
    root = paths.data_root(data_root).resolve()
    runs = _runs_dir(db, runs_dir)
    table = JobTable(runs)
    report = GridReport(planned=list(cells))
    fingerprints: dict = {}  # datasets fingerprinted once for every cell's run key
    sizes: dict = {}  # and their training images (the ETA's work per cell)
    keys = [cell_key(c, data_root=str(root), db=db, datasets=fingerprints, sizes=sizes) for c in cells]
    by_id = {cell_id(c, k): c for c, k in zip(cells, keys)}
    key_of = dict(zip(by_id, keys))
    with table.head_lock():
        for cid in by_id:  # what earlier heads left: finished jobs are gathered first
            rec = table.get(cid)
            if rec is not None and not rec.gathered:
                refresh(rec, table)
                if rec.state in DONE_STATES:
                    gather(rec, table, runs, db, log)
        done, failed = _runs_by_cell(db, log)
        todo: list[tuple[str, JobRecord]] = []
        said: list[str] = []  # what will be submitted, told once preflight has passed
        active: dict[str, JobRecord] = {}
        n = len(cells)
        for i, (cid, cell) in enumerate(by_id.items(), 1):
            key = (key_of[cid], cell.seed)  # None: its data cannot be read; preflight says why
            rec = table.get(cid)
            if key[0] is not None and set(cell.tests) <= done.get(key, set()):
                report.skipped.append(cell)
                log(f"[{i}/{n}] skip (done): {cell.label}")
                continue
            if rec is not None and rec.job_id and rec.state in ("queued", "running"):
                active[cid] = rec
                log(f"[{i}/{n}] watching job {rec.job_id} ({rec.state}) from an earlier grid: {cell.label}")
                continue
            resumable = failed.get((key, tuple(sorted(cell.tests)))) if key[0] is not None else None
            run_id = rec.run_id if rec else (resumable or new_run_id())
            if rec is None:
                rec = JobRecord(cid, cell.label, asdict(cell), run_id, opts.kind)
            rec.executor, rec.state, rec.job_id, rec.reason = opts.kind, "queued", None, ""
            verb = "resume" if (runs / run_id).is_dir() else "run"
            todo.append((cid, rec))
            said.append(f"[{i}/{n}] {verb} {run_id} as a {opts.kind} job: {cell.label}")
        problems = check_cells([by_id[cid] for cid, _ in todo], root, fid=fid) if todo else []
        if problems:
            raise PreflightError(problems)
        for line in said:
            log(line)
        ex = make_executor(opts, table.root / "submitit") if todo else None  # a missing engine stops here
        payloads = {}
        threads = opts.job_threads()
        for cid, rec in todo:
            req = cell_request(by_id[cid], data_root=str(root), device=device, nproc=opts.nproc, fid=fid)
            request = {k: v for k, v in asdict(req).items() if k not in ("db", "runs_dir", "resume", "run_id")}
            payloads[cid] = CellJob(rec.run_id, str(runs), request, threads, by_id[cid].label)
            table.save(rec)
        handles: dict[str, object] = {}
        queue = [rec for _, rec in todo]
        if opts.kind == "slurm" and queue:  # one job array; Slurm runs array_parallelism of them at once
            jobs = ex.map_array(run_cell_job, [payloads[r.cell_id] for r in queue])
            for rec, job in zip(queue, jobs):
                _submitted(rec, job, opts.kind)
                table.save(rec)
                handles[rec.cell_id], active[rec.cell_id] = job, rec
                log(f"    submitted Slurm job {rec.job_id}: {rec.label} (log {rec.stdout})")
            queue = []
        slots = opts.local_jobs()
        eta = GridEta(slots, {cid: cell_work(by_id[cid], source_size(by_id[cid], root, sizes))
                              for cid in [*active, *(r.cell_id for r in queue)]})
        while queue or active:
            while queue and len(active) < slots:
                rec = queue.pop(0)
                job = ex.submit(run_cell_job, payloads[rec.cell_id])
                _submitted(rec, job, opts.kind)
                table.save(rec)
                handles[rec.cell_id], active[rec.cell_id] = job, rec
                log(f"    started local job {rec.job_id}: {rec.label} (log {rec.stdout})")
            for cid, rec in list(active.items()):
                refresh(rec, table, handles.get(cid))
                if rec.state not in DONE_STATES:
                    continue
                del active[cid]
                eta.finish(cid, rec.elapsed() if rec.state == "completed" else None)
                gather(rec, table, runs, db, log)
                cell = by_id[cid]
                if rec.state == "completed":
                    report.ran.append((cell, rec.run_id))
                    log(f"    completed {rec.run_id} in {rec.elapsed() or 0:.0f} s: {cell.label}")
                else:
                    report.failed.append((cell, f"{rec.state}: {rec.reason}"))
                    log(f"    {rec.state}: {cell.label}: {rec.reason} (log {rec.stderr})")
            if opts.kind == "local" and (queue or active):  # Slurm's queue waits make an ETA meaningless
                line = eta.line({cid: ((rec.elapsed() or 0.0), training_fraction(runs / rec.run_id / "run.log"))
                                 for cid, rec in active.items()})
                if line:
                    log(line)
            if queue or active:  # Slurm: submitit's watcher spaces its sacct calls out on its own
                time.sleep(opts.poll_s if opts.kind == "local" else max(opts.poll_s, 5.0))
    return report


def grid_status(db=None, runs_dir=None) -> tuple[list[JobRecord], list[str]]:
    """Every cell in the job table with its state as the engine sees it now (nothing is written)."""
    table = JobTable(_runs_dir(db, runs_dir))
    recs, problems = table.all()
    for rec in recs:
        try:
            refresh(rec)
        except Exception as e:  # noqa: BLE001 - one job the engine cannot describe must not hide the rest
            problems.append(f"{rec.label}: could not ask the engine about job {rec.job_id} ({e})")
    return recs, problems


def cancel_cells(db=None, runs_dir=None, run_ids: list[str] | None = None) -> list[JobRecord]:
    """Cancel every queued or running job (or those of `run_ids`); returns the records cancelled."""
    table = JobTable(_runs_dir(db, runs_dir))
    recs, _ = table.all()
    out = []
    for rec in recs:
        if run_ids and rec.run_id not in run_ids:
            continue
        refresh(rec)
        if rec.state in DONE_STATES:
            continue
        rec.cancel_requested = True
        if not rec.job_id:
            rec.state, rec.reason, rec.ended_at = "cancelled", "cancelled before it was submitted", now()
        elif rec.executor == "local":
            owner = Owner(rec.host or socket.gethostname(), int(rec.pid), rec.pid_start)
            if owner.is_local() and owner.is_alive():
                os.kill(owner.pid, signal.SIGINT)  # submitit's controller stops its task, then exits
        else:
            _slurm_job(rec).cancel(check=False)
        rec.reason = rec.reason or "cancelled by `aostbench grid cancel`"
        table.save(rec)
        out.append(rec)
    return out
