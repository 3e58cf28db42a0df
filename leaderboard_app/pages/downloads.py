"""Downloads: every table as CSV and LaTeX (Tables 2-3 also as Markdown and JSON)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from benchmark.store import StoreEmpty
from leaderboard_app import data
from leaderboard_app.exports import frame_csv, frame_latex, paper_table_payloads

MIME = {"csv": "text/csv", "latex": "application/x-tex", "md": "text/markdown", "json": "application/json"}
SUFFIX = {"csv": "csv", "latex": "tex", "md": "md", "json": "json"}
LABELS = {"csv": "CSV", "latex": "LaTeX", "md": "Markdown", "json": "JSON"}


def buttons(title: str, stem: str, payloads: dict[str, str]) -> None:
    """One line per table: its name, then a small button per format."""
    cols = st.columns([2.6] + [1] * 4, vertical_alignment="center")
    cols[0].markdown(title)
    for col, (fmt, text) in zip(cols[1:], payloads.items()):
        col.download_button(LABELS[fmt], text, file_name=f"{stem}.{SUFFIX[fmt]}", mime=MIME[fmt],
                            key=f"dl-{stem}-{fmt}", icon=":material/download:", width="stretch",
                            help=f"{stem}.{SUFFIX[fmt]}")


def frame_section(title: str, stem: str, df: pd.DataFrame, caption: str) -> None:
    buttons(f"**{title}** · {len(df)} rows", stem,
            {"csv": frame_csv(df), "latex": frame_latex(df, caption, f"tab:aostbench-{stem}")})


def body() -> None:
    try:
        t2, t3 = data.fetch("table_rows", 2), data.fetch("table_rows", 3)
        have_db = True
    except StoreEmpty as e:
        data.show_empty_state(e)
        t2, t3 = data.fetch("paper_table", 2), data.fetch("paper_table", 3)
        have_db = False
    st.subheader("The paper's tables, ours beside them")
    st.caption("All of our completed runs and the paper's rows. CSV and JSON carry every number (R1, R5, R10, mAP, "
               "mINP with std, n, the paper's value, the difference and the rank); LaTeX and Markdown show R1, "
               "R5 and mAP (best = \\best{}, second = \\second{}, supervised underlined).")
    for title, stem, df in (("Table 2 · training sets compared", "table2", t2), ("Table 3 · ablation", "table3", t3)):
        buttons(f"**{title}** · {len(df)} rows", stem, paper_table_payloads(df))
    if not have_db:
        return
    st.subheader("Other tables")
    frames = [
        ("FID by stage (Fig. 8)", "fid-by-stage", data.fetch("fid_summary", by="stage"), "FID by stage"),
        ("FID by style method (Fig. 9)", "fid-by-style", data.fetch("fid_summary", by="style_method"),
         "FID by style method"),
        ("Stage costs", "stage-costs", data.fetch("stage_costs"), "Mean wall seconds per stage"),
    ]
    runs = data.fetch("runs_overview").drop(columns=["owner_alive"])
    runs["test_sets"] = [", ".join(t) for t in runs["test_sets"]]
    frames.append(("Runs", "runs", runs, "Runs"))
    subs = data.fetch("submissions_df")[["name", "version", "status", "n_images", "n_ids", "n_cams",
                                         "has_attributes", "created_at", "reasons"]]
    subs = subs.assign(reasons=["; ".join(r) for r in subs["reasons"]])
    frames.append(("Submissions", "submissions", subs, "Submissions"))
    for title, stem, df, caption in frames:
        frame_section(title, stem, df, caption)


st.title("Downloads")
data.guarded(body)
