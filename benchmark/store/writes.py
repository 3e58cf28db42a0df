"""Writing to the store: runs (start / finish / fail), datasets, submissions, stale runs.

Every write is one short parameterised transaction (benchmark.store.db.write).
A run's artefact `runs/<id>/result.json` is written before its DB rows, so the
artefacts are always the fuller record and `rebuild_from_runs` can recreate the DB.
"""
from __future__ import annotations

import copy
import json
import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import duckdb

from benchmark.faults import crash_point

from .db import connect_read, migrate, resolve, write
from .errors import StoreEmpty, StoreError, StoreOutdated, SubmissionNotFound
from .naming import kind_of
from .owner import Owner
from .schema import one
from .result_format import RESULT_FILE, RunResult, _clean, format_time, parse_time, utc_now

SUBMISSION_STATUSES = ("accepted", "rejected")
# the datasets a run used, beside its result.json, when the run was stored without a DB (a grid job)
DATASETS_FILE = "datasets.json"

RUN_COLUMNS = (
    "id", "train_spec", "profile", "seed", "status", "error", "config", "code_version", "dirty",
    "library_versions", "device", "started_at", "ended_at", "train_images", "wall_seconds",
    "arch", "pretrained", "height", "width", "fid_weights", "train_kind", "train_ids", "budget", "nproc",
    "test_sets", "data_fingerprints", "notes", "owner_host", "owner_pid", "owner_start",
    "run_key", "variant_key", "variant", "run_key_note", "settings_key", "adapted_to",
)


@contextmanager
def _read_current(path: Path, timeout: float | None):
    """A read on behalf of a writer: an older schema is migrated first (writers may; readers never)."""
    try:
        with connect_read(path, timeout) as con:
            yield con
            return
    except StoreOutdated:
        pass
    migrate(path, timeout)
    with connect_read(path, timeout) as con:
        yield con


def default_runs_dir(db_path: str | Path | None = None) -> Path:
    """Run artefacts: the resolved Paths' runs/ (AOSTBENCH_RUNS, else a `runs/` folder next to the DB file)."""
    from benchmark import paths

    return paths.current().with_flags(db=db_path).runs if db_path else paths.current().runs


def _json(value: Any) -> str:
    return json.dumps(_clean(value), sort_keys=True, allow_nan=False, default=str)


def _plain(values: list[Any]) -> list[Any]:
    """Python scalars for DuckDB: numpy numbers become int/float, NaN becomes NULL."""
    return [v if isinstance(v, datetime) else _clean(v) for v in values]


def _run_values(run: RunResult) -> list[Any]:
    if run.run_key is None and run.run_key_note is None:  # an older result.json: what can be computed, is
        fill_run_key(run)
    row = {
        "id": run.id, "train_spec": run.train_spec, "profile": run.profile, "seed": int(run.seed),
        "status": run.status, "error": run.error, "config": _json(run.config),
        "code_version": run.code_version, "dirty": run.dirty, "library_versions": _json(run.library_versions),
        "device": run.device, "started_at": parse_time(run.started_at), "ended_at": parse_time(run.ended_at),
        "train_images": run.train_images, "wall_seconds": run.wall_seconds, "arch": run.arch,
        "pretrained": run.pretrained, "height": run.height, "width": run.width, "fid_weights": run.fid_weights,
        "train_kind": kind_of(run.train_spec), "train_ids": run.train_ids, "budget": run.budget,
        "nproc": run.nproc, "test_sets": _json(list(run.test_sets)), "data_fingerprints": _json(run.data_fingerprints),
        "notes": _json(run.notes), "owner_host": run.owner_host, "owner_pid": run.owner_pid,
        "owner_start": run.owner_start, "run_key": run.run_key, "variant_key": run.variant_key,
        "variant": run.variant, "run_key_note": run.run_key_note, "settings_key": run.settings_key,
        "adapted_to": run.adapted_to,
    }
    return _plain([row[c] for c in RUN_COLUMNS])


def set_key(run: RunResult, key) -> None:
    """Copy a benchmark.runkey.RunKey onto the run (its inputs go into config['run_key'])."""
    run.run_key, run.variant_key, run.variant = key.key, key.variant_key, key.variant
    run.settings_key, run.adapted_to, run.run_key_note = key.settings_key, key.adapted_to, None
    run.config["run_key"] = key.inputs


def fill_run_key(run: RunResult) -> None:
    """Give a run stored before run keys its key from its config, or say why it cannot have one."""
    from benchmark.runkey import key_from_stored, settings_key_from_stored

    key, why = key_from_stored(run.train_spec, run.config, run.data_fingerprints)
    if key is None:
        run.run_key_note = why
        run.settings_key = settings_key_from_stored(run.config)
        run.variant = f"{run.profile}, settings unknown ({why})"
    else:
        set_key(run, key)


def put_run(con: duckdb.DuckDBPyConnection, run: RunResult) -> None:
    """Upsert the run row and replace all its child rows (inside the caller's transaction)."""
    cols = ", ".join(RUN_COLUMNS)
    marks = ", ".join("?" for _ in RUN_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in RUN_COLUMNS if c != "id")
    con.execute(f"INSERT INTO runs ({cols}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}",
                _run_values(run))
    for table in ("metrics", "fid", "attribute_dist", "costs", "surrogate", "weights_used"):
        con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run.id])
    if run.weights:
        con.executemany(
            "INSERT INTO weights_used (run_id, part, file, sha256, checksum, tensors, label, from_cache) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [_plain([run.id, w.get("part"), w.get("file"), w.get("sha256"), w.get("checksum"), w.get("tensors"),
                     w.get("label"), bool(w.get("from_cache"))]) for w in run.weights])
    if run.metrics:
        con.executemany(
            "INSERT INTO metrics (run_id, test_set, r1, r5, r10, map, minp, num_query, num_gallery, eval_seconds) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_plain([run.id, t, m.r1, m.r5, m.r10, m.map, m.minp, m.num_query, m.num_gallery, m.eval_seconds])
             for t, m in run.metrics.items()])
    if run.fid:
        con.executemany(
            "INSERT INTO fid (run_id, stage, target, value, weights, dims, n, n_target, style_method) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_plain([run.id, f.stage, f.target, f.value, f.weights, f.dims, f.n, f.n_target, f.style_method or ""])
             for f in run.fid])
    dist_rows = [[run.id, d.attribute, code, float(p), d.source, d.target or ""]
                 for d in run.attribute_dists for code, p in enumerate(d.probs, start=1)]
    if dist_rows:
        con.executemany(
            "INSERT INTO attribute_dist (run_id, attribute, value, p, source, target) VALUES (?, ?, ?, ?, ?, ?)",
            dist_rows)
    if run.costs:
        con.executemany(
            "INSERT INTO costs (run_id, stage, wall_seconds, images, device) VALUES (?, ?, ?, ?, ?)",
            [_plain([run.id, c.stage, c.wall_seconds, c.images, c.device or ""]) for c in run.costs])
    if run.surrogate:
        con.executemany(
            "INSERT INTO surrogate (run_id, target, r2_cv, r2_train, n_probe, model, params) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [_plain([run.id, s.target, s.r2_cv, s.r2_train, s.n_probe, s.model, _json(s.params)])
             for s in run.surrogate])


def put_dataset(con: duckdb.DuckDBPyConnection, key: str, kind: str, root: str | Path | None, counts: dict,
                fingerprint: str | None, updated_at: str | None = None) -> None:
    """Upsert one datasets row (inside the caller's transaction)."""
    values = _plain([key, kind, None if root is None else str(root), _json(counts or {}), fingerprint,
                     parse_time(updated_at or utc_now())])
    con.execute(
        "INSERT INTO datasets (key, kind, root, counts, fingerprint, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, root = excluded.root, "
        "counts = excluded.counts, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
        values)


def _status_of(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    row = one(con, "SELECT status FROM runs WHERE id = ?", [run_id])
    return row[0] if row else None


def _seconds_between(start: str | None, end: str | None) -> float | None:
    a, b = parse_time(start), parse_time(end)
    return (b - a).total_seconds() if a and b else None


class Store:
    """The writer side of the results store (one DuckDB file + the runs/<id>/ artefacts).

    Nothing is held open between calls: each method is one short transaction,
    so several processes (concurrent `aostbench run`s, the app) can share the file.

    `artefacts_only=True` is a grid job's store: it writes only the run folder
    (result.json, and datasets.json for the datasets it used) and never opens the
    DB; the head ingests those files (benchmark.store.ingest).
    """

    def __init__(self, db_path: str | Path | None = None, runs_dir: str | Path | None = None,
                 timeout: float | None = None, write_artifacts: bool = True, artefacts_only: bool = False):
        self.path = resolve(db_path)
        self.runs_dir = Path(runs_dir).expanduser() if runs_dir else default_runs_dir(self.path)
        self.timeout = timeout
        self.write_artifacts = write_artifacts or artefacts_only
        self.artefacts_only = artefacts_only
        self._datasets: dict[str, dict] = {}  # artefacts_only: kept for datasets.json

    def __repr__(self) -> str:
        return f"Store(db_path={str(self.path)!r}, runs_dir={str(self.runs_dir)!r})"

    def run_dir(self, run_id: str) -> Path:
        """Where a run's artefacts (config, log, checkpoints, result.json) live."""
        return self.runs_dir / run_id

    def _write(self, fn):
        return write(self.path, fn, self.timeout)

    # -- runs -----------------------------------------------------------------------------------
    def start_run(self, run: RunResult) -> None:
        """Record a run as `running`, owned by this process (a resumed run is restarted in place)."""
        owner = Owner.current()
        staged = copy.copy(run)  # `run` changes only once the run is stored
        staged.status, staged.error, staged.ended_at = "running", None, None
        staged.owner_host, staged.owner_pid, staged.owner_start = owner.host, owner.pid, owner.start
        staged.validate()

        def txn(con):
            if _status_of(con, staged.id) == "completed":
                raise StoreError(f"run {staged.id} is already completed; start a new run instead of resuming it")
            put_run(con, staged)

        self._store(staged, txn)
        run.__dict__.update(staged.__dict__)

    def finish_run(self, run: RunResult) -> None:
        """Store everything about the run and mark it completed, in one transaction (idempotent)."""
        staged = copy.copy(run)
        staged.status, staged.error = "completed", None
        staged.ended_at = staged.ended_at or utc_now()
        if staged.wall_seconds is None:
            staged.wall_seconds = _seconds_between(staged.started_at, staged.ended_at)
        staged.validate()
        self._store(staged, lambda con: put_run(con, staged), check_artefact=False)
        run.__dict__.update(staged.__dict__)

    def fail_run(self, run: str | RunResult, error: str) -> None:
        """Mark a run failed with its error. Given only an id, the rest comes from its artefact or row."""
        original = run if isinstance(run, RunResult) else None
        staged = copy.copy(run) if isinstance(run, RunResult) else self._load(run)
        staged.status, staged.error = "failed", str(error)
        staged.ended_at = staged.ended_at or utc_now()
        if staged.wall_seconds is None:
            staged.wall_seconds = _seconds_between(staged.started_at, staged.ended_at)
        staged.validate()

        def txn(con):
            if _status_of(con, staged.id) == "completed":
                raise StoreError(f"run {staged.id} is completed; it cannot be marked failed")
            put_run(con, staged)

        self._store(staged, txn)
        if original is not None:
            original.__dict__.update(staged.__dict__)

    def _store(self, run: RunResult, txn, check_artefact: bool = True) -> None:
        """Artefact first (the fuller record), then the DB rows in one transaction."""
        if run.run_key is None and run.run_key_note is None:  # built without the pipeline: computed here
            fill_run_key(run)
        if self.write_artifacts:
            if check_artefact:
                self._check_not_completed(run.id)
            run.save(self.runs_dir)
            crash_point("run-artefact-saved")
        if self.artefacts_only:
            if self._datasets:
                _atomic_json(self.runs_dir / run.id / DATASETS_FILE, list(self._datasets.values()))
            return
        self._write(txn)  # re-checks inside the transaction

    def _check_not_completed(self, run_id: str) -> None:
        """Refuse before touching the artefact, so result.json never contradicts a completed run."""
        try:
            if self.artefacts_only:
                raise StoreEmpty(self.path)  # the artefact alone decides
            with _read_current(self.path, self.timeout) as con:
                row = one(con, "SELECT status FROM runs WHERE id = ?", [run_id])
        except StoreEmpty:
            row = None
        if row and row[0] == "completed":
            raise StoreError(f"run {run_id} is already completed; start a new run instead")
        p = self.runs_dir / run_id / RESULT_FILE
        if p.is_file():
            try:
                status = json.loads(p.read_text(encoding="utf-8")).get("status")
            except (OSError, ValueError):
                status = None
            if status == "completed":
                raise StoreError(f"run {run_id} is already completed ({p}); start a new run instead")

    def _load(self, run_id: str) -> RunResult:
        p = self.runs_dir / run_id / RESULT_FILE
        if p.is_file():
            return RunResult.load(p)
        from .queries import load_run_result  # the DB row, when the artefact is gone
        try:
            return load_run_result(run_id, self.path, self.timeout)
        except StoreEmpty:
            raise StoreError(f"unknown run {run_id!r}: no {p} and no results database at {self.path}") from None

    def mark_stale_runs(self) -> list[str]:
        """See benchmark.store.writes.mark_stale_runs."""
        return mark_stale_runs(self.path, self.runs_dir, self.timeout)

    # -- datasets -------------------------------------------------------------------------------
    def upsert_dataset(self, key: str, kind: str, root: str | Path | None, counts: dict,
                       fingerprint: str | None) -> None:
        """Record (or update) a dataset the runs used: its kind, folder, counts and content fingerprint."""
        if self.artefacts_only:
            self._datasets[key] = {"key": key, "kind": kind, "root": None if root is None else str(root),
                                   "counts": _clean(counts or {}), "fingerprint": fingerprint}
            return
        self._write(lambda con: put_dataset(con, key, kind, root, counts, fingerprint))

    # -- submissions ----------------------------------------------------------------------------
    def add_submission(self, name: str, *, status: str, reasons: Iterable[str] = (), report: dict | None = None,
                       path: str | Path | None = None, n_images: int | None = None, n_ids: int | None = None,
                       n_cams: int | None = None, fingerprint: str | None = None,
                       has_attributes: bool | None = None) -> int:
        """Record a submission's validation outcome as a new version of `name`; returns that version."""
        if status not in SUBMISSION_STATUSES:
            raise StoreError(f"submission status {status!r} is not one of {', '.join(SUBMISSION_STATUSES)}")
        if not name or not name.strip():
            raise StoreError("a submission needs a non-empty name")
        reasons_json, report_json = _json(list(reasons)), _json(report or {})

        def txn(con):
            row = one(con, "SELECT coalesce(max(version), 0) FROM submissions WHERE name = ?", [name])
            version = int(row[0]) + 1
            con.execute(
                "INSERT INTO submissions (name, version, status, reasons, report, path, n_images, n_ids, "
                "created_at, n_cams, fingerprint, has_attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _plain([name, version, status, reasons_json, report_json, None if path is None else str(path),
                        n_images, n_ids, parse_time(utc_now()), n_cams, fingerprint, has_attributes]))
            return version

        return self._write(txn)

    def list_submissions(self) -> list[dict]:
        """Every submission version, by name then version (an empty list when there is no DB yet)."""
        try:
            with _read_current(self.path, self.timeout) as con:
                return _submission_dicts(con, "SELECT * FROM submissions ORDER BY name, version", [])
        except StoreEmpty:
            return []

    def get_submission(self, name: str, version: int | None = None) -> dict:
        """One submission (the latest version unless `version`); SubmissionNotFound otherwise."""
        sql = "SELECT * FROM submissions WHERE name = ?"
        params: list[Any] = [name]
        if version is not None:
            sql += " AND version = ?"
            params.append(int(version))
        sql += " ORDER BY version DESC LIMIT 1"
        try:
            with _read_current(self.path, self.timeout) as con:
                rows = _submission_dicts(con, sql, params)
        except StoreEmpty:
            rows = []
        if not rows:
            which = f"{name!r}" + (f" version {version}" if version is not None else "")
            raise SubmissionNotFound(f"no submission {which} in {self.path}")
        return rows[0]

    def remove_submission(self, name: str) -> int:
        """Delete every version of a submission; returns how many rows went."""
        def txn(con):
            n = one(con, "SELECT count(*) FROM submissions WHERE name = ?", [name])[0]
            con.execute("DELETE FROM submissions WHERE name = ?", [name])
            return int(n)
        return self._write(txn)


def _atomic_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_clean(value), indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _submission_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    out = []
    for values in cur.fetchall():
        d = dict(zip(names, values))
        d["reasons"] = json.loads(d["reasons"]) if d.get("reasons") else []
        d["report"] = json.loads(d["report"]) if d.get("report") else {}
        if isinstance(d.get("created_at"), datetime):
            d["created_at"] = format_time(d["created_at"])
        out.append(d)
    return out


def mark_stale_runs(db_path: str | Path | None = None, runs_dir: str | Path | None = None,
                    timeout: float | None = None) -> list[str]:
    """Turn `running` runs whose owning process is gone into `failed` ("interrupted"); returns their ids.

    Only runs owned by this host can be judged; others are left alone. The DB
    is opened read-only to look, and for writing only when something is stale.
    """
    path = resolve(db_path)
    try:
        with _read_current(path, timeout) as con:
            running = con.execute(
                "SELECT id, owner_host, owner_pid, owner_start FROM runs WHERE status = 'running'").fetchall()
    except StoreEmpty:
        return []
    stale = [(rid, host, pid, start) for rid, host, pid, start in running
             if host and pid is not None and not Owner(host, int(pid), start).is_alive()]
    if not stale:
        return []
    now = parse_time(utc_now())

    def txn(con):
        done = []
        for rid, host, pid, start in stale:
            message = f"interrupted: process {pid} on {host} ended without finishing the run"
            # re-check inside the transaction: the run may have been resumed by a new process meanwhile
            hit = con.execute(
                "UPDATE runs SET status = 'failed', error = ?, ended_at = coalesce(ended_at, ?) "
                "WHERE id = ? AND status = 'running' AND owner_host = ? AND owner_pid = ? "
                "AND owner_start IS NOT DISTINCT FROM ? RETURNING id",
                [message, now, rid, host, pid, start]).fetchall()
            if hit:
                done.append((rid, message))
        return done

    done = write(path, txn, timeout)
    folder = Path(runs_dir) if runs_dir else default_runs_dir(path)
    for rid, message in done:  # keep the artefact in step with the row
        p = folder / rid / RESULT_FILE
        try:
            result = RunResult.load(p)
        except ValueError:
            continue  # no artefact: `db check` reports it
        if result.status == "running":
            result.status, result.error = "failed", message
            result.ended_at = result.ended_at or format_time(now)
            result.save(folder)
    return [rid for rid, _ in done]
