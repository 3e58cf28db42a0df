"""The leaderboard app through streamlit.testing.v1.AppTest, against a DB written by the real Store API.

Colours and marks are checked against the stored numbers (metrics_df, reference_df), not against the
aggregation that produced the table; the downloads against the store's own renderers.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from benchmark import attributes as vocab
from benchmark.store import migrate, queries, tables
from benchmark.store.aggregate import PAPER_SETTINGS, rank_group_of
from benchmark.store.naming import is_supervised, table2_member
from leaderboard_app import data as app_data
from leaderboard_app.exports import frame_latex
from leaderboard_app.table_html import table_html
from tests.leaderboard_fixtures import HOSTILE_SUBMISSION, TOY_SUBMISSION, seed_demo_db
from tests.test_hardening_text import markdown_is_inert

APP = str(Path(__file__).resolve().parent.parent / "leaderboard_app" / "app.py")
PAGES = {
    "pages/leaderboard.py": "Leaderboard · Table 2", "pages/ablation.py": "Ablation · Table 3",
    "pages/fid.py": "FID · Figs. 8 and 9", "pages/attributes.py": "Attributes", "pages/runs.py": "Runs",
    "pages/submissions.py": "Submissions", "pages/downloads.py": "Downloads",
}
HOW_TO = "aostbench run --train sim-finegpr+aost --test sim-market --profile smoke"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb")
    return seed_demo_db(root / "results" / "aostbench.duckdb", root / "results" / "runs")


@pytest.fixture()
def use_db(monkeypatch):
    """Point the app at a DB (and its runs folder) for this test."""
    def point(db: Path, runs: Path | None = None, timeout: float | None = None) -> None:
        monkeypatch.setenv("AOSTBENCH_DB", str(db))
        if runs is not None:
            monkeypatch.setenv("AOSTBENCH_RUNS", str(runs))
        else:
            monkeypatch.delenv("AOSTBENCH_RUNS", raising=False)
        if timeout is not None:
            monkeypatch.setenv("AOSTBENCH_APP_DB_TIMEOUT", str(timeout))
    return point


def rerun(widget) -> AppTest:
    """Run the page again after a widget change; any exception fails the test."""
    at = widget.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _json_value(element):
    value = element.value
    return json.loads(value) if isinstance(value, str) else value


def _texts(at: AppTest) -> str:
    """Every text the page shows (markdown, captions, infos, code, html), for 'is it there' checks."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "code", "text", "title", "subheader", "html"):
        parts += [str(getattr(e, "value", "") or getattr(e.proto, "body", "")) for e in at.get(kind)]
    return "\n".join(parts)


class Cells(HTMLParser):
    """The metric cells (td with data-test) of a leaderboard table: attributes, span classes, text."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []
        self.rows: list[dict] = []
        self._cell: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-row" in a:
            self.rows.append({"row": a["data-row"], "class": a.get("class", "")})
        if tag == "td" and "data-test" in a:
            self._cell = {**a, "span": "", "text": ""}
            self.cells.append(self._cell)
        elif tag == "span" and self._cell is not None and "v" in a.get("class", "").split():
            self._cell["span"] = a["class"]

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None

    def handle_data(self, text):
        if self._cell is not None:
            self._cell["text"] += text


def table_of(at: AppTest) -> tuple[str, Cells]:
    bodies = [e.proto.body for e in at.get("html") if "class='lb'" in e.proto.body]
    assert len(bodies) == 1, "expected one leaderboard table on the page"
    parser = Cells()
    parser.feed(bodies[0])
    return bodies[0], parser


# -- every page ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_from_the_seeded_db(demo, use_db, page):
    use_db(demo.db_path)
    at = open_page(page)
    assert [t.value for t in at.title] == [PAGES[page]]
    assert not at.error, [e.value for e in at.error]
    assert HOW_TO not in _texts(at)  # a DB with runs is not "empty"


@pytest.mark.parametrize("page", list(PAGES))
def test_a_missing_db_explains_how_to_produce_results(tmp_path, use_db, page):
    use_db(tmp_path / "nothing" / "aostbench.duckdb")
    at = open_page(page)
    text = _texts(at)
    assert not at.error
    assert "make demo" in text and HOW_TO in text
    assert not (tmp_path / "nothing").exists()  # the app never creates the DB
    if page in ("pages/leaderboard.py", "pages/ablation.py"):
        body, cells = table_of(at)  # the paper's own table, with its colours
        assert "FineGPR+AOST" in body and all(c["data-source"] == "paper" for c in cells.cells)


def test_a_db_without_runs_is_shown_as_empty_not_as_an_error(tmp_path, use_db):
    db = tmp_path / "fresh.duckdb"
    migrate(db)  # schema and the paper's rows, no run
    use_db(db)
    for page in ("pages/leaderboard.py", "pages/fid.py", "pages/runs.py"):
        at = open_page(page)
        assert HOW_TO in _texts(at) and not at.error


# -- Table 2 ------------------------------------------------------------------------------------------
def _our_means(db: Path) -> pd.DataFrame:
    """Mean over seeds per (spec, profile, settings, test set) straight from the stored metrics (latest run
    per seed, as a re-run replaces a seed)."""
    m = queries.metrics_df(db)
    m = m.sort_values(["started_at", "id"]).drop_duplicates(["train_spec", "variant_key", "seed", "test_set"],
                                                            keep="last")
    return m.groupby(["train_spec", "profile", "settings", "settings_key", "variant_key", "test_set"], as_index=False)[
        ["r1", "r5", "r10", "map", "minp"]].mean()


def test_table2_red_and_blue_are_the_best_and_second_of_each_column_and_group(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/leaderboard.py")
    _, parsed = table_of(at)
    cells = [c for c in parsed.cells if c["data-value"]]
    assert cells
    checked = 0
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        groups.setdefault((c["data-test"], c["data-metric"], c["data-group"]), []).append(c)
    for key, members in groups.items():
        ranked = [c for c in members if c["data-supervised"] == "0"]
        for c in members:
            if c["data-supervised"] == "1":
                assert "sup" in c["span"].split() and "best" not in c["span"] and "second" not in c["span"], c
        if len(ranked) < 2:
            assert not any("best" in c["span"] or "second" in c["span"] for c in ranked), key
            continue
        values = sorted({round(float(c["data-value"]), 9) for c in ranked}, reverse=True)
        best = [c for c in ranked if "best" in c["span"].split()]
        second = [c for c in ranked if "second" in c["span"].split()]
        assert best and {round(float(c["data-value"]), 9) for c in best} == {values[0]}, key
        assert all(float(c["text"].split("±")[0].split("paper")[0]) == pytest.approx(values[0], abs=0.05)
                   for c in best)
        if len(best) == 1 and len(values) > 1:
            assert {round(float(c["data-value"]), 9) for c in second} == {values[1]}, key
        checked += 1
    assert checked >= 6

    # independently of the table's aggregation: our best smoke row on sim-market1501 R1
    means = _our_means(demo.db_path)
    ranked = pd.Series([table2_member(s) and not is_supervised(s, t)
                        for s, t in zip(means["train_spec"], means["test_set"])], index=means.index)
    smoke = means[(means["profile"] == "smoke") & (means["test_set"] == "sim-market1501") & ranked]
    top = smoke.sort_values("r1", ascending=False).iloc[0]
    red = [c for c in cells if c["data-test"] == "sim-market1501" and c["data-metric"] == "r1"
           and "best" in c["span"] and c["data-source"] == "ours"
           and c["data-group"] == rank_group_of(top["settings"], "smoke", top["settings_key"])]
    assert [c["data-row"].split("|")[0] for c in red] == [f"ours:{top['train_spec']}"]
    assert float(red[0]["data-value"]) == pytest.approx(top["r1"])
    # and among the paper's rows in a twin's column: the best real number of the paper's Table 2
    ref = queries.reference_df(2, demo.db_path)
    ref = ref[(ref["test_set"] == "market1501") & ~ref["supervised"]]
    paper_red = [c for c in cells if c["data-test"] == "sim-market1501" and c["data-metric"] == "r1"
                 and "best" in c["span"] and c["data-source"] == "paper"]
    assert [c["data-row"] for c in paper_red] == [f"paper:{ref.sort_values('rank1').iloc[-1]['train_set']}"]


def test_table2_rows_show_seeds_the_paper_difference_and_procedural_labels(demo, use_db):
    use_db(demo.db_path)
    body, parsed = table_of(open_page("pages/leaderboard.py"))
    means = _our_means(demo.db_path)
    aost = means[(means["train_spec"] == "sim-finegpr+aost") & (means["profile"] == "smoke")
                 & (means["test_set"] == "sim-market1501")].iloc[0]
    cell = next(c for c in parsed.cells if c["data-row"].startswith("ours:sim-finegpr+aost|smoke")
                and c["data-test"] == "sim-market1501" and c["data-metric"] == "r1")
    paper = queries.reference_df(2, demo.db_path)
    paper_r1 = paper[(paper["train_set"] == "finegpr+aost") & (paper["test_set"] == "market1501")]["rank1"].iloc[0]
    assert f"{aost['r1']:.1f}" in cell["text"] and "±" in cell["text"]  # two seeds: mean ± std
    assert f"paper {paper_r1:.1f}" in cell["text"] and f"Δ{aost['r1'] - paper_r1:+.1f}" in cell["text"]
    assert "sim-FineGPR+AOST (procedural)" in body and "procedural mirror of FineGPR+AOST" in body
    seeds = re.search(r"data-row='ours:sim-finegpr\|smoke[^']*'>.*?<td class='num' title='seeds ([0-9,]+)'>(\d+)</td>",
                      body)
    assert seeds and seeds.group(1) == "0,1" and seeds.group(2) == "2"
    # the supervised twin (trained and tested on sim-market1501) is underlined, never coloured
    sup = [c for c in parsed.cells if c["data-row"].startswith("ours:sim-market1501|")
           and c["data-test"] == "sim-market1501"]
    assert sup and all("sup" in c["span"] and "best" not in c["span"] for c in sup if c["data-value"])


def test_rows_of_other_settings_carry_a_visible_group_mark(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/leaderboard.py")
    body, parsed = table_of(at)
    marks = dict(re.findall(r"data-row='(ours:sim-finegpr\+aost\|\w+)[^']*'>.*?data-group='[^']*'>(\w)</span>", body))
    assert marks["ours:sim-finegpr+aost|smoke"] != marks["ours:sim-finegpr+aost|cpu"]
    legend = next(e.proto.body for e in at.get("html") if "lb-legend" in e.proto.body)
    assert "settings differ" in legend and PAPER_SETTINGS in legend
    # no cell is ranked against a cell of another group: each group's red is its own maximum (checked above),
    # and the cpu row, alone in its group, is never coloured
    cpu = [c for c in parsed.cells if c["data-row"].startswith("ours:sim-finegpr+aost|cpu")]
    assert cpu and not any("best" in c["span"] or "second" in c["span"] for c in cpu)


def test_table2_filters_profile_kind_tests_metrics_and_paper_rows(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/leaderboard.py")
    rerun(at.multiselect(key="t2-profile").set_value(["cpu"]))
    _, parsed = table_of(at)
    ours = {r["row"] for r in parsed.rows if r["class"] == "ours"}
    assert ours and all("|cpu|" in r for r in ours)

    rerun(at.multiselect(key="t2-profile").set_value([]))
    rerun(at.multiselect(key="t2-kind").set_value(["submission"]))
    _, parsed = table_of(at)
    assert {r["row"].split("|")[0] for r in parsed.rows if r["class"] == "ours"} == {f"ours:submission:{TOY_SUBMISSION}"}

    rerun(at.multiselect(key="t2-kind").set_value([]))
    rerun(at.multiselect(key="t2-tests").set_value(["sim-dukemtmc"]))
    rerun(at.multiselect(key="t2-metrics").set_value(["r1", "r10", "minp"]))
    body, parsed = table_of(at)
    assert {c["data-test"] for c in parsed.cells} == {"sim-dukemtmc"}
    assert {c["data-metric"] for c in parsed.cells} == {"r1", "r10", "minp"}
    assert ">R10<" in body and ">mINP<" in body and ">R5<" not in body

    rerun(at.toggle(key="t2-paper").set_value(False))
    _, parsed = table_of(at)
    assert parsed.rows and all(r["class"] == "ours" for r in parsed.rows)


def test_names_in_the_table_are_escaped():
    df = queries.paper_table(2)
    df.loc[0, "label"] = "<img src=x onerror=alert(1)>"
    df.loc[0, "note"] = "<script>alert(2)</script>"
    out = table_html(df)
    assert "<img" not in out and "<script" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out and "&lt;script&gt;" in out


# -- Table 3 ------------------------------------------------------------------------------------------
def test_ablation_shows_images_measured_and_paper_cost(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/ablation.py")
    body, parsed = table_of(at)
    for label in ("FineGPR", "FineGPR+Random", "FineGPR+AO", "FineGPR+AOST"):
        assert f">{label} <span class='chip" in body
    assert "2,028,600" in body and "20 d" in body and "paper 124,200" in body and "paper 1.3 d" in body
    rows = queries.table_rows(3, db_path=demo.db_path)
    ours = rows[rows["source"] == "ours"]
    assert {r["row"] for r in parsed.rows if r["class"] == "ours"} == set(ours["row_id"])
    for wall in ours["wall_seconds"]:
        assert f"data-wall-seconds='{wall}'" in body
    assert at.get("vega_lite_chart"), "the stage-cost chart"


# -- FID ----------------------------------------------------------------------------------------------
def test_fid_views_by_stage_and_style_mark_fallback_weights(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/fid.py")
    assert len(at.get("vega_lite_chart")) == 2  # Fig. 8 and Fig. 9
    assert any("fallback FID" in w.value for w in at.warning)
    by_stage, by_style = (f.value for f in at.dataframe)
    raw = queries.fid_df(demo.db_path)
    # one official-weights group, marked as such; the rest marked fallback
    assert set(by_stage["weights"]) == {"official", "random † fallback"}
    official = raw[(raw["weights"] == "official") & (raw["stage"] == "ao")]["value"]
    shown = by_stage[(by_stage["weights"] == "official") & (by_stage["stage"] == "ao")]["FID"]
    assert list(shown) == [round(float(official.mean()), 2)]
    # Fig. 9: the style methods the runs recorded
    styled = raw[raw["style_method"] != ""]
    assert set(by_style["style_method"]) == set(styled["style_method"]) == {"color", "spgan", "cyclegan"}
    assert by_stage["stage"].tolist()[:4] == ["full", "random", "ao", "aost"]  # the paper's stage order


# -- attributes ---------------------------------------------------------------------------------------
def test_attributes_show_v_star_beside_full_and_the_true_prior_with_images(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/attributes.py", run=demo.sheet_run)
    assert at.selectbox(key="attr-run").value == demo.sheet_run
    charts = at.get("vega_lite_chart")
    assert len(charts) == len(vocab.ALL_ATTRIBUTES)
    specs = [c.proto.spec for c in charts]
    for a in vocab.ALL_ATTRIBUTES:  # value names from benchmark.attributes, in code order
        spec = next(s for s in specs if f'"text": "{a.name.replace("_", " ")}"' in s)
        assert json.dumps(list(a.values))[1:-1] in spec
        assert all(src in spec for src in ("full (source data)", "selected (V*)", "target-true (twin prior)"))
    fit = queries.surrogate_df(demo.sheet_run, demo.db_path).iloc[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Surrogate R² (cross-validated)"] == f"{fit['r2_cv']:.3f}"
    images = at.get("image")
    captions = " ".join(str(i.proto) for i in images)
    assert "ao/sheet.png" in captions and "st/sheet.png" in captions


# -- runs ---------------------------------------------------------------------------------------------
def test_runs_are_searchable_with_status_provenance_and_logs(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/runs.py")
    table = at.dataframe[0].value
    assert len(table) == sum(len(v) for v in demo.runs.values()) + len(demo.failed)
    assert "failed" in set(table["status"])
    rerun(at.text_input(key="runs-search").set_value("sim-market1501"))
    assert set(at.dataframe[0].value["train spec"]) == {"sim-market1501"}
    rerun(at.text_input(key="runs-search").set_value(""))
    rerun(at.multiselect(key="runs-status").set_value(["failed"]))
    assert list(at.dataframe[0].value["id"]) == demo.failed
    assert at.error and any("out of memory" in c.value for c in at.code)  # the error, as plain text
    rerun(at.multiselect(key="runs-status").set_value([]))
    rerun(at.selectbox(key="runs-detail").set_value(demo.sheet_run))
    logs = [c.value for c in at.code]
    assert any(f"run {demo.sheet_run} completed" in c for c in logs)
    provenance = [_json_value(j) for j in at.json]
    assert any(isinstance(v, dict) and v.get("code_version") == "0123456789abcdef" for v in provenance)


# -- submissions --------------------------------------------------------------------------------------
def test_submissions_show_status_and_report_with_names_escaped(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/submissions.py")
    overview = at.dataframe[0].value
    assert set(overview["name"]) == {TOY_SUBMISSION, HOSTILE_SUBMISSION}
    assert dict(zip(overview["name"], overview["status"])) == {TOY_SUBMISSION: "accepted",
                                                                HOSTILE_SUBMISSION: "rejected"}
    labels = [e.label for e in at.expander]
    hostile = next(label for label in labels if "script" in label)
    assert HOSTILE_SUBMISSION in hostile and markdown_is_inert(hostile)  # inside a code span: literal
    assert f"name: {HOSTILE_SUBMISSION}" in [t.value for t in at.text]  # shown as typed, as plain text
    assert not [m.value for m in at.markdown if "onerror" in m.value]  # reasons never go through Markdown
    assert any("<img src=x onerror=alert(1)> is not a person crop" in t.value for t in at.text)
    reports = [_json_value(j) for j in at.json]
    assert {"images": 3, "errors": ["<b>bad</b> file name"]} in reports


# -- downloads ----------------------------------------------------------------------------------------
def _served(button, text: str, mime: str, file_name: str) -> bool:
    """True when the button serves exactly `text` (Streamlit names a media file by its content hash)."""
    file_id = _calculate_file_id(text.encode("utf-8"), mime, file_name)
    return button.proto.url.endswith(f"/{file_id}.{file_name.rsplit('.', 1)[1]}")


def test_downloads_serve_the_store_renderers_output(demo, use_db):
    use_db(demo.db_path)
    at = open_page("pages/downloads.py")
    buttons = {b.key: b for b in at.get("download_button")}
    for stem in ("table2", "table3", "fid-by-stage", "fid-by-style", "stage-costs", "runs", "submissions"):
        assert f"dl-{stem}-csv" in buttons and f"dl-{stem}-latex" in buttons
    t2 = queries.table_rows(2, db_path=demo.db_path)
    assert _served(buttons["dl-table2-csv"], tables.to_csv(t2), "text/csv", "table2.csv")
    assert _served(buttons["dl-table2-latex"], tables.to_latex(t2), "application/x-tex", "table2.tex")
    t3 = queries.table_rows(3, db_path=demo.db_path)
    assert _served(buttons["dl-table3-json"], tables.to_json(t3), "application/json", "table3.json")
    # the CSV carries every row of the table
    back = pd.read_csv(pd.io.common.StringIO(tables.to_csv(t2)))
    assert set(back["row_id"]) == set(t2["row_id"])
    assert not _served(buttons["dl-table2-csv"], tables.to_csv(t3), "text/csv", "table2.csv")  # the check can fail


def test_frame_latex_escapes_and_keeps_every_row():
    df = pd.DataFrame({"name": ["a_b & c", "50% <x>"], "value": [1.234, float("nan")]})
    tex = frame_latex(df, "Costs & more", "tab:x")
    assert r"a\_b \& c" in tex and r"50\% <x>" in tex and "1.23" in tex and "--" in tex
    assert tex.count("\\\\") == 3 and "\\begin{tabular}{lr}" in tex


# -- a busy DB ----------------------------------------------------------------------------------------
def _hold_write_lock(db: str, holding, release) -> None:
    con = duckdb.connect(db)  # read-write: readers of other processes are locked out
    holding.set()
    release.wait(60)
    con.close()


def test_a_db_locked_by_a_writer_shows_busy_then_recovers(demo, use_db):
    use_db(demo.db_path, timeout=1.0)
    app_data._cached.clear()  # no cached answer: the page must read the locked file
    ctx = mp.get_context("spawn")
    holding, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_write_lock, args=(str(demo.db_path), holding, release))
    proc.start()
    try:
        assert holding.wait(60)
        at = open_page("pages/runs.py")
        assert any("busy" in w.value for w in at.warning)
        assert at.button(key="retry-busy")
    finally:
        release.set()
        proc.join(30)
    app_data._cached.clear()
    rerun(at.button(key="retry-busy").click())
    assert not at.warning and len(at.dataframe[0].value) > 0
