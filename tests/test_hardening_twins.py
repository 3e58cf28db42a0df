"""Twin names never collide with real datasets, and `--overwrite` only ever replaces our own twin (issue 15 item 5)."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.synth import make_twin
from benchmark.synth.spec import SpecError, load_twin_spec
from tests.test_data_cli import invoke
from tests.test_synth import USER_SPEC


def _spec(tmp_path: Path, name: str) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(USER_SPEC.replace('name = "sim-mycity"', f'name = "{name}"'), encoding="utf-8")
    return p


def _user_folder(root: Path, name: str) -> dict:
    folder = root / name
    (folder / "bounding_box_train").mkdir(parents=True)
    (folder / "bounding_box_train" / "0001_c1s1_000001_00.jpg").write_bytes(b"the user's real image")
    (folder / "notes.txt").write_text("mine")
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", ["market1501", "dukemtmc", "cuhk03", "msmt17", "finegpr", "sim-", "Sim-x", "sim-X",
                                  "sim-a/b", "sim-../x", "../market1501", ".hidden", "sim-x\\u001b[31m", "sim-x ",
                                  "sim-" + "a" * 70, "sim--", "simmarket"])
def test_a_twin_name_without_the_sim_prefix_rule_is_refused(tmp_path, name):
    with pytest.raises(SpecError, match='must be "sim-"'):
        load_twin_spec(_spec(tmp_path, name))


def test_make_overwrite_with_a_real_dataset_name_deletes_nothing(tmp_path):
    root = tmp_path / "data"
    before = _user_folder(root, "market1501")
    res = invoke("make", str(_spec(tmp_path, "market1501")), "--root", str(root), "--overwrite")
    assert res.exit_code == 1 and 'must be "sim-"' in res.output and "Traceback" not in res.output
    assert {p: p.read_bytes() for p in (root / "market1501").rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("marker", [None, "name = \"sim-other\"\n[generated]\nengine = \"1.0\"\n", "not toml [[[",
                                    "name = \"sim-mycity\"\n"])
def test_overwrite_refuses_a_folder_that_is_not_our_twin(tmp_path, marker):
    root = tmp_path / "data"
    before = _user_folder(root, "sim-mycity")
    if marker is not None:
        (root / "sim-mycity" / "twin.toml").write_text(marker)
        before[root / "sim-mycity" / "twin.toml"] = marker.encode()
    res = invoke("make", str(_spec(tmp_path, "sim-mycity")), "--root", str(root), "--overwrite")
    assert res.exit_code == 1 and "not a twin written by aostbench" in res.output, res.output
    assert {p: p.read_bytes() for p in (root / "sim-mycity").rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in root.iterdir()) == ["sim-mycity"]  # no temporary folder left


def test_overwrite_replaces_our_own_twin(tmp_path):
    root = tmp_path / "data"
    spec = _spec(tmp_path, "sim-mycity")
    base = make_twin(spec, root, scale="tiny")
    first = (base / "twin.toml").read_text()
    make_twin(spec, root, scale="tiny", seed=3, overwrite=True)
    assert (base / "twin.toml").read_text() != first and "seed = 3" in (base / "twin.toml").read_text()


def test_folders_of_a_killed_make_are_cleared_by_the_next(tmp_path):
    import subprocess
    import sys

    root = tmp_path / "data"
    root.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = dead.stdout.strip()
    for kind in ("tmp", "old"):
        (root / f".sim-mycity.{kind}-{pid}").mkdir()
    (root / ".sim-other.tmp-1").mkdir()  # another twin's: not this make's business
    make_twin(_spec(tmp_path, "sim-mycity"), root, scale="tiny")
    # (a user twin is also registered by name in the data root's user_datasets.toml)
    assert sorted(p.name for p in root.iterdir()) == [".sim-other.tmp-1", "sim-mycity", "user_datasets.toml"]
