"""Table 3: the ablation of FineGPR (+Random, +AO, +AOST) with training images and cost."""
from __future__ import annotations

import altair as alt
import streamlit as st

from benchmark.store import StoreEmpty
from benchmark.store.naming import table3_member
from leaderboard_app import data
from leaderboard_app.paper_tables import render_table_page

COST_STAGES = ("sample", "distances", "surrogate", "search", "style", "train", "evaluate", "fid")


def stage_costs() -> None:
    """Where the measured time went, per train spec and stage (mean over completed runs)."""
    costs = data.fetch("stage_costs")
    costs = costs[[table3_member(s) for s in costs["train_spec"]]]
    if costs.empty:
        return
    st.subheader("Measured cost by stage")
    st.caption("Mean wall time per stage over completed runs, on the machine that ran them. The paper reports "
               "20 days to render all of FineGPR and 1.3 days for the 124,200 images of +AO/+AOST.")
    order = [s for s in COST_STAGES if s in set(costs["stage"])] + sorted(set(costs["stage"]) - set(COST_STAGES))
    costs = costs.assign(run=costs["train_spec"] + " · " + (costs["variant"] if "variant" in costs else costs["profile"]),
                         stage_order=[order.index(s) for s in costs["stage"]])
    chart = alt.Chart(costs).mark_bar().encode(
        y=alt.Y("run:N", title=None, sort=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X("wall_seconds:Q", title="wall seconds (mean over runs)", stack="zero"),
        color=alt.Color("stage:N", sort=order, scale=alt.Scale(scheme="tableau10")),
        order=alt.Order("stage_order:Q"),
        tooltip=["train_spec", "profile", "variant", "stage", alt.Tooltip("wall_seconds:Q", format=".1f"),
                 alt.Tooltip("images:Q", format=",.0f"), "n_runs"],
    ).properties(height=32 * costs["run"].nunique() + 50)
    st.altair_chart(chart, width="stretch")


def body() -> None:
    render_table_page(3)
    try:
        stage_costs()
    except StoreEmpty:
        pass  # render_table_page already said how to produce results


st.title("Ablation · Table 3")
st.caption("FineGPR, +Random, +AO and +AOST: the images each trains on, the measured cost beside the paper's "
           "cost (days), and the scores. Cost of ours = wall time of the whole run on this machine.")
data.guarded(body)
