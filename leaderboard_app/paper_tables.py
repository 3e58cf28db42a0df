"""The page body Tables 2 and 3 share: filters, the HTML table, its legend and the raw numbers."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from benchmark.store import StoreEmpty

from . import data
from .filters import table_filters
from .table_html import METRIC_LABELS, group_marks, legend_html, table_html


def show_table(df: pd.DataFrame, metrics: list[str], *, cost: bool, paper_hidden: bool = False) -> None:
    st.html(table_html(df, metrics, cost=cost))
    st.html(legend_html(df, paper_hidden=paper_hidden))


def paper_only(table: int, error: StoreEmpty | None) -> None:
    """No DB yet: the how-to, then the paper's own table."""
    data.show_empty_state(error)
    st.subheader(f"The paper's Table {table}")
    df = data.fetch("paper_table", table)
    show_table(df, ["r1", "r5", "map"], cost=table == 3)


def raw_numbers(df: pd.DataFrame, metrics: list[str]) -> None:
    """Our rows as a sortable frame (the same numbers as the table, one column per cell)."""
    ours = df[df["source"] == "ours"]
    if ours.empty:
        return
    marks = group_marks(df)
    out = pd.DataFrame({"training set": ours["label"], "profile": ours["profile"],
                        "variant": ours["variant"] if "variant" in ours else ours["profile"],
                        "group": [marks.get(str(g), "?") for g in ours["rank_group"]],
                        "settings": ours["settings"], "n seeds": ours["n_seeds"]})
    for t in df.attrs.get("test_sets", []):
        for m in metrics:
            out[f"{t} {METRIC_LABELS[m]}"] = ours[f"{t}.{m}"].round(2)
            out[f"{t} {METRIC_LABELS[m]} ±"] = ours[f"{t}.{m}.std"].round(2)
            out[f"{t} {METRIC_LABELS[m]} Δ"] = ours[f"{t}.{m}.diff"].round(2)
    with st.expander("Our rows as numbers (sortable)"):
        st.dataframe(out, hide_index=True, width="stretch")


def render_table_page(table: int) -> None:
    """Table 2 or 3 from the store, filtered; the paper's table alone when there is no DB yet."""
    try:
        options = data.fetch("filter_options")
    except StoreEmpty as e:
        paper_only(table, e)
        return
    if not options["test_sets"]:
        paper_only(table, None)
        return
    f = table_filters(f"t{table}", options)
    df = data.fetch("table_rows", table, f.tests or None, f.profiles or None, kinds=f.kinds or None,
                    include_paper=f.include_paper)
    n_ours = int((df["source"] == "ours").sum())
    if n_ours == 0:
        st.info("None of our runs match these filters (or belong in this table); showing the paper's rows.")
    else:
        st.caption(f"{n_ours} rows of ours (each after the paper's row it mirrors) over "
                   f"{len(df.attrs.get('test_sets', []))} test sets.")
    show_table(df, f.metrics, cost=table == 3, paper_hidden=not f.include_paper)
    raw_numbers(df, f.metrics)


__all__ = ["render_table_page", "show_table", "paper_only", "raw_numbers"]
