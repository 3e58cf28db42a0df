"""FID: our Frechet distance against pytorch-fid's, the network's weights, the cache."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark import fid
from benchmark.datasets.records import Record
from benchmark.profiles import SMOKE


def _gaussian_sets(d: int, n1: int, n2: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n1, d))
    b = rng.normal(size=(n2, d)) @ rng.normal(size=(d, d)) * 0.4 + 0.7
    return a, b


@pytest.mark.parametrize("d", [4, 32, 128])
def test_frechet_distance_equals_pytorch_fid(d):
    from pytorch_fid.fid_score import calculate_frechet_distance

    a, b = _gaussian_sets(d, 3 * d + 50, 2 * d + 80, seed=d)
    m1, s1 = fid.stats_of(a)
    m2, s2 = fid.stats_of(b)
    with warnings.catch_warnings():  # pytorch-fid calls sqrtm(disp=False), deprecated in SciPy
        warnings.simplefilter("ignore")
        ref = float(calculate_frechet_distance(m1, s1, m2, s2))
    ours = fid.frechet_distance(m1, s1, m2, s2)
    assert ours == pytest.approx(ref, rel=1e-6)
    assert ours > 0


def test_frechet_from_activations_matches_the_covariance_form_both_ways():
    for n1, n2, d in [(40, 30, 64), (200, 150, 16)]:  # fewer images than dims, and more
        a, b = _gaussian_sets(d, n1, n2, seed=n1)
        direct = fid.frechet_distance(*fid.stats_of(a), *fid.stats_of(b))
        assert fid.frechet_distance_of_activations(a, b) == pytest.approx(direct, rel=1e-6)
    a, _ = _gaussian_sets(64, 30, 2)
    assert abs(fid.frechet_distance_of_activations(a, a)) < 1e-8
    with pytest.raises(ValueError, match="at least 2"):
        fid.frechet_distance_of_activations(a[:1], a)
    with pytest.raises(ValueError, match="mismatched shapes"):
        fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def _write_images(folder: Path, n: int, colour_shift: int, seed: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        h, w = (48, 24) if i % 2 else (40, 20)  # mixed sizes: every image is resized to 299 first
        img = np.clip(rng.normal(120 + colour_shift, 40, (h, w, 3)), 0, 255).astype(np.uint8)
        p = folder / f"{i:03d}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
    return paths


@pytest.fixture
def no_official_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("AOSTBENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("AOSTBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_fid_without_official_weights_falls_back_and_says_so(no_official_weights):
    tmp = no_official_weights
    a = _write_images(tmp / "a", 8, 0, 0)
    b = _write_images(tmp / "b", 8, 60, 1)
    res = fid.compute_fid(a, b, profile=SMOKE)
    assert res.weights == "random" and res.dims == SMOKE.fid_dims and (res.n_a, res.n_b) == (8, 8)
    assert res.value > 0
    same = fid.compute_fid(a, [Record(p, 0, 0) for p in a], profile=SMOKE)  # paths or records
    assert same.value < 1e-6 * max(res.value, 1.0)
    # activations are cached per key: the cache files exist and a second call gives the same value
    cached = list((tmp / "cache" / "fid").glob("*.npy"))
    assert len(cached) == 2
    assert fid.compute_fid(a, b, profile=SMOKE).value == pytest.approx(res.value, rel=1e-12)
    keyed = fid.compute_fid(a, b, profile=SMOKE, cache_key_a="fp-a", cache_key_b="fp-b")
    assert keyed.value == pytest.approx(res.value, rel=1e-9)
    assert len(list((tmp / "cache" / "fid").glob(f"fp-a-*-random-seed0-{SMOKE.fid_dims}-8-{SMOKE.fid_max_images}-*.npy"))) == 1
    # the same key with other images of that dataset is another cache entry, not a stale hit
    other = fid.compute_fid(a[:5], b, profile=SMOKE, cache_key_a="fp-a", cache_key_b="fp-b")
    assert other.n_a == 5 and other.value != pytest.approx(keyed.value)


def test_official_weights_file_is_loaded_from_disk_never_downloaded(no_official_weights, monkeypatch):
    tmp = no_official_weights
    # a stand-in for the official file: the FID architecture's state dict under the official name
    from pytorch_fid import inception as pf

    full = fid.fid_backbone()
    with torch.no_grad():
        full.Conv2d_1a_3x3.conv.weight.fill_(0.01)
    (tmp / "weights").mkdir()
    torch.save(full.state_dict(), tmp / "weights" / fid.FID_WEIGHTS_FILE)

    def no_download(*args, **kwargs):
        raise AssertionError("FID weights must never be downloaded")

    monkeypatch.setattr(pf, "load_state_dict_from_url", no_download)
    assert fid.resolve_weights() == "official" and fid.resolve_weights("random") == "random"
    loaded = fid.build_inception(64, "official")
    assert torch.all(loaded.blocks[0][0].conv.weight == 0.01)
    a = _write_images(tmp / "a", 4, 0, 0)
    res = fid.compute_fid(a, a, profile=SMOKE)
    assert res.weights == "official"
    assert pf.fid_inception_v3 is not None and pf.fid_inception_v3.__name__ == "fid_inception_v3"  # restored


def test_fid_caps_images_at_the_profile_limit(no_official_weights):
    tmp = no_official_weights
    a = _write_images(tmp / "a", 7, 0, 0)
    res = fid.compute_fid(a, a[:3], profile=SMOKE.with_(fid_max_images=5))
    assert (res.n_a, res.n_b) == (5, 3)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        fid.compute_fid(a + [str(tmp / "missing.png")], a, profile=SMOKE)


def test_paper_fid_without_the_official_file_stops_instead_of_falling_back(no_official_weights):
    from benchmark.profiles import PAPER
    from benchmark.weights import MissingWeights

    a = _write_images(no_official_weights / "a", 3, 0, 0)
    with pytest.raises(MissingWeights, match="aostbench weights fetch fid-inception"):
        fid.compute_fid(a, a, profile=PAPER.with_(fid_dims=64))
    with pytest.raises(MissingWeights):
        fid.resolve_weights("official")
    assert not (no_official_weights / "cache" / "fid").exists()


def test_fid_cache_is_keyed_by_the_weights_file_content(no_official_weights):
    """Another file under the official name never returns the activations of the first."""
    tmp = no_official_weights
    (tmp / "weights").mkdir()
    a = _write_images(tmp / "a", 4, 0, 0)
    b = _write_images(tmp / "b", 4, 60, 1)
    values = []
    for fill in (0.01, 0.02):
        net = fid.fid_backbone()
        with torch.no_grad():
            net.Conv2d_1a_3x3.conv.weight.fill_(fill)
        torch.save(net.state_dict(), tmp / "weights" / fid.FID_WEIGHTS_FILE)
        res = fid.compute_fid(a, b, profile=SMOKE, cache_key_a="fp-a", cache_key_b="fp-b")
        assert res.weights == "official" and res.weights_use["tensors"] == len(net.state_dict())
        assert res.weights_use["checksum"] == "mismatch"  # a stand-in, not the published file
        values.append(res.value)
    assert values[0] != pytest.approx(values[1])
    again = fid.compute_fid(a, b, profile=SMOKE, cache_key_a="fp-a", cache_key_b="fp-b")
    assert again.value == values[1] and again.weights_use.get("from_cache")
