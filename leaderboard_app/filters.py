"""The filters Tables 2 and 3 share: profile, data kind, test sets, metrics, the paper's rows."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from benchmark.store.naming import display_name

from .table_html import METRIC_LABELS

KINDS = ("real", "synthetic", "procedural", "submission")
DEFAULT_METRICS = ("r1", "r5", "map")


@dataclass
class TableFilters:
    profiles: list[str]  # empty = every profile
    kinds: list[str]  # empty = every kind
    tests: list[str]  # empty = every test set our runs have
    metrics: list[str]
    include_paper: bool


def table_filters(key: str, options: dict[str, list[str]]) -> TableFilters:
    """One row of filter widgets; `options` comes from app_queries.filter_options."""
    c1, c2, c3, c4, c5 = st.columns([1.1, 1.4, 2.2, 1.8, 1.1], vertical_alignment="bottom")
    profiles = c1.multiselect("Profile", options["profiles"], default=[], key=f"{key}-profile",
                              placeholder="all", help="Only our runs of these profiles (paper / cpu / smoke).")
    kinds = c2.multiselect("Data kind", [k for k in KINDS if k in options["kinds"]] or list(KINDS), default=[],
                           key=f"{key}-kind", placeholder="all",
                           help="real datasets, synthetic ones, procedural twins (sim-*), submissions.")
    tests = c3.multiselect("Test sets", options["test_sets"], default=[], key=f"{key}-tests", placeholder="all",
                           format_func=display_name, help="Column groups; default: every test set our runs used.")
    metrics = c4.multiselect("Metrics", list(METRIC_LABELS), default=list(DEFAULT_METRICS), key=f"{key}-metrics",
                             format_func=METRIC_LABELS.get, help="R10 and mINP on demand.")
    include_paper = c5.toggle("Paper's rows", value=True, key=f"{key}-paper",
                              help="The paper's reference rows, each followed by ours that mirror it.")
    return TableFilters(list(profiles), list(kinds), list(tests),
                        [m for m in METRIC_LABELS if m in metrics] or list(DEFAULT_METRICS), bool(include_paper))
