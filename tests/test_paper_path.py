"""The paper profile, executed end to end with stand-in weights (issue 17).

Stand-in files in the exact format of the official ones (seeded random state
dicts of torchvision's VGG-19 and ResNet-50 and of pytorch-fid's FID
Inception) are saved under the official names in a temporary weights folder,
and `aostbench run --train sim-finegpr+aost --test sim-market1501 --profile
paper` runs with `--set` overrides that shrink only sizes. The architecture,
input size, pretrained loading, VGG-19 imagenet distances, SPGAN generator
(9 residual blocks at 256x128) and the official FID path stay the paper's.
The stored run must show each stand-in file loaded (tensor counts, labels).
"""
from __future__ import annotations

import json
import time

import duckdb
import pytest
import torch
from typer.testing import CliRunner

from benchmark import weights as W
from benchmark.synth import make_twin
from cli.main import app

# sizes only: image counts, epochs, schedule length, PSO, GAN width/epochs, FID images
SHRINK = {
    "epochs": "1", "lr_steps": "[]", "batch_size": "8",
    "ao_budget": "16", "ao_probe": "20", "ao_target_images": "8", "pso_particles": "4", "pso_iters": "3",
    "style_epochs": "1", "style_width": "4", "style_max_images": "4",
    "fid_max_images": "6",
}


def _save_standins(folder) -> dict[str, dict]:
    """Seeded random state dicts under the official file names; returns {part: state}."""
    import torchvision

    from benchmark import fid

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(17)
    vgg = torchvision.models.vgg19(weights=None).state_dict()
    torch.save(vgg, folder / W.VGG19.filename)
    resnet = torchvision.models.resnet50(weights=None).state_dict()
    torch.save(resnet, folder / W.for_arch("resnet50").filename)
    inception = fid.fid_backbone()
    fid._variance_preserving_init(inception)  # finite activations through all blocks
    torch.save(inception.state_dict(), folder / W.FID_INCEPTION.filename)
    return {"vgg": vgg, "resnet": resnet, "inception": inception.state_dict()}


@pytest.fixture(scope="module")
def paper_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("paperpath")
    data = root / "data"
    make_twin("sim-finegpr", data, scale="tiny")
    make_twin("sim-market1501", data, scale="tiny")
    states = _save_standins(root / "weights")
    return {"root": root, "data": data, "weights": root / "weights", "states": states}


def test_paper_profile_runs_end_to_end_on_standin_weights(paper_env, monkeypatch):
    root = paper_env["root"]
    monkeypatch.setenv("AOSTBENCH_WEIGHTS", str(paper_env["weights"]))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch_home"))  # nothing from this machine's cache
    monkeypatch.setenv("AOSTBENCH_CACHE", str(root / "cache"))
    db = root / "results" / "paper.duckdb"
    sets = [x for k, v in SHRINK.items() for x in ("--set", f"{k}={v}")]
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, ["run", "--train", "sim-finegpr+aost", "--test", "sim-market1501", "--profile", "paper",
                                   *sets, "--data-root", str(paper_env["data"]), "--db", str(db), "--device", "cpu"])
    wall = time.perf_counter() - t0
    assert res.exit_code == 0, res.output
    run_dir = next((root / "results" / "runs").iterdir())
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "completed"

    # the paper's design, unchanged by the overrides
    prof = result["config"]["profile"]
    assert (prof["arch"], prof["pretrained"], prof["height"], prof["width"]) == ("resnet50", True, 256, 128)
    assert prof["ao_vgg_weights"] == "imagenet" and prof["ao_input"] == [256, 128]
    assert (prof["style"], prof["style_res_blocks"], prof["style_size"]) == ("spgan", 9, [256, 128])
    assert (prof["fid_weights"], prof["fid_dims"]) == ("official", 2048)
    assert result["notes"]["style"]["method"] == "spgan"
    # a shrunken run is never labelled as the paper's own settings
    assert result["variant"] != "paper" and "epochs=1" in result["variant"]

    # each stand-in file was loaded, as recorded where it was used
    used = {w["part"]: w for w in result["weights"]}
    states = paper_env["states"]
    assert set(used) == {"reid_backbone", "ao_vgg19", "fid_inception"}
    assert used["reid_backbone"]["file"] == "resnet50-19c8e357.pth" and used["reid_backbone"]["label"] == "imagenet"
    assert used["reid_backbone"]["tensors"] == len(states["resnet"]) - 2  # all but the 1000-class fc
    assert used["ao_vgg19"]["file"] == W.VGG19.filename
    assert used["ao_vgg19"]["tensors"] == sum(k.startswith("features.") for k in states["vgg"])
    assert used["fid_inception"]["file"] == W.FID_INCEPTION.filename and used["fid_inception"]["label"] == "official"
    assert used["fid_inception"]["tensors"] == len(states["inception"])
    for w in used.values():
        assert w["sha256"] == W.sha256_of(paper_env["weights"] / w["file"])
        assert w["checksum"] == "mismatch"  # stand-ins: the record says they are not the published files
    assert result["pretrained"] is True and result["fid_weights"] == "official"
    assert {(f["weights"], f["dims"]) for f in result["fid"]} == {("official", 2048)}
    assert {f["stage"] for f in result["fid"]} == {"full", "random", "ao", "aost"}

    # the DB says the same
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT part, file, sha256, tensors, label FROM weights_used ORDER BY part").fetchall()
        pretrained, fid_weights = con.execute("SELECT pretrained, fid_weights FROM runs").fetchone()
    assert {r[0]: (r[1], r[2], r[3], r[4]) for r in rows} == {
        p: (w["file"], w["sha256"], w["tensors"], w["label"]) for p, w in used.items()}
    assert pretrained is True and fid_weights == "official"
    assert (run_dir / "run.log").read_text().count("re-ID epoch 1/1") == 1
    assert wall < 180, f"the shrunken paper run took {wall:.0f} s (budget: 3 minutes on 2 cores)"


def test_paper_profile_without_a_weights_file_stops_before_any_work(paper_env, monkeypatch, tmp_path):
    """Every weights file the profile names is needed up front; nothing runs, nothing is stored."""
    import shutil

    partial = tmp_path / "weights"
    partial.mkdir()
    for f in (W.VGG19.filename, W.for_arch("resnet50").filename):
        shutil.copy(paper_env["weights"] / f, partial / f)
    monkeypatch.setenv("AOSTBENCH_WEIGHTS", str(partial))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("AOSTBENCH_CACHE", str(tmp_path / "cache"))
    db = tmp_path / "results" / "x.duckdb"
    res = CliRunner().invoke(app, ["run", "--train", "sim-finegpr+aost", "--test", "sim-market1501", "--profile", "paper",
                                   "--data-root", str(paper_env["data"]), "--db", str(db)])
    assert res.exit_code == 1
    assert "aostbench weights fetch fid-inception" in res.output and "Traceback" not in res.output
    assert not db.exists() and not (tmp_path / "cache").exists()
