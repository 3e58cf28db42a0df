"""Tables 2 and 3 as HTML: the paper's look (red best, blue second, underlined supervised) on the
wide frame from `benchmark.store.queries.table_rows`.

Pure functions (no Streamlit), so the tests can read the same HTML the page
shows. Every text is escaped; every cell carries data-* attributes (test set,
metric, rank group, raw value) that the tests check the colours against.
"""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from benchmark.store.naming import display_name

from .style import esc, fmt, human_seconds, missing

METRIC_LABELS = {"r1": "R1", "r5": "R5", "r10": "R10", "map": "mAP", "minp": "mINP"}
KIND_LABELS = {"real": "real", "synthetic": "synthetic", "procedural": "procedural", "submission": "submission"}
PAPER_GROUP_MARK = "P"
TWIN_PAPER_GROUP = "paper (real numbers beside a twin)"  # how aggregate ranks paper rows in a twin's column


def group_marks(df: pd.DataFrame) -> dict[str, str]:
    """A short mark per comparability setting (rank group): P for the paper's settings, then A, B, ..."""
    marks: dict[str, str] = {}
    paper_settings = df.loc[df["source"] == "paper", "rank_group"]
    if len(paper_settings):
        marks[str(paper_settings.iloc[0])] = PAPER_GROUP_MARK
    letters = iter("ABCDEFGHIJKLMNOQRSTUVWXYZ")
    for g in df["rank_group"]:
        if str(g) not in marks:
            marks[str(g)] = next(letters, "?")
    return marks


def cell_group(row: pd.Series, test: str, mirrors: dict[str, str]) -> str:
    """The group a cell is ranked in (the paper's rows in a twin's column form their own)."""
    if row["source"] == "paper" and mirrors.get(test, test) != test:
        return TWIN_PAPER_GROUP
    return str(row["rank_group"])


def _test_header(test: str, mirrors: dict[str, str]) -> str:
    mirror = mirrors.get(test, test)
    name = esc(display_name(test))
    if mirror == test:
        return name
    return (f"{name}<span class='mirror'>procedural mirror of {esc(display_name(mirror))}; "
            f"the paper's rows show {esc(display_name(mirror))}</span>")


def _name_cell(row: pd.Series, marks: dict[str, str]) -> str:
    kind = str(row["kind"] or "")
    chip = f"<span class='chip kind-{esc(kind)}'>{esc(KIND_LABELS.get(kind, kind))}</span>" if kind else ""
    if row["source"] == "paper":
        sub = "paper" + (f" · {row['note']}" if isinstance(row["note"], str) and row["note"] else "")
    else:  # the settings sit in the group mark's tooltip and the legend
        v = row.get("variant")
        sub = f"ours · {v if isinstance(v, str) and v else row['profile']}"
        if row["kind"] == "procedural" and isinstance(row["mirrors"], str) and row["mirrors"]:
            sub = f"procedural mirror of {display_name(row['mirrors'])} · " + sub
    return (f"<td class='name'>{esc(row['label'])} {chip}<span class='sub'>{esc(sub)}</span></td>")


def _group_cell(row: pd.Series, marks: dict[str, str]) -> str:
    mark = marks.get(str(row["rank_group"]), "?")
    return (f"<td class='num'><span class='chip grp' title='{esc(row['settings'])}' "
            f"data-group='{esc(row['rank_group'])}'>{esc(mark)}</span></td>")


def _seeds_cell(row: pd.Series) -> str:
    if row["source"] == "paper" or missing(row["n_seeds"]):
        return "<td class='num'>–</td>"
    seeds = esc(row["seeds"]) if isinstance(row["seeds"], str) else ""
    return f"<td class='num' title='seeds {seeds}'>{int(row['n_seeds'])}</td>"


def _images(x: Any) -> str:
    return "–" if missing(x) else f"{int(round(float(x))):,}"


def _cost_cells(row: pd.Series) -> str:
    if row["source"] == "paper":
        days = "–" if missing(row["time_days"]) else f"{float(row['time_days']):g} d"
        return f"<td class='num'>{_images(row['images'])}</td><td class='num'>{esc(days)}</td>"
    paper_img = "" if missing(row["paper_images"]) else f"<span class='cmp'>paper {_images(row['paper_images'])}</span>"
    paper_days = "" if missing(row["paper_time_days"]) else \
        f"<span class='cmp'>paper {float(row['paper_time_days']):g} d</span>"
    std = "" if missing(row["wall_seconds_std"]) else f"<span class='std'>±{esc(human_seconds(row['wall_seconds_std']))}</span>"
    return (f"<td class='num'>{_images(row['images'])}{paper_img}</td>"
            f"<td class='num' data-wall-seconds='{esc(row['wall_seconds'])}'>{esc(human_seconds(row['wall_seconds']))}"
            f"{std}{paper_days}</td>")


def _metric_cell(row: pd.Series, test: str, metric: str, group: str, first: bool) -> str:
    col = f"{test}.{metric}"
    mean = row[col]
    rank = row[f"{col}.rank"]
    rank = None if missing(rank) else int(rank)
    supervised = bool(row[f"{test}.supervised"])
    classes = ["v"] + (["best"] if rank == 1 else ["second"] if rank == 2 else []) + (["sup"] if supervised else [])
    title = ("best" if rank == 1 else "second best" if rank == 2 else "") + \
        (" · " if rank and supervised else "") + ("supervised (same domain): not ranked" if supervised else "")
    attrs = (f"data-test='{esc(test)}' data-metric='{esc(metric)}' data-group='{esc(group)}' "
             f"data-source='{esc(row['source'])}' data-row='{esc(row['row_id'])}' "
             f"data-rank='{'' if rank is None else rank}' data-supervised='{int(supervised)}' "
             f"data-value='{'' if missing(mean) else repr(float(mean))}'")
    td_class = "num first" if first else "num"
    if missing(mean):
        return f"<td class='{td_class}' {attrs}>–</td>"
    body = f"<span class='{' '.join(classes)}' title='{esc(title.strip())}'>{fmt(mean)}</span>"
    if row["source"] == "ours":
        std = row[f"{col}.std"]
        if not missing(std):
            body += f"<span class='std'>±{fmt(std)}</span>"
        n = row[f"{col}.n"]
        if not missing(n) and not missing(row["n_seeds"]) and int(n) < int(row["n_seeds"]):
            body += f"<span class='std'> n={int(n)}</span>"
        paper, diff = row[f"{col}.paper"], row[f"{col}.diff"]
        if not missing(paper):
            cls = "up" if float(diff) > 0 else "down" if float(diff) < 0 else ""
            body += (f"<span class='cmp'>paper {fmt(paper)} · <span class='{cls}'>Δ{float(diff):+.1f}</span>"
                     "</span>")
    return f"<td class='{td_class}' {attrs}>{body}</td>"


def table_html(df: pd.DataFrame, metrics: Sequence[str] = ("r1", "r5", "map"), *, cost: bool = False) -> str:
    """The table as one <table class="lb"> (inside a scrolling div)."""
    tests: list[str] = list(df.attrs.get("test_sets", []))
    mirrors: dict[str, str] = dict(df.attrs.get("mirrors", {}))
    marks = group_marks(df)
    lead = ["Training set", "Group", "n"] + (["Images", "Cost"] if cost else [])
    head1 = "".join(f"<th class='lead' rowspan='2'>{esc(h)}</th>" for h in lead)
    head1 += "".join(f"<th class='group' colspan='{len(metrics)}'>{_test_header(t, mirrors)}</th>" for t in tests)
    head2 = "".join(f"<th class='{'group' if i == 0 else ''}'>{esc(METRIC_LABELS[m])}</th>"
                    for _ in tests for i, m in enumerate(metrics))
    body = []
    for _, row in df.iterrows():
        cells = [_name_cell(row, marks), _group_cell(row, marks), _seeds_cell(row)]
        if cost:
            cells.append(_cost_cells(row))
        for t in tests:
            group = cell_group(row, t, mirrors)
            cells += [_metric_cell(row, t, m, group, i == 0) for i, m in enumerate(metrics)]
        body.append(f"<tr class='{esc(row['source'])}' data-row='{esc(row['row_id'])}'>{''.join(cells)}</tr>")
    return (f"<div class='lb-wrap'><table class='lb' data-table='{esc(df.attrs.get('table', ''))}'>"
            f"<thead><tr>{head1}</tr><tr>{head2}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def legend_html(df: pd.DataFrame, paper_hidden: bool = False) -> str:
    """What the colours and marks mean, and which settings each group mark stands for."""
    marks = group_marks(df)
    groups = "".join(f"<li><span class='chip grp'>{esc(m)}</span> {esc(g)}"
                     f"{' (the paper’s settings)' if m == PAPER_GROUP_MARK else ''}</li>" for g, m in marks.items())
    twins = any(v != k for k, v in df.attrs.get("mirrors", {}).items())
    extra = (" In a procedural twin’s column (sim-…) the paper’s rows show the real dataset’s numbers and are "
             "ranked only among themselves." if twins else "")
    hidden = " The paper’s rows are hidden but still count in their group’s ranking." if paper_hidden else ""
    several = len({m for g, m in marks.items() if g in set(df.loc[df['source'] == 'ours', 'rank_group'])}) > 1
    warn = ("<p><span class='chip warn'>⚠ settings differ</span> our rows were trained or scored with different "
            "settings (groups below); they are ranked only within their group.</p>") if several else ""
    return (f"<div class='lb-legend'>{warn}<p><span class='best'>red</span> = best and "
            f"<span class='second'>blue</span> = second per column among rows of the same group "
            f"(same backbone, ImageNet weights or not, input size and FID weights); "
            f"<span class='sup'>underlined</span> = supervised (trained on the test domain), not ranked. "
            f"Ours: mean ± std over seeds (n = seeds), with the paper’s number for the row it mirrors and the "
            f"difference Δ.{extra}{hidden}</p><ul>{groups}</ul></div>")
