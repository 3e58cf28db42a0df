"""`aostbench results`, `runs`, `db`, `export` through Typer's CliRunner on real DuckDB files."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from benchmark.profiles import SMOKE
from benchmark.store import Metrics, RunResult, Store
from cli import db as db_cli
from cli import results as results_cli
from cli import runs as runs_cli


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    a = typer.Typer()
    for mod in (results_cli, runs_cli, db_cli):
        mod.register(a)
    return a


def invoke(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _out(result) -> str:
    """stdout and stderr together (the runner keeps them apart where it can)."""
    err = getattr(result, "stderr", "") if getattr(result, "stderr_bytes", None) is not None else ""
    return result.stdout + err


@pytest.fixture()
def seeded(tmp_path: Path) -> tuple[Path, Path, list[RunResult]]:
    db, runs_dir = tmp_path / "r" / "aostbench.duckdb", tmp_path / "r" / "runs"
    store = Store(db, runs_dir)
    runs = []
    for spec, r1 in (("sim-finegpr", 30.0), ("sim-finegpr+random", 27.5)):
        for seed in (0, 1):
            run = RunResult.new(spec, SMOKE, seed, ["sim-market1501"])
            store.start_run(run)
            run.metrics["sim-market1501"] = Metrics(r1=r1 + seed, r5=r1 + 20, map=r1 / 2)
            run.train_images = 300
            store.finish_run(run)
            runs.append(run)
    failed = RunResult.new("sim-finegpr+aost", SMOKE, 0, ["sim-market1501"])
    store.start_run(failed)
    store.fail_run(failed.id, "out of memory")
    runs.append(failed)
    return db, runs_dir, runs


def test_results_without_a_db_explains_and_shows_the_paper(app, tmp_path: Path):
    r = invoke(app, "results", "--table", "3", "--db", tmp_path / "none.duckdb")
    assert r.exit_code == 0, r.output
    text = _out(r)
    assert "no results yet" in text and "aostbench demo" in text
    assert "FineGPR+AOST" in text and "56.3" in text
    r = invoke(app, "results", "--table", "3", "--format", "json", "--db", tmp_path / "none.duckdb")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert {row["source"] for row in doc["rows"]} == {"paper"} and len(doc["rows"]) == 4
    assert not (tmp_path / "none.duckdb").exists()


def test_results_table3_json_has_our_rows_and_the_papers(app, seeded):
    db, _, _ = seeded
    r = invoke(app, "results", "--table", "3", "--format", "json", "--db", db)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ours = {row["train_set"]: row for row in doc["rows"] if row["source"] == "ours"}
    assert set(ours) == {"sim-finegpr", "sim-finegpr+random"}  # the failed +aost run is not a result
    cell = ours["sim-finegpr"]["cells"]["sim-market1501"]["r1"]
    assert cell["mean"] == pytest.approx(30.5) and cell["n"] == 2 and cell["paper"] == 50.5
    assert {row["train_set"] for row in doc["rows"] if row["source"] == "paper"} == {
        "finegpr", "finegpr+random", "finegpr+ao", "finegpr+aost"}


def test_results_formats_and_filters(app, seeded):
    db, _, _ = seeded
    r = invoke(app, "results", "--table", "2", "--test", "sim-market", "--format", "latex", "--db", db)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("% Table 2") and "\\begin{tabular}" in r.stdout and "\\bottomrule" in r.stdout
    r = invoke(app, "results", "--table", "3", "--format", "csv", "--profile", "smoke", "--db", db)
    assert r.exit_code == 0
    assert pd.read_csv(pd.io.common.StringIO(r.stdout))["source"].tolist().count("ours") == 2
    r = invoke(app, "results", "--table", "3", "--format", "md", "--metrics", "all", "--db", db)
    assert r.exit_code == 0 and "mINP" in r.stdout and "sim-FineGPR (procedural)" in r.stdout
    r = invoke(app, "results", "--table", "3", "--db", db)
    assert r.exit_code == 0 and "sim-FineGPR+Random" in r.stdout
    r = invoke(app, "results", "--table", "3", "--profile", "paper", "--format", "json", "--db", db)
    assert r.exit_code == 0 and "No runs of ours match" in _out(r)


def test_results_rejects_bad_arguments_clearly(app, seeded):
    db, _, _ = seeded
    r = invoke(app, "results", "--table", "4", "--db", db)
    assert r.exit_code == 1 and "--table must be 2 or 3" in _out(r)
    r = invoke(app, "results", "--format", "xlsx", "--db", db)
    assert r.exit_code == 1 and "--format must be one of" in _out(r)
    r = invoke(app, "results", "--test", "atlantis", "--db", db)
    assert r.exit_code == 1 and "atlantis" in _out(r)
    r = invoke(app, "results", "--metrics", "r99", "--db", db)
    assert r.exit_code == 1 and "unknown metric 'r99'" in _out(r)


def test_runs_list_and_show(app, seeded):
    db, _, runs = seeded
    r = invoke(app, "runs", "list", "--db", db)
    assert r.exit_code == 0, r.output
    assert "5 run(s)" in r.stdout and "failed" in r.stdout
    r = invoke(app, "runs", "list", "--status", "failed", "--format", "json", "--db", db)
    listed = json.loads(r.stdout)
    assert [x["id"] for x in listed] == [runs[-1].id] and listed[0]["error"] == "out of memory"
    r = invoke(app, "runs", "show", runs[0].id, "--db", db)
    assert r.exit_code == 0, r.output
    assert runs[0].id in r.stdout and "sim-market1501" in r.stdout and "osnet_x0_25/scratch/64x32" in r.stdout
    r = invoke(app, "runs", "show", runs[0].id, "--format", "json", "--db", db)
    assert json.loads(r.stdout)["metrics"][0]["r1"] == 30.0
    r = invoke(app, "runs", "show", "no-such-run", "--db", db)
    assert r.exit_code == 1 and "no run 'no-such-run'" in _out(r)
    r = invoke(app, "runs", "list", "--db", db.parent / "missing.duckdb")
    assert r.exit_code == 0 and "no results yet" in _out(r)


def test_db_check_rebuild_and_export(app, seeded, tmp_path: Path):
    db, runs_dir, runs = seeded
    r = invoke(app, "db", "check", "--db", db, "--runs", runs_dir)
    assert r.exit_code == 0 and "ok" in r.stdout
    (runs_dir / runs[0].id / "result.json").unlink()
    r = invoke(app, "db", "check", "--db", db, "--runs", runs_dir)
    assert r.exit_code == 1 and f"run {runs[0].id} is in the DB but has no" in _out(r)
    r = invoke(app, "db", "rebuild", "--db", db, "--runs", runs_dir)
    assert r.exit_code == 0 and "4 run(s) from artefacts" in r.stdout
    assert invoke(app, "db", "check", "--db", db, "--runs", runs_dir).exit_code == 0
    r = invoke(app, "db", "info", "--db", db)
    assert r.exit_code == 0 and "42 paper rows" in r.stdout
    r = invoke(app, "export", "--parquet", tmp_path / "pq", "--db", db)
    assert r.exit_code == 0, r.output
    assert len(pd.read_parquet(tmp_path / "pq" / "runs.parquet")) == 4
    assert len(pd.read_parquet(tmp_path / "pq" / "metrics.parquet")) == 3


def test_help_texts_carry_examples(app):
    for args in (("results", "--help"), ("runs", "--help"), ("db", "--help"), ("export", "--help")):
        r = invoke(app, *args)
        assert r.exit_code == 0 and "xample" in r.stdout, args
