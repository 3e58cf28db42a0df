"""Read-only queries the leaderboard app needs beyond benchmark.store.queries.

Same rules as queries.py: one short read-only connection per call (retried
while a writer holds the file), parameterised SQL only, StoreEmpty without a
DB, plain pandas out. Nothing here writes: the app never marks stale runs
itself, it only says which `running` rows have lost their process.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from benchmark.attributes import total_variation

from .aggregate import SETTING_COLUMNS
from .db import read
from benchmark.stages import fid_labels

from .naming import canonical, test_sort_key
from .owner import Owner
from .queries import _add_settings, _df, _resolve_id, _where, runs_df

FID_GROUP_BY = {"stage": "f.stage", "style_method": "f.style_method"}


def filter_options(db_path: str | Path | None = None, timeout: float | None = None) -> dict[str, list[str]]:
    """What the app's filters can offer: profiles and kinds of completed runs, the test sets they were
    scored on, and the FID targets."""
    def q(con):
        def col(sql: str) -> list[str]:
            return [r[0] for r in con.execute(sql).fetchall() if r[0] is not None]
        return {
            "profiles": col("SELECT DISTINCT profile FROM runs WHERE status = 'completed' ORDER BY 1"),
            "kinds": col("SELECT DISTINCT train_kind FROM runs WHERE status = 'completed' ORDER BY 1"),
            "test_sets": sorted(col("SELECT DISTINCT m.test_set FROM metrics m JOIN runs r ON r.id = m.run_id "
                                    "WHERE r.status = 'completed'"), key=test_sort_key),
            "fid_targets": sorted(col("SELECT DISTINCT f.target FROM fid f JOIN runs r ON r.id = f.run_id "
                                      "WHERE r.status = 'completed'"), key=test_sort_key),
        }
    return read(db_path, q, timeout)


def fid_summary(db_path: str | Path | None = None, *, by: str = "stage", target: str | None = None,
                profile: str | Sequence[str] | None = None, timeout: float | None = None) -> pd.DataFrame:
    """FID over completed runs, mean/std/n per target, source dataset, `by` (stage for Fig. 8, style_method
    for Fig. 9), weights and comparability settings. `fallback_weights` marks values not computed with the
    official Inception weights; `by="style_method"` keeps only styled stages."""
    if by not in FID_GROUP_BY:
        raise ValueError(f"fid_summary: by must be one of {', '.join(FID_GROUP_BY)}, got {by!r}")
    key = FID_GROUP_BY[by]
    where, params = _where({"r.status": "completed", "f.target": canonical(target) if target else None,
                            "r.profile": [profile] if isinstance(profile, str) else profile})
    if by == "style_method":
        where += (" AND " if where else " WHERE ") + "coalesce(f.style_method, '') <> ''"
    # runs of other settings (profile fields, style, budget: the variant) are never averaged together
    group = (f"f.target, split_part(r.train_spec, '+', 1), {key}, f.weights, f.dims, r.profile, "
             + ", ".join(f"r.{c}" for c in SETTING_COLUMNS) + ", r.settings_key, coalesce(r.variant, r.profile)")
    sql = (f"SELECT f.target, split_part(r.train_spec, '+', 1) AS source, {key} AS {by}, f.weights, f.dims, "
           f"r.profile, {', '.join(f'r.{c}' for c in SETTING_COLUMNS)}, r.settings_key, "
           "coalesce(r.variant, r.profile) AS variant, avg(f.value) AS fid, "
           "stddev_samp(f.value) AS fid_std, count(*) AS n_runs, avg(f.n) AS images, "
           "string_agg(DISTINCT r.train_spec, ', ' ORDER BY r.train_spec) AS train_specs, "
           "string_agg(f.run_id, ',' ORDER BY f.run_id) AS run_ids "
           f"FROM fid f JOIN runs r ON r.id = f.run_id{where} GROUP BY {group}")
    df = read(db_path, lambda con: _df(con, sql, params), timeout)
    df["fallback_weights"] = df["weights"] != "official"
    df = _add_settings(df)
    if len(df):
        order = {s: i for i, s in enumerate(fid_labels())}
        df["_t"] = [test_sort_key(t) for t in df["target"]]
        df["_s"] = [order.get(s, 99) for s in df[by]]
        df = df.sort_values(["_t", "source", "profile", "settings", "variant", "weights", "_s", by], kind="mergesort")
        df = df.drop(columns=["_t", "_s"]).reset_index(drop=True)
    return df


def stage_costs(db_path: str | Path | None = None, *, train_specs: Sequence[str] | None = None,
                profile: str | Sequence[str] | None = None, timeout: float | None = None) -> pd.DataFrame:
    """Mean wall seconds and images per (train spec, profile, stage) over completed runs, with n runs."""
    where, params = _where({"r.status": "completed", "r.train_spec": list(train_specs) if train_specs else None,
                            "r.profile": [profile] if isinstance(profile, str) else profile})
    sql = ("SELECT r.train_spec, r.profile, coalesce(r.variant, r.profile) AS variant, c.stage, "
           "avg(c.wall_seconds) AS wall_seconds, "
           "stddev_samp(c.wall_seconds) AS wall_seconds_std, avg(c.images) AS images, count(*) AS n_runs "
           f"FROM costs c JOIN runs r ON r.id = c.run_id{where} "
           "GROUP BY r.train_spec, r.profile, coalesce(r.variant_key, r.profile), coalesce(r.variant, r.profile), "
           "c.stage ORDER BY r.train_spec, r.profile, 3, c.stage")
    return read(db_path, lambda con: _df(con, sql, params), timeout)


def attribute_runs(db_path: str | Path | None = None, timeout: float | None = None) -> pd.DataFrame:
    """Runs that stored attribute distributions: id, spec, profile, seed, status, started_at, targets and
    sources (comma-separated), newest first."""
    sql = ("SELECT r.id, r.train_spec, r.profile, r.seed, r.status, r.started_at, "
           "string_agg(DISTINCT nullif(a.target, ''), ',' ORDER BY nullif(a.target, '')) AS targets, "
           "string_agg(DISTINCT a.source, ',' ORDER BY a.source) AS sources "
           "FROM attribute_dist a JOIN runs r ON r.id = a.run_id "
           "GROUP BY r.id, r.train_spec, r.profile, r.seed, r.status, r.started_at "
           "ORDER BY r.started_at DESC, r.id DESC")
    df = read(db_path, lambda con: _df(con, sql), timeout)
    df["targets"] = df["targets"].fillna("")
    return df


def attribute_recovery(run_id: str, db_path: str | Path | None = None,
                       timeout: float | None = None) -> pd.DataFrame:
    """How close V* came to the twin's true prior, per attribute: total variation distance
    (0 = identical, 1 = disjoint) of selected vs target-true and of full vs target-true.

    Distributions stored without a target (the source's `full`) are compared with every target."""
    def q(con):
        rid = _resolve_id(con, run_id)
        return _df(con, "SELECT attribute, value, p, source, target FROM attribute_dist WHERE run_id = ?", [rid])
    rows = read(db_path, q, timeout)
    out: list[dict[str, Any]] = []
    true = rows[rows["source"] == "target-true"]
    for (attribute, target), t in true.groupby(["attribute", "target"], sort=True):
        p_true = t.set_index("value")["p"]
        rec: dict[str, Any] = {"attribute": attribute, "target": target}
        for source in ("selected", "full"):
            s = rows[(rows["attribute"] == attribute) & (rows["source"] == source)]
            s = s[s["target"] == target] if (s["target"] == target).any() else s[s["target"] == ""]
            if s.empty:
                rec[f"tv_{source}"] = float("nan")
                continue
            p = s.set_index("value")["p"]
            idx = p_true.index.union(p.index)
            rec[f"tv_{source}"] = total_variation(p.reindex(idx, fill_value=0.0), p_true.reindex(idx, fill_value=0.0))
        out.append(rec)
    return pd.DataFrame(out, columns=["attribute", "target", "tv_selected", "tv_full"])


def runs_overview(db_path: str | Path | None = None, *, status: str | Sequence[str] | None = None,
                  timeout: float | None = None) -> pd.DataFrame:
    """runs_df (which never marks stale runs: the app only reads), plus `owner_alive`: False for a `running`
    run whose process is gone on this host (`aostbench runs list` will mark it failed), else True/None."""
    df = runs_df(db_path, status=status, timeout=timeout)
    running = df.loc[df["status"] == "running", "id"].tolist()
    starts: dict[str, Any] = {}
    if running:
        marks = ", ".join("?" for _ in running)
        starts = dict(read(db_path, lambda con: con.execute(
            f"SELECT id, owner_start FROM runs WHERE id IN ({marks})", running).fetchall(), timeout))
    alive: list[bool | None] = []
    for rid, st, host, pid in zip(df["id"], df["status"], df["owner_host"], df["owner_pid"]):
        if st != "running" or not isinstance(host, str) or pd.isna(pid):
            alive.append(None)
        else:
            start = starts.get(rid)
            alive.append(Owner(host, int(pid), None if start is None else int(start)).is_alive())
    df["owner_alive"] = alive
    return df

__all__ = ["filter_options", "fid_summary", "stage_costs", "attribute_runs", "attribute_recovery",
           "runs_overview"]
