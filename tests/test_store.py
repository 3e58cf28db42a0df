"""The results store on real DuckDB files: schema, migrations, concurrency, stale runs, rebuild, tables."""
from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import re
import signal
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from benchmark.profiles import SMOKE
from benchmark.store import (AttributeDist, Cost, FidRow, Metrics, RunResult, SCHEMA_VERSION, Store, StoreBusy,
                             StoreEmpty, StoreError, StoreOutdated, SurrogateFit, check_db, mark_stale_runs, new_run_id,
                             rebuild_from_runs)
from benchmark.store import queries, tables
from benchmark.store.reference_data import REFERENCE_CSV, load_reference_csv
from benchmark.store.schema import apply_migrations, current_version
from benchmark.store.writes import put_run

CTX = mp.get_context("spawn")  # a fresh interpreter: no DuckDB state inherited from the test process


# -- helpers (module level so spawned processes can import them) -------------------------------------
def make_run(spec: str, seed: int, r1: float, tests=("sim-market1501",), **kw) -> RunResult:
    run = RunResult.new(spec, SMOKE, seed, list(tests), **kw)
    for i, t in enumerate(tests):
        run.metrics[t] = Metrics(r1=r1 + i, r5=r1 + 10 + i, map=r1 / 2 + i, r10=min(100.0, r1 + 15), minp=r1 / 4)
    run.train_images = 300
    run.fid = [FidRow("full", tests[0], 123.5, "random", 64, 300), FidRow("aost", tests[0], 80.25, "random", 64,
                                                                             300, style_method="color")]
    run.attribute_dists = [AttributeDist("gender", "selected", [0.25, 0.75], tests[0]),
                           AttributeDist("gender", "full", [0.5, 0.5])]
    run.costs = [Cost("train", 10.0 + seed, 300), Cost("evaluate", 1.5, 100)]
    run.surrogate = [SurrogateFit(tests[0], 0.61, 150, r2_train=0.9)]
    return run


def _writer(db: str, runs_dir: str, tag: str, n: int, go) -> None:
    go.wait(30)
    store = Store(db, runs_dir)
    for i in range(n):
        run = make_run(f"sim-finegpr+{tag}", i, 20.0 + i)
        store.start_run(run)
        store.finish_run(run)


def _hold_lock(db: str, run_id: str, holding, release) -> None:
    """Keep the DB open read-write with one uncommitted run row until told to let go."""
    from benchmark.store import migrate
    migrate(db)
    con = duckdb.connect(db)
    con.execute("BEGIN TRANSACTION")
    run = make_run("sim-finegpr", 7, 33.0)
    run.id = run_id
    run.status = "completed"
    put_run(con, run)
    holding.set()
    release.wait(60)
    con.execute("COMMIT")
    con.close()


def _start_and_hang(db: str, runs_dir: str, started) -> None:
    run = make_run("sim-finegpr+aost", 3, 40.0)
    run.id = "doomed-run"
    Store(db, runs_dir).start_run(run)
    started.set()
    threading.Event().wait(120)  # killed long before this


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "results" / "aostbench.duckdb", tmp_path / "results" / "runs")


# -- schema and migrations ----------------------------------------------------------------------------
def test_schema_created_from_empty_with_every_table_and_the_paper_rows(store: Store):
    store.upsert_dataset("sim-market1501", "procedural", "/data/sim-market1501", {"train": {"images": 10}}, "abc")
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        assert current_version(con) == SCHEMA_VERSION
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        tables_present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"datasets", "runs", "metrics", "fid", "attribute_dist", "costs", "surrogate", "submissions",
                "reference", "schema_version"} <= tables_present
        run_cols = {r[0] for r in con.execute("DESCRIBE runs").fetchall()}
        assert {"arch", "pretrained", "height", "width", "fid_weights", "owner_pid", "owner_host"} <= run_cols
    finally:
        con.close()


def test_migrating_a_version_1_database_keeps_its_rows(tmp_path: Path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    assert apply_migrations(con, target=1) == [1]
    con.execute("INSERT INTO runs (id, train_spec, profile, seed, status, started_at) "
                "VALUES ('old-1', 'sim-finegpr+aost', 'smoke', 0, 'completed', TIMESTAMP '2024-01-02 03:04:05')")
    con.execute("INSERT INTO metrics (run_id, test_set, r1, r5, map) VALUES ('old-1', 'sim-market1501', 30, 50, 20)")
    con.close()

    before = db.read_bytes()
    with pytest.raises(StoreOutdated, match="aostbench db migrate"):
        queries.runs_df(db)  # a reader never migrates: it says how
    assert db.read_bytes() == before
    from benchmark.store import migrate
    migrate(db)
    df = queries.runs_df(db)
    assert list(df["id"]) == ["old-1"]
    assert df.loc[0, "run_key"] is None and "no profile" in df.loc[0, "run_key_note"]  # marked, not guessed
    assert df.loc[0, "train_kind"] == "procedural"  # backfilled by migration 2
    assert queries.schema_version(db) == SCHEMA_VERSION
    assert len(queries.reference_df(db_path=db)) == len(load_reference_csv())
    m = queries.metrics_df(db)
    assert m.loc[0, "r1"] == 30 and m.loc[0, "settings"] == "?/?/?/fid:?"  # settings unknown, said so


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path: Path):
    db = tmp_path / "future.duckdb"
    con = duckdb.connect(str(db))
    apply_migrations(con)
    con.execute("INSERT INTO schema_version (version, description) VALUES (99, 'from the future')")
    con.close()
    with pytest.raises(StoreError, match="newer than this aostbench"):
        queries.runs_df(db)
    with pytest.raises(StoreError, match="newer than this aostbench"):
        Store(db).upsert_dataset("x", "real", None, {}, None)


def test_reference_rows_are_the_csv_rows(store: Store):
    store.upsert_dataset("x", "real", None, {}, None)  # creates the DB
    ref = queries.reference_df(db_path=store.path)
    with REFERENCE_CSV.open(newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert len(ref) == len(csv_rows) == 42
    assert list(ref["train_set"]) == [r["train_set"] for r in csv_rows]
    row = ref[(ref["table"] == 3) & (ref["train_set"] == "finegpr+aost") & (ref["test_set"] == "market1501")]
    assert row[["rank1", "rank5", "map"]].values.tolist() == [[56.3, 70.4, 29.2]]
    assert pd.isna(ref[(ref["train_set"] == "somaset")]["rank5"]).all()
    assert len(queries.reference_df(2, db_path=store.path)) == 30
    assert len(queries.reference_df(3, db_path=store.path)) == 12


# -- writes ---------------------------------------------------------------------------------------------
def test_values_with_quotes_and_sql_are_stored_verbatim(store: Store):
    nasty = "x'); DROP TABLE runs; --\"quoted\""
    run = make_run(f"submission:{nasty}", 0, 25.0)
    run.error = None
    run.notes = {"comment": nasty}
    store.start_run(run)
    store.finish_run(run)
    version = store.add_submission(nasty, status="rejected", reasons=[nasty, "too few ids"],
                                   report={"why": nasty}, path=f"/tmp/{nasty}", n_images=3, n_ids=1)
    assert version == 1
    assert store.add_submission(nasty, status="accepted") == 2

    runs = queries.runs_df(store.path)
    assert list(runs["train_spec"]) == [f"submission:{nasty}"]
    detail = queries.run_detail(run.id, store.path)
    assert detail["run"]["notes"] == {"comment": nasty}
    sub = store.get_submission(nasty, 1)
    assert sub["name"] == nasty and sub["reasons"] == [nasty, "too few ids"] and sub["report"] == {"why": nasty}
    assert store.get_submission(nasty)["version"] == 2
    assert [s["version"] for s in store.list_submissions()] == [1, 2]
    assert queries.submissions_df(store.path, latest_only=True)["version"].tolist() == [2]
    assert store.remove_submission(nasty) == 2
    assert store.list_submissions() == []


def test_finish_run_is_idempotent_and_replaces_child_rows(store: Store):
    run = make_run("sim-finegpr+aost", 0, 30.0, tests=("sim-market1501", "sim-dukemtmc"))
    store.start_run(run)
    assert queries.runs_df(store.path)["status"].tolist() == ["running"]
    store.finish_run(run)
    store.finish_run(run)
    run.metrics["sim-market1501"] = Metrics(r1=31.0, r5=41.0, map=21.0)
    store.finish_run(run)
    d = queries.run_detail(run.id[:18], store.path)  # a unique prefix works
    assert d["run"]["status"] == "completed" and d["run"]["ended_at"] is not None
    assert sorted((m["test_set"], m["r1"]) for m in d["metrics"]) == [("sim-dukemtmc", 31.0), ("sim-market1501", 31.0)]
    assert len(d["fid"]) == 2 and len(d["costs"]) == 2 and len(d["surrogate"]) == 1
    assert len(d["attribute_dist"]) == 4  # two distributions over two codes
    dist = queries.attribute_dist_df(run.id, store.path)
    assert set(dist["value_name"]) == {"male", "female"}
    with pytest.raises(StoreError, match="already completed"):
        store.start_run(run)
    with pytest.raises(StoreError, match="completed"):
        store.fail_run(run.id, "too late")
    saved = RunResult.load(store.run_dir(run.id) / "result.json")
    assert saved.to_dict() == run.to_dict()


def test_numpy_numbers_are_stored_as_plain_values(store: Store):
    import numpy as np
    run = make_run("sim-finegpr", np.int64(4), 20.0)
    run.metrics["sim-market1501"] = Metrics(r1=np.float32(12.5), r5=np.float64(20.0), map=np.float32(7.25),
                                            num_query=np.int64(50))
    run.train_images = np.int64(300)
    store.start_run(run)
    store.finish_run(run)
    m = queries.run_detail(run.id, store.path)["metrics"][0]
    assert (m["r1"], m["map"], m["num_query"]) == (12.5, 7.25, 50)
    assert RunResult.load(store.run_dir(run.id) / "result.json").metrics["sim-market1501"].r1 == 12.5


def test_fail_run_by_id_keeps_what_the_artefact_knows(store: Store):
    run = make_run("sim-finegpr+random", 1, 10.0)
    store.start_run(run)
    store.fail_run(run.id, "CUDA out of memory\nsecond line")
    d = queries.run_detail(run.id, store.path)
    assert d["run"]["status"] == "failed" and d["run"]["error"] == "CUDA out of memory\nsecond line"
    assert RunResult.load(store.run_dir(run.id) / "result.json").status == "failed"
    assert queries.table_rows(3, db_path=store.path)["source"].eq("ours").sum() == 0  # failed runs are not scored


def test_result_format_round_trips_and_rejects_bad_values():
    run = make_run("sim-finegpr+aost", 2, 44.0)
    again = RunResult.from_dict(json.loads(run.to_json()))
    assert again == run
    run.metrics["sim-market1501"] = Metrics(r1=0.5, r5=150.0, map=0.3)
    with pytest.raises(ValueError, match=r"r5 = 150.0 is not a percentage"):
        run.validate()
    run.metrics["sim-market1501"] = {"r1": 1.0, "r5": 2.0, "map": 3.0}  # dicts are accepted
    run.attribute_dists = [AttributeDist("gender", "selected", [0.2, 0.2])]
    with pytest.raises(ValueError, match="sum to 0.4000"):
        run.validate()
    with pytest.raises(ValueError, match="lacks required field"):
        RunResult.from_dict({"id": "x"})


def test_run_ids_are_unique_and_sort_by_time():
    ids = [new_run_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    stamps = [i.rsplit("-", 1)[0] for i in ids]
    assert stamps == sorted(stamps)
    assert re.fullmatch(r"\d{8}-\d{6}-\d{6}-[0-9a-f]{6}", ids[0])


# -- concurrency ------------------------------------------------------------------------------------------
def test_two_processes_writing_at_once_both_land(tmp_path: Path):
    db, runs_dir = str(tmp_path / "c.duckdb"), str(tmp_path / "runs")
    go = CTX.Event()
    procs = [CTX.Process(target=_writer, args=(db, runs_dir, tag, 6, go)) for tag in ("random", "aost")]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    runs = queries.runs_df(db)
    assert len(runs) == 12 and set(runs["status"]) == {"completed"}
    assert sorted(runs["train_spec"].value_counts().tolist()) == [6, 6]
    assert len(queries.metrics_df(db)) == 12
    assert check_db(db, runs_dir) == []


def test_reader_waits_while_a_writer_holds_the_file(tmp_path: Path):
    db = str(tmp_path / "busy.duckdb")
    holding, release = CTX.Event(), CTX.Event()
    proc = CTX.Process(target=_hold_lock, args=(db, "held-run", holding, release))
    proc.start()
    try:
        assert holding.wait(60)
        with pytest.raises(StoreBusy, match="stayed locked"):
            queries.runs_df(db, timeout=0.3)
        threading.Timer(0.5, release.set).start()
        # this read can only succeed after the writer committed, so it must see the held row
        df = queries.runs_df(db)
        assert df["id"].tolist() == ["held-run"]
    finally:
        release.set()
        proc.join(60)
    assert proc.exitcode == 0


def test_a_run_whose_process_died_becomes_failed_never_completed(tmp_path: Path):
    db, runs_dir = str(tmp_path / "k.duckdb"), str(tmp_path / "runs")
    started = CTX.Event()
    proc = CTX.Process(target=_start_and_hang, args=(db, runs_dir, started))
    proc.start()
    assert started.wait(60)
    assert queries.runs_df(db)["status"].tolist() == ["running"]  # owner alive: left alone
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)

    mine = make_run("sim-finegpr", 0, 30.0)  # owned by this (live) process
    Store(db, runs_dir).start_run(mine)
    other_host = make_run("sim-finegpr", 1, 30.0)
    Store(db, runs_dir).start_run(other_host)
    con = duckdb.connect(db)
    con.execute("UPDATE runs SET owner_host = 'elsewhere' WHERE id = ?", [other_host.id])
    con.close()

    problems = check_db(db, runs_dir)
    assert any("doomed-run" in p and "process" in p for p in problems)
    assert any(other_host.id in p and "owner_host" in p for p in problems)  # the DB no longer matches its file
    assert queries.runs_df(db).set_index("id").loc["doomed-run", "status"] == "running"  # reads never write
    assert mark_stale_runs(db, runs_dir) == ["doomed-run"]  # the explicit step (`runs list`, grid) does
    runs = queries.runs_df(db).set_index("id")
    assert runs.loc["doomed-run", "status"] == "failed"
    assert runs.loc["doomed-run", "error"].startswith("interrupted")
    assert runs.loc[mine.id, "status"] == "running" and runs.loc[other_host.id, "status"] == "running"
    assert RunResult.load(Path(runs_dir) / "doomed-run" / "result.json").status == "failed"
    assert mark_stale_runs(db, runs_dir) == []  # nothing left to do
    assert (queries.table_rows(3, db_path=db)["source"] == "ours").sum() == 0


# -- rebuild and check ------------------------------------------------------------------------------------
def _seed_results(store: Store) -> None:
    for seed in (0, 1, 2):
        for spec, r1 in (("sim-finegpr", 30.0), ("sim-finegpr+random", 28.0), ("sim-finegpr+aost", 35.0),
                         ("sim-market1501", 60.0)):
            run = make_run(spec, seed, r1 + seed * 1.5, tests=("sim-market1501", "sim-dukemtmc"))
            store.start_run(run)
            store.finish_run(run)
    failed = make_run("sim-finegpr+ao", 0, 1.0)
    store.start_run(failed)
    store.fail_run(failed, "boom")
    store.add_submission("mine", status="accepted", n_images=10, n_ids=2)
    store.upsert_dataset("sim-market1501", "procedural", "/d", {"query": {"images": 5}}, "fp")


def test_rebuild_reproduces_the_tables_exactly(store: Store, tmp_path: Path):
    _seed_results(store)
    before = {t: queries.table_rows(t, db_path=store.path) for t in (2, 3)}
    runs_before = queries.runs_df(store.path).drop(columns=["owner_host", "owner_pid"])
    fid_before = queries.fid_df(store.path)
    assert check_db(store.path, store.runs_dir) == []

    report = rebuild_from_runs(store.runs_dir, store.path)
    assert report.runs == 13 and report.skipped == [] and report.carried == {"datasets": 1, "submissions": 1}
    for t in (2, 3):
        after = queries.table_rows(t, db_path=store.path)
        pd.testing.assert_frame_equal(before[t], after)
        assert before[t].attrs == after.attrs
    pd.testing.assert_frame_equal(runs_before, queries.runs_df(store.path).drop(columns=["owner_host", "owner_pid"]))
    pd.testing.assert_frame_equal(fid_before, queries.fid_df(store.path))
    assert store.get_submission("mine")["n_images"] == 10
    assert check_db(store.path, store.runs_dir) == []

    fresh = tmp_path / "elsewhere" / "fresh.duckdb"  # a new file from the artefacts alone
    rebuild_from_runs(store.runs_dir, fresh)
    pd.testing.assert_frame_equal(before[3], queries.table_rows(3, db_path=fresh))


def test_rebuild_replaces_a_damaged_db_file(store: Store):
    run = make_run("sim-finegpr+aost", 0, 35.0)
    store.start_run(run)
    store.finish_run(run)
    store.path.write_bytes(b"this is not a DuckDB file" * 100)
    with pytest.raises(duckdb.Error):
        queries.runs_df(store.path)
    report = rebuild_from_runs(store.runs_dir, store.path)
    assert report.runs == 1 and "the old DB cannot be read" in report.skipped[0]
    assert queries.runs_df(store.path)["id"].tolist() == [run.id]
    assert report.kept_old.read_bytes() == b"this is not a DuckDB file" * 100  # never deleted


def test_check_db_reports_what_does_not_match(store: Store):
    _seed_results(store)
    runs = queries.runs_df(store.path)
    gone = runs["id"].iloc[0]
    (store.run_dir(gone) / "result.json").unlink()
    orphan = make_run("sim-finegpr", 9, 12.0)
    orphan.status = "completed"
    orphan.save(store.runs_dir)
    bare = make_run("sim-finegpr", 8, 12.0)
    bare.metrics = {}
    Store(store.path, store.runs_dir).finish_run(bare)
    (store.runs_dir / "junk").mkdir()
    (store.runs_dir / "junk" / "result.json").write_text("{not json")
    problems = "\n".join(check_db(store.path, store.runs_dir))
    assert f"run {gone} is in the DB but has no" in problems
    assert f"run {orphan.id} has a result.json but no DB row" in problems
    assert f"run {bare.id} is completed but has no metrics" in problems
    assert "junk" in problems and "not valid JSON" in problems


def test_readers_without_a_db_say_how_to_get_results(tmp_path: Path):
    missing = tmp_path / "nothing" / "here.duckdb"
    for fn in (lambda: queries.runs_df(missing), lambda: queries.table_rows(2, db_path=missing),
               lambda: queries.metrics_df(missing), lambda: queries.submissions_df(missing)):
        with pytest.raises(StoreEmpty, match=r"no results yet.*aostbench run .*aostbench demo"):
            fn()
    assert not missing.exists()  # reading never creates the file
    assert len(queries.reference_df(3, db_path=missing)) == 12  # the paper's rows need no DB


# -- table shape and output formats -------------------------------------------------------------------
def test_table_rows_mean_std_over_seeds_beside_the_paper(store: Store):
    for seed, r1 in ((0, 40.0), (1, 50.0), (2, 60.0)):
        run = make_run("sim-finegpr+aost", seed, r1)
        store.start_run(run)
        store.finish_run(run)
    rerun = make_run("sim-finegpr+aost", 2, 45.0)  # the same seed again: replaces, does not add
    store.start_run(rerun)
    store.finish_run(rerun)
    df = queries.table_rows(3, db_path=store.path)
    assert df.attrs["test_sets"] == ["sim-market1501"]
    assert df["label"].tolist() == ["FineGPR", "FineGPR+Random", "FineGPR+AO", "FineGPR+AOST",
                                    "sim-FineGPR+AOST (procedural)"]
    ours = df[df["source"] == "ours"].iloc[0]
    assert ours["n_seeds"] == 3 and ours["seeds"] == "0,1,2" and ours["mirrors"] == "finegpr+aost"
    assert ours["sim-market1501.r1"] == pytest.approx(45.0)
    assert ours["sim-market1501.r1.std"] == pytest.approx(5.0)
    assert ours["sim-market1501.r1.n"] == 3
    assert ours["sim-market1501.r1.paper"] == 56.3  # the real Market-1501 row it mirrors
    assert ours["sim-market1501.r1.diff"] == pytest.approx(45.0 - 56.3)
    assert ours["settings"] == "osnet_x0_25/scratch/64x32/fid:random" and not ours["paper_settings"]
    paper = df[df["row_id"] == "paper:finegpr+aost"].iloc[0]
    assert paper["sim-market1501.r1.rank"] == 1 and paper["images"] == 124200 and paper["time_days"] == 1.3
    assert pd.isna(ours["sim-market1501.r1.rank"])  # alone in its settings group: not ranked


def test_supervised_cells_are_flagged_and_not_ranked(store: Store):
    for spec, r1 in (("sim-market1501", 90.0), ("sim-finegpr", 30.0), ("sim-finegpr+aost", 35.0)):
        run = make_run(spec, 0, r1)
        store.start_run(run)
        store.finish_run(run)
    df = queries.table_rows(2, db_path=store.path).set_index("train_set")
    assert bool(df.loc["sim-market1501", "sim-market1501.supervised"])
    assert pd.isna(df.loc["sim-market1501", "sim-market1501.r1.rank"])
    assert df.loc["sim-finegpr+aost", "sim-market1501.r1.rank"] == 1
    assert df.loc["sim-finegpr", "sim-market1501.r1.rank"] == 2
    assert bool(df.loc["market1501", "sim-market1501.supervised"])  # the paper's own underline


def _table_with_underscores(store: Store) -> pd.DataFrame:
    for seed in (0, 1):
        for spec in ("submission:my_data+aost", "sim-finegpr+aost"):
            run = make_run(spec, seed, 30.0 + seed, tests=("sim-market1501", "market1501"))
            store.start_run(run)
            store.finish_run(run)
    return queries.table_rows(2, db_path=store.path)


def test_latex_output_is_well_formed(store: Store):
    df = _table_with_underscores(store)
    tex = tables.render(df, "latex")
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    assert body.count("{") == body.count("}")
    assert re.findall(r"\\begin\{(\w+)\}", body) == ["table", "tabular"]
    assert re.findall(r"\\end\{(\w+)\}", body) == ["tabular", "table"]
    cells = body[body.index("\\begin{tabular}"):]
    assert re.search(r"(?<!\\)[_%&#$]", cells.replace(" & ", " ").replace("$\\pm$", "").replace(
        "$\\approx$", "")) is None  # specials escaped
    assert "submission:my\\_data+AOST" in body
    spec = re.search(r"\\begin\{tabular\}\{(\w+)\}", body).group(1)
    rows = [line for line in body.splitlines() if line.endswith("\\\\")]
    assert len(rows) == 2 + len(df)
    for line in rows[1:]:
        assert line.count(" & ") == len(spec) - 1, line
    assert "\\toprule" in body and "\\midrule" in body and "\\bottomrule" in body


def test_json_and_csv_outputs_are_well_formed(store: Store):
    df = _table_with_underscores(store)
    doc = json.loads(tables.render(df, "json"), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert doc["table"] == 2 and doc["test_sets"] == ["market1501", "sim-market1501"]
    assert len(doc["rows"]) == len(df)
    sources = {r["source"] for r in doc["rows"]}
    assert sources == {"ours", "paper"}
    ours = next(r for r in doc["rows"] if r["train_set"] == "sim-finegpr+aost")
    cell = ours["cells"]["sim-market1501"]["r1"]
    assert cell["mean"] == pytest.approx(30.5) and cell["n"] == 2 and cell["paper"] == 56.3
    assert ours["cells"]["sim-market1501"]["r5"]["rank"] in (1, 2, None)

    text = tables.render(df, "csv")
    parsed = list(csv.reader(text.splitlines()))
    assert len(parsed) == len(df) + 1 and len({len(r) for r in parsed}) == 1
    back = pd.read_csv(pd.io.common.StringIO(text))
    assert back["row_id"].tolist() == df["row_id"].tolist()
    assert back["market1501.r1"].tolist() == pytest.approx(df["market1501.r1"].astype(float).tolist(), nan_ok=True)

    md = tables.render(df, "md")
    widths = {line.count(" | ") for line in md.splitlines() if line.startswith("| ")}
    assert len(widths) == 1  # every Markdown row has the same number of cells
    assert "submission:my_data+AOST" in tables.render(df, "text")


def test_parquet_export_writes_every_table(store: Store, tmp_path: Path):
    _seed_results(store)
    files = queries.export_parquet(tmp_path / "export", store.path)
    by_name = {f.stem: f for f in files}
    assert set(by_name) >= {"runs", "metrics", "fid", "reference", "submissions"}
    assert len(pd.read_parquet(by_name["runs"])) == 13
    assert len(pd.read_parquet(by_name["reference"])) == 42
