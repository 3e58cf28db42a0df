"""One resolved set of paths (issue 14 item 6): flags, then environment, then defaults; caches follow the DB.

Paths.resolve takes the environment as an argument, so these tests pass a dict
instead of mutating os.environ; the run test sets decoy variables only to
prove nothing below the CLI reads them.
"""
from __future__ import annotations

import re
from pathlib import Path

from benchmark.paths import Paths, current, use

ROOT = Path(__file__).resolve().parents[1]


def test_flags_beat_the_environment_which_beats_the_defaults(tmp_path):
    env = {"AOSTBENCH_DATA": str(tmp_path / "envdata"), "AOSTBENCH_DB": str(tmp_path / "env" / "a.duckdb"),
           "TORCH_HOME": str(tmp_path / "torch")}
    p = Paths.resolve(env=env, data=tmp_path / "flagdata")
    assert p.data == tmp_path / "flagdata" and p.db == tmp_path / "env" / "a.duckdb"
    assert p.weights[-1] == tmp_path / "torch" / "hub" / "checkpoints"
    d = Paths.resolve(env={})
    assert d.data == Path("data") and d.db == Path("results/aostbench.duckdb")
    assert d.submissions_store == (Path("data") / "submissions-store").absolute()


def test_runs_and_cache_follow_the_db_unless_pinned(tmp_path):
    p = Paths.resolve(env={}, db=tmp_path / "x" / "a.duckdb")
    assert p.runs == tmp_path / "x" / "runs" and p.cache == tmp_path / "x" / "cache"
    moved = p.with_flags(db=tmp_path / "y" / "b.duckdb")
    assert moved.cache == tmp_path / "y" / "cache" and moved.runs == tmp_path / "y" / "runs"
    pinned = Paths.resolve(env={"AOSTBENCH_CACHE": str(tmp_path / "c")}).with_flags(db=tmp_path / "z.duckdb")
    assert pinned.cache == tmp_path / "c" and pinned.runs == tmp_path / "runs"


def test_use_installs_the_paths_the_code_below_reads(tmp_path):
    from benchmark import paths
    from benchmark.store.writes import default_runs_dir
    from benchmark.submissions.content_store import default_store_root

    p = Paths.resolve(env={}, data=tmp_path / "d", db=tmp_path / "r" / "a.duckdb")
    with use(p):
        assert current() is p
        assert paths.cache_root() == tmp_path / "r" / "cache" and paths.data_root() == tmp_path / "d"
        assert default_runs_dir() == tmp_path / "r" / "runs"
        assert default_store_root() == (tmp_path / "d" / "submissions-store").absolute()


# reads of os.environ below the CLI that are not about where files live
_ALLOWED = {
    "benchmark/paths.py",  # the one place paths are resolved from the environment
    "benchmark/reid/distributed.py",  # torchrun's WORLD_SIZE / LOCAL_RANK protocol
    "benchmark/aost/quiet_pyswarms.py",  # pyswarms' logging switch, set and restored
    "benchmark/store/db.py",  # AOSTBENCH_DB_TIMEOUT: how long to wait, not where
    "benchmark/executors/job.py",  # a grid job sets its thread variables (OMP/MKL), not paths
    "benchmark/perf/grid.py",  # writes AOSTBENCH_CACHE for the jobs it starts (each side its own cache)
    "benchmark/perf/gpu.py",  # writes AOSTBENCH_CACHE so the GPU check never fills the user's cache
    "benchmark/faults.py",  # the tests' crash points (AOSTBENCH_TEST_CRASH_AT), never a path
}


def test_nothing_below_the_cli_reads_paths_from_the_environment():
    readers = set()
    for f in (ROOT / "benchmark").rglob("*.py"):
        if re.search(r"os\.environ|os\.getenv", f.read_text()):
            readers.add(str(f.relative_to(ROOT)))
    assert readers <= _ALLOWED, sorted(readers - _ALLOWED)


def test_a_run_reads_only_its_paths(tmp_path, monkeypatch):
    """Decoy variables point elsewhere; the run's Paths (no env) decide data, DB, runs/ and cache/."""
    from benchmark.pipeline import RunRequest, run
    from benchmark.synth import make_twin

    decoy = tmp_path / "decoy"
    for var in ("AOSTBENCH_DATA", "AOSTBENCH_DB", "AOSTBENCH_RUNS", "AOSTBENCH_CACHE"):
        monkeypatch.setenv(var, str(decoy / var))
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    for name in ("sim-finegpr", "sim-market1501"):
        make_twin(name, data, scale="tiny")
    p = Paths.resolve(env={}, data=data, db=tmp_path / "out" / "a.duckdb")
    result = run(RunRequest(train="sim-finegpr+random", tests=["sim-market"], profile="smoke", budget=20,
                            paths=p, progress=False), log=lambda m: None)
    assert result.status == "completed"
    assert (tmp_path / "out" / "runs" / result.id / "result.json").is_file()
    assert (tmp_path / "out" / "cache").is_dir()  # FID statistics: next to the DB, not ./results/cache
    assert not decoy.exists() and not (tmp_path / "results").exists()
