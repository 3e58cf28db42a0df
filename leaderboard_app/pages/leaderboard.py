"""Table 2: training sets (rows) against test sets (column groups), ours beside the paper's rows."""
from __future__ import annotations

import streamlit as st

from leaderboard_app import data
from leaderboard_app.paper_tables import render_table_page

st.title("Leaderboard · Table 2")
st.caption("Training sets as rows, test sets as column groups (R1, R5, mAP; R10 and mINP on demand). "
           "The paper's rows come first in each block; ours that mirror them follow, with the difference. "
           "sim-* rows are procedural twins: trained and tested on generated data that mirrors the paper's datasets.")
data.guarded(lambda: render_table_page(2))
