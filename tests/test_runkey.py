"""Run keys: what changes a result is in the key, rows never mix keys, the grid skips by key."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.profiles import load_profile
from benchmark.runkey import run_key
from benchmark.store import queries
from benchmark.synth import make_twin
from cli.main import app

runner = CliRunner()
FPS = {"sim-finegpr": "aaaa", "sim-market1501": "bbbb", "sim-dukemtmc": "cccc"}


def _key(spec="sim-finegpr+aost", profile="cpu", sets=None, **kw):
    stages = {"sim-finegpr": (), "sim-finegpr+random": ("random",), "sim-finegpr+aost": ("ao", "st")}[spec]
    kw.setdefault("target", "sim-market1501")
    kw.setdefault("fingerprints", FPS)
    return run_key(spec, stages, load_profile(profile, sets), **kw)


def test_the_key_covers_what_changes_a_result_and_only_that():
    base = _key()
    assert _key().key == base.key  # deterministic
    for other in (_key(style="spgan"), _key(budget=500), _key(sets=["epochs=30"]), _key(sample_ids=10),
                  _key(style_bank="ffff"), _key(fingerprints={**FPS, "sim-finegpr": "zzzz"}),
                  _key(sets=["fid_dims=64"]), _key(sets=["ao_method=gatys", "pso_iters=5"])):
        assert other.key != base.key
    assert _key(style="color").key == base.key  # cpu's own style, said or not
    assert _key(budget=2000).key == base.key  # cpu's own budget
    # another target: another key, the same variant (a table row combines one run per target)
    duke = _key(target="sim-dukemtmc")
    assert duke.key != base.key and duke.variant_key == base.variant_key and duke.adapted_to == "sim-dukemtmc"
    # settings a spec does not use cannot split it
    plain = _key("sim-finegpr")
    assert _key("sim-finegpr", style="spgan", budget=5, sets=["pso_iters=3"], target="sim-dukemtmc").key == plain.key
    assert plain.adapted_to is None
    assert _key("sim-finegpr+random", budget=5).key != _key("sim-finegpr+random").key
    # rows ranked together share the training/evaluation/FID settings, whatever the stages
    assert plain.settings_key == base.settings_key == _key(style="spgan").settings_key
    assert _key(sets=["epochs=30"]).settings_key != base.settings_key


def test_the_variant_in_words():
    assert _key(profile="paper").variant == "paper"
    assert _key("sim-finegpr", profile="paper", sets=["epochs=60"]).variant == "paper, lr_steps=40, epochs=60"
    assert _key(style="spgan", budget=500).variant == "cpu, style spgan, budget 500"
    assert _key(sets=["style=dat"]).variant == "cpu, style dat"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("runkey")
    data = root / "data"
    for name in ("sim-finegpr", "sim-market1501"):
        make_twin(name, data, scale="tiny")
    old = os.environ.get("AOSTBENCH_CACHE")
    os.environ["AOSTBENCH_CACHE"] = str(root / "cache")
    yield {"root": root, "data": data, "db": root / "results" / "k.duckdb"}
    if old is None:
        os.environ.pop("AOSTBENCH_CACHE", None)
    else:
        os.environ["AOSTBENCH_CACHE"] = old


def _cli(env, *args):
    res = runner.invoke(app, [*args, "--data-root", str(env["data"]), "--db", str(env["db"])])
    assert res.exit_code == 0, res.output
    return res


def test_set_values_are_the_stored_config(env):
    # the paper's pipeline (resnet50 at 256x128) for one epoch; from scratch, as no ImageNet file is here
    _cli(env, "run", "--train", "sim-finegpr", "--test", "sim-market", "--profile", "paper", "--no-fid",
         "--set", "epochs=1", "--set", "batch_size=8", "--set", "pretrained=false")
    run = queries.runs_df(env["db"]).iloc[0]
    detail = queries.run_detail(run["id"], env["db"])["run"]
    prof = detail["config"]["profile"]
    assert (prof["name"], prof["arch"], prof["height"], prof["epochs"], prof["batch_size"], prof["lr_steps"]) == \
        ("paper", "resnet50", 256, 1, 8, [])
    assert detail["config"]["request"]["profile_overrides"] == {"epochs": "1", "batch_size": "8", "pretrained": "false"}
    assert detail["notes"]["train"]["epochs"] == 1  # what training did, not only what was asked
    assert (detail["arch"], detail["pretrained"], detail["height"]) == ("resnet50", False, 256)
    assert run["variant"] == "paper, pretrained=false, batch_size=8, lr_steps=none, epochs=1"
    assert isinstance(run["run_key"], str)
    saved = json.loads((env["db"].parent / "runs" / run["id"] / "result.json").read_text())
    assert saved["run_key"] == run["run_key"] and saved["config"]["run_key"]["profile"]["epochs"] == 1
    # facts from the point of use: the threads and device training ran with
    assert detail["config"]["torch_threads"] == detail["notes"]["train"]["threads"] >= 1
    assert f"x{detail['notes']['train']['threads']} threads" in detail["device"]


def test_other_settings_are_other_rows_and_never_make_a_cell_done(env):
    # an ad-hoc +AOST run with another style first: the grid's cell (the profile's style) is not done by it
    _cli(env, "run", "--train", "sim-finegpr+aost", "--test", "sim-market", "--profile", "smoke",
         "--budget", "40", "--style", "dat", "--no-fid")
    grid = ["grid", "--table", "3", "--sim", "--only", "finegpr_aost", "--test", "sim-market", "--profile", "smoke",
            "--budget", "40"]
    res = _cli(env, *grid)
    assert "1 ran, 0 skipped" in res.output
    runs = queries.runs_df(env["db"], train_spec="sim-finegpr+aost")
    assert len(runs) == 2 and runs["run_key"].nunique() == 2
    assert set(runs["variant"]) == {"smoke, style dat, budget 40", "smoke, budget 40"}
    rows = queries.table_rows(3, test_sets=["sim-market1501"], db_path=env["db"])
    ours = rows[(rows["source"] == "ours") & (rows["train_set"] == "sim-finegpr+aost")]
    assert sorted(ours["variant"]) == ["smoke, budget 40", "smoke, style dat, budget 40"]
    assert (ours["n_seeds"] == 1).all()  # not averaged together
    for fmt in ("text", "csv", "md", "latex", "json"):  # every export says which is which
        out = runner.invoke(app, ["results", "--table", "3", "--format", fmt, "--db", str(env["db"])]).output
        assert "style dat" in out, fmt
    from leaderboard_app.table_html import table_html
    assert "smoke, style dat, budget 40" in table_html(rows)
    # the style actually used is the stored label
    fid_or_notes = [queries.run_detail(r, env["db"])["run"]["notes"]["style"]["method"] for r in runs["id"]]
    assert sorted(fid_or_notes) == ["color", "dat"]
    res = _cli(env, *grid)  # now the cell's own settings are done
    assert "0 ran, 1 skipped" in res.output


def test_reads_work_on_a_read_only_db_and_never_write(env, tmp_path, monkeypatch):
    from tests.test_leaderboard_app import PAGES, open_page

    src = env["db"]
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "k.duckdb"
    db.write_bytes(src.read_bytes())
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}
    db.chmod(stat.S_IRUSR | stat.S_IRGRP)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        res = runner.invoke(app, ["results", "--table", "3", "--db", str(db)])
        assert res.exit_code == 0 and "sim-FineGPR" in res.output, res.output
        res = runner.invoke(app, ["results", "--table", "2", "--format", "json", "--db", str(db)])
        assert res.exit_code == 0, res.output
        from benchmark.store import app_queries
        assert len(queries.summary(db)) and len(app_queries.runs_overview(db))
        assert len(app_queries.filter_options(db)["profiles"]) and len(app_queries.fid_summary(db)) >= 0
        assert len(queries.table_rows(3, db_path=db)) and len(queries.fid_df(db)) >= 0
        monkeypatch.setenv("AOSTBENCH_DB", str(db))
        monkeypatch.setenv("AOSTBENCH_RUNS", str(src.parent / "runs"))
        for page in PAGES:  # every page of the app renders from it
            at = open_page(page)
            assert not at.exception and not at.error, (page, [e.value for e in at.error])
    finally:
        folder.chmod(stat.S_IRWXU)
        db.chmod(stat.S_IRUSR | stat.S_IWUSR)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}
    assert after == before  # root ignores the mode bits: the file itself shows nothing was written


def test_the_store_read_path_imports_no_writer():
    """queries/app_queries never import writes (no cycle, nothing on the read path can write)."""
    import ast

    store = Path(__file__).resolve().parent.parent / "benchmark" / "store"
    for name in ("queries.py", "app_queries.py", "aggregate.py", "tables.py"):
        tree = ast.parse((store / name).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {"writes", "rebuild"} & {(m or "").rsplit(".", 1)[-1] for m in imported}, name
        assert "migrate(" not in (store / name).read_text(), name


def test_older_runs_get_the_same_key_from_their_stored_settings(env, tmp_path):
    """Migration 4 (a DB from before run keys) and `db rebuild` (result.json files from before) compute
    the key a new run of the same settings gets, or mark the run."""
    import shutil

    import duckdb

    db = tmp_path / "old.duckdb"
    shutil.copy(env["db"], db)
    want = dict(zip(*[queries.runs_df(db)[c] for c in ("id", "run_key")]))
    assert want and all(isinstance(k, str) for k in want.values())
    con = duckdb.connect(str(db))
    for col in ("run_key", "variant_key", "variant", "run_key_note", "settings_key", "adapted_to"):
        con.execute(f"ALTER TABLE runs DROP COLUMN {col}")
    con.execute("DELETE FROM schema_version WHERE version >= 4")
    con.close()
    from benchmark.store import migrate
    migrate(db)
    assert dict(zip(*[queries.runs_df(db)[c] for c in ("id", "run_key")])) == want
    # the same from result.json files written before run keys
    runs = tmp_path / "runs"
    shutil.copytree(env["db"].parent / "runs", runs)
    for p in runs.glob("*/result.json"):
        d = json.loads(p.read_text())
        for k in ("run_key", "variant_key", "variant", "settings_key", "adapted_to", "run_key_note"):
            d.pop(k, None)
        d["config"].pop("run_key", None)
        p.write_text(json.dumps(d))
    res = runner.invoke(app, ["db", "rebuild", "--runs", str(runs), "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert dict(zip(*[queries.runs_df(db)[c] for c in ("id", "run_key")])) == want


def test_a_row_combines_one_run_per_target_and_a_cross_target_score_is_its_own_row(tmp_path):
    from benchmark.store import Metrics, RunResult, Store
    from benchmark.store.writes import set_key

    store = Store(tmp_path / "x.duckdb", tmp_path / "runs")
    prof = load_profile("smoke")

    def add(target, tests, r1):
        run = RunResult.new("sim-finegpr+aost", prof, 0, tests)
        set_key(run, _key(profile="smoke", target=target))
        for i, t in enumerate(tests):
            run.metrics[t] = Metrics(r1=r1 + i, r5=50.0, map=20.0)
        store.start_run(run)
        store.finish_run(run)

    add("sim-market1501", ["sim-market1501", "sim-dukemtmc"], 30.0)  # adapted to Market, also tested on Duke
    add("sim-dukemtmc", ["sim-dukemtmc"], 40.0)
    rows = queries.table_rows(2, test_sets=["sim-market1501", "sim-dukemtmc"], db_path=store.path)
    ours = rows[rows["source"] == "ours"].set_index("variant")
    assert set(ours.index) == {"smoke", "smoke, adapted to sim-market1501"}
    assert ours.loc["smoke", "sim-market1501.r1"] == 30.0 and ours.loc["smoke", "sim-dukemtmc.r1"] == 40.0
    cross = ours.loc["smoke, adapted to sim-market1501"]
    assert cross["sim-dukemtmc.r1"] == 31.0 and pd.isna(cross["sim-market1501.r1"])


def test_the_app_says_how_to_migrate_an_older_db_and_leaves_it_alone(tmp_path, monkeypatch):
    import duckdb

    from benchmark.store.schema import apply_migrations
    from tests.test_leaderboard_app import open_page

    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    apply_migrations(con, target=3)
    con.close()
    before = db.read_bytes()
    monkeypatch.setenv("AOSTBENCH_DB", str(db))
    at = open_page("pages/leaderboard.py")
    assert any("aostbench db migrate" in w.value for w in at.warning)
    assert db.read_bytes() == before
