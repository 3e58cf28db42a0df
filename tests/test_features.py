"""Feature extraction: dataset order, flip-averaging, hooks, NaN errors, sharding arithmetic."""
from __future__ import annotations

import sys

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from benchmark.profiles import SMOKE
from benchmark.reid.data import ReidImages, eval_dataset, write_toy_records
from benchmark.reid.distributed import shard_bounds, torchrun_command
from benchmark.reid.features import extract_features, extract_record_features
from benchmark.reid.models import build_reid_model

torch.set_num_threads(1)

TINY = SMOKE.with_(height=32, width=16)


def _images(n: int = 11) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 8, 4, generator=g)


def first_column(_model, x: torch.Tensor) -> torch.Tensor:
    """A hook whose output changes under a horizontal flip: channel 0's first column."""
    return x[:, 0, :, 0]


def test_features_come_back_in_dataset_order_whatever_the_batching():
    x = _images(11)
    mean_hook = lambda _m, b: b.mean(dim=(2, 3))  # noqa: E731
    want = x.mean(dim=(2, 3))
    for bs in (1, 3, 64):
        got = extract_features(torch.nn.Identity(), TensorDataset(x), batch_size=bs, forward=mean_hook)
        assert torch.allclose(got, want, atol=1e-6)
    loader = DataLoader(TensorDataset(x), batch_size=4, shuffle=False)
    assert torch.allclose(extract_features(torch.nn.Identity(), loader, forward=mean_hook), want, atol=1e-6)


def test_flip_averages_the_image_and_its_mirror():
    x = _images(5)
    plain = extract_features(torch.nn.Identity(), TensorDataset(x), batch_size=2, forward=first_column)
    flipped = extract_features(torch.nn.Identity(), TensorDataset(x), batch_size=2, forward=first_column, flip=True)
    assert torch.equal(plain, x[:, 0, :, 0])
    assert torch.allclose(flipped, (x[:, 0, :, 0] + x[:, 0, :, -1]) / 2)
    assert not torch.allclose(plain, flipped)


def test_nan_features_are_an_error_naming_the_split():
    x = _images(6)
    x[4] = float("nan")
    with pytest.raises(ValueError, match=r"query split contain NaN.*first at \[4\]"):
        extract_features(torch.nn.Identity(), TensorDataset(x), forward=lambda _m, b: b.flatten(1), split="query")


def test_model_features_are_batch_independent_and_mode_is_restored(tmp_path):
    recs = write_toy_records(tmp_path, num_ids=3, images_per_id=3, seed=0)
    torch.manual_seed(0)
    model, _ = build_reid_model(TINY, 3)
    model.train()
    a = extract_record_features(model, recs, TINY, batch_size=2, split="gallery")
    b = extract_record_features(model, recs, TINY, batch_size=9, split="gallery")
    assert model.training  # put back as found
    assert a.shape == (9, 512) and a.dtype == torch.float32
    assert torch.allclose(a, b, atol=1e-5)
    # eval-mode output: the same as calling the model on each image alone
    model.eval()
    with torch.no_grad():
        one = model(eval_dataset(recs[5:6], TINY.height, TINY.width)[0][0][None])
    assert torch.allclose(a[5], one[0], atol=1e-5)
    # flip_test comes from the profile unless given
    c = extract_record_features(model, recs, TINY.with_(flip_test=True), batch_size=9)
    assert not torch.allclose(a, c, atol=1e-4)


def test_empty_records_name_the_split():
    with pytest.raises(ValueError, match="query split: it is empty"):
        extract_record_features(torch.nn.Identity(), [], TINY, split="query")


def test_eval_dataset_is_unaugmented_and_train_dataset_flips_per_epoch(tmp_path):
    recs = write_toy_records(tmp_path, num_ids=2, images_per_id=8, seed=0)
    ev = eval_dataset(recs, 32, 16)
    img, pid, camid, idx = ev[3]
    assert img.shape == (3, 32, 16) and pid == recs[3].pid and camid == recs[3].camid and idx == 3
    tr = ReidImages(recs, 32, 16, train=True, flip=0.5, seed=0)
    assert tr.pid_map == {1: 0, 2: 1} and tr[9][1] == 1
    flips = []
    for epoch in range(3):
        tr.set_epoch(epoch)
        flips.append([torch.equal(tr[i][0], torch.flip(ev[i][0], dims=[2])) for i in range(len(recs))])
    assert any(any(f) for f in flips) and any(not all(f) for f in flips)
    assert flips[0] != flips[1] or flips[1] != flips[2]
    tr.set_epoch(1)
    assert [torch.equal(tr[i][0], torch.flip(ev[i][0], dims=[2])) for i in range(len(recs))] == flips[1]


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_shards_cover_everything_once_in_order(world):
    for n in range(0, 13):
        bounds = [shard_bounds(n, world, r) for r in range(world)]
        assert [i for a, b in bounds for i in range(a, b)] == list(range(n))
        sizes = [b - a for a, b in bounds]
        assert max(sizes) - min(sizes) <= 1


def test_torchrun_command_runs_modules_and_scripts(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("")
    cmd = torchrun_command(2, str(script), ["--x", 1])
    assert cmd[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    assert cmd[6:] == [str(script), "--x", "1"]
    assert torchrun_command(4, "benchmark.pipeline")[-2:] == ["--module", "benchmark.pipeline"]
    with pytest.raises(ValueError, match="nproc"):
        torchrun_command(0, "x")
