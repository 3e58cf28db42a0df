"""The DB as a cache of files (issue 15 items 1, 6): rebuild restores runs and submissions and loses
nothing; bad artefacts are named and skipped; `db check` compares everything and `--repair` fixes it."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from benchmark.maintenance import check
from benchmark.profiles import SMOKE
from benchmark.store import Metrics, RunResult, Store, queries
from benchmark.store.result_format import BadArtefact, read_result
from benchmark.submissions import get_submission, load_submission_dataset, submit
from cli import db as db_cli
from cli import submit as submit_cli
from tests.test_submissions import env, market_files, write_tree  # noqa: F401 - env is a fixture


@pytest.fixture()
def app() -> typer.Typer:
    a = typer.Typer()
    db_cli.register(a)
    submit_cli.register(a)
    return a


def _invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _runs(db: Path, runs: Path, n: int = 2) -> list[RunResult]:
    store, out = Store(db, runs), []
    for seed in range(n):
        r = RunResult.new("sim-finegpr", SMOKE, seed, ["sim-market1501"])
        store.start_run(r)
        r.metrics["sim-market1501"] = Metrics(r1=30.0 + seed, r5=50.0, map=20.0)
        store.finish_run(r)
        out.append(r)
    return out


@pytest.fixture()
def world(env):
    """Two runs and one accepted submission (two versions), all through the real API."""
    db, runs = env["db"], env["db"].parent / "runs"
    made = _runs(db, runs)
    root = write_tree(env["inputs"] / "sub", market_files())
    assert submit(root, "keepme", description="mine").status == "accepted"
    root2 = write_tree(env["inputs"] / "sub2", market_files(seed=3))
    assert submit(root2, "keepme").version == 2
    return {**env, "runs": runs, "made": made}


@pytest.mark.parametrize("damage", ["truncate", "garbage", "deleted"])
def test_rebuild_of_a_damaged_db_restores_runs_and_submissions_and_keeps_the_old_file(world, app, damage):
    db = world["db"]
    before = db.read_bytes()
    if damage == "truncate":
        db.write_bytes(before[: len(before) // 3])
    elif damage == "garbage":
        db.write_bytes(b"\x00junk" * 50_000)
    else:
        db.unlink()
    old = db.read_bytes() if db.exists() else None
    r = _invoke(app, "db", "rebuild", "--db", db, "--runs", world["runs"])
    assert r.exit_code == 0, r.output
    assert "2 run(s)" in r.output and "2 submission version(s) from their files" in r.output
    kept = list(db.parent.glob(db.name + ".old-*"))
    if old is not None:
        assert "old DB is kept at" in r.output and [k.read_bytes() for k in kept if not k.name.endswith(".wal")] \
            == [old]
    assert sorted(queries.runs_df(db)["id"]) == sorted(r.id for r in world["made"])
    row = get_submission("keepme", db_path=db)
    assert row["version"] == 2 and row["status"] == "accepted" and row["n_images"] == 12
    assert len(load_submission_dataset("keepme", db_path=db).train) == 12
    assert load_submission_dataset("keepme", version=1, db_path=db).meta["version"] == 1
    r = _invoke(app, "db", "check", "--db", db, "--runs", world["runs"])
    assert r.exit_code == 0 and "ok" in r.output, r.output


def _good(rid: str) -> dict:
    r = RunResult.new("sim-finegpr", SMOKE, 0, ["sim-market1501"], id=rid)
    r.status = "completed"
    r.metrics["sim-market1501"] = Metrics(r1=10.0, r5=20.0, map=5.0)
    return r.to_dict()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD = {
    "seed-too-big": (lambda d: {**d, "seed": 99999999999}, "seed"),
    "seed-float": (lambda d: {**d, "seed": 1.5}, "seed"),
    "seed-bool": (lambda d: {**d, "seed": True}, "seed"),
    "date-not-iso": (lambda d: {**d, "started_at": "yesterday at noon"}, "started_at"),
    "date-month-13": (lambda d: {**d, "ended_at": "2024-13-01T00:00:00Z"}, "ended_at"),
    "date-a-number": (lambda d: {**d, "started_at": 1700000000}, "started_at"),
    "train-images-word": (lambda d: {**d, "train_images": "many"}, "train_images"),
    "train-images-huge": (lambda d: {**d, "train_images": 10 ** 30}, "train_images"),
    "list-for-a-number": (lambda d: {**d, "metrics": {"sim-market1501": {"r1": [1], "r5": 1, "map": 2}}}, "r1"),
    "dict-for-a-number": (lambda d: {**d, "wall_seconds": {"a": 1}}, "wall_seconds"),
    "string-for-a-list": (lambda d: {**d, "test_sets": "sim-market1501"}, "test_sets"),
    "metrics-a-list": (lambda d: {**d, "metrics": [1, 2]}, "metrics"),
    "fid-row-a-string": (lambda d: {**d, "fid": ["x"]}, "fid[0]"),
    "probs-text": (lambda d: {**d, "attribute_dists": [{"attribute": "a", "source": "full", "probs": "0.5"}]},
                   "probs"),
    "null-required": (lambda d: {**d, "train_spec": None}, "train_spec"),
    "missing-required": (lambda d: {k: v for k, v in d.items() if k != "profile"}, "profile"),
    "missing-metric": (lambda d: {**d, "metrics": {"t": {"r1": 3}}}, "r5"),
    "status-unknown": (lambda d: {**d, "status": "exploded"}, "status"),
    "r1-over-100": (lambda d: {**d, "metrics": {"t": {"r1": 300, "r5": None, "map": 1}}}, "percentage"),
    "surrogate-in-text": (lambda d: {**d, "train_spec": "sim-\udcff"}, "surrogate"),
    "nan-metric": ("NAN", "finite"),
    "nested-100000": ("NEST", "nested"),
    "nested-in-config": ("NESTCFG", "nested"),
    "top-level-list": ("[1, 2, 3]", "JSON object"),
    "not-json": ("{ nope", "not valid JSON"),
    "empty-file": ("", "not valid JSON"),
    "not-utf8": (b"\xff\xfe{}", "not UTF-8"),
    "int-5000-digits": ("BIGINT", "not valid JSON"),
    "id-of-another-folder": (lambda d: {**d, "id": "someone-else"}, "lives in folder"),
    "id-with-markup": (lambda d: {**d, "id": "x[/red]"}, "x[/red]"),
}


def _write_bad(runs: Path, case: str) -> Path:
    folder = runs / f"bad-{case}"
    folder.mkdir(parents=True)
    build, _ = BAD[case]
    d = _good(folder.name)
    if callable(build):
        text = json.dumps(build(d), ensure_ascii=True)
    elif build == "NAN":
        text = json.dumps(d).replace('"r1": 10.0', '"r1": NaN')
    elif build == "NEST":
        text = _nested(100_000)
    elif build == "NESTCFG":
        text = json.dumps(d).replace('"config": {', '"config": {"x": ' + _nested(5_000) + ", ", 1)
        assert _nested(5_000) in text
    elif build == "BIGINT":
        text = json.dumps(d).replace('"seed": 0', '"seed": ' + "9" * 5000)
    else:
        text = build
    (folder / "result.json").write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return folder / "result.json"


@pytest.mark.parametrize("case", sorted(BAD))
def test_read_result_names_the_file_and_the_field(tmp_path, case):
    path = _write_bad(tmp_path, case)
    with pytest.raises(BadArtefact) as exc:
        read_result(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "\n" not in msg and BAD[case][1] in msg, msg
    assert len(msg) < 600


def test_one_bad_artefact_of_each_kind_is_skipped_and_every_good_run_restored(world, app):
    runs, db = world["runs"], world["db"]
    bad = {case: _write_bad(runs, case) for case in BAD}
    r = _invoke(app, "db", "check", "--db", db, "--runs", runs)
    assert r.exit_code == 1 and "Traceback" not in r.output
    for case, path in bad.items():
        assert str(path.parent.name) in r.output, case
    r = _invoke(app, "db", "rebuild", "--db", db, "--runs", runs)
    assert r.exit_code == 0, r.output
    assert "2 run(s) from artefacts" in r.output
    for case, path in bad.items():
        assert path.parent.name in r.output, case
        assert path.is_file()  # a bad artefact is never deleted
    assert sorted(queries.runs_df(db)["id"]) == sorted(x.id for x in world["made"])
    assert get_submission("keepme", db_path=db)["version"] == 2


def test_check_reports_every_difference_and_repair_makes_them_agree(world, app):
    db, runs, made = world["db"], world["runs"], world["made"]
    con = duckdb.connect(str(db))
    con.execute("UPDATE runs SET status = 'failed' WHERE id = ?", [made[0].id])
    con.execute("UPDATE metrics SET r1 = 99 WHERE run_id = ?", [made[1].id])
    con.execute("INSERT INTO fid (run_id, stage, target, value, weights) VALUES ('ghost', 'full', 't', 1, 'x')")
    con.execute("DELETE FROM submissions WHERE name = 'keepme' AND version = 2")
    con.close()
    extra = RunResult.new("sim-finegpr", SMOKE, 7, ["sim-market1501"])  # artefact only
    extra.status = "completed"
    extra.metrics["sim-market1501"] = Metrics(r1=1.0, r5=2.0, map=1.0)
    extra.save(runs)
    (runs / made[1].id / "result.json").rename(runs / made[1].id / "moved.json")  # DB only
    orphan = world["store"] / ("f" * 64)
    orphan.mkdir()
    (world["subs"] / "keepme" / "submission.toml").rename(world["subs"] / "keepme" / "old.toml")

    messages = [f.message for f in check(db, runs)]
    text = "\n".join(messages)
    assert f"run {made[0].id} differs" in text and "status" in text
    assert f"run {made[1].id} is in the DB but has no" in text
    assert f"run {extra.id} has a result.json but no DB row" in text
    assert "1 row(s) in fid belong to no run" in text
    assert "keepme version 1 is in the DB but has no" in text  # the latest accepted row left is v1
    assert f"store folder {orphan}" in text
    r = _invoke(app, "db", "check", "--db", db, "--runs", runs, "--repair")
    assert r.exit_code == 0, r.output
    assert check(db, runs) == []
    assert not orphan.exists() and (runs / made[1].id / "result.json").is_file()
    assert queries.runs_df(db).set_index("id").loc[made[0].id, "status"] == "completed"


def test_a_corrupt_db_is_a_one_line_error_pointing_to_check_and_rebuild(world, app, monkeypatch):
    from cli import results as results_cli
    from cli import runs as runs_cli

    for mod in (results_cli, runs_cli):
        mod.register(app)
    db = world["db"]
    db.write_bytes(b"\x00not a duckdb file" * 4000)
    for args in (("runs", "list"), ("results",), ("submissions", "list"), ("db", "info")):
        r = _invoke(app, *args, "--db", db)
        assert r.exit_code == 1, (args, r.output)
        assert "db check" in r.output and "db rebuild" in r.output and "Traceback" not in r.output, r.output
    r = _invoke(app, "db", "check", "--db", db, "--runs", world["runs"])
    assert r.exit_code == 1 and "cannot be read" in r.output and "Traceback" not in r.output

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("AOSTBENCH_DB", str(db))
    page = Path(__file__).resolve().parent.parent / "leaderboard_app" / "pages" / "submissions.py"
    at = AppTest.from_file(str(page), default_timeout=60)
    at.run()
    assert not at.exception and any("db rebuild" in e.value for e in at.error)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder", "huge"])
def test_special_files_posing_as_artefacts_are_named_not_read(world, app, kind):
    import os

    runs = world["runs"]
    folder = runs / f"odd-{kind}"
    folder.mkdir()
    target = folder / "result.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev-zero":
        target.symlink_to("/dev/zero")
    elif kind == "folder":
        target.mkdir()
    else:
        with open(target, "wb") as f:
            f.truncate(65 * 1024 * 1024)  # sparse: no disk used
    toml_dir = world["subs"] / "oddsub"
    toml_dir.mkdir()
    if kind == "fifo":
        os.mkfifo(toml_dir / "submission.toml")
    else:
        (toml_dir / "submission.toml").symlink_to("/dev/zero")
    r = _invoke(app, "db", "check", "--db", world["db"], "--runs", runs)
    assert r.exit_code == 1 and f"odd-{kind}" in r.output and "oddsub" in r.output, r.output
    r = _invoke(app, "db", "rebuild", "--db", world["db"], "--runs", runs)
    assert r.exit_code == 0 and f"odd-{kind}" in r.output and "2 run(s)" in r.output, r.output


def test_half_written_files_of_killed_writers_are_reported_and_removed(world):
    import os
    import subprocess
    import sys
    import time

    from benchmark.maintenance import repair

    runs, db = world["runs"], world["db"]
    half = runs / world["made"][0].id / ".result-abc.json.tmp"
    half.write_text('{"id": ')
    old = time.time() - 3600
    os.utime(half, (old, old))
    fresh = runs / world["made"][1].id / ".result-new.json.tmp"
    fresh.write_text("{")  # a save in progress right now: left alone
    pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                         text=True).stdout.strip()
    rebuilt = db.parent / f".{db.name}.rebuild-{pid}.tmp"
    rebuilt.write_bytes(b"half")
    text = "\n".join(f.message for f in check(db, runs))
    assert str(half) in text and str(rebuilt) in text and str(fresh) not in text
    done, left = repair(check(db, runs))
    assert not left and not half.exists() and not rebuilt.exists() and fresh.exists()


BAD_TOMLS = {
    "not-toml": "name = \n[[[",
    "deep": "a = " + "[" * 50_000 + "]" * 50_000,
    "wrong-name": 'name = "someone-else"\nversion = 1\nstatus = "accepted"\n',
    "version-text": 'name = "{n}"\nversion = "1"\nstatus = "accepted"\n',
    "version-huge": 'name = "{n}"\nversion = 99999999999\nstatus = "accepted"\n',
    "rejected-status": 'name = "{n}"\nversion = 1\nstatus = "rejected"\n',
    "history-garbage": 'name = "{n}"\nversion = 2\nstatus = "accepted"\nhistory = [1, 2]\n',
    "no-store-folder": 'name = "{n}"\nversion = 1\nstatus = "accepted"\ncontent_hash = "' + "0" * 64 + '"\n',
    "hash-traversal": 'name = "{n}"\nversion = 1\nstatus = "accepted"\ncontent_hash = "../../etc"\n'
                      'store_path = "/etc"\n',
    "not-utf8": b"name = \"\xff\"\n",
}


def test_bad_submission_tomls_are_named_and_skipped_by_rebuild_and_check(world, app):
    for case, text in BAD_TOMLS.items():
        folder = world["subs"] / f"bad-{case}"
        folder.mkdir()
        data = text if isinstance(text, bytes) else text.replace("{n}", folder.name).encode()
        (folder / "submission.toml").write_bytes(data)
    r = _invoke(app, "db", "check", "--db", world["db"], "--runs", world["runs"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    for case in BAD_TOMLS:
        assert f"bad-{case}" in r.output, case
    r = _invoke(app, "db", "rebuild", "--db", world["db"], "--runs", world["runs"])
    assert r.exit_code == 0, r.output
    for case in BAD_TOMLS:
        assert f"bad-{case}" in r.output, case
    assert get_submission("keepme", db_path=world["db"])["version"] == 2
    assert Path("/etc").is_dir()  # nothing was ever removed through a toml's paths
