"""Every leaderboard page against a DB written by real smoke-profile pipeline runs (not the fixture builder)."""
from __future__ import annotations

import pytest

from benchmark.pipeline import RunRequest, run
from benchmark.store import Store, queries
from benchmark.synth import make_twin
from tests.test_leaderboard_app import PAGES, _texts, open_page, table_of


@pytest.fixture(scope="module")
def real_db(tmp_path_factory):
    root = tmp_path_factory.mktemp("lb_real")
    data = root / "data"
    for name in ("sim-finegpr", "sim-market1501"):
        make_twin(name, data, scale="tiny")
    db = root / "results" / "aostbench.duckdb"
    mp = pytest.MonkeyPatch()
    mp.setenv("AOSTBENCH_CACHE", str(root / "cache"))
    store = Store(db)
    ids = {}
    for spec in ("sim-finegpr", "sim-finegpr+random", "sim-finegpr+aost"):
        res = run(RunRequest(train=spec, tests=["sim-market1501"], profile="smoke", budget=30,
                             data_root=str(data), db=str(db), progress=False), store=store, log=lambda m: None)
        ids[spec] = res.id
    yield db, ids
    mp.undo()


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_real_runs(real_db, monkeypatch, page):
    db, ids = real_db
    monkeypatch.setenv("AOSTBENCH_DB", str(db))
    monkeypatch.delenv("AOSTBENCH_RUNS", raising=False)
    at = open_page(page, **({"run": ids["sim-finegpr+aost"]} if page == "pages/attributes.py" else {}))
    assert [t.value for t in at.title] == [PAGES[page]]
    assert not at.error, [e.value for e in at.error]


def test_ablation_table_holds_the_stored_rank1(real_db, monkeypatch):
    db, ids = real_db
    monkeypatch.setenv("AOSTBENCH_DB", str(db))
    at = open_page("pages/ablation.py")
    _, cells = table_of(at)
    m = queries.metrics_df(db, test_sets=["sim-market1501"])
    shown = " ".join(c["text"] for c in cells.cells)
    for spec in ids:
        r1 = float(m[m["train_spec"] == spec]["r1"].iloc[0])
        assert f"{r1:.1f}" in shown, (spec, r1)
    assert "sim-FineGPR+AOST" in _texts(at) or "sim-FineGPR+AOST" in str(at.get("html")[0].proto.body)
