"""Issue 18: grid cells as submitit jobs (local processes, Slurm), results gathered by the head.

Checks: a local grid of 4 smoke cells runs 2 jobs at a time in processes other
than the head's, lands every run in the DB once and gives the same table as
the in-process grid (same seeds, 1 thread); a job killed with SIGKILL shows
failed and the next grid resumes it; `db ingest` is idempotent and skips a
truncated result.json; the Slurm path goes through submitit's real
SlurmExecutor with `sbatch`/`srun`/`sacct` replaced by scripts that record the
submission and start the job here; preflight stops a submission missing files.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from benchmark.store import queries
from benchmark.synth import make_twin
from cli.main import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _env(root: Path, **extra) -> dict:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", AOSTBENCH_CACHE=str(root / "cache"),
               AOSTBENCH_DB_TIMEOUT="120", **extra)
    env.pop("AOSTBENCH_RUNS", None)
    return env


def _grid(root: Path, db: Path, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "cli.main", "grid", "--profile", "smoke", "--data-root", str(root / "data"),
           "--db", str(db), *args]
    res = subprocess.run(cmd, cwd=REPO, env=env or _env(root), capture_output=True, text=True, timeout=900)
    if check:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("executors")
    for name in ("sim-finegpr", "sim-market1501"):
        make_twin(name, root / "data", scale="tiny")
    return root


TABLE3 = ("--table", "3", "--sim", "--budget", "100", "--threads", "1")


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def local_grid(root):
    db = root / "local" / "a.duckdb"
    started = time.time()
    res = _grid(root, db, *TABLE3, "--executor", "local", "--jobs", "2")
    return {"db": db, "runs": db.parent / "runs", "output": res.stdout, "head_seconds": time.time() - started}


def _comparable(df):
    """A table without what differs between two executions of the same runs (ids, wall time)."""
    return df.drop(columns=["run_ids", "wall_seconds", "wall_seconds_std", "time_days"]).reset_index(drop=True)


def test_local_grid_runs_two_processes_at_a_time_and_matches_in_process(root, local_grid):
    db = local_grid["db"]
    runs = queries.runs_df(db)
    assert len(runs) == 4 and set(runs["status"]) == {"completed"}, runs[["train_spec", "status"]]
    assert sorted(runs["train_spec"]) == sorted(["sim-finegpr", "sim-finegpr+random", "sim-finegpr+ao",
                                                 "sim-finegpr+aost"])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM metrics").fetchone() == (4, 4)

    # the jobs ran in their own processes, two at a time
    recs = [json.loads(p.read_text()) for p in (local_grid["runs"] / "grid" / "jobs").glob("*.json")]
    assert len(recs) == 4 and {r["state"] for r in recs} == {"completed"}
    pids = {r["outcome"]["pid"] for r in recs}
    assert len(pids) == 4
    assert all(r["outcome"]["threads"] == 1 for r in recs)
    events = sorted([(r["outcome"]["started"], 1) for r in recs] + [(r["outcome"]["ended"], -1) for r in recs])
    running, most = 0, 0
    for _, step in events:
        running += step
        most = max(most, running)
    assert most == 2, f"jobs at once: {most}"
    for r in recs:  # the pid that wrote each run is the job's, not the head's
        result = json.loads((local_grid["runs"] / r["run_id"] / "result.json").read_text())
        assert result["owner_pid"] == r["outcome"]["pid"]
        assert result["config"]["torch_threads"] == 1

    # the same grid in one process, one thread: the same table
    ref = root / "inprocess" / "a.duckdb"
    _grid(root, ref, *TABLE3)
    a = _comparable(queries.table_rows(3, test_sets=["sim-market1501"], profile="smoke", db_path=db))
    b = _comparable(queries.table_rows(3, test_sets=["sim-market1501"], profile="smoke", db_path=ref))
    assert a.equals(b), (a.compare(b) if a.shape == b.shape else (a.shape, b.shape))

    # a second local grid has nothing to do
    res = _grid(root, db, *TABLE3, "--executor", "local", "--jobs", "2")
    assert "0 ran, 4 skipped" in res.stdout


def _dump(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall()))
                for t in ("runs", "metrics", "fid", "attribute_dist", "costs", "surrogate", "datasets")}


def test_db_ingest_is_idempotent_and_skips_a_truncated_result(root, local_grid, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(local_grid["runs"], runs, ignore=shutil.ignore_patterns("grid"))
    db = tmp_path / "b.duckdb"
    res = runner.invoke(app, ["db", "ingest", str(runs), "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "4 run(s) ingested" in res.output
    first = _dump(db)
    assert len(first["runs"]) == 4 and first["datasets"], "datasets come from the jobs' datasets.json"
    # the same rows as the head ingested while the grid ran (apart from when the datasets rows were written)
    head = _dump(local_grid["db"])
    assert first["runs"] == head["runs"] and first["metrics"] == head["metrics"] and first["fid"] == head["fid"]
    res = runner.invoke(app, ["db", "ingest", str(runs), "--db", str(db)])
    assert res.exit_code == 0 and "0 run(s) ingested, 4 already there" in res.output, res.output
    assert _dump(db) == first

    # a half-written result.json is named and skipped; nothing of it lands, the rest is untouched
    victim = sorted(runs.glob("*/result.json"))[0]
    text = victim.read_text()
    victim.write_text(text[: len(text) // 2])
    db2 = tmp_path / "c.duckdb"
    res = runner.invoke(app, ["db", "ingest", str(runs), "--db", str(db2)])
    assert res.exit_code == 1
    assert str(victim) in res.output.replace("\n", "") and "3 run(s) ingested" in res.output
    ids = {r for r in queries.runs_df(db2)["id"]}
    assert victim.parent.name not in ids and len(ids) == 3


@pytest.fixture(scope="module")
def long_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("long") / "data"
    make_twin("sim-market1501", data, scale="tiny")
    make_twin("sim-dukemtmc", data, scale="demo")  # big enough to be stopped mid-training
    return data


LONG = ["--table", "2", "--sim", "--only", "supervised_dukemtmc", "--test", "sim-market", "--threads", "1",
        "--executor", "local", "--jobs", "2"]


def _start_head(root: Path, data: Path, db: Path, *extra: str, background: bool = False) -> subprocess.Popen:
    """The grid head in a subprocess; background: with SIGINT ignored, as `cmd &` in a script starts it."""
    cmd = [sys.executable, "-m", "cli.main", "grid", "--profile", "smoke", "--data-root", str(data),
           "--db", str(db), *LONG, *extra]
    ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None
    return subprocess.Popen(cmd, cwd=REPO, env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=ignore_sigint)


def test_a_killed_job_shows_failed_and_the_next_grid_resumes_it(tmp_path, long_data):
    root = tmp_path
    (root / "data").symlink_to(long_data)
    db = root / "k.duckdb"
    args = LONG
    head = _start_head(root, long_data, db)
    runs = root / "runs"
    deadline = time.time() + 600
    while time.time() < deadline and not list(runs.glob("*/train/checkpoint.pth")):
        assert head.poll() is None, head.stdout.read()
        time.sleep(0.2)
    ckpt = list(runs.glob("*/train/checkpoint.pth"))
    assert ckpt, "training never wrote a checkpoint"
    run_dir = ckpt[0].parent.parent
    worker = json.loads((run_dir / "result.json").read_text())["owner_pid"]
    assert worker != head.pid
    os.kill(worker, signal.SIGKILL)
    out, _ = head.communicate(timeout=300)
    assert head.returncode == 1, out
    assert "failed" in out

    res = runner.invoke(app, ["grid", "status", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    cells = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert len(cells) == 1 and cells[0]["state"] == "failed", cells
    assert "killed" in cells[0]["reason"] and cells[0]["run_id"] == run_dir.name
    assert Path(cells[0]["log"]).is_file()
    assert list(queries.runs_df(db)["status"]) == ["failed"]  # the head told the DB what the engine said

    res = _grid(root, db, *args, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"resume {run_dir.name}" in res.stdout
    runs_df = queries.runs_df(db)
    assert list(runs_df["id"]) == [run_dir.name] and list(runs_df["status"]) == ["completed"]
    train = json.loads((run_dir / "train" / "train.json").read_text())
    assert train["resumed_from_epoch"] and train["resumed_from_epoch"] >= 1  # the finished epoch was kept
    status = runner.invoke(app, ["grid", "status", "--db", str(db), "--json"]).output
    assert json.loads(status.splitlines()[0])["state"] == "completed"


FAKE_SBATCH = '''
import json, os, re, subprocess, sys, time
from pathlib import Path
state = Path(os.environ["FAKE_SLURM_DIR"])
if sys.argv[1] == "--run":  # the detached "cluster": run the array, at most %N tasks at once
    script, job, n, par = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    array = sys.argv[6] == "1"
    pending, active = list(range(n)), {}
    for i in pending:
        (state / f"{job}_{i}").write_text("PENDING")
    while pending or active:
        while pending and len(active) < par:
            i = pending.pop(0)
            env = dict(os.environ, SLURM_JOB_ID=str(int(job) + i), SLURM_NTASKS="1", SLURM_PROCID="0",
                       SLURM_LOCALID="0", SLURM_NODEID="0", SLURM_JOB_NUM_NODES="1")
            if array:
                env.update(SLURM_ARRAY_JOB_ID=job, SLURM_ARRAY_TASK_ID=str(i))
            (state / f"{job}_{i}").write_text("RUNNING")
            active[i] = subprocess.Popen(["bash", script], env=env)
        for i, p in list(active.items()):
            if p.poll() is not None:
                (state / f"{job}_{i}").write_text("COMPLETED" if p.returncode == 0 else "FAILED")
                del active[i]
        time.sleep(0.2)
    sys.exit(0)
script = sys.argv[-1]
text = Path(script).read_text()
counter = state / "next_id"
job = int(counter.read_text()) if counter.exists() else 1000
counter.write_text(str(job + 100))
with open(state / "sbatch.jsonl", "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "script": text, "job": job}) + "\\n")
m = re.search(r"^#SBATCH --array=0-(\\d+)%(\\d+)$", text, re.M)
n, par = (int(m.group(1)) + 1, int(m.group(2))) if m else (1, 1)
subprocess.Popen([sys.executable, __file__, "--run", script, str(job), str(n), str(par), "1" if m else "0"],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"Submitted batch job {job}")
'''

FAKE_SRUN = '''
import os, sys
args = sys.argv[1:]
out = err = None
while args and args[0].startswith("--"):
    flag = args.pop(0)
    if flag in ("--output", "--error"):
        value = args.pop(0)
        job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ["SLURM_JOB_ID"]
        value = (value.replace("%A", job).replace("%a", os.environ.get("SLURM_ARRAY_TASK_ID", ""))
                 .replace("%j", os.environ["SLURM_JOB_ID"]).replace("%t", "0"))
        out, err = (value, err) if flag == "--output" else (out, value)
fo = open(out, "a") if out else None
fe = open(err, "a") if err else fo
os.dup2(fo.fileno(), 1) if fo else None
os.dup2(fe.fileno(), 2) if fe else None
os.execvp(args[0], args)
'''

FAKE_SACCT = '''
import os, sys
from pathlib import Path
state = Path(os.environ["FAKE_SLURM_DIR"])
args = sys.argv[1:]
ids = [args[i + 1] for i, a in enumerate(args) if a == "-j"]
print("JobID|State|NodeList")
for p in sorted(state.glob("*_*")):
    if p.name.split("_")[0] in ids:
        print(f"{p.name}|{p.read_text()}|localhost")
'''


def _fake_slurm(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True)
    for name, body in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("sacct", FAKE_SACCT)):
        p = bin_dir / name
        p.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
        p.chmod(0o755)


def test_slurm_submission_through_submitit(root, tmp_path):
    fake = tmp_path / "slurm"
    fake.mkdir()
    _fake_slurm(tmp_path / "bin")
    env = _env(root, FAKE_SLURM_DIR=str(fake), PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    db = tmp_path / "s.duckdb"
    args = ["--table", "3", "--sim", "--only", "finegpr,finegpr_random", "--executor", "slurm",
            "--partition", "gpu", "--time", "1:30:00", "--gpus-per-job", "1", "--cpus-per-job", "1",
            "--mem-gb", "4", "--array-parallelism", "1", "--sbatch", "account=lab", "--sbatch=--exclusive"]
    res = _grid(root, db, *args, env=env)
    assert "2 ran" in res.stdout, res.stdout
    [sub] = [json.loads(line) for line in (fake / "sbatch.jsonl").read_text().splitlines()]
    flags = {line.split("=", 1)[0]: (line.split("=", 1) + [""])[1]
             for line in sub["script"].splitlines() if line.startswith("#SBATCH ")}
    assert flags["#SBATCH --partition"] == "gpu"
    assert flags["#SBATCH --time"] == "90"
    assert flags["#SBATCH --gpus-per-node"] == "1"
    assert flags["#SBATCH --cpus-per-task"] == "1"
    assert flags["#SBATCH --mem"] == "4GB"
    assert flags["#SBATCH --array"] == "0-1%1"
    assert flags["#SBATCH --account"] == "lab" and "#SBATCH --exclusive" in flags
    assert "submitit.core._submit" in sub["script"]
    runs = queries.runs_df(db)
    assert len(runs) == 2 and set(runs["status"]) == {"completed"}
    res = runner.invoke(app, ["grid", "status", "--db", str(db), "--json"], env=env)
    cells = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert sorted(c["job_id"] for c in cells) == [f"{sub['job']}_0", f"{sub['job']}_1"]
    assert {c["state"] for c in cells} == {"completed"} and all(Path(c["log"]).is_file() for c in cells)
    for c in cells:  # each job's own log, written where submitit's sbatch file sent it
        assert f"run {c['run_id']} on " in Path(c["log"]).read_text()


def test_preflight_stops_the_whole_submission_with_the_list(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    weights = tmp_path / "weights"
    weights.mkdir()
    env = _env(tmp_path, AOSTBENCH_WEIGHTS=str(weights), TORCH_HOME=str(tmp_path / "torch"))
    db = tmp_path / "p.duckdb"
    res = subprocess.run([sys.executable, "-m", "cli.main", "grid", "--table", "3", "--profile", "paper",
                          "--data-root", str(empty), "--db", str(db), "--executor", "local"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    err = " ".join(res.stderr.split())
    assert "nothing was submitted" in err
    for missing in ("dataset finegpr", "dataset market1501", "resnet50", "pt_inception"):
        assert missing in err, err
    assert not (tmp_path / "runs" / "grid" / "submitit").exists()
    assert not list((tmp_path / "runs").glob("2*"))


def _gone_within(pid: int, seconds: float) -> bool:
    """The process has exited (and is no zombie of ours) before the deadline."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie still answers kill(0); its /proc state says it has finished
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.2)
    return False


def test_grid_cancel_stops_the_running_jobs(tmp_path, long_data):
    """Started in the background by a script (SIGINT ignored), with a job far longer than the cancel takes."""
    db = tmp_path / "c.duckdb"
    head = _start_head(tmp_path, long_data, db, "--set", "epochs=200", background=True)
    runs = tmp_path / "runs"
    deadline = time.time() + 600
    while time.time() < deadline and not list(runs.glob("2*/result.json")):
        assert head.poll() is None, head.stdout.read()
        time.sleep(0.2)
    [result] = list(runs.glob("2*/result.json"))
    worker = json.loads(result.read_text())["owner_pid"]
    try:
        res = runner.invoke(app, ["grid", "cancel", "--db", str(db)])
        assert res.exit_code == 0 and "1 job(s) cancelled" in res.output, res.output
        assert _gone_within(worker, 60), f"worker {worker} still alive after cancel"  # it may still be saving its state
        out, _ = head.communicate(timeout=120)
    except BaseException:  # a failed cancel must not leave a 200-epoch job behind
        head.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker, signal.SIGKILL)
        raise
    assert head.returncode == 1 and "cancelled" in out, out
    cells = [json.loads(x) for x in runner.invoke(app, ["grid", "status", "--db", str(db), "--json"]).output.splitlines()
             if x.startswith("{")]
    assert [c["state"] for c in cells] == ["cancelled"], cells
    assert list(queries.runs_df(db)["status"]) == ["failed"]  # gathered: its run says it was interrupted
