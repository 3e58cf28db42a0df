"""Attribute optimisation: Eq. 1-3, set comparison, surrogate, PSO, selection, the stage end to end."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.aost import distances as dist
from benchmark.aost.probe import balanced_codes, weighted_sample
from benchmark.aost.search import SearchSpace, search_distribution
from benchmark.aost.surrogate import TreeExpectation, fit_surrogate
from benchmark.attributes import ALL_ATTRIBUTES, ENV_NAMES, ID_NAMES
from benchmark.datasets.records import Dataset, Record
from benchmark.weights import MissingWeights
from benchmark.profiles import PAPER, SMOKE

REPO = Path(__file__).resolve().parents[1]


# --- Eq. 1-3 ------------------------------------------------------------------------------


def _naive_gram(f: np.ndarray) -> np.ndarray:
    n = f.shape[0]
    flat = f.reshape(n, -1)
    g = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            g[i, j] = sum(flat[i, k] * flat[j, k] for k in range(flat.shape[1]))
    return g


def test_eq1_eq2_eq3_match_a_naive_computation():
    rng = np.random.default_rng(0)
    shapes = {"relu1_1": (3, 4, 2), "relu2_1": (4, 2, 2), "relu3_1": (5, 2, 1), "relu4_1": (2, 1, 3), "relu5_1": (3, 1, 1)}
    a = {k: rng.random(s) for k, s in shapes.items()}
    b = {k: rng.random(s) for k, s in shapes.items()}
    a["relu4_2"], b["relu4_2"] = rng.random((3, 2, 2)), rng.random((3, 2, 2))
    expect_style = 0.0
    for name in dist.STYLE_LAYERS:
        n, m = shapes[name][0], shapes[name][1] * shapes[name][2]
        diff = _naive_gram(a[name]) - _naive_gram(b[name])
        expect_style += 0.2 * (1.0 / (4 * n**2 * m**2)) * sum(diff[i, j] ** 2 for i in range(n) for j in range(n))
    expect_content = 0.5 * sum(float(x) ** 2 for x in (a["relu4_2"] - b["relu4_2"]).ravel())

    ta = {k: torch.tensor(v[None], dtype=torch.float64) for k, v in a.items()}
    tb = {k: torch.tensor(v[None], dtype=torch.float64) for k, v in b.items()}
    d_style, d_content = dist.exact_pair_distances(ta, tb)
    assert d_style.item() == pytest.approx(expect_style, rel=1e-10)
    assert d_content.item() == pytest.approx(expect_content, rel=1e-10)
    assert dist.total_distance(2.0, 3.0) == pytest.approx(0.9 * 2.0 + 1.0 * 3.0)
    assert dist.total_distance(2.0, 3.0, (4.0, 6.0)) == pytest.approx(0.9 * 0.5 + 0.5)
    assert dist.style_norm(3, 5) == pytest.approx(1 / (4 * 9 * 25))


def test_vgg_taps_are_the_paper_layers():
    net, label = dist.build_vgg("random", seed=0)
    assert label == "random(seed=0)"
    layers = list(net.features)
    for name, idx in {**dist.STYLE_LAYERS, "relu4_2": 22}.items():
        assert isinstance(layers[idx], torch.nn.ReLU), name
    convs = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.Conv2d)]
    # relu1_1 follows conv1_1, relu2_1 the 3rd conv, relu3_1 the 5th, relu4_1 the 9th, relu4_2 the 10th, relu5_1 the 13th
    assert [convs[k] + 1 for k in (0, 2, 4, 8, 9, 12)] == [1, 6, 11, 20, 22, 29]
    again, _ = dist.build_vgg("random", seed=0)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), again.parameters()))


def _random_images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.random((32, 16, 3)) * 255 * rng.uniform(0.2, 1.0)).astype(np.uint8) for _ in range(n)]


def test_sketched_pair_distances_estimate_the_exact_ones():
    d = dist.StyleContentDistance("random", sketch_dim=4096, batch_size=8)
    data = dist.images_dataset(_random_images(6), 32, 16)
    sk = d.sketches(data)
    with torch.no_grad():
        taps = d.net(torch.stack([data[i] for i in range(len(data))]))
    exact_s, exact_c = dist.exact_pair_distances(taps, taps)
    est_s, est_c = dist.pair_distances(sk, sk)
    off = ~np.eye(6, dtype=bool)
    assert np.abs(est_s[off] / exact_s.numpy()[off] - 1).max() < 0.15
    assert np.abs(est_c[off] / exact_c.numpy()[off] - 1).max() < 0.15
    assert np.allclose(np.diag(est_s), 0) and np.allclose(np.diag(est_c), 0)
    # the sketch tables depend on (seed, layer, size) only, not on the order of use
    cs1, cs2 = dist.CountSketch(64), dist.CountSketch(64)
    cs2._table("b", 10)
    assert torch.equal(cs1._table("a", 10)[0], cs2._table("a", 10)[0])


# --- one image against a set --------------------------------------------------------------


def test_soft_claims_each_target_image_counts_once():
    rng = np.random.default_rng(1)
    d = rng.random((7, 5)) * 10
    claims = dist.soft_claims(d, temperature=0.5)
    assert claims.sum() == pytest.approx(5.0)
    # cold: every target image's claim goes to its nearest probe image
    cold = dist.soft_claims(d, temperature=1e-6)
    assert np.allclose(cold, np.bincount(d.argmin(axis=0), minlength=7))
    # hot: spread evenly
    assert np.allclose(dist.soft_claims(d, temperature=1e9), 5 / 7)
    # adding a constant per target image (e.g. its camera-style gap) changes nothing
    assert np.allclose(dist.soft_claims(d + rng.random(5) * 100, 0.5), claims)
    # a weight multiplies a probe image's share
    w = np.zeros(7)
    w[3] = np.log(4.0)
    hot = dist.soft_claims(np.zeros((7, 5)), 1.0, w)
    assert hot[3] == pytest.approx(4 * hot[0])


def test_claim_temperature_scales_with_the_distances():
    rng = np.random.default_rng(2)
    d = rng.random((50, 20))
    assert dist.claim_temperature(3 * d) == pytest.approx(3 * dist.claim_temperature(d))
    assert dist.claim_temperature(np.zeros((5, 3))) == 1.0


# --- surrogate -------------------------------------------------------------------------------


def _cells(sizes, n, seed):
    return balanced_codes(sizes, n, np.random.default_rng(seed))


def test_surrogate_fits_a_synthetic_function_with_native_categoricals():
    sizes = [7, 2, 9]
    x = _cells(sizes, 600, 0)
    rng = np.random.default_rng(1)
    effect_a = rng.normal(0, 1, 7)
    y = effect_a[x[:, 0] - 1] + 0.8 * (x[:, 1] == 2) + np.sin(x[:, 2]) + rng.normal(0, 0.1, len(x))
    s = fit_surrogate(x, y, ["a", "b", "c"], sizes, seed=0)
    assert s.cv_r2 > 0.85 and len(s.fold_r2) == 5
    assert s.cv_d2 == s.cv_r2
    noise = fit_surrogate(x, rng.normal(size=len(x)), ["a", "b", "c"], sizes, seed=0)
    assert noise.cv_r2 < 0.2
    with pytest.raises(ValueError, match="codes must lie in 1..2"):
        fit_surrogate(np.where(x == 2, 3, x), y, ["a", "b", "c"], sizes)


def test_poisson_surrogate_and_exact_expectation_under_a_product_distribution():
    sizes = [3, 2, 4]
    x = _cells(sizes, 800, 3)
    rng = np.random.default_rng(4)
    log_rate = np.array([0.0, 1.0, -1.0])[x[:, 0] - 1] + np.array([0.5, 0.0])[x[:, 1] - 1]
    y = rng.poisson(np.exp(log_rate)).astype(float)
    s = fit_surrogate(x, y, ["a", "b", "c"], sizes, seed=0, params={"objective": "count:poisson", "max_depth": 2})
    assert s.cv_d2 > 0.2
    space = SearchSpace.of({"a": 3, "b": 2, "c": 4})
    expect = TreeExpectation.build(s, ["a", "b", "c"], space.offsets)
    # a point mass gives the model's own margin
    cells = np.array(list(itertools.product(range(1, 4), range(1, 3), range(1, 5))))
    onehot = np.zeros((len(cells), space.dims))
    for k, o in enumerate(space.offsets.values()):
        onehot[np.arange(len(cells)), o + cells[:, k] - 1] = 1
    assert np.allclose(expect(onehot), s.margin(cells), atol=1e-5)
    # any product distribution: the probability-weighted sum over all cells
    p = [rng.dirichlet(np.ones(n)) for n in sizes]
    weights = p[0][cells[:, 0] - 1] * p[1][cells[:, 1] - 1] * p[2][cells[:, 2] - 1]
    assert expect(np.concatenate(p)[None])[0] == pytest.approx(float(weights @ s.margin(cells)), abs=1e-5)


# --- PSO -------------------------------------------------------------------------------------


def _toy_cost(space: SearchSpace, effects: dict[str, np.ndarray]):
    vec = np.concatenate([effects[a] for a in space.attributes])
    return lambda m: np.atleast_2d(m) @ vec


def test_pso_finds_the_gibbs_optimum_of_a_toy_surrogate_and_returns_distributions():
    space = SearchSpace.of({"weather": 7, "bag": 2, "scene": 9})
    rng = np.random.default_rng(5)
    effects = {a: rng.normal(0, 1.5, n) for a, n in zip(space.attributes, space.sizes)}
    res = search_distribution(_toy_cost(space, effects), space, particles=20, iters=80, seed=3, entropy_weight=1.0)
    for a, e in effects.items():
        p = np.asarray(res.v_star[a])
        assert p.sum() == pytest.approx(1.0) and (p >= 0).all()
        optimum = np.exp(-e) / np.exp(-e).sum()  # the minimiser of E_p[e] - H(p)
        assert 0.5 * np.abs(p - optimum).sum() < 0.05
    # without the entropy term the cost alone picks each attribute's best value
    sharp = search_distribution(_toy_cost(space, effects), space, particles=20, iters=80, seed=3)
    for a, e in effects.items():
        assert int(np.argmax(sharp.v_star[a])) == int(np.argmin(e))
    assert res.history and res.objective <= res.history[0] + 1e-12


def test_pso_is_seeded_and_restores_numpys_global_state():
    space = SearchSpace.of({"weather": 7, "hat": 2})
    cost = _toy_cost(space, {"weather": np.arange(7.0), "hat": np.array([0.0, 1.0])})
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = search_distribution(cost, space, particles=8, iters=15, seed=7, entropy_weight=0.5)
    assert np.array_equal(np.random.get_state()[1], before)
    b = search_distribution(cost, space, particles=8, iters=15, seed=7, entropy_weight=0.5)
    assert a.v_star == b.v_star and a.history == b.history
    c = search_distribution(cost, space, particles=8, iters=15, seed=8, entropy_weight=0.5, informed_start=False)
    assert c.history != a.history


def test_pyswarms_leaves_no_report_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = SearchSpace.of({"hat": 2})
    search_distribution(_toy_cost(space, {"hat": np.array([0.0, 1.0])}), space, particles=4, iters=3, seed=0)
    assert not (tmp_path / "report.log").exists()
    assert not (REPO / "report.log").exists()
    # a fresh interpreter importing pyswarms through our helper, in a fresh folder, leaves nothing either
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    code = (
        "from benchmark.aost.quiet_pyswarms import pyswarms; import logging; ps = pyswarms(); "
        "o = ps.single.GlobalBestPSO(n_particles=3, dimensions=2, options={'c1': .5, 'c2': .3, 'w': .9}); "
        "o.optimize(lambda x: (x ** 2).sum(1), iters=2, verbose=False); "
        "assert not any(getattr(h, 'baseFilename', '').endswith('report.log') for h in logging.getLogger().handlers)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], cwd=fresh, env=env, check=True, timeout=120)
    leftovers = [p for p in tmp_path.rglob("report.log")]
    assert leftovers == [] and list(fresh.iterdir()) == []


# --- selection ---------------------------------------------------------------------------------


def _attr_dataset(tmp_path: Path, n: int, seed: int = 0) -> Dataset:
    """A file-backed source whose images carry all 17 attributes, independent and uniform."""
    rng = np.random.default_rng(seed)
    folder = tmp_path / "src"
    folder.mkdir()
    codes = balanced_codes([a.n for a in ALL_ATTRIBUTES], n, rng)
    recs = []
    for i, row in enumerate(codes):
        path = folder / f"{i:05d}.png"
        if i < 4:  # selection never opens the files; a few are real images
            Image.fromarray(np.full((8, 4, 3), i * 40, np.uint8)).save(path)
        recs.append(Record(str(path), pid=i % 50, camid=int(row[13]) - 1, attrs=dict(zip([a.name for a in ALL_ATTRIBUTES], map(int, row)))))
    return Dataset("toy-attrs", "submission", folder, train=recs)


def test_selection_from_files_follows_v_star(tmp_path):
    from benchmark.aost.select import select

    source = _attr_dataset(tmp_path, 6000)
    v = {a.name: list(np.full(a.n, 1.0 / a.n)) for a in ALL_ATTRIBUTES}
    v["weather"] = [0.6, 0.3, 0.1, 0, 0, 0, 0]
    v["illumination"] = [0, 0, 0.2, 0.5, 0.3, 0, 0]
    v["bag"] = [0.9, 0.1]
    # 300 of 6,000: every cell V* asks for still has enough images in the source
    sel = select(source, v, 300, seed=1)
    assert sel.kind == "sampled" and len(sel.records) == len({r.path for r in sel.records}) == 300
    for a in ("weather", "illumination", "bag"):
        got = np.bincount([r.attrs[a] for r in sel.records], minlength=len(v[a]) + 1)[1:] / 300
        assert 0.5 * np.abs(got - np.asarray(v[a])).sum() < 0.08, (a, got)
    assert sel.source_dist["weather"] == pytest.approx([1 / 7] * 7, abs=0.01)
    assert sel.v_star["bag"] == pytest.approx([0.9, 0.1])
    assert len(select(source, v, 10_000).records) == 6000  # a budget above the source takes everything
    with pytest.raises(ValueError, match="V\\*\\['bag'\\]"):
        select(source, {**v, "bag": [1.0]}, 10)


def test_weighted_sample_without_replacement():
    rng = np.random.default_rng(0)
    counts = np.zeros(4)
    for _ in range(3000):
        counts[weighted_sample(np.log([1.0, 2.0, 3.0, 4.0]), 1, rng)] += 1
    assert np.allclose(counts / counts.sum(), [0.1, 0.2, 0.3, 0.4], atol=0.03)
    take = weighted_sample(np.array([0.0, -np.inf, 0.0]), 2, rng)
    assert sorted(take.tolist()) == [0, 2]


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    from benchmark.synth import make_twin

    root = tmp_path_factory.mktemp("twins")
    make_twin("sim-finegpr", root, scale="tiny")
    make_twin("sim-market1501", root, scale="tiny")
    return root


def test_rendered_selection_writes_finegpr_files(twins, tmp_path):
    from benchmark.aost.select import select
    from benchmark.datasets import load_dataset

    source = load_dataset("sim-finegpr", twins)
    v = {a.name: list(np.full(a.n, 1.0 / a.n)) for a in ALL_ATTRIBUTES}
    v["weather"] = [0, 0, 1.0, 0, 0, 0, 0]
    v["hat"] = [1.0, 0.0]
    sel = select(source, v, 30, seed=0, out_dir=tmp_path / "sel")
    assert sel.kind == "rendered" and len(sel.records) == 30
    assert all(r.attrs["weather"] == 3 and r.attrs["hat"] == 1 for r in sel.records)
    assert all(Path(r.path).is_file() for r in sel.records)
    again = load_dataset("finegpr", tmp_path / "sel")  # the folder is a FineGPR dataset in its own right
    assert sorted(r.path for r in again.train) == sorted(r.path for r in sel.records)
    assert {r.path: (r.pid, r.camid, dict(r.attrs)) for r in again.train} == {
        r.path: (r.pid, r.camid, dict(r.attrs)) for r in sel.records}
    # an interrupted rendering resumes: files already written are kept, the missing ones come back the same
    first = {r.path: Path(r.path).read_bytes() for r in sel.records}
    kept = Path(sel.records[0].path).stat().st_mtime_ns
    for r in sel.records[10:]:
        Path(r.path).unlink()
    resumed = select(source, v, 30, seed=0, out_dir=tmp_path / "sel")
    assert {r.path: Path(r.path).read_bytes() for r in resumed.records} == first
    assert Path(sel.records[0].path).stat().st_mtime_ns == kept
    # another V* is another selection: nothing of the old one is reused
    v["weather"] = [0, 1.0, 0, 0, 0, 0, 0]
    other = select(source, v, 30, seed=0, out_dir=tmp_path / "sel")
    assert all(r.attrs["weather"] == 2 for r in other.records)
    assert sorted(p.name for p in (tmp_path / "sel").rglob("*.jpg")) == sorted(Path(r.path).name for r in other.records)


# --- probe ---------------------------------------------------------------------------------------


def test_balanced_design_covers_every_value_evenly():
    codes = balanced_codes([36, 7, 2], 100, np.random.default_rng(0))
    for j, n in enumerate([36, 7, 2]):
        counts = np.bincount(codes[:, j], minlength=n + 1)[1:]
        assert counts.min() >= 100 // n and counts.max() <= -(-100 // n)


def test_probe_from_files_favours_rare_values(tmp_path):
    from benchmark.aost.probe import build_probe

    source = _attr_dataset(tmp_path, 2000)
    skewed = [r for r in source.train if r.attrs["weather"] != 2 or r.pid % 10 == 0]  # weather 2 is rare
    ds = Dataset("skewed", "submission", source.root, train=skewed)
    probe = build_probe(ds, 200, seed=0)
    share = float(np.mean(probe.codes[:, probe.attributes.index("weather")] == 2))
    base = float(np.mean([r.attrs["weather"] == 2 for r in skewed]))
    assert probe.records is not None and len(probe) == 200
    assert share > 3 * base


def test_rendered_probe_is_seeded(twins):
    from benchmark.aost.probe import build_probe
    from benchmark.datasets import load_dataset

    source = load_dataset("sim-finegpr", twins)
    a, b, c = (build_probe(source, 12, seed=s) for s in (0, 0, 1))
    assert a.attributes == tuple(ID_NAMES + ENV_NAMES) and a.images is not None
    assert np.array_equal(a.codes, b.codes) and all(np.array_equal(x, y) for x, y in zip(a.images, b.images))
    assert not np.array_equal(a.codes, c.codes)


def test_restyled_probe_keeps_the_codes_and_changes_only_the_footage(twins):
    """The `people` method renders its source under random footage; the paper's probe stays clean."""
    from benchmark.aost.people import FOOTAGE, random_footage
    from benchmark.aost.probe import build_probe
    from benchmark.datasets import load_dataset

    source = load_dataset("sim-finegpr", twins)
    clean, footage, again = (build_probe(source, 12, seed=0, restyle=r) for r in (None, random_footage, random_footage))
    assert np.array_equal(clean.codes, footage.codes)
    assert all(np.array_equal(x, y) for x, y in zip(footage.images, again.images))  # seeded
    assert sum(not np.array_equal(x, y) for x, y in zip(clean.images, footage.images)) >= 10
    draws = [random_footage(np.random.default_rng(s)) for s in range(200)]
    assert max(d["texture"] for d in draws) > 0.9 * FOOTAGE["texture"][1]
    assert 0.3 < np.mean([d["backdrop"] > 0 for d in draws]) < 0.7


# --- the stage ---------------------------------------------------------------------------------


def test_paper_profile_without_vgg_weights_stops_before_any_work(tmp_path, monkeypatch):
    from benchmark.aost.ao import optimise_attributes

    monkeypatch.setenv("AOSTBENCH_WEIGHTS", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("AOSTBENCH_CACHE", str(tmp_path / "cache"))
    empty = Dataset("empty", "real", tmp_path)  # any work would fail on these first
    with pytest.raises(MissingWeights, match="vgg19-dcbb9e9d.pth"):
        optimise_attributes(empty, empty, PAPER)
    assert not (tmp_path / "cache").exists()


def test_run_ao_end_to_end_on_tiny_twins_with_cache(twins, tmp_path, monkeypatch):
    from benchmark.aost.ao import run_ao
    from benchmark.datasets import load_dataset

    monkeypatch.setenv("AOSTBENCH_CACHE", str(tmp_path / "cache"))
    source, target = load_dataset("sim-finegpr", twins), load_dataset("sim-market1501", twins)
    profile = SMOKE.with_(ao_probe=60, ao_target_images=20, pso_particles=8, pso_iters=8)
    res = run_ao(source, target, profile, budget=24, seed=0, work_dir=tmp_path / "run1")
    assert len(res.records) == 24 and res.vgg_weights == "random(seed=0)"
    assert set(res.v_star) == set(ID_NAMES + ENV_NAMES) == set(res.source_dist)
    assert all(sum(p) == pytest.approx(1.0) for p in res.v_star.values())
    assert set(res.costs) >= {"probe", "target", "surrogate", "search", "selection", "total"}
    assert np.isfinite(res.surrogate_r2)
    assert res.details["cached"] == {"probe": False, "target": False}
    again = run_ao(source, target, profile, budget=12, seed=0, work_dir=tmp_path / "run2")
    assert again.details["cached"] == {"probe": True, "target": True}
    assert again.v_star == res.v_star and len(again.records) == 12


# --- caches keyed by content; an interrupted feature pass resumes (issue 17) -----------------------


class _Counting(torch.utils.data.Dataset):
    """Counts the items read; raises KeyboardInterrupt at item `stop_at` (an interrupt mid-pass)."""

    def __init__(self, data, stop_at: int | None = None):
        self.data, self.stop_at, self.reads = data, stop_at, 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        if self.stop_at is not None and i == self.stop_at:
            raise KeyboardInterrupt
        self.reads += 1
        return self.data[i]


def test_an_interrupted_vgg_pass_resumes_from_its_saved_chunks(tmp_path):
    d = dist.StyleContentDistance("random", sketch_dim=256, batch_size=4)
    data = dist.images_dataset(_random_images(20, seed=3), 32, 16)
    whole = d.sketches(data)
    partial = tmp_path / "probe.partial"
    with pytest.raises(KeyboardInterrupt):
        d.sketches(_Counting(data, stop_at=13), partial=partial, chunk=8)
    assert sorted(p.name for p in partial.glob("*.npy")) == ["000000000.npy"]  # the finished chunk is kept
    again = _Counting(data)
    resumed = d.sketches(again, partial=partial, chunk=8)
    assert again.reads == 12  # only what was not saved
    assert np.array_equal(resumed.style, whole.style) and np.array_equal(resumed.content, whole.content)


def test_ao_features_are_keyed_by_the_vgg_file_content(twins, tmp_path, monkeypatch):
    """Another VGG-19 file under the official name is another cache entry, never the old features."""
    import torchvision

    from benchmark.aost.ao import optimise_attributes
    from benchmark.datasets import load_dataset

    monkeypatch.setenv("AOSTBENCH_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.setenv("AOSTBENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "w").mkdir()
    source, target = load_dataset("sim-finegpr", twins), load_dataset("sim-market1501", twins)
    profile = SMOKE.with_(ao_probe=20, ao_target_images=6, pso_particles=4, pso_iters=2, ao_vgg_weights="imagenet")
    runs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        torch.save(torchvision.models.vgg19(weights=None).state_dict(), tmp_path / "w" / dist.VGG19_FILE)
        runs.append(optimise_attributes(source, target, profile, seed=0))
    assert [r.details["cached"] for r in runs] == [{"probe": False, "target": False}] * 2
    assert runs[0].details["weights_use"]["sha256"] != runs[1].details["weights_use"]["sha256"]
    assert runs[1].details["weights_use"]["tensors"] == 32 and runs[1].vgg_weights == "imagenet"
    cached = optimise_attributes(source, target, profile, seed=0)  # the same file again: cached, and said so
    assert cached.details["cached"] == {"probe": True, "target": True}
    assert cached.details["weights_use"]["sha256"] == runs[1].details["weights_use"]["sha256"]
    assert cached.details["weights_use"]["from_cache"] is True
    assert not list((tmp_path / "cache" / "ao").glob("*.partial"))  # work-in-progress folders are cleaned up
