"""Commands that need no model never import torch & co. (issue 19).

Each check runs in a fresh interpreter: this test process has long imported
torch itself, so its own sys.modules says nothing.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.perf.startup import HEAVY, heavy_imports

ROOT = Path(__file__).resolve().parent.parent

LIGHT = [
    ("--help",),
    ("results", "--help"),
    ("results",),
    ("runs", "list"),
    ("data", "list"),
    ("submissions", "list"),
    ("db", "check"),
    ("leaderboard", "--help"),
    ("perf", "--help"),
    ("run", "--help"),
    ("grid", "--help"),
    ("demo", "--help"),
]


@pytest.fixture(scope="module")
def seeded_env(tmp_path_factory):
    """A results DB with runs, submissions and run folders, so list/check commands do real work."""
    from tests.leaderboard_fixtures import seed_demo_db

    tmp = tmp_path_factory.mktemp("light")
    seed_demo_db(tmp / "demo.duckdb", tmp / "runs")
    env = dict(os.environ, PYTHONPATH=str(ROOT), AOSTBENCH_DB=str(tmp / "demo.duckdb"),
               AOSTBENCH_RUNS=str(tmp / "runs"), AOSTBENCH_DATA=str(tmp / "data"), AOSTBENCH_CACHE=str(tmp / "cache"))
    return env


def test_importing_the_cli_imports_no_heavy_library():
    code = ("import sys, json, cli.main\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))" % (HEAVY,))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True)
    assert json.loads(p.stdout) == []


@pytest.mark.parametrize("args", LIGHT, ids=" ".join)
def test_light_command_imports_no_heavy_library(args, seeded_env, monkeypatch):
    for k, v in seeded_env.items():
        monkeypatch.setenv(k, v)
    assert heavy_imports(args) == ()


def test_the_probe_sees_a_heavy_import(monkeypatch, tmp_path):
    """The probe is not blind: a process that does import torch is reported."""
    (tmp_path / "sitecustomize.py").write_text("import torch\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{ROOT}")
    assert "torch" in heavy_imports(("--help",))
