"""Your own data, first-class (issue 16): `data add/remove`, user twins, `--target DIR`.

Real runs (smoke profile, tiny twins) into a real DuckDB file; every folder a
test registers lives outside the data root and is checked to be untouched.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmark.store import app_queries, queries
from benchmark.synth import make_twin
from cli.main import app

runner = CliRunner()

# a twin the repository does not ship: a harbour at night in the rain, two cameras
HARBOUR = """
name = "sim-harbour-cams"
format = "market1501"
seed = 11
size = [64, 32]
[prior]
weather = { Blizzard = 6, Foggy = 1 }
illumination = [0, 0, 0, 0, 0, 1, 3]
scene = [0, 0, 0, 0, 0, 0, 5, 1, 0]
[[cameras]]
id = 1
style = { blur = 0.6, noise = 3.0 }
[[cameras]]
id = 2
style = { jpeg = 70 }
[scales.tiny]
train_ids = 3
test_ids = 3
train_images = 8
query_images = 3
gallery_images = 6
"""


def _snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("userdata")
    data = root / "data"
    for name in ("sim-finegpr", "sim-market1501"):
        make_twin(name, data, scale="tiny")
    outside = root / "outside"
    footage = outside / "footage"  # a Market-1501-layout folder of "your own" footage, outside the data root
    shutil.copytree(data / "sim-market1501" / "market1501" / "Market-1501-v15.09.15", footage)
    crops = outside / "crops"  # unlabeled crops in any folder tree
    src = sorted((footage / "bounding_box_train").glob("*.jpg"))
    for k, p in enumerate(src):
        dest = crops / ("cam_a" if k % 2 else "day2/x") / f"frame{k:03d}.jpg"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dest)
    (crops / "notes.txt").write_text("not an image")
    spec = outside / "harbour.toml"
    spec.write_text(HARBOUR)
    return {"root": root, "data": data, "db": root / "results" / "a.duckdb", "footage": footage, "crops": crops,
            "spec": spec}


@pytest.fixture(autouse=True)
def _cache(env, monkeypatch):
    monkeypatch.setenv("AOSTBENCH_CACHE", str(env["root"] / "cache"))


def cli(env, *args: str):
    return runner.invoke(app, [*args, "--data-root", str(env["data"])])


def run(env, *args: str):
    res = runner.invoke(app, ["run", *args, "--profile", "smoke", "--data-root", str(env["data"]),
                              "--db", str(env["db"])])
    return res


def one_line_error(res, *needles: str) -> str:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, res.output
    for n in needles:
        assert n in lines[0], res.output
    return lines[0]


def test_user_twin_is_registered_and_runs_with_v_star_against_its_true_prior(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["data", "make", str(env["spec"]), "--scale", "tiny", "--data-root", str(env["data"])])
    assert res.exit_code == 1 and "unknown scale" in res.output  # the CLI offers demo/full only
    make_twin(env["spec"], env["data"], scale="tiny")  # the engine's smallest scale, to keep the test short
    reg = (env["data"] / "user_datasets.toml").read_text()
    assert "[datasets.sim-harbour-cams]" in reg and 'kind = "twin"' in reg
    assert cli(env, "data", "check", "sim-harbour-cams").exit_code == 0
    res = cli(env, "data", "preview", "sim-harbour-cams", "-o", str(tmp_path / "sheet.png"))
    assert res.exit_code == 0, res.output
    res = cli(env, "data", "list")
    assert "sim-harbour-cams" in res.output and "user twin" in res.output

    res = run(env, "--train", "sim-finegpr+ao", "--test", "sim-harbour-cams", "--budget", "20")
    assert res.exit_code == 0, res.output
    runs = queries.runs_df(env["db"], train_spec="sim-finegpr+ao")
    run_id = runs.iloc[0]["id"]
    dists = queries.attribute_dist_df(run_id, env["db"])
    true = dists[(dists["source"] == "target-true") & (dists["attribute"] == "weather")]
    assert set(true["target"]) == {"sim-harbour-cams"}
    p = dict(zip(true["value"], true["p"]))
    assert p[6] == pytest.approx(6 / 7) and p[4] == pytest.approx(1 / 7)  # Blizzard, Foggy: the TOML prior
    recovery = app_queries.attribute_recovery(run_id, env["db"])  # what the app's attribute page shows
    assert "weather" in set(recovery["attribute"]) and recovery["tv_selected"].notna().all()
    result = json.loads((env["db"].parent / "runs" / run_id / "result.json").read_text())
    rec = result["notes"]["ao"]["recovery"]
    assert 0.0 <= rec["mean_tv_env"] <= 1.0 and rec["mean_tv_env_uniform"] > 0.4  # far from uniform
    fp = result["data_fingerprints"]["sim-harbour-cams"]
    assert fp and f'fingerprint = "{fp}"' in reg and result["config"]["target"]["fingerprint"] == fp
    assert list(tmp_path.iterdir()) == [tmp_path / "sheet.png"]


def test_market_folder_outside_the_root_is_a_test_set_and_its_own_column(env):
    before = _snapshot(env["footage"])
    res = cli(env, "data", "add", "footage", str(env["footage"]), "--format", "market1501")
    assert res.exit_code == 0, res.output
    assert "result: OK" in res.output and "registered footage" in res.output
    assert "user labeled" in cli(env, "data", "list").output
    res = run(env, "--train", "sim-finegpr", "--test", "sim-market,footage")
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["results", "--table", "2", "--format", "json", "--no-paper", "--db", str(env["db"]),
                              "--test", "sim-market,footage"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    cells = {r["train_set"]: r["cells"] for r in rows}
    assert {"sim-market1501", "footage"} <= set(cells["sim-finegpr"])
    assert cells["sim-finegpr"]["footage"]["r1"]["n"] == 1
    assert "footage" in app_queries.filter_options(env["db"])["test_sets"]  # the app's test-set columns
    assert "footage.r1" in queries.table_rows(2, ["footage"], db_path=env["db"]).columns
    res = run(env, "--train", "footage", "--test", "sim-market")  # your labeled folder as a training set
    assert res.exit_code == 0, res.output
    assert set(queries.runs_df(env["db"], train_spec="footage")["train_kind"]) == {"user"}
    assert _snapshot(env["footage"]) == before  # nothing written inside a registered folder


def test_unlabeled_crops_are_a_target_with_their_own_fingerprint(env):
    before = _snapshot(env["crops"])
    res = run(env, "--train", "sim-finegpr+aost", "--test", "sim-market", "--target", str(env["crops"]),
              "--budget", "20")
    assert res.exit_code == 0, res.output
    res = run(env, "--train", "sim-finegpr+ao+st", "--test", "sim-market", "--budget", "20")
    assert res.exit_code == 0, res.output
    runs = queries.runs_df(env["db"], train_spec="sim-finegpr+aost", status="completed")
    targets = {}
    for run_id in runs["id"]:
        result = json.loads((env["db"].parent / "runs" / run_id / "result.json").read_text())
        targets[result["config"]["target"]["key"]] = result["config"]["target"]
    assert set(targets) == {"folder:crops", "sim-market1501"}
    assert targets["folder:crops"]["fingerprint"] != targets["sim-market1501"]["fingerprint"]
    assert targets["folder:crops"]["path"] == str(env["crops"])
    fid = queries.fid_df(env["db"])
    assert "folder:crops" in set(fid["target"])  # AO and ST adapted to the crops, metrics from sim-market
    # registered as an unlabeled dataset it is a --target by name, never a test set
    assert cli(env, "data", "add", "crops", str(env["crops"]), "--format", "images").exit_code == 0
    one_line_error(run(env, "--train", "sim-finegpr", "--test", "crops"), "unlabeled", "--target")
    assert _snapshot(env["crops"]) == before


@pytest.mark.parametrize("args, needles", [
    (("duke", "{footage}", "--format", "market1501"), ("built-in dataset name",)),
    (("Bad Name", "{footage}", "--format", "market1501"), ("invalid dataset name",)),
    (("other", "{root}/nowhere", "--format", "market1501"), ("no folder at",)),
    (("other", "{footage}", "--format", "market9"), ("unknown format 'market9'", "images")),
    (("other", "{footage}", "--format", "msmt17"), ("not a valid msmt17 folder", "check --format")),
    (("other", "{footage}", "--format", "somaset"), ("somaset", "check --format")),
    (("other", "{crops}", "--format", "market1501"), ("not a valid market1501 folder",)),
])
def test_bad_registrations_are_one_line_errors_and_register_nothing(env, args, needles):
    before = (env["data"] / "user_datasets.toml").read_text() if (env["data"] / "user_datasets.toml").exists() else ""
    fmt = {k: str(v) for k, v in env.items()}
    res = cli(env, "data", "add", *(a.format(**fmt) for a in args))
    one_line_error(res, *needles)
    after = (env["data"] / "user_datasets.toml").read_text() if (env["data"] / "user_datasets.toml").exists() else ""
    assert after == before
    assert not (env["data"] / ".views" / "other").exists()


def test_a_name_clash_with_a_registered_dataset_and_a_user_twin(env, tmp_path):
    cli(env, "data", "add", "sim-clash", str(env["footage"]), "--format", "market1501")
    one_line_error(cli(env, "data", "add", "sim-clash", str(env["footage"]), "--format", "market1501"),
                   "already registered", "--update")
    spec = tmp_path / "clash.toml"
    spec.write_text(HARBOUR.replace('name = "sim-harbour-cams"', 'name = "sim-clash"'))
    one_line_error(runner.invoke(app, ["data", "make", str(spec), "--data-root", str(env["data"])]),
                   "already registered for the folder")
    spec.write_text(HARBOUR.replace('name = "sim-harbour-cams"', 'name = "sim-market"'))
    one_line_error(runner.invoke(app, ["data", "make", str(spec), "--data-root", str(env["data"])]),
                   "built-in dataset name")
    assert cli(env, "data", "remove", "sim-clash").exit_code == 0


def test_a_folder_changed_after_registration_is_refused_until_updated(env, tmp_path):
    folder = tmp_path / "mine"
    shutil.copytree(env["footage"], folder)
    assert cli(env, "data", "add", "mine", str(folder), "--format", "market1501").exit_code == 0
    extra = folder / "bounding_box_test" / "0099_c1s1_000001_01.jpg"
    shutil.copy(next((folder / "query").glob("*.jpg")), extra)
    line = one_line_error(run(env, "--train", "sim-finegpr", "--test", "mine"),
                          "changed since it was registered", "--update")
    assert f"aostbench data add mine {folder} --format market1501 --update" in line
    assert cli(env, "data", "check", "mine").exit_code == 1
    assert cli(env, "data", "add", "mine", str(folder), "--format", "market1501", "--update").exit_code == 0
    res = cli(env, "data", "remove", "mine")
    assert res.exit_code == 0 and "its files stay" in res.output
    assert extra.is_file() and (folder / "query").is_dir()  # unregistered, never deleted
    one_line_error(run(env, "--train", "sim-finegpr", "--test", "mine"), "unknown dataset 'mine'")


def test_grid_takes_your_datasets_as_test_sets(env):
    from benchmark.grid import plan_cells

    cli(env, "data", "add", "footage", str(env["footage"]), "--format", "market1501")  # registered above, or now
    cells = plan_cells(3, sim=True, profile="smoke", tests=["footage"], data_root=env["data"])
    assert cells and all(c.tests == ("footage",) for c in cells)
    one_line_error(cli(env, "data", "add", "my_data", str(env["footage"]), "--format", "market1501"), "use '-'")


def test_missing_real_data_names_the_twins_to_make(env):
    res = run(env, "--train", "finegpr", "--test", "sim-market")
    assert res.exit_code == 1
    assert "aostbench data make sim-finegpr && aostbench data make sim-market1501" in res.output
    assert "(and sim-finegpr)" not in res.output
