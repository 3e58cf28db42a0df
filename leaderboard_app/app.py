"""Entry point: `streamlit run leaderboard_app/app.py [-- --db PATH]` (or `aostbench leaderboard`).

Sets the page up, lists the pages (st.navigation) and shows which results
file is open. Each page is a small script in pages/.
"""
from __future__ import annotations

import sys
from pathlib import Path

try:
    import leaderboard_app  # noqa: F401  (installed, or run from the repository root)
except ImportError:  # `streamlit run` puts only this folder on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from benchmark.store import StoreBusy, StoreEmpty
from leaderboard_app import data, style

st.set_page_config(page_title="aostbench leaderboard", page_icon=":material/leaderboard:", layout="wide")
style.inject_css()

PAGES = {
    "Results": [
        st.Page("pages/leaderboard.py", title="Leaderboard (Table 2)", icon=":material/leaderboard:", default=True),
        st.Page("pages/ablation.py", title="Ablation (Table 3)", icon=":material/science:"),
        st.Page("pages/fid.py", title="FID (Fig. 8, 9)", icon=":material/trending_down:"),
        st.Page("pages/attributes.py", title="Attributes", icon=":material/accessibility:"),
    ],
    "Data": [
        st.Page("pages/runs.py", title="Runs", icon=":material/list_alt:"),
        st.Page("pages/submissions.py", title="Submissions", icon=":material/inbox:"),
        st.Page("pages/downloads.py", title="Downloads", icon=":material/download:"),
    ],
}
nav = st.navigation(PAGES)

with st.sidebar:
    st.caption("Results database")
    st.code(str(data.db_path()), language=None, wrap_lines=True)
    try:
        info = data.fetch("summary")
        runs = info["runs"]
        st.caption(f"{runs['completed']} completed · {runs['running']} running · {runs['failed']} failed runs · "
                   f"{info['submissions']} submissions · last activity {style.md_escape(info['last_activity'] or '–')}")
    except StoreEmpty:
        st.caption("No results yet.")
    except StoreBusy:
        st.caption("Busy: a run is writing.")

nav.run()
