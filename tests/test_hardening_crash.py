"""A crash (SIGKILL) at any step of `submit` or of storing a run (issue 15 items 2, 3, 4).

Each case runs the real command in a subprocess that kills itself at a named step
(AOSTBENCH_TEST_CRASH_AT, benchmark/faults.py), then checks: `db check` reports what was
left, `db check --repair` completes or removes it, after which `db check` is clean and the
submission is either unknown (nothing was committed) or whole (row, toml, files, loadable).
Stale temporary folders are removed by the next submit, never a live submit's.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from benchmark.faults import ENV
from benchmark.maintenance import check, repair
from benchmark.store import queries
from benchmark.submissions import get_submission, list_submissions, load_submission_dataset
from tests.test_submissions import env, market_files, write_tree  # noqa: F401 - env is a fixture

REPO = Path(__file__).resolve().parent.parent


def _env(env: dict, crash: str | None = None) -> dict:
    e = {k: v for k, v in os.environ.items() if k != ENV}
    e.update(PYTHONPATH=str(REPO), AOSTBENCH_DB=str(env["db"]), AOSTBENCH_DATA=str(env["root"] / "data"),
             AOSTBENCH_CACHE=str(env["root"] / "cache"), TMPDIR=str(env["work"]), OMP_NUM_THREADS="1")
    e.pop("AOSTBENCH_SUBMISSIONS", None)
    e.pop("AOSTBENCH_SUBMISSIONS_STORE", None)
    if crash:
        e[ENV] = crash
    return e


def _submit_script(root: Path, name: str) -> list[str]:
    code = f"from benchmark.submissions import submit; r = submit({str(root)!r}, {name!r}); print(r.status, r.version)"
    return [sys.executable, "-c", code]


def _run(cmd: list[str], env: dict, crash: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=env["cwd"], env=_env(env, crash), capture_output=True, text=True, timeout=300)


def _findings(env: dict) -> list:
    return check(env["db"], env["db"].parent / "runs", temp_dir=env["work"])


STEPS = {  # step -> whether the submission exists once repaired
    "validated": False, "store-copy": False, "installed": False, "recorded": True, "toml-written": True,
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_submit_killed_at_any_step_is_reported_and_repaired(env, step):
    root = write_tree(env["inputs"] / "sub", market_files())
    first = _run(_submit_script(root, "crashy"), env)  # an earlier good version, so there is history
    assert first.returncode == 0 and "accepted 1" in first.stdout, first.stderr
    done = _run(_submit_script(write_tree(env["inputs"] / "sub2", market_files(seed=5)), "crashy"), env, step)
    assert done.returncode == -signal.SIGKILL, done.stderr
    findings = _findings(env)
    assert findings, "a crash left something that `db check` does not see"
    assert all("\n" not in f.message for f in findings)
    done_msgs, left = repair(findings)
    assert not left, left
    assert _findings(env) == []
    rows = [r for r in list_submissions() if r["name"] == "crashy"]
    toml = tomllib.loads((env["subs"] / "crashy" / "submission.toml").read_text())
    if STEPS[step]:
        assert [r["version"] for r in rows] == [1, 2] and get_submission("crashy")["status"] == "accepted"
        assert toml["version"] == 2 and [h["version"] for h in toml["history"]] == [1]
        assert load_submission_dataset("crashy").meta["version"] == 2
    else:
        assert [r["version"] for r in rows] == [1] and toml["version"] == 1
    assert not [p for p in env["work"].iterdir()]
    assert not [p for p in env["store"].iterdir() if p.name.startswith(".incoming")]
    again = _run(_submit_script(root, "crashy"), env)
    assert again.returncode == 0 and "accepted" in again.stdout, again.stderr
    assert _findings(env) == []


def test_the_next_submit_cleans_what_a_killed_one_left_but_not_a_live_ones(env):
    root = write_tree(env["inputs"] / "sub", market_files())
    killed = _run(_submit_script(root, "left"), env, "store-copy")
    assert killed.returncode == -signal.SIGKILL
    left_temp = [p.name for p in env["work"].iterdir()]
    left_incoming = [p.name for p in env["store"].iterdir() if p.name.startswith(".incoming")]
    assert left_temp and left_incoming
    # a live owner's folders (this test process) must survive the cleaning
    from benchmark.submissions.txn import INCOMING_PREFIX, TEMP_PREFIX, tagged_prefix

    live_temp = env["work"] / (tagged_prefix(TEMP_PREFIX) + "live")
    live_incoming = env["store"] / (tagged_prefix(INCOMING_PREFIX) + "live")
    live_temp.mkdir()
    live_incoming.mkdir()
    ok = _run(_submit_script(root, "left"), env)
    assert ok.returncode == 0 and "accepted 1" in ok.stdout, ok.stderr
    assert [p.name for p in env["work"].iterdir()] == [live_temp.name]
    assert [p.name for p in env["store"].iterdir() if p.name.startswith(".incoming")] == [live_incoming.name]
    live_temp.rmdir()
    live_incoming.rmdir()
    assert _findings(env) == []


def test_two_concurrent_submits_of_one_name_keep_a_consistent_history(env):
    roots = [write_tree(env["inputs"] / f"sub{k}", market_files(seed=k)) for k in range(3)]
    procs = [subprocess.Popen(_submit_script(r, "twins"), cwd=env["cwd"], env=_env(env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in roots]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(o.split()[1] for o, _ in outs) == ["1", "2", "3"]
    toml = tomllib.loads((env["subs"] / "twins" / "submission.toml").read_text())
    assert toml["version"] == 3 and [h["version"] for h in toml["history"]] == [1, 2]
    assert _findings(env) == []


RUN_SCRIPT = textwrap.dedent("""
    import sys, time
    from benchmark.profiles import SMOKE
    from benchmark.store import Metrics, RunResult, Store
    store = Store(sys.argv[1], sys.argv[2])
    r = RunResult.new("sim-finegpr", SMOKE, 0, ["sim-market1501"], id=sys.argv[3])
    store.start_run(r)
    if sys.argv[4] == "hang":
        time.sleep(600)
    r.metrics["sim-market1501"] = Metrics(r1=12.0, r5=30.0, map=8.0)
    store.finish_run(r)
""")


@pytest.mark.parametrize("how,status", [("run-artefact-saved#1", "failed"), ("run-artefact-saved#2", "completed"),
                                        ("hang", "failed")])
def test_a_run_killed_while_it_is_stored_is_reported_and_repaired(env, how, status):
    runs = env["db"].parent / "runs"
    cmd = [sys.executable, "-c", RUN_SCRIPT, str(env["db"]), str(runs), "killed-run", how]
    if how == "hang":
        p = subprocess.Popen(cmd, cwd=env["cwd"], env=_env(env))
        deadline = time.monotonic() + 120
        while not (runs / "killed-run" / "result.json").is_file() or not env["db"].is_file():
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)  # the DB row follows the artefact
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    else:
        assert _run(cmd, env, how).returncode == -signal.SIGKILL
    findings = _findings(env)
    assert any("killed-run" in f.message for f in findings), [f.message for f in findings]
    _, left = repair(findings)
    assert not left and _findings(env) == []
    assert queries.runs_df(env["db"]).set_index("id").loc["killed-run", "status"] == status
