"""`aostbench grid`: cells from the recipes, completed cells skipped, an interrupted grid resumed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from baselines import load_recipes, recipes_for_table
from benchmark.datasets import load_dataset
from benchmark.grid import plan_cells
from benchmark.store import queries
from benchmark.synth import make_twin
from cli.main import app

REPO = Path(__file__).resolve().parent.parent


def test_every_recipe_names_a_paper_row_and_a_twin_its_loader_reads(tmp_path):
    ref = queries.reference_df()
    rows = set(ref["train_set"])
    for r in load_recipes():
        assert r.paper_row in rows, r.key
        base = r.sim_train.split("+")[0]
        make_twin(base, tmp_path, scale="tiny") if not (tmp_path / base).exists() else None
        assert load_dataset(base, tmp_path).train, f"{r.key}: the loader read no train images of {base}"


def test_cells_follow_the_tables():
    t3 = plan_cells(3, sim=True, profile="smoke")
    assert [c.spec for c in t3] == ["sim-finegpr", "sim-finegpr+random", "sim-finegpr+ao", "sim-finegpr+aost"]
    t2 = plan_cells(2, sim=True, profile="smoke", seeds=2)
    aost = [c for c in t2 if c.spec == "sim-finegpr+aost"]
    assert len(aost) == 3 * 2  # one cell per target and seed: AO adapts to one target
    real = plan_cells(3, sim=False, profile="paper")
    assert {c.budget for c in real if c.spec != "finegpr"} == {124_200}
    unreal = plan_cells(2, sim=False, profile="paper", recipes=[r for r in recipes_for_table(2) if r.key == "unreal"])
    assert (unreal[0].sample_ids, unreal[0].sample_per_id) == (3000, 40)


@pytest.fixture()
def data(tmp_path):
    root = tmp_path / "data"
    make_twin("sim-market1501", root, scale="tiny")
    make_twin("sim-dukemtmc", root, scale="demo")  # big enough that training can be interrupted
    return root


def test_grid_resumes_an_interrupted_cell_then_skips_it(data, tmp_path):
    db = tmp_path / "g.duckdb"
    args = ["grid", "--table", "2", "--sim", "--only", "supervised_dukemtmc", "--test", "sim-market",
            "--profile", "smoke", "--data-root", str(data), "--db", str(db)]
    p = subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs_dir = tmp_path / "runs"
    deadline = time.time() + 300
    while time.time() < deadline and not list(runs_dir.glob("*/train/checkpoint.pth")):
        assert p.poll() is None, "the grid ended before it could be interrupted"
        time.sleep(0.2)
    os.kill(p.pid, signal.SIGTERM)
    p.wait(timeout=120)
    runs = queries.runs_df(db)
    assert list(runs["status"]) == ["failed"]
    interrupted = runs.iloc[0]["id"]

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert f"resume {interrupted}" in res.output
    runs = queries.runs_df(db)
    assert list(runs["id"]) == [interrupted] and list(runs["status"]) == ["completed"]

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "skip (done)" in res.output and "0 ran, 1 skipped" in res.output
