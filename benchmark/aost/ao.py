"""The attribute-optimisation stage (AO, Stage I of AOST): source + unlabeled target -> V* and L*.

Algorithm 1, lines 3-10, as run here:

1. probe: `profile.ao_probe` source images stratified over the attributes
   (rendered for sim- sources), and `profile.ao_target_images` images of the
   target's train split (files only: the target's labels are never read);
2. VGG-19 Eq. 1-2 vectors of both, as sketches (cached per dataset
   fingerprint, so another budget or seed of the search reuses them), and
   D_total (Eq. 3, median-scaled) for every probe x target pair;
3. the loop of Algorithm 1 (`rounds` times): each target image casts one unit
   of claim over the probe images (softmax of -D_total / h, weighted by the
   current V); an XGBoost surrogate (count:poisson, native categorical
   attributes) learns attributes -> claim, whose negative log is the distance
   d(x); PSO finds the product distribution minimising E_V[d] - H(V) (with a
   term for the probe's own design distribution), i.e. the closest product
   distribution to "where the target's images land among the source's cells".
   Round r+1 reweights the claims by round r's V (an EM step: the sharper V,
   the sharper the claims);
4. L*: `budget` images drawn (or rendered) by V* (benchmark.aost.select).

Wall seconds of every sub-stage are returned with the result.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark import weights as W
from benchmark.attributes import BY_NAME
from benchmark.aost import distances as dist
from benchmark.aost.probe import (
    build_probe,
    empirical_marginals,
    is_rendered_source,
    render_settings,
    searchable_attributes,
)
from benchmark.aost.search import SearchSpace, search_distribution
from benchmark.aost.select import select
from benchmark.aost.surrogate import TreeExpectation, fit_surrogate
from benchmark.datasets.records import Dataset, Record
from benchmark.profiles import AO_METHODS, Profile

VGG_SEED = 0  # the random-init VGG is part of the method: one network for every run
# bump when what shapes the cached probe/target features changes (resizing, sketching, rendering calls)
FEATURES_VERSION = 2
ROUNDS = 2  # iterations of Algorithm 1's loop (claims -> surrogate -> PSO)
SURROGATE_PARAMS = {"objective": "count:poisson", "max_depth": 2}
SURROGATE_ROUNDS = 200
# A leaf of the claim surrogate must weigh as much as about this many probe images at the mean claim
# (Poisson hessians are predicted claims): weaker evidence is not split off, so attributes the
# features cannot see (36 viewpoints at 64x32) stay near uniform instead of following noise.
MIN_LEAF_IMAGES = 120


@dataclass
class AOSearch:
    """V* and how it was found (everything but the selection)."""

    v_star: dict[str, list[float]]
    attributes: tuple[str, ...]
    surrogate_r2: float
    costs: dict[str, float]
    vgg_weights: str
    details: dict = field(default_factory=dict)


@dataclass
class AOResult:
    """The AO stage's output: L* (records), V*, the source's own distribution, fit quality, costs."""

    records: list[Record]
    v_star: dict[str, list[float]]
    source_dist: dict[str, list[float]]
    surrogate_r2: float
    costs: dict[str, float]  # wall seconds per sub-stage
    vgg_weights: str
    details: dict = field(default_factory=dict)


def vgg_label(weights: str) -> str:
    return "imagenet" if weights == "imagenet" else f"random(seed={VGG_SEED})"


def target_images(target: Dataset, n: int, seed: int) -> list[Record]:
    """n images of the target's train split (seeded); only their files are used, never their labels."""
    if not target.train:
        raise ValueError(f"{target.key}: the train split is empty; attribute optimisation needs unlabeled target images")
    k = min(n, len(target.train))
    idx = np.sort(np.random.default_rng([seed, 0x7A]).choice(len(target.train), size=k, replace=False))
    return [Record(target.train[i].path, -1, -1, None) for i in idx]  # labels dropped on purpose


def _paths_key(records: Sequence[Record]) -> str:
    return hashlib.sha1("\n".join(r.path for r in records).encode()).hexdigest()[:16]


def optimise_attributes(
    source: Dataset,
    target: Dataset,
    profile: Profile,
    *,
    seed: int = 0,
    device: str = "cpu",
    rounds: int = ROUNDS,
    cache_root: Path | None = None,
) -> AOSearch:
    """V* of `source` for `target` by the profile's `ao_method` (AO_METHODS; "gatys" is the paper's)."""
    method = profile.ao_method
    if method not in AO_METHODS:
        raise ValueError(f"unknown ao_method {method!r}; expected one of {', '.join(AO_METHODS)}")
    found = _optimise_gatys(source, target, profile, seed=seed, device=device, rounds=rounds, cache_root=cache_root)
    found.details["method"] = method
    if method == "gatys":
        return found
    from benchmark.aost.people import ENVIRONMENT, estimate_people

    # people: the environment and the person attributes from classifiers + label shift; gatys's V* where a
    # classifier cannot tell the classes apart
    environment = {a: found.v_star[a] for a in ENVIRONMENT if a in found.v_star}
    people, details, costs = estimate_people(source, target, profile, seed=seed, target_images=target_images,
                                             environment=environment, cache_root=cache_root, device=device)
    v_star = {a: (people[a] if a in people else p) for a, p in found.v_star.items()}
    return AOSearch(v_star, found.attributes, found.surrogate_r2, {**found.costs, **costs}, found.vgg_weights,
                    {**found.details, **details})


def _optimise_gatys(
    source: Dataset,
    target: Dataset,
    profile: Profile,
    *,
    seed: int = 0,
    device: str = "cpu",
    rounds: int = ROUNDS,
    cache_root: Path | None = None,
) -> AOSearch:
    """Probe, distances, surrogate and PSO: the paper's V* of `source` for `target`."""
    from benchmark.datasets import fingerprint

    if profile.ao_vgg_weights == "imagenet":
        dist.require_vgg_weights()  # stop before any work
    if rounds < 1:
        raise ValueError(f"attribute optimisation needs at least one round, got {rounds}")
    attributes = searchable_attributes(source)
    sizes = [BY_NAME[a].n for a in attributes]
    label = vgg_label(profile.ao_vgg_weights)
    h, w = profile.ao_input
    costs: dict[str, float] = {}  # disjoint sub-stages, wall seconds
    timings: dict[str, float] = {}
    net: list[dist.StyleContentDistance] = []

    def vgg() -> dist.StyleContentDistance:
        if not net:
            net.append(dist.StyleContentDistance(profile.ao_vgg_weights, VGG_SEED, device))
        return net[0]

    # keyed by content: the weights file's hash (another file under the same name is another key)
    common = {"vgg": label, "vgg_weights": dist.weights_identity(profile.ao_vgg_weights, VGG_SEED), "input": [h, w],
              "sketch_dim": dist.SKETCH_DIM, "sketch_seed": dist.SKETCH_SEED, "code": FEATURES_VERSION}

    t0 = time.perf_counter()
    probe_parts = {"what": "probe", "source": source.key, "fingerprint": fingerprint(source), "n": profile.ao_probe,
                   "seed": seed, "attributes": list(attributes), **common}
    if is_rendered_source(source):  # rendered probes also depend on the engine and the twin's settings
        from benchmark.synth import ENGINE_VERSION

        probe_parts["render"] = {"engine": ENGINE_VERSION, **render_settings(source)}

    def compute_probe(partial: Path) -> dict[str, np.ndarray]:
        t = time.perf_counter()
        probe = build_probe(source, profile.ao_probe, seed=seed)
        timings["probe_images_seconds"] = time.perf_counter() - t  # part of costs["probe"]
        sk = vgg().sketches(probe.torch_dataset(h, w), partial=partial, label="AO probe distances (VGG-19)")
        return {"codes": probe.codes, **sk.to_arrays()}

    probe_arrays, probe_cached = dist.load_or_compute("probe", probe_parts, compute_probe, cache_root)
    codes = probe_arrays["codes"]
    probe_sk = dist.Sketches.from_arrays(probe_arrays)
    costs["probe"] = time.perf_counter() - t0  # images (rendered or read) + VGG features, or a cache read

    t0 = time.perf_counter()
    timgs = target_images(target, profile.ao_target_images, seed)
    target_parts = {"what": "target", "target": target.key, "fingerprint": fingerprint(target),
                    "images": _paths_key(timgs), "n": len(timgs), **common}

    def compute_target(partial: Path) -> dict[str, np.ndarray]:
        from benchmark.reid.data import eval_dataset

        return vgg().sketches(eval_dataset(timgs, h, w), partial=partial, label="AO target features (VGG-19)").to_arrays()

    target_arrays, target_cached = dist.load_or_compute("target", target_parts, compute_target, cache_root)
    target_sk = dist.Sketches.from_arrays(target_arrays)
    costs["target"] = time.perf_counter() - t0

    d_style, d_content = dist.pair_distances(probe_sk, target_sk)
    scales = dist.median_scales(d_style, d_content)
    d_total = dist.total_distance(d_style, d_content, scales)
    temperature = dist.claim_temperature(d_total)

    space = SearchSpace.of(dict(zip(attributes, sizes)))
    design = empirical_marginals(codes, attributes)  # the probe's own distribution (uniform when rendered)
    log_design = np.log(np.maximum(space.from_dict(design), 1e-12))
    v = {a: list(p) for a, p in design.items()}
    costs["surrogate"] = costs["search"] = 0.0
    history = []
    for r in range(rounds):
        t0 = time.perf_counter()
        claims = dist.soft_claims(d_total, temperature, _log_ratio(codes, attributes, v, design))
        params = {**SURROGATE_PARAMS, "min_child_weight": MIN_LEAF_IMAGES * len(timgs) / len(codes)}
        surrogate = fit_surrogate(codes, claims, attributes, sizes, seed=seed + r, params=params,
                                  rounds=SURROGATE_ROUNDS)
        expect = TreeExpectation.build(surrogate, attributes, space.offsets)
        costs["surrogate"] += time.perf_counter() - t0

        t0 = time.perf_counter()

        def cost(m: np.ndarray) -> np.ndarray:
            # E_V[d] with d = -log E[claim] - log design: the optimum is V proportional to design * claim
            return -expect(m) - np.atleast_2d(m) @ log_design

        found = search_distribution(cost, space, particles=profile.pso_particles, iters=profile.pso_iters,
                                    seed=seed * 7919 + r, entropy_weight=1.0)
        v = found.v_star
        costs["search"] += time.perf_counter() - t0
        history.append({"round": r + 1, "cv_r2": surrogate.cv_r2, "cv_d2": surrogate.cv_d2,
                        "objective": found.objective, "uniform_objective": found.uniform_objective})
    details = {
        "rounds": history, "surrogate_cv_d2": surrogate.cv_d2, "claim_temperature": temperature,
        "scales": {"style_median": scales[0], "content_median": scales[1]},
        "probe_images": int(len(codes)), "target_images": len(timgs),
        "cached": {"probe": probe_cached, "target": target_cached}, "attributes": list(attributes), **timings,
    }
    if profile.ao_vgg_weights == "imagenet":  # what was loaded (or, both passes cached, what keyed them)
        details["weights_use"] = net[0].net.weights_use if net else dict(
            W.use_record("ao_vgg19", dist.require_vgg_weights(), 0, "imagenet"), from_cache=True)
    return AOSearch(v, attributes, surrogate.cv_r2, costs, label, details)


def _log_ratio(codes: np.ndarray, attributes: Sequence[str], v: dict, design: dict) -> np.ndarray:
    """log V(x_i) / design(x_i) per probe image: its weight in the claims of the next round."""
    out = np.zeros(len(codes))
    for j, a in enumerate(attributes):
        p = np.maximum(np.asarray(v[a], dtype=np.float64), 1e-12)
        q = np.maximum(np.asarray(design[a], dtype=np.float64), 1e-12)
        out += np.log(p[codes[:, j] - 1]) - np.log(q[codes[:, j] - 1])
    return out


def run_ao(
    source: Dataset,
    target: Dataset,
    profile: Profile,
    *,
    budget: int,
    seed: int = 0,
    work_dir: Path,
    device: str = "cpu",
    rounds: int = ROUNDS,
    cache_root: Path | None = None,
) -> AOResult:
    """The whole AO stage: V* for `target`, then L* = `budget` source images by V* (rendered ones under work_dir).

    costs: wall seconds of probe (images + VGG, or the cache read), target (VGG),
    surrogate (fits, all rounds), search (PSO, all rounds), selection, total.
    """
    if budget < 1:
        raise ValueError(f"the AO budget must be at least 1 image, got {budget}")
    found = optimise_attributes(source, target, profile, seed=seed, device=device, rounds=rounds, cache_root=cache_root)
    t0 = time.perf_counter()
    sel = select(source, found.v_star, budget, seed=seed, out_dir=Path(work_dir) / "ao_selection")
    costs = {**found.costs, "selection": time.perf_counter() - t0}
    costs["total"] = sum(costs.values())
    details = {**found.details, "selection": {"kind": sel.kind, "folder": str(sel.folder) if sel.folder else None,
                                              "images": len(sel.records), "notes": sel.notes}}
    return AOResult(sel.records, sel.v_star, sel.source_dist, found.surrogate_r2, costs, found.vgg_weights, details)
