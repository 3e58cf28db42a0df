"""Particle swarm search over attribute distributions (Algorithm 1, "V* <- update theta* with PSO").

The search variable is one vector of logits, a block per attribute (viewpoint,
weather, illumination, scene, and the id attributes where the source has
them); a block's softmax is that attribute's distribution, so every particle
is a valid product distribution V = prod_a p_a. pyswarms' GlobalBestPSO
minimises

    J(V) = cost(V) - entropy_weight * sum_a H(p_a) / log(n_a)

where `cost` is computed by the caller from the surrogates (see
benchmark.aost.ao: the expected distance to the target minus half the
expected distance between two draws of V, an energy-distance form whose
second term is the diversity term), and the small normalised-entropy bonus
breaks ties towards spread-out distributions where the surrogate is flat.

The swarm starts around the uniform distribution (one particle exactly on it,
so the result is never worse than uniform on J). pyswarms draws from NumPy's
global random state: it is seeded for the search and restored afterwards.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from benchmark.aost.quiet_pyswarms import pyswarms

PSO_OPTIONS = {"c1": 0.5, "c2": 0.3, "w": 0.9}  # pyswarms' documented defaults for GlobalBestPSO
LOGIT_BOUND = 6.0  # softmax logits in [-6, 6]: probabilities down to about e^-12 of the largest


@dataclass(frozen=True)
class SearchSpace:
    """Which attributes are searched and where each one's block sits in the vector."""

    attributes: tuple[str, ...]
    sizes: tuple[int, ...]

    @classmethod
    def of(cls, sizes: Mapping[str, int]) -> "SearchSpace":
        return cls(tuple(sizes), tuple(int(n) for n in sizes.values()))

    @property
    def offsets(self) -> dict[str, int]:
        out, o = {}, 0
        for a, n in zip(self.attributes, self.sizes):
            out[a] = o
            o += n
        return out

    @property
    def dims(self) -> int:
        return int(sum(self.sizes))

    def marginals(self, logits: np.ndarray) -> np.ndarray:
        """Per-block softmax of logits [n, dims] -> concatenated marginals [n, dims]."""
        x = np.atleast_2d(np.asarray(logits, dtype=np.float64))
        out = np.empty_like(x)
        for a, o in self.offsets.items():
            n = self.sizes[self.attributes.index(a)]
            z = x[:, o : o + n]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            out[:, o : o + n] = e / e.sum(axis=1, keepdims=True)
        return out

    def entropy(self, marginals: np.ndarray) -> np.ndarray:
        """Sum over attributes of H(p_a) / log(n_a) (each term in [0, 1]) -> [n]."""
        p = np.atleast_2d(marginals)
        total = np.zeros(p.shape[0])
        for a, o in self.offsets.items():
            n = self.sizes[self.attributes.index(a)]
            if n < 2:
                continue
            q = p[:, o : o + n]
            total += -(q * np.log(np.maximum(q, 1e-300))).sum(axis=1) / np.log(n)
        return total

    def to_dict(self, marginals: np.ndarray) -> dict[str, list[float]]:
        """One concatenated marginal vector -> {attribute: [p per code 1..n]}."""
        v = np.asarray(marginals).reshape(-1)
        return {a: [float(x) for x in v[o : o + self.sizes[i]]] for i, (a, o) in enumerate(self.offsets.items())}

    def from_dict(self, dist: Mapping[str, Sequence[float]]) -> np.ndarray:
        out = np.zeros(self.dims)
        for a, o in self.offsets.items():
            p = np.asarray(dist[a], dtype=np.float64)
            out[o : o + len(p)] = p / p.sum()
        return out


@dataclass
class SearchResult:
    v_star: dict[str, list[float]]
    objective: float
    cost: float  # the cost part of the objective at V*
    uniform_cost: float  # the same at the uniform distribution, for reference
    history: list[float] = field(default_factory=list)  # best objective per iteration


@contextmanager
def seeded_numpy_global(seed: int) -> Iterator[None]:
    """Seed NumPy's global random state (pyswarms uses it) and restore it afterwards."""
    state = np.random.get_state()
    np.random.seed(seed % (2**32))
    try:
        yield
    finally:
        np.random.set_state(state)


def search_distribution(
    cost: Callable[[np.ndarray], np.ndarray],
    space: SearchSpace,
    *,
    particles: int = 30,
    iters: int = 60,
    seed: int = 0,
    entropy_weight: float = 0.0,
    init_spread: float = 1.0,
) -> SearchResult:
    """Minimise cost(V) - entropy_weight * normalised entropy over product distributions with PSO.

    `cost(marginals[n, dims]) -> [n]` is evaluated for the whole swarm at once.
    """
    if particles < 1 or iters < 1:
        raise ValueError(f"PSO needs at least one particle and one iteration (got {particles}, {iters})")
    ps = pyswarms()

    def objective(logits: np.ndarray) -> np.ndarray:
        m = space.marginals(logits)
        return np.asarray(cost(m), dtype=np.float64) - entropy_weight * space.entropy(m)

    rng = np.random.default_rng(seed)
    init = rng.normal(0.0, init_spread, size=(particles, space.dims)).clip(-LOGIT_BOUND, LOGIT_BOUND)
    init[0] = 0.0  # the uniform distribution is always a candidate
    bounds = (np.full(space.dims, -LOGIT_BOUND), np.full(space.dims, LOGIT_BOUND))
    with seeded_numpy_global(seed):
        opt = ps.single.GlobalBestPSO(
            n_particles=particles, dimensions=space.dims, options=dict(PSO_OPTIONS), bounds=bounds, init_pos=init
        )
        best, pos = opt.optimize(objective, iters=iters, verbose=False)
    m = space.marginals(pos)
    uniform = space.marginals(np.zeros((1, space.dims)))
    return SearchResult(
        v_star=space.to_dict(m[0]),
        objective=float(best),
        cost=float(np.asarray(cost(m))[0]),
        uniform_cost=float(np.asarray(cost(uniform))[0]),
        history=[float(c) for c in opt.cost_history],
    )
