"""Shape stored runs into the paper's Tables 2-3: our mean/std over seeds beside the paper's rows.

Pure pandas on frames the queries return, so the same code serves the DB, the
CLI's no-DB fallback (paper rows only) and the tests.

The wide frame has one row per paper row and per group of our runs that share
a variant (benchmark.runkey: everything that changes a result but the seed and
the target; a run adapted to another test set than the column's is its own
row, "adapted to X"); runs stored before run keys group by spec, profile and
comparability settings, marked "settings unknown". For each test set T and metric
M (r1, r5, r10, map, minp) the columns are
  T.M (mean; the value for paper rows), T.M.std, T.M.n, T.M.paper, T.M.diff,
  T.M.rank (1 best / 2 second among rows of the same settings (`rank_group`); supervised cells unranked)
and T.supervised. `df.attrs` carries table, test_sets, metrics and mirrors.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmark.profiles import PAPER
from benchmark.runkey import settings_key

from .naming import (display_name, is_supervised, kind_of, mirror_of, table2_member, table3_member,
                     test_sort_key)

METRICS = ("r1", "r5", "r10", "map", "minp")
PAPER_METRICS = {"r1": "rank1", "r5": "rank5", "map": "map"}  # reference CSV column per metric
SETTING_COLUMNS = ("arch", "pretrained", "height", "width", "fid_weights")
KIND_ORDER = {"real": 0, "synthetic": 1, "procedural": 2, "submission": 3, "user": 4}

META_COLUMNS = (
    "row_id", "source", "label", "train_set", "kind", "mirrors", "profile", *SETTING_COLUMNS, "settings",
    "variant", "variant_key",
    "paper_settings", "rank_group", "n_seeds", "seeds", "run_ids", "images", "wall_seconds", "wall_seconds_std",
    "time_days", "paper_images", "paper_time_days", "note",
)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA


def settings_label(arch, pretrained, height, width, fid_weights) -> str:
    """One short string per comparability setting: rows with different labels are not like for like."""
    pre = "?" if _missing(pretrained) else ("imagenet" if bool(pretrained) else "scratch")
    size = "?" if _missing(height) or _missing(width) else f"{int(height)}x{int(width)}"
    return f"{arch if not _missing(arch) else '?'}/{pre}/{size}/fid:{fid_weights if not _missing(fid_weights) else '?'}"


PAPER_SETTINGS = settings_label(PAPER.arch, PAPER.pretrained, PAPER.height, PAPER.width, PAPER.fid_weights)
PAPER_SETTINGS_KEY = settings_key(PAPER.settings())
KEY_COLUMNS = ("run_key", "variant_key", "variant", "settings_key", "adapted_to")


def rank_group_of(settings: str, profile: str, key: str | None = None) -> str:
    """Rows ranked against each other: those whose training, evaluation and FID settings are the same
    (their settings key); the paper's own settings rank with the paper's rows. Runs stored before
    run keys fall back to the short label and the profile's name."""
    if isinstance(key, str) and key:
        return PAPER_SETTINGS if key == PAPER_SETTINGS_KEY else f"key:{key}"
    return settings if settings == PAPER_SETTINGS else f"{settings}|{profile}"


def member(table: int, spec: str) -> bool:
    if table == 2:
        return table2_member(spec)
    if table == 3:
        return table3_member(spec)
    raise ValueError(f"unknown table {table!r}; the paper's results tables are 2 and 3")


def cell_columns(test_set: str) -> list[str]:
    cols = []
    for m in METRICS:
        cols += [f"{test_set}.{m}", f"{test_set}.{m}.std", f"{test_set}.{m}.n", f"{test_set}.{m}.paper",
                 f"{test_set}.{m}.diff", f"{test_set}.{m}.rank"]
    return cols + [f"{test_set}.supervised"]


def choose_test_sets(table: int, ours: pd.DataFrame, reference: pd.DataFrame,
                     test_sets: list[str] | None) -> list[str]:
    """The asked-for test sets, else those our runs were tested on, else the paper's."""
    if test_sets:
        chosen = list(dict.fromkeys(test_sets))
    elif len(ours):
        chosen = sorted(set(ours["test_set"]), key=test_sort_key)
    else:
        ref = reference[reference["table"] == table]
        chosen = sorted(set(ref["test_set"]), key=test_sort_key)
    return chosen


def _pick_runs(ours: pd.DataFrame) -> pd.DataFrame:
    """Per group, seed and test set, the latest completed run (a re-run replaces, it does not add a seed).

    Picking per test set lets one row combine runs made per target (an AO run adapts to one
    target, so Table 2's FineGPR+AOST row is one run per test set and seed)."""
    rows = ours.sort_values(["started_at", "id"], kind="mergesort")
    return rows.drop_duplicates(["group", "seed", "test_set"], keep="last")


def build_table(table: int, ours: pd.DataFrame, reference: pd.DataFrame,
                test_sets: list[str] | None = None) -> pd.DataFrame:
    """The wide table (see module doc). `ours` is metrics_df's long frame; `reference` is reference_df's."""
    if table not in (2, 3):
        raise ValueError(f"unknown table {table!r}; the paper's results tables are 2 and 3")
    ref = reference[reference["table"] == table].sort_values("row_order", kind="mergesort")
    ours = ours[[member(table, s) for s in ours["train_spec"]]] if len(ours) else ours
    tests = choose_test_sets(table, ours, ref, test_sets)
    if len(ours):
        ours = ours[ours["test_set"].isin(tests)]
    mirrors = {t: (mirror_of(t) or t) for t in tests}
    ref_cells = {(r.train_set, r.test_set): r for r in ref.itertuples(index=False)}
    ref_rows = {}
    for r in ref.itertuples(index=False):
        ref_rows.setdefault(r.train_set, r)

    rows: list[dict] = []
    for train_set, r in ref_rows.items():
        rows.append(_paper_row(train_set, r, tests, mirrors, ref_cells))
    our_rows = _our_rows(ours, tests, mirrors, ref_cells, ref_rows) if len(ours) else []

    # each paper row is followed by the rows of ours that mirror it; the rest go last
    ordered: list[dict] = []
    placed = set()
    for prow in rows:
        ordered.append(prow)
        for orow in sorted((o for o in our_rows if o["mirrors"] == prow["train_set"]), key=_our_sort_key):
            ordered.append(orow)
            placed.add(orow["row_id"])
    ordered += sorted((o for o in our_rows if o["row_id"] not in placed), key=_our_sort_key)

    columns = list(META_COLUMNS) + [c for t in tests for c in cell_columns(t)]
    df = pd.DataFrame(ordered, columns=columns)
    _add_ranks(df, tests)
    for t in tests:
        for m in METRICS:
            df[f"{t}.{m}.n"] = df[f"{t}.{m}.n"].astype("Int64")
            df[f"{t}.{m}.rank"] = df[f"{t}.{m}.rank"].astype("Int64")
        df[f"{t}.supervised"] = df[f"{t}.supervised"].astype(bool)
    df["n_seeds"] = df["n_seeds"].astype("Int64")
    df.attrs = {"table": table, "test_sets": tests, "metrics": list(METRICS), "mirrors": mirrors}
    return df


def _our_sort_key(row: dict) -> tuple:
    return (KIND_ORDER.get(row["kind"], 9), row["train_set"], row["profile"] or "", row["settings"],
            row["variant"] or "")


def _paper_row(train_set: str, r, tests: list[str], mirrors: dict, ref_cells: dict) -> dict:
    row = {c: None for c in META_COLUMNS}
    notes = sorted({c.note for (ts, _), c in ref_cells.items() if ts == train_set and isinstance(c.note, str)})
    row.update(
        row_id=f"paper:{train_set}", source="paper", label=display_name(train_set), train_set=train_set,
        kind="synthetic" if bool(r.synthetic) else "real", mirrors=train_set,
        arch=PAPER.arch, pretrained=PAPER.pretrained, height=PAPER.height, width=PAPER.width,
        fid_weights=PAPER.fid_weights, settings=PAPER_SETTINGS, variant="the paper's settings",
        paper_settings=True, rank_group=PAPER_SETTINGS,
        images=_num(r.bboxes), wall_seconds=np.nan, wall_seconds_std=np.nan, time_days=_num(r.time_days),
        paper_images=_num(r.bboxes), paper_time_days=_num(r.time_days), note="; ".join(notes) or None,
    )
    for t in tests:
        cell = ref_cells.get((train_set, mirrors[t]))
        for m in METRICS:
            v = _num(getattr(cell, PAPER_METRICS[m])) if cell is not None and m in PAPER_METRICS else np.nan
            row.update({f"{t}.{m}": v, f"{t}.{m}.std": np.nan, f"{t}.{m}.n": None, f"{t}.{m}.paper": v,
                        f"{t}.{m}.diff": np.nan, f"{t}.{m}.rank": None})
        row[f"{t}.supervised"] = bool(cell.supervised) if cell is not None else False
    return row


def _group_of(r) -> tuple[str, str, str]:
    """(spec, variant, cross-target): one table row. An adapted run counts in its own target's column
    as the plain variant; in another column it is a different experiment ("adapted to X")."""
    if isinstance(r.variant_key, str) and r.variant_key:
        cross = r.adapted_to if isinstance(r.adapted_to, str) and r.adapted_to and r.adapted_to != r.test_set else ""
        return (r.train_spec, r.variant_key, cross)
    return (r.train_spec, f"legacy|{r.profile}|{r.settings}", "")


def _our_rows(ours: pd.DataFrame, tests: list[str], mirrors: dict, ref_cells: dict, ref_rows: dict) -> list[dict]:
    ours = ours.copy()
    for c in KEY_COLUMNS:
        if c not in ours.columns:
            ours[c] = None
    ours["settings"] = [settings_label(*vals) for vals in ours[list(SETTING_COLUMNS)].itertuples(index=False)]
    parts = [_group_of(r) for r in ours.itertuples(index=False)]
    ours["group"] = ["\x1f".join(p) for p in parts]  # a string: comparing a Series with a tuple goes elementwise
    parts_of = dict(zip(ours["group"], parts))
    ours = _pick_runs(ours)
    out = []
    for group, runs in ours.drop_duplicates(["id", "group"]).groupby("group", sort=True):
        spec, variant_key, cross = parts_of[group]
        runs = runs.sort_values(["seed", "id"], kind="mergesort")
        first = runs.iloc[0]
        profile, settings = first["profile"], first["settings"]
        keyed = not variant_key.startswith("legacy|")
        variant = first["variant"] if isinstance(first["variant"], str) and first["variant"] else (
            profile if keyed else f"{profile}, settings unknown")
        if cross:
            variant += f", adapted to {cross}"
        mirror = mirror_of(spec)
        paper = ref_rows.get(mirror) if mirror else None
        kind = kind_of(spec)
        row = {c: None for c in META_COLUMNS}
        label = display_name(spec) + (" (procedural)" if kind == "procedural" else "")
        row.update(
            row_id=f"ours:{spec}|{profile}|{variant_key}|{cross}", source="ours", label=label, train_set=spec, kind=kind,
            mirrors=mirror if paper is not None else None, profile=profile,
            **{c: _plain(first[c]) for c in SETTING_COLUMNS}, settings=settings, variant=variant,
            variant_key=variant_key if keyed else None,
            paper_settings=(first["settings_key"] == PAPER_SETTINGS_KEY) if isinstance(first["settings_key"], str)
            else settings == PAPER_SETTINGS,
            rank_group=rank_group_of(settings, profile, first["settings_key"]),
            n_seeds=int(runs["seed"].nunique()), seeds=",".join(str(int(s)) for s in sorted(set(runs["seed"]))),
            run_ids=",".join(runs["id"]), images=_mean(runs["train_images"]),
            wall_seconds=_mean(runs["wall_seconds"]), wall_seconds_std=_std(runs["wall_seconds"]),
            paper_images=_num(paper.bboxes) if paper is not None else np.nan,
            paper_time_days=_num(paper.time_days) if paper is not None else np.nan,
            note=f"procedural twin of the paper's {display_name(mirror)} row" if kind == "procedural" and paper
            is not None else None,
        )
        row["time_days"] = row["wall_seconds"] / 86400.0 if not math.isnan(row["wall_seconds"]) else np.nan
        cells = ours[ours["group"] == group].sort_values(["seed", "id"], kind="mergesort")
        any_value = False
        for t in tests:
            at = cells[cells["test_set"] == t]
            cell = ref_cells.get((mirror, mirrors[t])) if paper is not None else None
            for m in METRICS:
                vals = at[m].dropna().astype(float)
                mean = _mean(vals)
                pv = _num(getattr(cell, PAPER_METRICS[m])) if cell is not None and m in PAPER_METRICS else np.nan
                any_value = any_value or len(vals) > 0
                row.update({f"{t}.{m}": mean, f"{t}.{m}.std": _std(vals), f"{t}.{m}.n": int(len(vals)),
                            f"{t}.{m}.paper": pv, f"{t}.{m}.diff": mean - pv, f"{t}.{m}.rank": None})
            row[f"{t}.supervised"] = is_supervised(spec, t)
        if any_value:
            out.append(row)
    return out


def _add_ranks(df: pd.DataFrame, tests: list[str]) -> None:
    """Best (1) and second (2) per column among rows of the same settings; supervised cells are not ranked.

    In a twin's column (sim-X) the paper's rows hold the real X's numbers for comparison,
    so they are ranked among themselves, never against runs on the twin."""
    for t in tests:
        mirrored = (df["source"] == "paper") & (mirror_of(t) != t)
        groups = df["rank_group"].where(~mirrored, "paper (real numbers beside a twin)")
        for m in METRICS:
            col, rank_col = f"{t}.{m}", f"{t}.{m}.rank"
            ranks = pd.Series([None] * len(df), index=df.index, dtype="object")
            eligible = ~df[f"{t}.supervised"].astype(bool) & df[col].notna()
            for _, idx in groups[eligible].groupby(groups[eligible]).groups.items():
                if len(idx) < 2:
                    continue  # a lone row is not "best" of anything
                r = df.loc[idx, col].astype(float).rank(method="min", ascending=False)
                for i, v in r.items():
                    if v <= 2:
                        ranks[i] = int(v)
            df[rank_col] = ranks


def _num(x) -> float:
    return np.nan if _missing(x) else float(x)


def _plain(x):
    if _missing(x):
        return None
    return x.item() if hasattr(x, "item") else x


def _mean(values: pd.Series) -> float:
    vals = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    return float(vals.mean()) if len(vals) else np.nan


def _std(values: pd.Series) -> float:
    """Sample standard deviation over seeds; NaN with fewer than two."""
    vals = pd.to_numeric(values, errors="coerce").dropna().astype(float)
    return float(vals.std(ddof=1)) if len(vals) >= 2 else np.nan
