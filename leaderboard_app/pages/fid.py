"""FID of the training images against each target: by pipeline stage (Fig. 8) and by style method (Fig. 9)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from benchmark.store.naming import display_name
from leaderboard_app import data
from leaderboard_app.style import STAGE_LABELS, STAGE_ORDER

FALLBACK_MARK = "†"


def series_label(df: pd.DataFrame) -> pd.Series:
    """One legend entry per source data, settings (the variant in words) and FID weights; † marks fallback weights."""
    settings = df["variant"] if "variant" in df else df["profile"]
    return (df["source"].map(display_name) + " · " + settings + " · FID " + df["weights"]
            + df["fallback_weights"].map({True: f" {FALLBACK_MARK}", False: ""}))


def fid_chart(df: pd.DataFrame, x: str, x_order: list[str], x_title: str) -> alt.Chart:
    """Grouped bars, one panel per target; bars from fallback weights are pale (and † in the legend)."""
    name = (lambda v: STAGE_LABELS.get(v, v)) if x == "stage" else (lambda v: v)
    plot = df.assign(series=series_label(df), x_label=df[x].map(name), target_label=df["target"].map(display_name),
                     fid_label=df["fid"].map(lambda v: f"{v:.0f}"))
    n_series = plot["series"].nunique()
    base = alt.Chart(plot).encode(
        x=alt.X("x_label:N", sort=[name(v) for v in x_order], title=x_title, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("series:N"),
        y=alt.Y("fid:Q", title="FID (lower = closer to the target)"),
        color=alt.Color("series:N", title=None, scale=alt.Scale(scheme="tableau10"),
                        legend=alt.Legend(orient="bottom", columns=2, labelLimit=460)),
        tooltip=[alt.Tooltip("target_label:N", title="target"), alt.Tooltip("x_label:N", title=x_title),
                 "series", alt.Tooltip("fid:Q", format=".2f"), alt.Tooltip("fid_std:Q", format=".2f"),
                 "n_runs", "weights", "dims", "settings", "train_specs"],
    )
    bars = base.mark_bar().encode(opacity=alt.condition("datum.fallback_weights", alt.value(0.45), alt.value(1.0)))
    layers = [bars]
    if n_series <= 4:  # value labels only while they fit over the bars
        layers.append(base.mark_text(dy=-6, fontSize=10).encode(text="fid_label:N"))
    step = max(14, min(40, 160 // max(n_series, 1)))
    return alt.layer(*layers).properties(height=300, width=alt.Step(step)).facet(
        column=alt.Column("target_label:N", title=None, header=alt.Header(labelFontSize=13, labelFontWeight="bold")))


def numbers(df: pd.DataFrame, x: str) -> None:
    out = pd.DataFrame({
        "target": df["target"].map(display_name), "source": df["source"].map(display_name), x: df[x],
        "FID": df["fid"].astype(float).round(2), "±": df["fid_std"].astype(float).round(2), "runs": df["n_runs"],
        "weights": [f"{w} {FALLBACK_MARK} fallback" if fb else w for w, fb in zip(df["weights"], df["fallback_weights"])],
        "dims": df["dims"], "profile": df["profile"], "settings": df["settings"], "train specs": df["train_specs"],
    })
    st.dataframe(out, hide_index=True, width="stretch")


def fallback_note(df: pd.DataFrame) -> None:
    if df["fallback_weights"].any():
        st.warning(f"{FALLBACK_MARK} Values marked with a dagger (paler bars) were computed with fallback FID "
                   "weights (weights ≠ official): they compare stages with each other but not with published FIDs.",
                   icon=":material/warning:")


def body() -> None:
    options = data.fetch("filter_options")
    if not options["fid_targets"]:
        data.show_empty_state(None)
        return
    c1, c2 = st.columns([2, 2])
    targets = c1.multiselect("Targets", options["fid_targets"], default=[], placeholder="all",
                             format_func=display_name, key="fid-targets")
    profiles = c2.multiselect("Profile", options["profiles"], default=[], placeholder="all", key="fid-profile")
    tab8, tab9 = st.tabs(["Fig. 8 · by stage", "Fig. 9 · by style method"])

    def load(by: str) -> pd.DataFrame:
        df = data.fetch("fid_summary", by=by, profile=profiles or None)
        return df[df["target"].isin(targets)] if targets else df

    with tab8:
        st.caption("FID between each stage's training images and the target's images: the full source set, "
                   "a random sample (+Random), the attribute-optimised selection (+AO) and after style "
                   "transfer (+AOST). The paper's Fig. 8 shows FID falling stage by stage.")
        df = load("stage")
        if df.empty:
            st.info("No FID rows for these filters.")
        else:
            fallback_note(df)
            order = [s for s in STAGE_ORDER if s in set(df["stage"])] + sorted(set(df["stage"]) - set(STAGE_ORDER))
            st.altair_chart(fid_chart(df, "stage", order, "stage"))
            numbers(df, "stage")
    with tab9:
        st.caption("FID after style transfer, by style method (the paper's Fig. 9 compares SPGAN with other "
                   "translators).")
        df = load("style_method")
        if df.empty:
            st.info("No styled stages (+ST / +AOST) with a recorded style method for these filters.")
        else:
            fallback_note(df)
            st.altair_chart(fid_chart(df, "style_method", sorted(set(df["style_method"])), "style method"))
            numbers(df, "style_method")


st.title("FID · Figs. 8 and 9")
data.guarded(body)
