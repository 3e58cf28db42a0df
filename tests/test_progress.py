"""Progress a person can follow, clean interrupts, and resume (issue 17, item 4).

- in a pseudo-terminal a run shows one live line per stage with an ETA;
- to a pipe or a file, plain lines at most once every PLAIN_INTERVAL seconds;
- SIGINT during re-ID training, then --resume: training continues from the saved
  epoch and the final result equals an uninterrupted run (same seed, 1 thread);
- SIGTERM: one line, no traceback, exit 143, the run marked interrupted.
"""
from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark import progress
from benchmark.synth import make_twin

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("progress")
    data = root / "data"
    make_twin("sim-finegpr", data, scale="tiny")
    make_twin("sim-market1501", data, scale="tiny")
    e = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", AOSTBENCH_CACHE=str(root / "cache"),
             AOSTBENCH_WEIGHTS=str(root / "no-weights"), TORCH_HOME=str(root / "torch"), COLUMNS="200")
    e.pop("AOSTBENCH_RUNS", None)
    return {"root": root, "data": data, "env": e}


def _cmd(env, db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", "run", *args, "--data-root", str(env["data"]), "--db", str(db)]


# --- the module itself ---------------------------------------------------------------------------

def test_plain_lines_are_spaced_and_the_last_is_always_written(monkeypatch, tmp_path):
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    with progress.log_file(tmp_path / "run.log"):
        with progress.stage("demo", 100, stream=out, interval=5.0) as bar:
            for _ in range(100):
                clock[0] += 0.25  # 25 s in all: plain lines at most every 5 s
                bar.update(1, loss=0.5)
    lines = out.getvalue().splitlines()
    assert 4 <= len(lines) <= 6 and "\r" not in out.getvalue()
    assert all("ETA" in ln for ln in lines[:-1]) and "done in 00:25" in lines[-1] and "100/100" in lines[-1]
    assert "4.0 img/s" in lines[-1] and "loss 0.5" in lines[-1]
    assert (tmp_path / "run.log").read_text().count("demo") == len(lines)  # the log keeps the same lines


def test_a_stopped_stage_says_so():
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with progress.stage("work", 10, stream=out) as bar:
            bar.update(3)
            raise KeyboardInterrupt
    assert out.getvalue().strip().endswith("(stopped)") and "3/10" in out.getvalue()


# --- a run in a pseudo-terminal ------------------------------------------------------------------

def test_a_run_in_a_terminal_shows_every_stage_with_an_eta(env):
    db = env["root"] / "pty" / "a.duckdb"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the run, its output a terminal
        os.chdir(REPO)
        os.execve(sys.executable, _cmd(env, db, "--train", "sim-finegpr+aost", "--test", "sim-market1501",
                                       "--profile", "smoke", "--style", "spgan"), env["env"])
    chunks = []
    deadline = time.time() + 600
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1.0)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text[-3000:]
    redraws = [seg for seg in re.split(r"[\r\n]", text) if seg.strip()]
    for label in ("AO probe distances (VGG-19)", "AO target features (VGG-19)", "AO surrogate", "AO search (PSO)",
                  "AO selection (rendering L*)", "style fit (spgan)", "style translate (spgan)", "re-ID training",
                  "features: sim-market1501 query", "features: FID full vs sim-market1501"):
        live = [s for s in redraws if s.startswith(label)]
        assert any("ETA" in s for s in live), f"no live line with an ETA for {label!r}"
        assert any("done in" in s for s in live), f"{label!r} did not finish its line"
    assert any(re.search(r"re-ID training .*loss \d.*lr \d", s) for s in redraws)  # loss and lr in the line
    assert "\x1b[" not in "".join(s for s in redraws if s.startswith("re-ID training"))  # plain text, no codes


# --- plain lines to a pipe, SIGINT and --resume ----------------------------------------------------

def _run_timed(cmd, env, stop_when=None, sig=None):
    """Run cmd; stderr lines with their arrival times; send `sig` once stop_when() is true.

    The command gets the default SIGINT handling, as from a terminal, also when the tests themselves run
    in the background (where SIGINT is inherited ignored)."""
    p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[tuple[float, str]] = []
    out: list[str] = []
    t_err = threading.Thread(target=lambda: [lines.append((time.monotonic(), ln)) for ln in p.stderr])
    t_out = threading.Thread(target=lambda: out.extend(p.stdout))
    t_err.start(), t_out.start()
    if stop_when is not None:
        deadline = time.time() + 300
        while not stop_when() and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        assert p.poll() is None, "the run ended before it could be interrupted:\n" + "".join(out)
        p.send_signal(sig)
    p.wait(timeout=600)
    t_err.join(), t_out.join()
    return p.returncode, lines, "".join(out)


def _result(db: Path) -> dict:
    runs = db.parent / "runs"
    (run_dir,) = list(runs.iterdir())
    return json.loads((run_dir / "result.json").read_text())


def test_sigint_in_training_then_resume_equals_an_uninterrupted_run(env):
    args = ("--train", "sim-finegpr", "--test", "sim-market1501", "--profile", "smoke", "--set", "epochs=30",
            "--seed", "3")
    ref_db = env["root"] / "ref" / "r.duckdb"
    code, lines, out = _run_timed(_cmd(env, ref_db, *args), env["env"])
    assert code == 0, out + "".join(ln for _, ln in lines)
    # plain lines, not redrawn, and per stage no closer than PLAIN_INTERVAL (to a pipe: a Slurm log)
    by_stage: dict[str, list[float]] = {}
    for t, ln in lines:
        assert "\r" not in ln
        m = re.match(r"(re-ID training \S+|features: [^\d]+?)\s{2}", ln)
        if m and "ETA" in ln:
            by_stage.setdefault(m.group(1), []).append(t)
    for stage, times in by_stage.items():
        gaps = np.diff(times)
        assert (gaps >= progress.PLAIN_INTERVAL - 0.5).all(), f"{stage}: plain lines {gaps} s apart"
    assert any("re-ID training" in ln and "done in" in ln for _, ln in lines)
    reference = _result(ref_db)

    db = env["root"] / "int" / "i.duckdb"
    ckpt = lambda: any((db.parent / "runs").glob("*/train/checkpoint.pth"))  # noqa: E731
    code, lines, out = _run_timed(_cmd(env, db, *args), env["env"], stop_when=ckpt, sig=signal.SIGINT)
    err = "".join(ln for _, ln in lines)
    assert code == 130, out + err
    assert "Traceback" not in out + err and "failed (interrupted); continue it with --resume" in out
    first = _result(db)
    assert first["status"] == "failed" and first["error"] == "interrupted"
    run_id = first["id"]
    res = subprocess.run([sys.executable, "-m", "cli.main", "run", "--resume", run_id, "--db", str(db)], cwd=REPO,
                         env=env["env"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    resumed = _result(db)
    train = json.loads((db.parent / "runs" / run_id / "train" / "train.json").read_text())
    assert 1 <= train["resumed_from_epoch"] < 30 and train["epochs"] == 30
    assert resumed["status"] == "completed"
    assert resumed["metrics"] == {k: {**v, "eval_seconds": resumed["metrics"][k]["eval_seconds"]}
                                  for k, v in reference["metrics"].items()}
    assert [(f["stage"], f["value"]) for f in resumed["fid"]] == [(f["stage"], f["value"]) for f in reference["fid"]]
    assert resumed["notes"]["train"]["final_loss"] == reference["notes"]["train"]["final_loss"]
    assert resumed["wall_seconds"] > first["wall_seconds"]  # both parts counted
    log = (db.parent / "runs" / run_id / "run.log").read_text()
    assert "re-ID epoch 1/30" in log and "resumed after" in log


def test_sigterm_stops_cleanly_with_143(env):
    db = env["root"] / "term" / "t.duckdb"
    ckpt = lambda: any((db.parent / "runs").glob("*/train/checkpoint.pth"))  # noqa: E731
    code, lines, out = _run_timed(_cmd(env, db, "--train", "sim-finegpr", "--test", "sim-market1501", "--profile",
                                       "smoke", "--set", "epochs=30"), env["env"], stop_when=ckpt, sig=signal.SIGTERM)
    err = "".join(ln for _, ln in lines)
    assert code == 143, out + err
    assert "Traceback" not in out + err
    assert [ln for ln in out.splitlines() if "failed" in ln] == [ln for ln in out.splitlines() if "interrupted" in ln]
    assert _result(db)["error"] == "interrupted"


# --- defaults that fit the data (item 5) -----------------------------------------------------------

def test_auto_profile_says_which_and_why_and_cpu_on_real_data_says_it_once(tmp_path):
    from benchmark.datasets.records import Dataset
    from benchmark.pipeline import RunRequest, _auto_profile, cpu_on_real_data
    from benchmark.profiles import load_profile

    real, twin = Dataset("market1501", "real", tmp_path), Dataset("sim-market1501", "procedural", tmp_path)
    said: list[str] = []
    req = RunRequest(train="finegpr", tests=["market1501"], profile="auto")
    assert _auto_profile(req, [real], "cuda:0", said.append).name == "paper" and req.profile == "paper"
    assert said[-1].startswith("profile paper: real data (market1501) and a GPU")
    req = RunRequest(train="finegpr", tests=["market1501"], profile="auto")
    assert _auto_profile(req, [real], "cpu", said.append).name == "cpu"
    assert "not comparable with the paper's" in said[-1]
    req = RunRequest(train="sim-finegpr", tests=["sim-market1501"], profile="auto", profile_overrides={"epochs": "3"})
    p = _auto_profile(req, [twin], "cuda:0", said.append)
    assert (p.name, p.epochs) == ("cpu", 3) and "procedural twins" in said[-1]
    assert "not comparable" in cpu_on_real_data(load_profile("cpu"), [twin, real])
    assert cpu_on_real_data(load_profile("cpu"), [twin]) is None and cpu_on_real_data(load_profile("paper"), [real]) is None


def test_debug_works_after_the_command_as_the_hint_says(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), AOSTBENCH_DB=str(tmp_path / "none.duckdb"))
    plain = subprocess.run([sys.executable, "-m", "cli.main", "runs", "show", "nosuch"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "run with --debug for the traceback" in plain.stderr
    assert "Traceback" not in plain.stderr
    debug = subprocess.run([sys.executable, "-m", "cli.main", "runs", "show", "nosuch", "--debug"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
