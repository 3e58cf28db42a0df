"""Attributes: V* (the selection AO found) beside the source's distribution and a twin's true prior."""
from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from benchmark import attributes as vocab
from benchmark.stages import restyling_labels
from benchmark.store.naming import display_name
from benchmark.text_safety import printable
from leaderboard_app import data
from leaderboard_app.style import SOURCE_COLOURS, esc, fmt, md_escape

SOURCE_LABELS = {"full": "full (source data)", "selected": "selected (V*)", "target-true": "target-true (twin prior)"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_IMAGES = 12


def run_label(row: pd.Series) -> str:
    return f"{row['train_spec']} · {row['profile']} · seed {row['seed']} · {row['id']}"


def attribute_chart(df: pd.DataFrame, attribute: str) -> alt.Chart:
    """Grouped bars over the attribute's values (names from benchmark.attributes), one bar per source."""
    a = vocab.BY_NAME.get(attribute)
    names = list(a.values) if a else sorted(df["value_name"].dropna().unique())
    order = [SOURCE_LABELS[s] for s in SOURCE_LABELS]
    plot = df.assign(label=df["source"].map(SOURCE_LABELS),
                     value_label=df["value_name"].fillna(df["value"].astype(str)))
    angle = 0 if len(names) <= 4 else -45 if len(names) <= 12 else -90
    return alt.Chart(plot).mark_bar().encode(
        x=alt.X("value_label:N", sort=names, title=None,
                axis=alt.Axis(labelAngle=angle, labelLimit=80, labelOverlap=False)),
        xOffset=alt.XOffset("label:N", sort=order),
        y=alt.Y("p:Q", title=None, axis=alt.Axis(format=".0%", tickCount=4)),
        color=alt.Color("label:N", sort=order, legend=None,
                        scale=alt.Scale(domain=order, range=[SOURCE_COLOURS[s] for s in SOURCE_LABELS])),
        tooltip=[alt.Tooltip("value_label:N", title=attribute), alt.Tooltip("label:N", title="distribution"),
                 alt.Tooltip("p:Q", format=".3f")],
    ).properties(height=200)


def legend() -> str:
    chips = "".join(f"<span style='display:inline-flex;align-items:center;margin-right:1.2rem'>"
                    f"<span style='width:0.9rem;height:0.9rem;background:{SOURCE_COLOURS[s]};display:inline-block;"
                    f"margin-right:0.35rem;border-radius:2px'></span>{esc(label)}</span>"
                    for s, label in SOURCE_LABELS.items())
    return f"<div class='lb-legend' style='font-size:0.9rem'>{chips}</div>"


def sample_images(run_id: str) -> None:
    """Sample sheets a run left under runs/<id>/stages/ (before and after style transfer)."""
    folder = data.runs_dir() / run_id / "stages"
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) \
        if folder.is_dir() else []
    st.subheader("Sample images of the selection")
    if not files:
        st.caption(f"No sample images under {md_escape(folder)}.")
        return
    styled = [p for p in files if _is_styled(p, folder)]
    before = [p for p in files if p not in styled]
    columns = st.columns(2)
    for col, title, group in ((columns[0], "before style transfer", before),
                              (columns[1], "after style transfer", styled)):
        with col:
            st.markdown(f"**{title}**")
            if not group:
                st.caption("none in this run's folder")
            for p in group[:MAX_IMAGES]:
                st.image(str(p), caption=printable(p.relative_to(folder)), width="stretch")

def _is_styled(path: Path, stages: Path) -> bool:
    parts = path.relative_to(stages).parts
    return bool(parts) and parts[0] in restyling_labels() | {"style"}  # "style": runs stored before the registry


def body() -> None:
    runs = data.fetch("attribute_runs")
    if runs.empty:
        st.info("No run has stored attribute distributions yet: they come from +ao / +aost runs, e.g. "
                "`aostbench run --train sim-finegpr+aost --test sim-market --profile smoke`.")
        return
    labels = {row["id"]: run_label(row) for _, row in runs.iterrows()}
    ids = list(labels)
    wanted = st.query_params.get("run")  # ?run=<id> links a run's attributes (from the Runs page)
    run_id = st.selectbox("Run", ids, index=ids.index(wanted) if wanted in ids else 0, format_func=labels.get,
                          key="attr-run")
    dist = data.fetch("attribute_dist_df", run_id)
    targets = sorted({t for t in dist["target"] if t})
    target = st.selectbox("Target", targets, format_func=display_name, key="attr-target") if len(targets) > 1 \
        else (targets[0] if targets else "")
    # the untargeted rows (the source's `full`) belong beside every target
    shown = dist[dist["target"].isin([target, ""])]
    st.caption("For each attribute: the source's distribution (full), the selection attribute optimisation found "
               "(V*), and, for a procedural twin, the target's true prior, which real data cannot show. "
               "TV = total variation distance to the true prior (0 = identical).")

    surrogate = data.fetch("surrogate_df", run_id)
    recovery = data.fetch("attribute_recovery", run_id)
    recovery = recovery[recovery["target"] == target] if target else recovery
    cols = st.columns(3)
    fit = surrogate[surrogate["target"] == target] if target else surrogate
    if len(fit):
        r = fit.iloc[0]
        cols[0].metric("Surrogate R² (cross-validated)", fmt(r["r2_cv"], 3))
        cols[1].metric("Surrogate R² (train)", fmt(r["r2_train"], 3))
        cols[2].metric("Probe images", f"{int(r['n_probe']):,}" if not pd.isna(r["n_probe"]) else "–")
    else:
        cols[0].metric("Surrogate R² (cross-validated)", "–")
    tv = {r.attribute: r for r in recovery.itertuples(index=False)}
    names = [a.name for a in vocab.ALL_ATTRIBUTES if a.name in set(shown["attribute"])]
    names += sorted(set(shown["attribute"]) - set(names))
    st.html(legend())
    st.subheader("Identity attributes")
    id_names = [n for n in names if n in vocab.ID_NAMES or n not in vocab.ENV_NAMES]
    for i in range(0, len(id_names), 3):
        for col, name in zip(st.columns(3), id_names[i:i + 3]):
            _attribute(col, shown, name, tv.get(name))
    env = [n for n in names if n in vocab.ENV_NAMES]
    if env:
        st.subheader("Environment attributes")
        for i in range(0, len(env), 2):
            for col, name in zip(st.columns([3, 2] if env[i] == "viewpoint" else [1, 1]), env[i:i + 2]):
                _attribute(col, shown, name, tv.get(name))
    sample_images(run_id)


def _attribute(col, shown: pd.DataFrame, name: str, tv) -> None:
    with col:
        note = f"TV(V*, true) {fmt(tv.tv_selected, 3)} · TV(full, true) {fmt(tv.tv_full, 3)}" if tv is not None else ""
        chart = attribute_chart(shown[shown["attribute"] == name], name).properties(
            title=alt.TitleParams(name.replace("_", " "), subtitle=note, anchor="start", fontSize=14,
                                  subtitleFontSize=11, subtitleColor="#6b6f7b"))
        st.altair_chart(chart, width="stretch")


st.title("Attributes")
data.guarded(body)
