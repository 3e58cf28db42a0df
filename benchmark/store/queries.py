"""Read-only queries: everything the CLI tables and the leaderboard app show comes from here.

Each function opens the DB read-only for one short moment (retrying while a
writer holds it) and returns plain pandas / dicts. Nothing here writes: no
migration (an older schema is a StoreOutdated error saying how to migrate),
no marking of dead runs (writes.mark_stale_runs, done by `runs list`, `db
check` and the grid, each saying so). A missing DB raises
StoreEmpty (its message says how to produce results); `reference_df` alone
falls back to the packaged CSV, since the paper's rows need no run.

Comparability: every run-level frame carries its run key (benchmark.runkey),
`variant` (the settings in words, e.g. "paper, epochs=60"), arch, pretrained,
height, width, fid_weights and a short `settings` label; runs with different
keys were trained or scored differently and are never averaged or ranked as one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import duckdb
import pandas as pd

from benchmark import attributes as attr_vocab

from .aggregate import SETTING_COLUMNS, build_table, settings_label
from .db import connect_read, read, resolve
from .errors import RunNotFound, StoreEmpty
from .naming import canonical, canonical_spec, is_supervised, mirror_of
from .reference_data import load_reference_csv
from .result_format import (AttributeDist, Cost, FidRow, Metrics, RunResult, SurrogateFit,
                            format_time)
from .schema import DATA_TABLES, SCHEMA_VERSION, current_version, one

RUN_LIST_COLUMNS = (
    "id", "train_spec", "train_kind", "profile", "seed", "status", "error", "started_at", "ended_at",
    "wall_seconds", "train_images", "train_ids", "budget", *SETTING_COLUMNS, "device", "nproc",
    "code_version", "dirty", "test_sets", "owner_host", "owner_pid",
    "run_key", "variant_key", "variant", "settings_key", "adapted_to", "run_key_note",
)
_JSON_RUN_FIELDS = ("config", "library_versions", "test_sets", "data_fingerprints", "notes")


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    return con.execute(sql, list(params)).df()


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """AND of `column = ?` (or `IN (?, ...)` for lists) over the filters that are set."""
    clauses, params = [], []
    for col, val in filters.items():
        if val is None:
            continue
        if isinstance(val, (list, tuple, set)):
            vals = list(val)
            if not vals:
                continue
            clauses.append(f"{col} IN ({', '.join('?' for _ in vals)})")
            params += vals
        else:
            clauses.append(f"{col} = ?")
            params.append(val)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _add_settings(df: pd.DataFrame) -> pd.DataFrame:
    df["settings"] = [settings_label(*v) for v in df[list(SETTING_COLUMNS)].itertuples(index=False)] if len(df) \
        else pd.Series(dtype="object")
    return df


# -- overview --------------------------------------------------------------------------------------
def summary(db_path: str | Path | None = None, timeout: float | None = None) -> dict:
    """Counts for a landing page: runs by status, submissions, reference rows, last activity."""
    def q(con):
        by_status = dict(con.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
        last = one(con, "SELECT max(greatest(started_at, coalesce(ended_at, started_at))) FROM runs")[0]
        return {
            "db_path": str(resolve(db_path)), "schema_version": current_version(con),
            "runs": {s: int(by_status.get(s, 0)) for s in ("running", "completed", "failed")},
            "submissions": int(one(con, "SELECT count(DISTINCT name) FROM submissions")[0]),
            "datasets": int(one(con, "SELECT count(*) FROM datasets")[0]),
            "reference_rows": int(one(con, "SELECT count(*) FROM reference")[0]),
            "last_activity": format_time(last),
        }
    return read(db_path, q, timeout)


# -- runs ------------------------------------------------------------------------------------------
def runs_df(db_path: str | Path | None = None, *, status: str | Sequence[str] | None = None,
            train_spec: str | None = None, profile: str | None = None, kind: str | None = None,
            limit: int | None = None, timeout: float | None = None) -> pd.DataFrame:
    """Runs, newest first, with provenance, run key and settings (config left to run_detail).

    A `running` run whose process died is shown as stored; writes.mark_stale_runs marks it."""
    where, params = _where({"status": status, "train_spec": canonical_spec(train_spec) if train_spec else None,
                            "profile": profile, "train_kind": kind})
    sql = f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM runs{where} ORDER BY started_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    df = read(db_path, lambda con: _df(con, sql, params), timeout)
    df["test_sets"] = [json.loads(v) if v else [] for v in df["test_sets"]]
    df.insert(2, "mirrors", [mirror_of(s) for s in df["train_spec"]])
    return _add_settings(df)


def _resolve_id(con: duckdb.DuckDBPyConnection, run_id: str) -> str:
    """Exact id, else a unique prefix of one."""
    if one(con, "SELECT 1 FROM runs WHERE id = ?", [run_id]):
        return run_id
    like = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    hits = [r[0] for r in con.execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6",
                                      [like]).fetchall()]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise RunNotFound(f"no run {run_id!r}; `aostbench runs list` shows the ids")
    raise RunNotFound(f"run id prefix {run_id!r} is ambiguous: {', '.join(hits[:5])}")


def _run_row(con: duckdb.DuckDBPyConnection, run_id: str) -> dict:
    cur = con.execute("SELECT * FROM runs WHERE id = ?", [run_id])
    names = [d[0] for d in cur.description]
    row = dict(zip(names, cur.fetchall()[0]))
    for k in _JSON_RUN_FIELDS:
        row[k] = json.loads(row[k]) if row.get(k) else ({} if k != "test_sets" else [])
    for k in ("started_at", "ended_at"):
        row[k] = format_time(row[k])
    return row


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> list[dict]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def run_detail(run_id: str, db_path: str | Path | None = None, timeout: float | None = None) -> dict:
    """One run in full: {"run": row incl. config/provenance, "metrics", "fid", "attribute_dist",
    "costs", "surrogate": lists of row dicts}. `run_id` may be a unique prefix."""
    def q(con):
        rid = _resolve_id(con, run_id)
        run = _run_row(con, rid)
        run["settings"] = settings_label(*(run[c] for c in SETTING_COLUMNS))
        run["mirrors"] = mirror_of(run["train_spec"])
        out = {"run": run}
        for table, order in (("metrics", "test_set"), ("fid", "target, stage, style_method"),
                             ("attribute_dist", "source, target, attribute, value"), ("costs", "stage"),
                             ("surrogate", "target"), ("weights_used", "part")):
            rows = _records(con, f"SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}", [rid])
            for r in rows:
                r.pop("run_id", None)
                if table == "surrogate":
                    r["params"] = json.loads(r["params"]) if r.get("params") else {}
            out[table] = rows
        return out
    return read(db_path, q, timeout)


def load_run_result(run_id: str, db_path: str | Path | None = None, timeout: float | None = None) -> RunResult:
    """Rebuild a RunResult from the DB (for a run whose result.json is gone)."""
    d = run_detail(run_id, db_path, timeout)
    run = d["run"]
    fields = {k: v for k, v in run.items() if k in RunResult.__dataclass_fields__}
    result = RunResult(**fields)
    result.metrics = {m["test_set"]: Metrics(**{k: m[k] for k in Metrics.__dataclass_fields__}) for m in d["metrics"]}
    result.fid = [FidRow(**{k: f[k] for k in FidRow.__dataclass_fields__}) for f in d["fid"]]
    dists: dict[tuple, list] = {}
    for r in d["attribute_dist"]:
        dists.setdefault((r["attribute"], r["source"], r["target"]), []).append((r["value"], r["p"]))
    result.attribute_dists = [AttributeDist(a, s, [p for _, p in sorted(v)], t) for (a, s, t), v in dists.items()]
    result.costs = [Cost(**{k: c[k] for k in Cost.__dataclass_fields__}) for c in d["costs"]]
    result.surrogate = [SurrogateFit(**{k: s[k] for k in SurrogateFit.__dataclass_fields__}) for s in d["surrogate"]]
    result.weights = [{k: v for k, v in w.items() if v is not None} for w in d["weights_used"]]
    return result


# -- metrics and tables ----------------------------------------------------------------------------
def _metrics_query(test_sets, profile, train_spec, kind, status) -> tuple[str, list[Any]]:
    specs = [canonical_spec(s) for s in ([train_spec] if isinstance(train_spec, str) else train_spec)] \
        if train_spec else None
    where, params = _where({
        "r.status": status, "r.profile": [profile] if isinstance(profile, str) else profile,
        "m.test_set": [canonical(t) for t in test_sets] if test_sets else None, "r.train_spec": specs,
        "r.train_kind": [kind] if isinstance(kind, str) else kind,
    })
    sql = ("SELECT r.id, r.train_spec, r.train_kind, r.profile, r.seed, r.status, r.arch, r.pretrained, "
           "r.height, r.width, r.fid_weights, r.train_images, r.wall_seconds, r.started_at, r.ended_at, "
           "r.run_key, r.variant_key, r.variant, r.settings_key, r.adapted_to, r.budget, "
           "m.test_set, m.r1, m.r5, m.r10, m.map, m.minp, m.num_query, m.num_gallery "
           f"FROM metrics m JOIN runs r ON r.id = m.run_id{where} ORDER BY r.started_at, r.id, m.test_set")
    return sql, params


def _metrics_frame(df: pd.DataFrame) -> pd.DataFrame:
    df["mirrors"] = [mirror_of(s) for s in df["train_spec"]]
    df["supervised"] = [is_supervised(s, t) for s, t in zip(df["train_spec"], df["test_set"])]
    return _add_settings(df)


def metrics_df(db_path: str | Path | None = None, *, test_sets: Sequence[str] | None = None,
               profile: str | Sequence[str] | None = None, train_spec: str | Sequence[str] | None = None,
               kind: str | Sequence[str] | None = None, status: str | None = "completed",
               timeout: float | None = None) -> pd.DataFrame:
    """Long frame: one row per run and test set with R1/R5/R10/mAP/mINP (percent), the run's seed,
    profile, settings, images, cost, and whether the cell is supervised."""
    sql, params = _metrics_query(test_sets, profile, train_spec, kind, status)
    return _metrics_frame(read(db_path, lambda con: _df(con, sql, params), timeout))


_REFERENCE_COLUMNS = ["table", "row_order", "train_set", "synthetic", "supervised", "bboxes", "time_days",
                      "test_set", "rank1", "rank5", "map", "note"]
_REFERENCE_SQL = ("SELECT table_no AS \"table\", row_order, train_set, synthetic, supervised, bboxes, time_days, "
                  "test_set, rank1, rank5, map, note FROM reference ORDER BY row_order")


def _reference_frame(df: pd.DataFrame, table: int | None) -> pd.DataFrame:
    if table is not None:
        df = df[df["table"] == int(table)].reset_index(drop=True)
    df["bboxes"] = df["bboxes"].astype("Int64")
    for c in ("time_days", "rank1", "rank5", "map"):
        df[c] = df[c].astype(float)
    return df[_REFERENCE_COLUMNS]


def reference_df(table: int | None = None, db_path: str | Path | None = None,
                 timeout: float | None = None) -> pd.DataFrame:
    """The paper's rows (columns as in paper_tables.csv plus row_order), from the DB or, with no DB yet,
    from the packaged CSV."""
    try:
        df = read(db_path, lambda con: _df(con, _REFERENCE_SQL), timeout)
    except StoreEmpty:
        df = pd.DataFrame(load_reference_csv(), columns=_REFERENCE_COLUMNS)
    return _reference_frame(df, table)


def table_rows(table: int, test_sets: Sequence[str] | None = None, profile: str | Sequence[str] | None = None,
               db_path: str | Path | None = None, *, kinds: Sequence[str] | None = None,
               include_paper: bool = True, timeout: float | None = None) -> pd.DataFrame:
    """Table 2 or 3 in the paper's shape: paper rows and, after each, our rows that mirror it (mean/std over
    seeds, n, the paper's number and the difference, best/second ranks). See benchmark.store.aggregate.

    Raises StoreEmpty without a DB (use `paper_table` for the paper's rows alone)."""
    tests = [canonical(t) for t in test_sets] if test_sets else None
    sql, params = _metrics_query(tests, profile, None, list(kinds) if kinds else None, "completed")
    ours, ref = read(db_path, lambda con: (_df(con, sql, params), _df(con, _REFERENCE_SQL)), timeout)
    df = build_table(table, _metrics_frame(ours), _reference_frame(ref, None), tests)
    if not include_paper:
        attrs = df.attrs
        df = df[df["source"] != "paper"].reset_index(drop=True)
        df.attrs = attrs
    return df


def paper_table(table: int, test_sets: Sequence[str] | None = None) -> pd.DataFrame:
    """The paper's rows alone in the same wide shape (what `aostbench results` shows before any run)."""
    tests = [canonical(t) for t in test_sets] if test_sets else None
    empty = pd.DataFrame(columns=["id", "train_spec", "test_set"])
    ref = _reference_frame(pd.DataFrame(load_reference_csv(), columns=_REFERENCE_COLUMNS), None)
    return build_table(table, empty, ref, tests)


# -- FID, attributes, costs, surrogate -------------------------------------------------------------
def fid_df(db_path: str | Path | None = None, *, run_id: str | None = None, target: str | None = None,
           status: str | None = "completed", timeout: float | None = None) -> pd.DataFrame:
    """FID rows with their run's spec, profile, seed and settings; `fallback_weights` marks values not
    computed with the official Inception weights (not comparable with published FIDs)."""
    where, params = _where({"r.status": status, "f.run_id": run_id,
                            "f.target": canonical(target) if target else None})
    sql = ("SELECT f.run_id, r.train_spec, r.train_kind, r.profile, r.seed, r.arch, r.pretrained, r.height, "
           "r.width, r.fid_weights, r.run_key, r.variant, f.stage, f.target, f.style_method, f.value, f.weights, f.dims, f.n, f.n_target "
           f"FROM fid f JOIN runs r ON r.id = f.run_id{where} ORDER BY f.target, r.train_spec, f.stage, f.run_id")
    df = read(db_path, lambda con: _df(con, sql, params), timeout)
    df["fallback_weights"] = df["weights"] != "official"
    return _add_settings(df)


def attribute_dist_df(run_id: str, db_path: str | Path | None = None,
                      timeout: float | None = None) -> pd.DataFrame:
    """A run's attribute distributions: attribute, value (1-based code), value_name, p, source
    (target-true / selected / full), target. `run_id` may be a unique prefix."""
    def q(con):
        rid = _resolve_id(con, run_id)
        return _df(con, "SELECT run_id, attribute, value, p, source, target FROM attribute_dist WHERE run_id = ? "
                        "ORDER BY attribute, source, target, value", [rid])
    df = read(db_path, q, timeout)
    df.insert(3, "value_name", [_value_name(a, v) for a, v in zip(df["attribute"], df["value"])])
    return df


def _value_name(attribute: str, code: int) -> str | None:
    a = attr_vocab.BY_NAME.get(attribute)
    try:
        return a.value(int(code)) if a else None
    except ValueError:
        return None


def costs_df(run_id: str | None = None, db_path: str | Path | None = None,
             timeout: float | None = None) -> pd.DataFrame:
    """Per-stage wall seconds and images, with the run's spec and profile."""
    where, params = _where({"c.run_id": run_id})
    sql = ("SELECT c.run_id, r.train_spec, r.profile, r.seed, r.device AS run_device, c.stage, c.wall_seconds, "
           f"c.images, c.device FROM costs c JOIN runs r ON r.id = c.run_id{where} ORDER BY c.run_id, c.stage")
    return read(db_path, lambda con: _df(con, sql, params), timeout)


def surrogate_df(run_id: str | None = None, db_path: str | Path | None = None,
                 timeout: float | None = None) -> pd.DataFrame:
    """Surrogate fits (cross-validated R^2) per run and target."""
    where, params = _where({"s.run_id": run_id})
    sql = ("SELECT s.run_id, r.train_spec, r.profile, r.seed, s.target, s.r2_cv, s.r2_train, s.n_probe, s.model, "
           f"s.params FROM surrogate s JOIN runs r ON r.id = s.run_id{where} ORDER BY s.run_id, s.target")
    df = read(db_path, lambda con: _df(con, sql, params), timeout)
    df["params"] = [json.loads(p) if p else {} for p in df["params"]]
    return df


# -- submissions, datasets -------------------------------------------------------------------------
def submissions_df(db_path: str | Path | None = None, *, latest_only: bool = False,
                   timeout: float | None = None) -> pd.DataFrame:
    """Submissions with status, reasons (list) and validation report (dict); newest version first per name."""
    sql = ("SELECT name, version, status, reasons, report, path, n_images, n_ids, n_cams, fingerprint, "
           "has_attributes, created_at FROM submissions")
    if latest_only:
        sql += " QUALIFY row_number() OVER (PARTITION BY name ORDER BY version DESC) = 1"
    sql += " ORDER BY name, version DESC"
    df = read(db_path, lambda con: _df(con, sql), timeout)
    df["reasons"] = [json.loads(v) if v else [] for v in df["reasons"]]
    df["report"] = [json.loads(v) if v else {} for v in df["report"]]
    return df


def datasets_df(db_path: str | Path | None = None, timeout: float | None = None) -> pd.DataFrame:
    """Datasets the runs used: key, kind, root, counts (dict), fingerprint."""
    df = read(db_path, lambda con: _df(con, "SELECT * FROM datasets ORDER BY key"), timeout)
    df["counts"] = [json.loads(v) if v else {} for v in df["counts"]]
    return df


def export_parquet(out_dir: str | Path, db_path: str | Path | None = None,
                   timeout: float | None = None) -> list[Path]:
    """Write every data table to out_dir/<table>.parquet; returns the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def q(con):
        files = []
        for table in DATA_TABLES:
            target = out / f"{table}.parquet"
            con.table(table).to_parquet(str(target))  # no SQL text built from the path
            files.append(target)
        return files
    return read(db_path, q, timeout)


def schema_version(db_path: str | Path | None = None, timeout: float | None = None) -> int:
    """The DB's schema version (the latest is benchmark.store.schema.SCHEMA_VERSION)."""
    path = resolve(db_path)
    if not path.is_file():
        raise StoreEmpty(path)
    from .db import _open
    con = _open(path, True, timeout)
    try:
        return current_version(con)
    finally:
        con.close()


__all__ = [
    "summary", "runs_df", "run_detail", "load_run_result", "metrics_df", "reference_df", "table_rows",
    "paper_table", "fid_df", "attribute_dist_df", "costs_df", "surrogate_df", "submissions_df", "datasets_df",
    "export_parquet", "schema_version", "SCHEMA_VERSION", "connect_read",
]
