"""Print the paper-shaped tables (from queries.table_rows) as text, Markdown, CSV, LaTeX or JSON.

Display formats (text, md, latex) show the chosen metrics as `mean±std` with
the difference to the paper row a run mirrors; machine formats (csv, json)
carry every number (all five metrics, std, n, paper value, difference, rank).
"""
from __future__ import annotations

import io
import json
import math
from typing import Any, Sequence

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .aggregate import META_COLUMNS, METRICS
from .naming import display_name
from benchmark.text_safety import printable

FORMATS = ("text", "md", "csv", "latex", "json")
DEFAULT_METRICS = ("r1", "r5", "map")
METRIC_LABELS = {"r1": "R1", "r5": "R5", "r10": "R10", "map": "mAP", "minp": "mINP"}

LEGEND = (
    "Ours: mean±std over seeds (n = seeds) of runs with the same settings (each row says how its settings "
    "differ from its named profile, e.g. \"paper, epochs=60\"); Δ = ours − the paper row it mirrors. "
    "The paper's rows: resnet50/imagenet/256x128/fid:official (as the paper reports them). "
    "Underlined: supervised (same domain; not ranked). Best / second are marked per column among rows "
    "of the same training, evaluation and FID settings. Procedural rows are trained and tested on "
    "generated twins: beside them the paper's numbers are for the real datasets they mirror."
)


def parse_metrics(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """`r1,r5,map` / `all` -> a tuple of metric keys (ValueError naming the unknown one)."""
    if text is None:
        return DEFAULT_METRICS
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if items == ["all"]:
        return METRICS
    aliases = {"rank1": "r1", "rank5": "r5", "rank10": "r10", "mAP": "map"}
    out = []
    for it in items:
        it = aliases.get(it, it)
        if it not in METRICS:
            raise ValueError(f"unknown metric {it!r}; choose from {', '.join(METRICS)} or 'all'")
        out.append(it)
    return tuple(out) or DEFAULT_METRICS


def render(df: pd.DataFrame, fmt: str, metrics: Sequence[str] = DEFAULT_METRICS, width: int = 200) -> str:
    """The table as text in one of FORMATS."""
    if fmt == "text":
        console = Console(record=True, width=width, file=io.StringIO(), color_system=None)
        console.print(to_rich(df, metrics))
        return console.export_text()
    if fmt == "md":
        return to_markdown(df, metrics)
    if fmt == "csv":
        return to_csv(df)
    if fmt == "latex":
        return to_latex(df, metrics)
    if fmt == "json":
        return to_json(df)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


# -- helpers -----------------------------------------------------------------------------------------
def _nan(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _fmt(x: Any, digits: int = 1) -> str:
    return "–" if _nan(x) else f"{float(x):.{digits}f}"


def human_seconds(s: Any) -> str:
    """12 s / 3.2 min / 1.5 h / 2.1 d."""
    if _nan(s):
        return "–"
    s = float(s)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.1f} {unit}"
    return f"{s:.0f} s"


def _images(x: Any) -> str:
    return "–" if _nan(x) else f"{int(round(float(x))):,}"


def _cost(row: pd.Series) -> str:
    if row["source"] == "paper":
        return "–" if _nan(row["time_days"]) else f"{float(row['time_days']):g} d"
    return human_seconds(row["wall_seconds"])


def _variant(row: pd.Series) -> str:
    """Our row's settings in words ("paper, epochs=60", "cpu, style spgan, budget 500")."""
    v = row.get("variant")
    return v if isinstance(v, str) and v else str(row["profile"])


def _source(row: pd.Series) -> str:
    return "paper" if row["source"] == "paper" else f"ours · {_variant(row)}"


def _settings(row: pd.Series) -> str:
    return "" if row["source"] == "paper" else (row["settings"] or "")


_SHORT_TEST = {"market1501": "Market", "dukemtmc": "Duke", "cuhk03": "CUHK03", "msmt17": "MSMT17"}


def _short_test(test: str) -> str:
    """Market / Duke / sim-Market: narrow column headers for the terminal (the legend explains sim-)."""
    prefix = "sim-" if test.startswith("sim-") else ""
    base = test[len(prefix):]
    return prefix + _SHORT_TEST.get(base, display_name(base))


def _test_header(df: pd.DataFrame, test: str) -> str:
    mirror = df.attrs.get("mirrors", {}).get(test, test)
    name = display_name(test)
    return name if mirror == test else f"{name} (≈ {display_name(mirror)})"


def _cell(row: pd.Series, test: str, metric: str) -> tuple[str, str | None, int | None, bool]:
    """(value text, diff text or None, rank, supervised) for one cell."""
    mean = row[f"{test}.{metric}"]
    supervised = bool(row[f"{test}.supervised"])
    rank = row[f"{test}.{metric}.rank"]
    rank = None if _nan(rank) else int(rank)
    if _nan(mean):
        return "–", None, None, supervised
    text = _fmt(mean)
    if row["source"] == "ours":
        std = row[f"{test}.{metric}.std"]
        if not _nan(std):
            text += f"±{_fmt(std)}"
        diff = row[f"{test}.{metric}.diff"]
        return text, (None if _nan(diff) else f"{float(diff):+.1f}"), rank, supervised
    return text, None, rank, supervised


def _show_cost(df: pd.DataFrame) -> bool:
    return df.attrs.get("table") == 3


# -- text (rich) -------------------------------------------------------------------------------------
def to_rich(df: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS) -> Table:
    """A rich Table: red = best, blue = second, underline = supervised, Δ under our cells.

    Source and settings sit under the row's name to keep the table narrow."""
    tests = df.attrs.get("test_sets", [])
    t = Table(title=f"Table {df.attrs.get('table', '?')}", caption=LEGEND, caption_justify="left",
              show_lines=False, header_style="bold")
    t.add_column("Training set", overflow="fold", min_width=16)
    t.add_column("n", justify="right", no_wrap=True)
    if _show_cost(df):
        t.add_column("Images", justify="right", no_wrap=True)
        t.add_column("Cost", justify="right", no_wrap=True)
    for test in tests:
        for i, m in enumerate(metrics):
            head = f"{_short_test(test)}\n{METRIC_LABELS[m]}" if i == 0 else f"\n{METRIC_LABELS[m]}"
            t.add_column(Text(printable(head, keep="\n")), justify="right", no_wrap=True, overflow="fold")
    for _, row in df.iterrows():
        name = Text(printable(row["label"]), style="" if row["source"] == "paper" else "bold")
        name.append("\n" + printable(_source(row) + (f" · {row['settings']}" if row["source"] == "ours" else "")),
                    style="dim")
        cells: list[Any] = [name, "" if _nan(row["n_seeds"]) else str(int(row["n_seeds"]))]
        if _show_cost(df):
            cells += [_images(row["images"]), _cost(row)]
        for test in tests:
            for m in metrics:
                value, diff, rank, supervised = _cell(row, test, m)
                style = "bold red" if rank == 1 else "bold blue" if rank == 2 else ""
                if supervised:
                    style = (style + " underline").strip()
                cell = Text(value, style=style)
                if diff is not None:
                    cell.append(f"\nΔ{diff}", style="dim")
                cells.append(cell)
        t.add_row(*cells)
    return t


# -- Markdown ----------------------------------------------------------------------------------------
def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|")


def to_markdown(df: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """GitHub Markdown: **best**, *second*, <u>supervised</u>, (Δ) after our cells."""
    tests = df.attrs.get("test_sets", [])
    head = ["Training set", "Source", "Settings", "n"] + (["Images", "Cost"] if _show_cost(df) else [])
    head += [f"{_test_header(df, t)} {METRIC_LABELS[m]}" for t in tests for m in metrics]
    lines = [f"**Table {df.attrs.get('table', '?')}**", "",
             "| " + " | ".join(_md_escape(h) for h in head) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    for _, row in df.iterrows():
        cells = [row["label"], _source(row), _settings(row),
                 "" if _nan(row["n_seeds"]) else str(int(row["n_seeds"]))]
        if _show_cost(df):
            cells += [_images(row["images"]), _cost(row)]
        for t in tests:
            for m in metrics:
                value, diff, rank, supervised = _cell(row, t, m)
                if rank == 1:
                    value = f"**{value}**"
                elif rank == 2:
                    value = f"*{value}*"
                if supervised:
                    value = f"<u>{value}</u>"
                if diff is not None:
                    value += f" (Δ{diff})"
                cells.append(value)
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    lines += ["", LEGEND]
    return "\n".join(lines) + "\n"


# -- CSV / JSON --------------------------------------------------------------------------------------
def to_csv(df: pd.DataFrame) -> str:
    """Every column of the wide frame (one row per table row)."""
    return df.to_csv(index=False, lineterminator="\n")


def _json_value(x: Any) -> Any:
    if _nan(x):
        return None
    if hasattr(x, "item"):
        return x.item()
    return x


def to_json(df: pd.DataFrame) -> str:
    """{"table", "test_sets", "metrics", "mirrors", "legend", "rows": [{meta..., "cells": {test: {metric:
    {mean, std, n, paper, diff, rank}, "supervised"}}}]}; missing numbers are null."""
    tests = df.attrs.get("test_sets", [])
    rows = []
    for _, row in df.iterrows():
        out = {c: _json_value(row[c]) for c in META_COLUMNS}
        out["cells"] = {}
        for t in tests:
            cell: dict[str, Any] = {"supervised": bool(row[f"{t}.supervised"])}
            for m in METRICS:
                cell[m] = {k: _json_value(row[f"{t}.{m}{suffix}"]) for k, suffix in
                           (("mean", ""), ("std", ".std"), ("n", ".n"), ("paper", ".paper"), ("diff", ".diff"),
                            ("rank", ".rank"))}
            out["cells"][t] = cell
        rows.append(out)
    doc = {"table": df.attrs.get("table"), "test_sets": tests, "metrics": list(METRICS),
           "mirrors": df.attrs.get("mirrors", {}), "legend": LEGEND, "rows": rows}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


# -- LaTeX -------------------------------------------------------------------------------------------
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "≈": r"$\approx$", "±": r"$\pm$", "–": "--", "·": r"$\cdot$"}


def latex_escape(text: Any) -> str:
    """Text safe inside a LaTeX table cell."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(df: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """A booktabs table a paper can paste. \\best / \\second default to bold / italic (redefine them
    with xcolor for the paper's red / blue); supervised cells are underlined."""
    tests = df.attrs.get("test_sets", [])
    table_no = df.attrs.get("table", "?")
    lead = ["Training set", "Source"] + (["Bboxes", "Time"] if _show_cost(df) else [])
    n_lead = len(lead)
    spec = "l" * 2 + "r" * (n_lead - 2) + "".join("c" * len(metrics) for _ in tests)
    out = [
        f"% Table {table_no} generated by aostbench (`aostbench results --table {table_no} --format latex`).",
        "% Needs \\usepackage{booktabs}. Ours: mean $\\pm$ std over seeds.",
        "\\providecommand{\\best}[1]{\\textbf{#1}}",
        "\\providecommand{\\second}[1]{\\textit{#1}}",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
    ]
    group = [""] * n_lead + [f"\\multicolumn{{{len(metrics)}}}{{c}}{{{latex_escape(_test_header(df, t))}}}"
                             for t in tests]
    out.append(" & ".join(group) + " \\\\")
    rules = "".join(f"\\cmidrule(lr){{{n_lead + 1 + i * len(metrics)}-{n_lead + (i + 1) * len(metrics)}}}"
                    for i in range(len(tests)))
    if rules:
        out.append(rules)
    out.append(" & ".join([latex_escape(h) for h in lead] +
                          [METRIC_LABELS[m] for _ in tests for m in metrics]) + " \\\\")
    out.append("\\midrule")
    for _, row in df.iterrows():
        src = "paper" if row["source"] == "paper" else f"ours ({_variant(row)}, n={int(row['n_seeds'])})"
        cells = [latex_escape(row["label"]), latex_escape(src)]
        if _show_cost(df):
            cells += [latex_escape(_images(row["images"])), latex_escape(_cost(row))]
        for t in tests:
            for m in metrics:
                cells.append(_latex_cell(row, t, m))
        out.append(" & ".join(cells) + " \\\\")
    out += [
        "\\bottomrule",
        "\\end{tabular}",
        f"\\caption{{{latex_escape(_caption(df))}}}",
        f"\\label{{tab:aostbench-table{table_no}}}",
        "\\end{table}",
    ]
    return "\n".join(out) + "\n"


def _latex_cell(row: pd.Series, test: str, metric: str) -> str:
    mean = row[f"{test}.{metric}"]
    if _nan(mean):
        return "--"
    text = _fmt(mean)
    if row["source"] == "ours" and not _nan(row[f"{test}.{metric}.std"]):
        text += f"{{\\scriptsize$\\pm${_fmt(row[f'{test}.{metric}.std'])}}}"
    rank = row[f"{test}.{metric}.rank"]
    if not _nan(rank) and int(rank) == 1:
        text = f"\\best{{{text}}}"
    elif not _nan(rank) and int(rank) == 2:
        text = f"\\second{{{text}}}"
    if bool(row[f"{test}.supervised"]):
        text = f"\\underline{{{text}}}"
    return text


def _caption(df: pd.DataFrame) -> str:
    what = {2: "Training sets compared", 3: "Ablation of FineGPR + AOST"}.get(df.attrs.get("table"), "Results")
    return (f"{what}: our runs (mean ± std over seeds) beside the paper's numbers. "
            "Procedural rows use generated twins of the datasets they mirror.")
