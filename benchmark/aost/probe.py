"""The probe set: source images that cover the attribute grid, for the distances and the surrogate.

The surrogate must see every value of every searched attribute, not the 2
million images of FineGPR. A probe of n images is stratified: each attribute's
values appear equally often (within one), independently across attributes
(a balanced random design).

- `sim-` sources (procedural twins in FineGPR format) are rendered on demand
  with the engine, with the source's own camera style and seed, as new people
  (render keys outside the source's ids) whose 13 id attributes and 4 env
  attributes follow the balanced design.
- Other sources (FineGPR, submissions with attributes) are sampled from their
  files: records drawn without replacement with weight prod_a 1/f_a(x_a), f_a
  the source's empirical marginal, so rare values are as present as common ones
  as far as the files allow.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from benchmark.attributes import ALL_ATTRIBUTES, BY_NAME, ENV_NAMES, ID_NAMES
from benchmark.datasets.records import Dataset, Record

PROBE_PERSON0 = 20_000_000  # render keys of probe people: never an id of a twin


@dataclass
class Probe:
    """Probe images with their attribute codes (columns in `attributes` order)."""

    attributes: tuple[str, ...]
    codes: np.ndarray  # [n, len(attributes)] 1-based
    images: list[np.ndarray] | None = None  # rendered (sim- sources)
    records: list[Record] | None = None  # drawn from files (other sources)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def torch_dataset(self, height: int, width: int):
        """VGG inputs (resized, ImageNet-normalised)."""
        if self.images is not None:
            from benchmark.aost.distances import images_dataset

            return images_dataset(self.images, height, width)
        from benchmark.reid.data import eval_dataset

        return eval_dataset(self.records or [], height, width)


def is_rendered_source(source: Dataset) -> bool:
    """A procedural FineGPR-format twin: its cells can be rendered instead of read."""
    twin = source.meta.get("twin")
    return source.kind == "procedural" and isinstance(twin, dict) and source.meta.get("format", "finegpr") == "finegpr"


def renders_cells(source: Dataset, attributes: Sequence[str]) -> bool:
    """Images of `source` with these attributes are rendered on demand (every FineGPR attribute of a sim-
    source is known), not read from its files."""
    return is_rendered_source(source) and set(attributes) == set(ID_NAMES + ENV_NAMES)


def searchable_attributes(source: Dataset) -> tuple[str, ...]:
    """Attributes every train record carries, in the vocabulary's order; ValueError when there are none."""
    if not source.train:
        raise ValueError(f"{source.key}: the train split is empty; attribute optimisation needs a source with images")
    keys = set(ID_NAMES + ENV_NAMES)
    for r in source.train:
        if not r.attrs:
            raise ValueError(
                f"{source.key}: image {r.path} carries no attributes; attribute optimisation (+ao/+aost) needs a "
                "source whose images have FineGPR attributes (finegpr, sim-finegpr, submissions with attributes)"
            )
        keys &= set(r.attrs)
    names = tuple(a.name for a in ALL_ATTRIBUTES if a.name in keys)
    if not names:
        raise ValueError(f"{source.key}: no attribute is known for every train image")
    return names


def balanced_codes(sizes: Sequence[int], n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, len(sizes)] codes: each column has every value within one of n/size times, columns independent."""
    cols = []
    for k in sizes:
        col = np.resize(rng.permutation(np.arange(1, k + 1)), n)
        cols.append(rng.permutation(col))
    return np.stack(cols, axis=1) if cols else np.zeros((n, 0), dtype=int)


def source_codes(records: Sequence[Record], attributes: Sequence[str]) -> np.ndarray:
    """[len(records), len(attributes)] codes of records."""
    return np.array([[int(r.attrs[a]) for a in attributes] for r in records], dtype=np.int64).reshape(len(records), len(attributes))


def empirical_marginals(codes: np.ndarray, attributes: Sequence[str]) -> dict[str, list[float]]:
    """Per attribute the share of each code 1..n among the rows."""
    out = {}
    for j, a in enumerate(attributes):
        n = BY_NAME[a].n
        counts = np.bincount(codes[:, j], minlength=n + 1)[1:].astype(float)
        out[a] = (counts / max(counts.sum(), 1.0)).tolist()
    return out


def render_settings(source: Dataset) -> dict:
    """How a sim- source renders: size, camera style, twin seed (from its twin.toml)."""
    twin = source.meta["twin"]
    gen = twin.get("generated", {})
    cams = twin.get("cameras") or [{}]
    size = tuple(gen.get("size") or twin.get("size") or (128, 64))
    return {"size": (int(size[0]), int(size[1])), "style": dict(cams[0].get("style") or {}), "twin_seed": int(gen.get("twin_seed", 0))}


StyleDraw = Callable[[np.random.Generator], dict]  # per rendered image: style keys to add to the source's camera


def build_probe(source: Dataset, n: int, *, seed: int = 0, restyle: StyleDraw | None = None) -> Probe:
    """A stratified probe of n images of `source` (rendered for sim- sources, sampled from files otherwise).

    restyle: for rendered probes, draws extra camera-style keys per image (the `people` method's random
    footage); the attribute codes do not depend on it. Files are read as they are."""
    if n < 10:
        raise ValueError(f"the probe set needs at least 10 images (profile.ao_probe), got {n}")
    attributes = searchable_attributes(source)
    rng = np.random.default_rng([seed, 0xA0])
    if renders_cells(source, attributes):
        style_rng = np.random.default_rng([seed, 0x57E]) if restyle else None
        return _rendered_probe(source, attributes, n, rng, restyle, style_rng)
    return _sampled_probe(source, attributes, n, rng)


def _rendered_probe(source: Dataset, attributes: tuple[str, ...], n: int, rng: np.random.Generator,
                    restyle: StyleDraw | None = None, style_rng: np.random.Generator | None = None) -> Probe:
    from benchmark.synth import render_image

    settings = render_settings(source)
    codes = balanced_codes([BY_NAME[a].n for a in attributes], n, rng)
    images = []
    for i, row in enumerate(codes):
        cell = dict(zip(attributes, (int(c) for c in row)))
        style = {**settings["style"], **restyle(style_rng)} if restyle else settings["style"]
        images.append(
            render_image(
                {a: cell[a] for a in ID_NAMES}, {a: cell[a] for a in ENV_NAMES}, PROBE_PERSON0 + i,
                size=settings["size"], seed=i, camera_style=style, twin_seed=settings["twin_seed"],
            )
        )
    return Probe(attributes, codes, images=images, meta={"kind": "rendered", **settings})


def _sampled_probe(source: Dataset, attributes: tuple[str, ...], n: int, rng: np.random.Generator) -> Probe:
    records = list(source.train)
    codes = source_codes(records, attributes)
    emp = empirical_marginals(codes, attributes)
    logw = np.zeros(len(records))
    for j, a in enumerate(attributes):
        f = np.asarray(emp[a])
        logw -= np.log(f[codes[:, j] - 1])
    take = weighted_sample(logw, min(n, len(records)), rng)
    return Probe(attributes, codes[take], records=[records[i] for i in take], meta={"kind": "sampled"})


def weighted_sample(logw: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices, each included with probability proportional to exp(logw) (capped at 1).

    Systematic PPS sampling in a random order: inclusion probabilities
    pi_i = min(1, c * w_i) with sum pi = k are met exactly, so the sample's
    composition follows the weights even when k is a large share of the
    items (sequential weighted draws flatten it). Items of weight 0 (logw
    -inf) are never taken unless fewer than k items have positive weight.
    """
    logw = np.asarray(logw, dtype=np.float64)
    n = len(logw)
    k = min(int(k), n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    ok = np.isfinite(logw)
    if ok.sum() <= k:  # everything with positive weight, the rest at random
        rest = rng.permutation(np.flatnonzero(~ok))[: k - int(ok.sum())]
        return np.sort(np.concatenate([np.flatnonzero(ok), rest]))
    w = np.zeros(n)
    w[ok] = np.exp(logw[ok] - logw[ok].max())
    pi = inclusion_probabilities(w, k)
    order = rng.permutation(n)
    cum = np.cumsum(pi[order])
    points = rng.random() + np.arange(k)
    picks = np.searchsorted(cum, points, side="right")
    return np.sort(order[np.minimum(picks, n - 1)])


def inclusion_probabilities(w: np.ndarray, k: int) -> np.ndarray:
    """pi_i = min(1, c * w_i) with sum(pi) = k (the items whose weight exceeds the share are taken surely)."""
    pi = np.zeros(len(w))
    sure = np.zeros(len(w), dtype=bool)
    while True:
        free = ~sure & (w > 0)
        left = k - int(sure.sum())
        pi[sure] = 1.0
        pi[free] = left * w[free] / w[free].sum()
        over = free & (pi >= 1.0)
        if not over.any():
            return np.minimum(pi, 1.0)
        sure |= over
