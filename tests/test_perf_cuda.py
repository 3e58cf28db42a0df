"""`aostbench perf cuda`: without a GPU it stops with a clear message, not a stack trace."""
from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_perf_cuda_without_a_gpu_says_it_needs_one(tmp_path):
    from cli.main import app

    res = CliRunner().invoke(app, ["perf", "cuda", "--data-root", str(tmp_path / "data")])
    assert res.exit_code == 1
    assert "no CUDA device" in res.output and "needs one" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not (tmp_path / "data").exists()  # refused before any twin is written


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_perf_cuda_times_both_devices_and_the_features_agree(tmp_path):
    from benchmark.perf.cuda import cuda_check

    r = cuda_check(tmp_path / "data", tmp_path / "work", epochs=1, log=lambda *_: None)
    for row in r["profiles"].values():
        assert row["train_cuda"]["amp"] and row["train_cuda"]["images_per_second"] > 0
        f = row["features"]
        assert f["max_abs_diff"] < 0.01 * f["feature_scale"] and abs(f["r1_cuda"] - f["r1_cpu"]) < 1.0
