"""Does attribute optimisation recover the target? (a check the paper cannot make on real data)

A procedural target twin knows the TRUE attribute prior its images were drawn
from (twin.toml). After AO has found V* from the twin's unlabeled images, the
total-variation distance TV(V*_a, prior_a) = 1/2 sum_c |V*_a(c) - prior_a(c)|
is compared, per attribute and averaged, with TV(uniform_a, prior_a): what a
random (uniform) selection from the balanced source would score. The prior is
read here only to score the result, never by AO.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from benchmark.attributes import BY_NAME, total_variation
from benchmark.profiles import Profile

SOURCE = "sim-finegpr"
DEFAULT_TARGETS = ("sim-market1501", "sim-dukemtmc", "sim-cuhk03")


def recovery_table(v_star: Mapping[str, Sequence[float]], prior: Mapping[str, Sequence[float]]) -> dict:
    """Per attribute TV(V*, prior) and TV(uniform, prior); their means over all, env and id attributes."""
    rows = {}
    for a, p in v_star.items():
        n = BY_NAME[a].n
        rows[a] = {"tv": total_variation(p, prior[a]), "tv_uniform": total_variation(np.full(n, 1.0 / n), prior[a])}
    out = {"attributes": rows}
    groups = {"": list(rows), "_env": [a for a in rows if BY_NAME[a].level == "env"],
              "_id": [a for a in rows if BY_NAME[a].level == "id"]}
    for suffix, names in groups.items():
        if names:
            out[f"mean_tv{suffix}"] = float(np.mean([rows[a]["tv"] for a in names]))
            out[f"mean_tv{suffix}_uniform"] = float(np.mean([rows[a]["tv_uniform"] for a in names]))
    return out


def ensure_twin(name: str, data_root: Path, scale: str = "demo") -> None:
    """Generate a built-in twin under data_root unless it is already there."""
    from benchmark.synth import make_twin

    if not (data_root / name / "twin.toml").is_file():
        make_twin(name, data_root, scale=scale)


def load_twin(name: str, data_root: Path):
    """A built-in twin by key or alias, or a user twin written from a spec (`data make my.toml`) by its name.

    A user twin is the folder <data_root>/<name> with its twin.toml, read with its format's loader.
    """
    from benchmark.datasets import load_dataset
    from benchmark.datasets.formats.base import LoadOptions
    from benchmark.datasets.issues import Issues
    from benchmark.datasets.registry import DatasetSpec, UnknownDataset, read, to_dataset
    from benchmark.datasets.twin import read_twin

    try:
        return load_dataset(name, data_root)
    except UnknownDataset:
        base = Path(data_root) / name
        if not (base / "twin.toml").is_file():
            raise
    fmt = str(read_twin(base, name).get("format", ""))
    spec = DatasetSpec(name, f"user twin {name}", "procedural", fmt, "target", str(base), f"--test {name}")
    loaded, twin = read(spec, Path(data_root), Issues(strict=True), LoadOptions())
    return to_dataset(spec, Path(data_root), loaded, twin)


def measure_recovery(
    target: str,
    profile: Profile,
    *,
    data_root: Path | None = None,
    seed: int = 0,
    device: str = "cpu",
    cache_root: Path | None = None,
) -> dict:
    """Run AO (without the selection) from sim-finegpr to `target` and score V* against the target's true prior.

    Twins missing from data_root are generated there first (a temporary folder when data_root is None).
    """
    from benchmark.aost.ao import optimise_attributes

    with tempfile.TemporaryDirectory(prefix="aost-recovery-") as tmp:
        root = Path(data_root) if data_root is not None else Path(tmp)
        for name in (target, SOURCE):  # an unknown target fails before the source is generated
            if not (root / name / "twin.toml").is_file():
                ensure_twin(name, root)
        source_ds, target_ds = load_twin(SOURCE, root), load_twin(target, root)
        prior = target_ds.meta["twin"]["prior"]
        t0, c0 = time.perf_counter(), time.process_time()
        found = optimise_attributes(source_ds, target_ds, profile, seed=seed, device=device, cache_root=cache_root)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    table = recovery_table(found.v_star, prior)
    cached = dict(found.details.get("cached", {}))
    if "people_cached" in found.details:
        cached["people"] = found.details["people_cached"]
    return {"target": target, "seed": seed, "profile": profile.name, "method": profile.ao_method,
            "cached": cached, "people": found.details.get("people", {}),
            "people_heading": found.details.get("people_heading"),
            "people_environment_from": found.details.get("people_environment_from"), "vgg_weights": found.vgg_weights,
            "surrogate_r2": found.surrogate_r2, "surrogate_d2": found.details.get("surrogate_cv_d2"),
            "seconds": wall, "cpu_seconds": cpu, "costs": found.costs, "v_star": found.v_star, **table}
