"""Reading the results DB for the pages: which file, short cached reads, and the empty / busy states.

Every read goes through `fetch(NAME, ...)`, which calls a query from
benchmark.store (queries.py or app_queries.py) on a fresh read-only connection.
The store retries while a writer holds the file; results are cached per file
state (size and modification time of the DB and its WAL), so a page reflects a
finished write at the next rerun and costs nothing otherwise.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import streamlit as st

from benchmark import paths
from benchmark.text_safety import inert_tree, printable
from benchmark.store import StoreBusy, StoreEmpty, StoreOutdated, app_queries, queries
from benchmark.store.writes import default_runs_dir

from .style import md_escape

# the app waits less than the CLI before saying "busy": a page should answer, then offer a retry
APP_TIMEOUT = 20.0
HOW_TO = (
    ("the demo (every table, on procedural data)", "make demo"),
    ("one small run", "aostbench run --train sim-finegpr+aost --test sim-market --profile smoke"),
)

QUERIES: dict[str, Callable[..., Any]] = {
    "summary": queries.summary,
    "table_rows": queries.table_rows,
    "paper_table": queries.paper_table,
    "metrics_df": queries.metrics_df,
    "run_detail": queries.run_detail,
    "attribute_dist_df": queries.attribute_dist_df,
    "surrogate_df": queries.surrogate_df,
    "costs_df": queries.costs_df,
    "submissions_df": queries.submissions_df,
    "fid_df": queries.fid_df,
    "filter_options": app_queries.filter_options,
    "fid_summary": app_queries.fid_summary,
    "stage_costs": app_queries.stage_costs,
    "attribute_runs": app_queries.attribute_runs,
    "attribute_recovery": app_queries.attribute_recovery,
    "runs_overview": app_queries.runs_overview,
}
# queries that take no db_path (the paper's rows alone)
_NO_DB = {"paper_table"}


def _script_arg(name: str) -> str | None:
    """`streamlit run app.py -- --db PATH` puts the script's own arguments in sys.argv."""
    argv = sys.argv
    if not argv or Path(argv[0]).name != "app.py":
        return None
    for i, a in enumerate(argv[1:], start=1):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def db_path() -> Path:
    """The DB file: `--db` after `--` on the streamlit command line, else AOSTBENCH_DB, else the default."""
    return paths.db_path(_script_arg("--db")).resolve()


def runs_dir() -> Path:
    """Run artefacts (logs, stage images): `--runs`, else AOSTBENCH_RUNS, else runs/ next to the DB."""
    arg = _script_arg("--runs")
    return Path(arg).expanduser() if arg else default_runs_dir(db_path())


def timeout() -> float:
    env = os.environ.get("AOSTBENCH_APP_DB_TIMEOUT")
    try:
        return float(env) if env else APP_TIMEOUT
    except ValueError:
        return APP_TIMEOUT


def file_state(path: Path) -> tuple:
    """What changes when someone writes: size and mtime of the DB file and its write-ahead log."""
    out: list[Any] = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            s = p.stat()
            out += [s.st_size, s.st_mtime_ns]
        except OSError:
            out += [None, None]
    return tuple(out)


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(name: str, path: str, state: tuple, args: tuple, kwargs: tuple, wait: float) -> Any:
    fn = QUERIES[name]
    kw = dict(kwargs)
    if name not in _NO_DB:
        kw.update(db_path=path, timeout=wait)
    return inert_result(fn(*args, **kw))


def inert_result(value: Any) -> Any:
    """Every string a query returns made printable (benchmark.text_safety): a lone surrogate or an
    escape sequence from a stranger's file name must not break the page (Streamlit encodes UTF-8)."""
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        out = value.copy()
        for col in out.columns:
            if out[col].dtype == object:
                out[col] = out[col].map(_inert_cell)
        out.columns = [inert_tree(c) if isinstance(c, str) else c for c in out.columns]
        out.attrs = inert_tree(dict(value.attrs))
        return out
    return inert_tree(value)


def _inert_cell(v: Any) -> Any:
    return inert_tree(v) if isinstance(v, (str, dict, list, tuple)) else v


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return tuple(_freeze(v) for v in value)
    return value


def fetch(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call a store query by name against the app's DB (cached until the file changes).

    Raises StoreEmpty without a DB and StoreBusy when a writer kept it locked too long."""
    path = db_path()
    frozen = tuple(sorted((k, _freeze(v)) for k, v in kwargs.items()))
    return _cached(name, str(path), file_state(path), tuple(_freeze(a) for a in args), frozen, timeout())


def show_empty_state(error: StoreEmpty | None = None) -> None:
    """No results yet: say where the app looked and how to produce results."""
    where = error.path if error is not None else db_path()
    st.info(f"No results yet: there is no results database at {md_escape(where)} (or it holds no runs). "
            "Produce some with one of these commands, then reload this page.", icon=":material/inbox:")
    for what, cmd in HOW_TO:
        st.caption(what)
        st.code(cmd, language="bash")
    st.caption("Point the app at another file with `aostbench leaderboard --db PATH` or AOSTBENCH\\_DB.")


def show_busy(error: StoreBusy) -> None:
    """A writer held the DB longer than the app waits: say so and offer a retry."""
    st.warning(f"The results database is busy: another `aostbench` process kept it locked for "
               f"{error.waited:.0f} s (DuckDB allows one writer at a time). The page will show the results "
               "as soon as the writer lets go.", icon=":material/hourglass_top:")
    st.button("Retry now", key="retry-busy")


def guarded(render: Callable[[], None]) -> None:
    """Run a page; a missing/empty DB or a busy one becomes a message, never a traceback."""
    try:
        render()
    except StoreEmpty as e:
        show_empty_state(e)
    except StoreBusy as e:
        show_busy(e)
    except StoreOutdated as e:  # the app never migrates: it says how
        st.warning(md_escape(str(e)), icon=":material/update:")
    except Exception as e:  # noqa: BLE001 - a damaged DB file: say what to do, not a traceback
        if not type(e).__module__.lstrip("_").startswith("duckdb"):
            raise
        st.error("The results database cannot be read as it is. `aostbench db check` says what is wrong; "
                 "`aostbench db rebuild` recreates it from the run and submission files (the old file is kept).",
                 icon=":material/error:")
        st.code(printable(str(e).splitlines()[0] if str(e) else type(e).__name__), language=None, wrap_lines=True)


def has_runs() -> bool:
    """True when the DB exists and holds at least one run (any status)."""
    counts = fetch("summary")["runs"]
    return sum(counts.values()) > 0
