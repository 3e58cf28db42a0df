"""Runs: a searchable list with status, provenance, settings and cost; one run in full with its log."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from benchmark.store.naming import display_name
from leaderboard_app import data
from leaderboard_app.style import human_seconds, md_escape, status_label

LOG_SUFFIXES = (".log", ".txt")
LOG_TAIL_LINES = 200
SEARCHED = ("id", "train_spec", "profile", "status", "error", "device", "code_version", "settings")


def search(df: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows where every word of `text` appears (case-insensitive) in one of the searched columns."""
    words = text.lower().split()
    if not words:
        return df
    hay = [" ".join(map(str, values)).lower() for values in df[list(SEARCHED)].itertuples(index=False)]
    return df[[all(w in h for w in words) for h in hay]]


def run_table(df: pd.DataFrame) -> pd.DataFrame:
    status = [status_label(s) + (" (process gone)" if alive is False else "")
              for s, alive in zip(df["status"], df["owner_alive"])]
    return pd.DataFrame({
        "id": df["id"], "train spec": df["train_spec"], "profile": df["profile"], "seed": df["seed"],
        "status": status, "started (UTC)": df["started_at"], "wall": [human_seconds(s) for s in df["wall_seconds"]],
        "train images": df["train_images"], "tests": [", ".join(t) for t in df["test_sets"]],
        "settings": df["settings"], "device": df["device"], "code": df["code_version"].fillna("").str[:10],
        "dirty": df["dirty"], "error": df["error"],
    })


def log_files(run_id: str) -> list[Path]:
    folder = data.runs_dir() / run_id
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in LOG_SUFFIXES)[:20]


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return f"(cannot read {path}: {e})"
    rows = text.splitlines()
    head = [f"... ({len(rows) - lines} earlier lines)"] if len(rows) > lines else []
    return "\n".join(head + rows[-lines:])


def detail(run_id: str) -> None:
    d = data.fetch("run_detail", run_id)
    run = d["run"]
    st.subheader(f"Run {md_escape(run['id'])}")
    st.caption(f"{md_escape(run['train_spec'])} · profile {md_escape(run['profile'])} · seed {run['seed']} · "
               f"{md_escape(run['settings'])}"
               + (f" · procedural mirror of {md_escape(display_name(run['mirrors']))}" if str(run['train_spec']).startswith('sim-')
                  else ""))
    c = st.columns(4)
    c[0].metric("Status", status_label(run["status"]))
    c[1].metric("Wall time", human_seconds(run["wall_seconds"]))
    c[2].metric("Train images", "–" if run["train_images"] is None else f"{int(run['train_images']):,}")
    c[3].metric("Train ids", "–" if run["train_ids"] is None else f"{int(run['train_ids']):,}")
    if run["error"]:
        st.error("This run stopped with an error:", icon=":material/error:")
        st.code(run["error"], language=None, wrap_lines=True)  # plain text: never a link
    tabs = st.tabs(["Metrics", "Costs", "FID", "Provenance", "Config", "Logs"])
    with tabs[0]:
        m = pd.DataFrame(d["metrics"])
        if m.empty:
            st.caption("No metrics (the run did not finish).")
        else:
            st.dataframe(m, hide_index=True, width="stretch")
    with tabs[1]:
        costs = pd.DataFrame(d["costs"])
        if costs.empty:
            st.caption("No stage costs recorded.")
        else:
            costs["wall"] = [human_seconds(s) for s in costs["wall_seconds"]]
            st.dataframe(costs, hide_index=True, width="stretch")
    with tabs[2]:
        fid = pd.DataFrame(d["fid"])
        if fid.empty:
            st.caption("No FID rows.")
        else:
            st.dataframe(fid, hide_index=True, width="stretch")
    with tabs[3]:
        st.json({k: run[k] for k in ("code_version", "dirty", "device", "nproc", "started_at", "ended_at",
                                     "owner_host", "owner_pid", "arch", "pretrained", "height", "width",
                                     "fid_weights", "budget", "test_sets", "library_versions",
                                     "data_fingerprints") if k in run}, expanded=True)
    with tabs[4]:
        st.json(run["config"], expanded=2)
    with tabs[5]:
        files = log_files(run["id"])
        if not files:
            st.caption(f"No log files under {md_escape(data.runs_dir() / run['id'])}.")
        for p in files:
            st.caption(md_escape(p.relative_to(data.runs_dir())))
            st.code(tail(p), language=None)


def body() -> None:
    df = data.fetch("runs_overview")
    if df.empty:
        data.show_empty_state(None)
        return
    c1, c2, c3 = st.columns([3, 2, 2])
    text = c1.text_input("Search", key="runs-search", placeholder="id, spec, profile, status, error, device ...")
    statuses = c2.multiselect("Status", ["completed", "running", "failed"], default=[], placeholder="all",
                              key="runs-status")
    kinds = c3.multiselect("Data kind", sorted(set(df["train_kind"].dropna())), default=[], placeholder="all",
                           key="runs-kind")
    shown = search(df, text)
    if statuses:
        shown = shown[shown["status"].isin(statuses)]
    if kinds:
        shown = shown[shown["train_kind"].isin(kinds)]
    st.caption(f"{len(shown)} of {len(df)} runs, newest first.")
    if (df["owner_alive"] == False).any():  # noqa: E712 - a column of True/False/None
        st.warning("Some `running` runs have lost their process; `aostbench runs list` marks them failed "
                   "(the app only reads).", icon=":material/warning:")
    st.dataframe(run_table(shown), hide_index=True, width="stretch",
                 column_config={"train images": st.column_config.NumberColumn(format="%d")})
    if shown.empty:
        return
    ids = list(shown["id"])
    labels = {r["id"]: f"{r['id']} · {r['train_spec']} · {r['status']}" for _, r in shown.iterrows()}
    run_id = st.selectbox("Run details", ids, format_func=labels.get, key="runs-detail")
    detail(run_id)


st.title("Runs")
data.guarded(body)
