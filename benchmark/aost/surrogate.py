"""XGBoost surrogate: attribute codes -> distance (Algorithm 1, "train theta_0 with L and D_total").

Attributes are native categorical features (pandas `category` dtype with the
codes 1..n as categories, `enable_categorical=True`), so a split is a set of
values, not a threshold on an arbitrary number. The k-fold cross-validated fit
(pooled out-of-fold predictions) is reported with the fitted model.

The AO stage fits the probe images' claims on the target (see
benchmark.aost.distances) with `count:poisson`: the trees' margin is then
log E[claim | attributes], and the distance the search minimises is its
negative, -log E[claim] (nats). Poisson handles the many zero claims without
an arbitrary floor, and its main-effects fit matches each value's total claim.

`TreeExpectation` computes the EXACT expected margin under a product of
per-attribute marginals: a leaf is reached iff every attribute on its path
takes a value in the set its splits allow, so under independent marginals
P(leaf) = prod_a sum_{c allowed} p_a(c). The search evaluates many candidate
distributions at once with two sparse matrix products, with no sampling
noise. Several feature columns may share one attribute's marginal.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

DEFAULT_PARAMS: dict = {
    "objective": "reg:squarederror",
    "tree_method": "hist",
    "max_depth": 4,
    "eta": 0.08,
    "subsample": 0.9,
    "colsample_bytree": 0.9,
    "min_child_weight": 3,
    "lambda": 1.0,
    "max_cat_to_onehot": 1,  # partition splits for every categorical feature
    "nthread": 1,  # two threads on two shared cores spin and run several times slower
}
DEFAULT_ROUNDS = 250


def code_frame(codes: np.ndarray, columns: Sequence[str], n_codes: Sequence[int]) -> pd.DataFrame:
    """Integer codes (1-based) [n, k] -> a DataFrame of pandas categoricals with categories 1..n_j."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != len(columns):
        raise ValueError(f"expected codes of shape [n, {len(columns)}], got {codes.shape}")
    data = {}
    for j, (col, n) in enumerate(zip(columns, n_codes)):
        c = codes[:, j]
        if c.size and (c.min() < 1 or c.max() > n):
            raise ValueError(f"attribute column {col!r}: codes must lie in 1..{n}, got {c.min()}..{c.max()}")
        data[col] = pd.Categorical(c, categories=list(range(1, n + 1)))
    return pd.DataFrame(data)


def _fit(frame: pd.DataFrame, y: np.ndarray, params: dict, rounds: int, seed: int):
    import xgboost as xgb

    dtrain = xgb.DMatrix(frame, label=y, enable_categorical=True)
    return xgb.train({**params, "seed": seed}, dtrain, num_boost_round=rounds)


def _predict(booster, frame: pd.DataFrame) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(frame, enable_categorical=True))


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """1 - SSE / SST (squared-error R^2)."""
    ss_res = float(((y - pred) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def poisson_d2(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of the Poisson deviance explained (the R^2 analogue for count:poisson)."""
    def dev(mu: np.ndarray) -> float:
        mu = np.maximum(mu, 1e-12)
        term = np.where(y > 0, y * np.log(np.maximum(y, 1e-300) / mu), 0.0)
        return float(2.0 * (term - (y - mu)).sum())

    null = dev(np.full_like(y, y.mean()))
    return 1.0 - dev(pred) / null if null > 0 else float("nan")


@dataclass
class Surrogate:
    """A fitted regressor from attribute codes to a distance, with its cross-validated fit.

    cv_r2: squared-error R^2 of the pooled out-of-fold predictions of the
    fitted response; cv_d2: the Poisson deviance explained for count:poisson
    surrogates (equal to cv_r2 otherwise).
    """

    booster: object
    columns: list[str]
    n_codes: list[int]
    objective: str
    cv_r2: float
    cv_d2: float
    fold_r2: list[float] = field(default_factory=list)

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """The response (the regression target, or the expected count for count:poisson)."""
        return _predict(self.booster, code_frame(codes, self.columns, self.n_codes)).astype(np.float64)

    def margin(self, codes: np.ndarray) -> np.ndarray:
        """The trees' raw sum plus base (= log of the expected count for count:poisson)."""
        import xgboost as xgb

        frame = code_frame(codes, self.columns, self.n_codes)
        return self.booster.predict(xgb.DMatrix(frame, enable_categorical=True), output_margin=True).astype(np.float64)


def fit_surrogate(
    codes: np.ndarray,
    y: np.ndarray,
    columns: Sequence[str],
    n_codes: Sequence[int],
    *,
    seed: int = 0,
    folds: int = 5,
    params: dict | None = None,
    rounds: int = DEFAULT_ROUNDS,
) -> Surrogate:
    """Fit on all rows; report the k-fold (seeded split) cross-validated fit of the same settings."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    objective = params["objective"]
    y = np.asarray(y, dtype=np.float64)
    frame = code_frame(codes, columns, n_codes)
    if len(y) != len(frame):
        raise ValueError(f"{len(frame)} attribute rows but {len(y)} distances")
    if len(y) < 2 * folds:
        raise ValueError(f"the surrogate needs at least {2 * folds} probe images for {folds}-fold CV, got {len(y)}")
    if not np.all(np.isfinite(y)) or (objective == "count:poisson" and np.any(y < 0)):
        raise ValueError(f"surrogate targets must be finite{' and non-negative' if objective == 'count:poisson' else ''}")
    from benchmark import progress

    order = np.random.default_rng(seed).permutation(len(y))
    oof = np.empty_like(y)
    fold_r2 = []
    with progress.stage("AO surrogate (XGBoost, CV folds + final fit)", folds + 1, unit="fit") as bar:
        for k, test in enumerate(np.array_split(order, folds)):
            train = np.setdiff1d(order, test)
            b = _fit(frame.iloc[train], y[train], params, rounds, seed + k)
            oof[test] = _predict(b, frame.iloc[test])
            fold_r2.append(r2_score(y[test], oof[test]))
            bar.update(1)
        booster = _fit(frame, y, params, rounds, seed)
        bar.update(1)
    r2 = r2_score(y, oof)
    d2 = poisson_d2(y, oof) if objective == "count:poisson" else r2
    return Surrogate(booster, list(columns), list(n_codes), objective, r2, d2, fold_r2)


# --- exact expectation under a product of marginals -----------------------------------------


@dataclass
class TreeExpectation:
    """E[margin(x)] for x ~ prod_a p_a (the prediction itself for reg:squarederror), for many V at once.

    `offsets[a]`/`sizes[a]` place attribute a's marginal in the concatenated
    vector the search optimises; `column_attr[j]` names the attribute whose
    marginal feature column j follows.
    """

    base: float
    mask: sp.csr_matrix  # [dims, constraints]: which codes each (leaf, column) constraint allows
    incidence: sp.csr_matrix  # [constraints, leaves]
    leaf_values: np.ndarray  # [leaves]
    free_leaves: np.ndarray  # value sum of leaves with no constraint (single-leaf trees)

    @classmethod
    def build(cls, surrogate: Surrogate, column_attr: Sequence[str], offsets: dict[str, int]) -> "TreeExpectation":
        booster = surrogate.booster
        col_index = {c: j for j, c in enumerate(surrogate.columns)}
        rows, cols, inc_r, inc_c, values = [], [], [], [], []
        free = 0.0
        n_con = 0
        for dump in booster.get_dump(dump_format="json"):
            leaves: list[tuple[float, dict[int, np.ndarray]]] = []
            _walk(json.loads(dump), {}, col_index, surrogate.n_codes, leaves)
            for value, allowed in leaves:
                if not allowed:
                    free += value
                    continue
                leaf = len(values)
                values.append(value)
                for j, ok in allowed.items():
                    off = offsets[column_attr[j]]
                    idx = np.flatnonzero(ok)
                    rows.extend(off + idx)
                    cols.extend([n_con] * len(idx))
                    inc_r.append(n_con)
                    inc_c.append(leaf)
                    n_con += 1
        dims = max(offsets[a] + n for a, n in zip(column_attr, surrogate.n_codes)) if column_attr else 0
        mask = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(dims, n_con))
        incidence = sp.csr_matrix((np.ones(len(inc_r)), (inc_r, inc_c)), shape=(n_con, len(values)))
        return cls(_base_score(booster), mask, incidence, np.asarray(values), np.asarray(free))

    def __call__(self, marginals: np.ndarray) -> np.ndarray:
        """marginals [n, dims] (each attribute's block sums to 1) -> expected prediction [n]."""
        p = np.atleast_2d(np.asarray(marginals, dtype=np.float64))
        prob = np.asarray(self.mask.T.dot(p.T).T)  # [n, constraints]
        logp = np.log(np.maximum(prob, 1e-300))
        leaf_logp = np.asarray(self.incidence.T.dot(logp.T).T)  # [n, leaves]
        return self.base + float(self.free_leaves) + np.exp(leaf_logp) @ self.leaf_values


def _walk(node: dict, allowed: dict[int, np.ndarray], col_index: dict[str, int], n_codes: list[int], out: list) -> None:
    if "leaf" in node:
        out.append((float(node["leaf"]), allowed))
        return
    j = col_index[node["split"]]
    cond = node["split_condition"]
    if not isinstance(cond, list):
        raise ValueError(f"surrogate split on {node['split']!r} is numerical; the expectation needs categorical splits")
    in_set = np.zeros(n_codes[j], dtype=bool)
    in_set[[int(c) for c in cond if 0 <= int(c) < n_codes[j]]] = True  # category index = code - 1
    current = allowed.get(j, np.ones(n_codes[j], dtype=bool))
    children = {c["nodeid"]: c for c in node["children"]}
    for child_id, branch in ((node["yes"], in_set), (node["no"], ~in_set)):
        ok = current & branch
        if ok.any():  # an empty set is a leaf no code reaches
            _walk(children[child_id], {**allowed, j: ok}, col_index, n_codes, out)


def _base_score(booster) -> float:
    """The constant added to the trees' sum, in margin space (log of base_score for count:poisson)."""
    cfg = json.loads(booster.save_config())
    raw = float(str(cfg["learner"]["learner_model_param"]["base_score"]).strip("[]").split(",")[0])
    objective = cfg["learner"]["objective"]["name"]
    if objective == "reg:squarederror":
        return raw
    if objective == "count:poisson":
        return float(np.log(raw))
    raise ValueError(f"TreeExpectation supports reg:squarederror and count:poisson surrogates, not {objective}")
