"""Particle swarm search over attribute distributions (Algorithm 1, "V* <- update theta* with PSO").

The search variable is one vector of logits, a block per attribute (viewpoint,
weather, illumination, scene, and the id attributes where the source has
them); a block's softmax is that attribute's distribution, so every particle
is a valid product distribution V = prod_a p_a. pyswarms' GlobalBestPSO
minimises

    J(V) = cost(V) - entropy_weight * sum_a H(p_a)        (H in nats)

`cost` is computed by the caller from the surrogate (benchmark.aost.ao: the
surrogate's expected distance E_V[d(x)]); the entropy is the diversity term
that makes the result a distribution rather than one cell. With d in nats
and entropy_weight 1, J is KL(V || exp(-d)/Z) up to a constant: the search
returns the product distribution closest to the Gibbs distribution of the
distance.

The swarm starts around the uniform distribution (one particle exactly on it)
and, with `informed_start`, one particle on a coordinate-wise Gibbs guess
(each attribute's values scored with the others uniform), so the result is
never worse on J than either; PSO then refines the interactions. pyswarms
draws from NumPy's global random state: it is seeded for the search and
restored afterwards.
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
        """Sum over attributes of H(p_a) in nats -> [n]."""
        p = np.atleast_2d(marginals)
        total = np.zeros(p.shape[0])
        for a, o in self.offsets.items():
            q = p[:, o : o + self.sizes[self.attributes.index(a)]]
            total += -(q * np.log(np.maximum(q, 1e-300))).sum(axis=1)
        return total

    def logits(self, marginals: np.ndarray, bound: float) -> np.ndarray:
        """Logits within [-bound, bound] whose softmax is (close to) the given marginals."""
        m = np.asarray(marginals, dtype=np.float64).reshape(-1)
        out = np.zeros(self.dims)
        for a, o in self.offsets.items():
            n = self.sizes[self.attributes.index(a)]
            z = np.log(np.maximum(m[o : o + n], 1e-300))
            out[o : o + n] = np.clip(z - z.max() + bound, -bound, bound)
        return out

    def one_hot_rows(self, base: np.ndarray) -> np.ndarray:
        """For every attribute a and code c: `base` with block a replaced by the point mass on c -> [dims, dims]."""
        rows = np.repeat(np.asarray(base, dtype=np.float64).reshape(1, -1), self.dims, axis=0)
        for a, o in self.offsets.items():
            n = self.sizes[self.attributes.index(a)]
            rows[o : o + n, o : o + n] = np.eye(n)
        return rows

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
    uniform_objective: float  # the objective at the uniform distribution, for reference
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
    informed_start: bool = True,
) -> SearchResult:
    """Minimise cost(V) - entropy_weight * sum_a H(p_a) over product distributions with PSO.

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
    if informed_start and particles > 1:
        init[1] = space.logits(coordinate_gibbs(cost, space, entropy_weight), LOGIT_BOUND)
    bounds = (np.full(space.dims, -LOGIT_BOUND), np.full(space.dims, LOGIT_BOUND))
    from benchmark import progress

    with seeded_numpy_global(seed), progress.stage("AO search (PSO)", iters, unit="iter") as bar:
        opt = ps.single.GlobalBestPSO(
            n_particles=particles, dimensions=space.dims, options=dict(PSO_OPTIONS), bounds=bounds, init_pos=init
        )

        def objective_step(logits: np.ndarray) -> np.ndarray:  # pyswarms calls it once per iteration
            out = objective(logits)
            bar.update(1, best=float(np.min(out)))
            return out

        best, pos = opt.optimize(objective_step, iters=iters, verbose=False)
    m = space.marginals(pos)
    return SearchResult(
        v_star=space.to_dict(m[0]),
        objective=float(best),
        cost=float(np.asarray(cost(m))[0]),
        uniform_objective=float(objective(np.zeros((1, space.dims)))[0]),
        history=[float(c) for c in opt.cost_history],
    )


def coordinate_gibbs(cost: Callable[[np.ndarray], np.ndarray], space: SearchSpace, temperature: float) -> np.ndarray:
    """One sweep from uniform: p_a(c) proportional to exp(-cost(a = c, others uniform) / temperature).

    Exact for a cost that is a sum of per-attribute terms; a starting point otherwise.
    With temperature 0 each attribute gets its best value.
    """
    uniform = space.marginals(np.zeros((1, space.dims)))[0]
    scores = np.asarray(cost(space.one_hot_rows(uniform)), dtype=np.float64)
    out = np.zeros(space.dims)
    for a, o in space.offsets.items():
        n = space.sizes[space.attributes.index(a)]
        s = scores[o : o + n]
        if temperature <= 0:
            out[o + int(np.argmin(s))] = 1.0
        else:
            z = -(s - s.min()) / temperature
            out[o : o + n] = np.exp(z) / np.exp(z).sum()
    return out
