"""Submissions: each submitted dataset's status and validation report, and its runs on the leaderboard."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from leaderboard_app import data
from leaderboard_app.style import md_escape, missing, status_label


def overview(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "name": df["name"], "version": df["version"], "status": [status_label(s) for s in df["status"]],
        "images": df["n_images"], "ids": df["n_ids"], "cameras": df["n_cams"], "attributes": df["has_attributes"],
        "reasons": [len(r) for r in df["reasons"]], "submitted (UTC)": df["created_at"],
    })


def body() -> None:
    st.caption("A submission is validated before it can be run: `aostbench submit PATH --name NAME`. Accepted "
               "ones can be trained on (`--train submission:NAME`, `+aost` when they carry attributes) and are "
               "ranked beside the paper's rows.")
    subs = data.fetch("submissions_df")
    if subs.empty:
        st.info("No submissions yet.")
        return
    st.dataframe(overview(subs), hide_index=True, width="stretch")
    runs = data.fetch("runs_overview")
    runs = runs[runs["train_kind"] == "submission"]
    for _, s in subs.iterrows():
        name = str(s["name"])
        title = f"{md_escape(status_label(s['status']))} · {md_escape(name)} · version {int(s['version'])}"
        with st.expander(title, expanded=False):
            st.text(f"name: {name}")
            for label, key in (("stored at", "path"), ("fingerprint", "fingerprint")):
                if not missing(s[key]) and s[key] != "":  # a rejected row has neither
                    st.text(f"{label}: {s[key]}")
            reasons = s["reasons"] if isinstance(s["reasons"], list) else []
            if reasons:
                st.markdown("**Why it was rejected**" if s["status"] == "rejected" else "**Notes**")
                st.text("\n".join(f"- {reason}" for reason in reasons))  # plain text: never a link
            st.markdown("**Validation report**")
            st.json(s["report"] if isinstance(s["report"], dict) else {}, expanded=1)
            mine = runs[[str(spec).split("+")[0] == f"submission:{name}" for spec in runs["train_spec"]]]
            if len(mine):
                st.markdown("**Runs**")
                st.dataframe(mine[["id", "train_spec", "profile", "seed", "status", "started_at"]],
                             hide_index=True, width="stretch")


st.title("Submissions")
data.guarded(body)
