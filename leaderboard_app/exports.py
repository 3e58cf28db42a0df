"""Download payloads: Tables 2-3 through benchmark.store.tables, other frames as CSV and booktabs LaTeX."""
from __future__ import annotations

from typing import Any

import pandas as pd

from benchmark.store import tables

from .style import missing


def _cell(x: Any) -> str:
    if missing(x):
        return "--"
    if isinstance(x, float):
        return f"{x:.2f}"
    if isinstance(x, (list, tuple)):
        x = ", ".join(map(str, x))
    return tables.latex_escape(x)


def frame_latex(df: pd.DataFrame, caption: str, label: str) -> str:
    """A plain booktabs table of a frame (every cell escaped); needs \\usepackage{booktabs}."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    spec = "".join("r" if n else "l" for n in numeric)
    lines = [f"% {caption} (aostbench leaderboard download)", "\\begin{table}[t]", "\\centering", "\\small",
             f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(tables.latex_escape(c) for c in df.columns) + " \\\\", "\\midrule"]
    lines += [" & ".join(_cell(v) for v in row) + " \\\\" for row in df.itertuples(index=False)]
    lines += ["\\bottomrule", "\\end{tabular}", f"\\caption{{{tables.latex_escape(caption)}}}",
              f"\\label{{{tables.latex_escape(label)}}}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def frame_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, lineterminator="\n")


def paper_table_payloads(df: pd.DataFrame, metrics=tables.DEFAULT_METRICS) -> dict[str, str]:
    """csv / latex / md / json of a Table 2-3 frame, exactly as `aostbench results --format ...` prints it."""
    return {fmt: tables.render(df, fmt, metrics) for fmt in ("csv", "latex", "md", "json")}
