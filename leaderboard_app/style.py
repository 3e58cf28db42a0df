"""Look and escaping shared by the pages: the CSS, the paper's red/blue, safe text for HTML and Markdown.

Anything that reaches HTML goes through `esc` and anything that reaches
Markdown (labels, captions) through `md_escape`: submission names are strangers'
text and must show as typed, never as markup.
"""
from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from benchmark import stages as _stages
from benchmark.text_safety import inert_md, printable

BEST = "#d62728"  # the paper prints the best result in red
SECOND = "#1f5fbf"  # and the second in blue
SOURCE_COLOURS = {"full": "#9e9e9e", "selected": BEST, "target-true": SECOND}
# FID labels and their names come from the Stage registry (benchmark.stages)
STAGE_ORDER = tuple(_stages.fid_labels())
STAGE_LABELS = {s: ("full (source)" if s == _stages.FULL else "+" + _stages.label_display(s)) for s in STAGE_ORDER}

CSS = f"""
<style>
.lb-wrap {{ overflow-x: auto; margin: 0.25rem 0 0.5rem 0; }}
table.lb {{ border-collapse: collapse; font-size: 0.86rem; line-height: 1.25; width: 100%;
           font-variant-numeric: tabular-nums; }}
table.lb th, table.lb td {{ padding: 0.28rem 0.42rem; border-bottom: 1px solid rgba(128,128,128,0.22);
                            vertical-align: top; }}
table.lb thead th {{ position: sticky; top: 0; background: var(--lb-head, #f4f5f8); text-align: center;
                     font-weight: 600; white-space: nowrap; border-bottom: 2px solid rgba(128,128,128,0.45); }}
table.lb thead th.lead {{ text-align: left; }}
table.lb thead th.group {{ border-left: 2px solid rgba(128,128,128,0.35); }}
table.lb thead .mirror {{ display: block; font-weight: 400; font-size: 0.72rem; opacity: 0.75; }}
table.lb td.num {{ text-align: right; white-space: nowrap; }}
table.lb td.first {{ border-left: 2px solid rgba(128,128,128,0.35); }}
table.lb tr.paper td {{ background: rgba(128,128,128,0.07); }}
table.lb tr.paper td.name {{ color: rgba(49,51,63,0.85); }}
table.lb tr.ours td.name {{ font-weight: 600; }}
table.lb td.name {{ min-width: 13rem; max-width: 19rem; }}
table.lb .sub {{ display: block; font-size: 0.72rem; font-weight: 400; opacity: 0.72; }}
table.lb .std {{ font-size: 0.72rem; opacity: 0.7; }}
table.lb .cmp {{ display: block; font-size: 0.70rem; opacity: 0.7; }}
table.lb .up {{ color: #1a7f37; }}
table.lb .down {{ color: #b35900; }}
table.lb span.v.best {{ color: {BEST}; font-weight: 700; }}
table.lb span.v.second {{ color: {SECOND}; font-weight: 700; }}
table.lb span.v.sup {{ text-decoration: underline; text-underline-offset: 2px; }}
.chip {{ display: inline-block; padding: 0 0.4rem; margin: 0 0.15rem; border-radius: 0.6rem; font-size: 0.68rem;
         font-weight: 600; line-height: 1.35rem; white-space: nowrap; vertical-align: middle; }}
.chip.kind-real {{ background: #e3ecfa; color: #1b4b91; }}
.chip.kind-synthetic {{ background: #efe6f7; color: #5b2a86; }}
.chip.kind-procedural {{ background: #e4f4ea; color: #1f6b3a; }}
.chip.kind-submission {{ background: #fdf0dc; color: #8a5300; }}
.chip.grp {{ background: #424656; color: #fff; min-width: 1.4rem; text-align: center; }}
.chip.warn {{ background: #fff1c2; color: #6b4e00; }}
.lb-legend {{ font-size: 0.8rem; opacity: 0.85; margin-top: 0.2rem; }}
.lb-legend .best {{ color: {BEST}; font-weight: 700; }}
.lb-legend .second {{ color: {SECOND}; font-weight: 700; }}
.lb-legend .sup {{ text-decoration: underline; }}
.lb-legend ul {{ margin: 0.2rem 0 0 1.1rem; padding: 0; }}
</style>
"""


def inject_css() -> None:
    """The app's CSS (st.html puts it in the page, not in an iframe)."""
    st.html(CSS)


def esc(value: Any) -> str:
    """Text safe inside HTML (quotes included, for attributes); invisible characters made visible."""
    return html.escape(printable(value), quote=True)


def md_escape(value: Any) -> str:
    """Text that Streamlit's Markdown shows literally: an inline code span (see benchmark.text_safety).

    Backslash escapes are not enough: GFM autolinks (www.x.org, http://..., a@b.org) are found
    in the text after escapes are resolved; code spans are never linked."""
    return inert_md(value)


def missing(x: Any) -> bool:
    """None, NaN or pandas' NA (False for anything that is not a scalar)."""
    if x is None:
        return True
    try:
        result = pd.isna(x)
    except (TypeError, ValueError):
        return False
    return bool(result) if isinstance(result, (bool, np.bool_)) else False


def fmt(x: Any, digits: int = 1) -> str:
    return "–" if missing(x) else f"{float(x):.{digits}f}"


def human_seconds(s: Any) -> str:
    """12 s / 3.2 min / 1.5 h / 2.1 d."""
    if missing(s):
        return "–"
    s = float(s)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.1f} {unit}"
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


def status_label(status: Any) -> str:
    """Plain words (emoji need fonts a server's browser may lack)."""
    return str(status)
