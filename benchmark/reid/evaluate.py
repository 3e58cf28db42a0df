"""Fast, exact re-ID evaluation: CMC, mAP and mINP under the Market-1501 protocol.

Protocol (torchreid's `eval_market1501`, which we match number for number):
for each query, gallery images with the same pid *and* the same camera are
removed; a query with no remaining same-pid image is skipped; CMC and AP are
averaged over the remaining ("valid") queries. Every pid is treated alike,
0 and -1 included: torchreid's evaluator has no junk-id rule of its own. Its
datasets drop pid -1 images ("junk") when loading Market-1501 and keep pid 0
(distractors) in the gallery as an identity no query has; our data layer is
expected to do the same before calling us.

How it is fast without sorting a gallery per query: AP, CMC and mINP only
depend on where the query's true matches land. For each valid query we sort
just its positives' distances, keep the gallery entries at or below the
farthest positive, and count, for every positive, the negatives closer than it
(by sorting the candidates, or by two vectorised comparisons per positive,
whichever is cheaper). The k-th closest positive then sits at rank
``k + #closer negatives``. Only when a negative's distance *equals* a
positive's (a tie, where the order depends on the sorting algorithm) do we
fall back to `np.argsort` on that row, exactly as torchreid does, so even
ties agree with torchreid run on the same numpy.

Distances come either as a matrix (`evaluate_rank`, `evaluate`) or are computed
from features one block of queries at a time and ranked at once
(`evaluate_features`), so an MSMT17-sized split never holds its full matrix.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch

from benchmark.reid.distance import (
    DEFAULT_BLOCK_BYTES,
    FeatureError,
    check_features,
    iter_distance_blocks,
    rows_per_block,
)

DEFAULT_RANKS = (1, 5, 10)


class EvaluationError(ValueError):
    """Inputs that cannot be evaluated (empty split, no match, bad shapes, NaN/inf)."""


@dataclass(frozen=True)
class ReidMetrics:
    """Everything one evaluation measures.

    `cmc[k-1]` is the fraction of valid queries with a true match among the top
    k kept gallery images (length `max_rank`; ranks past a short gallery are
    1.0, since a valid query's match is always inside it). `mAP` and `mINP` are
    means over valid queries; mINP is fast-reid's: #positives / rank of the
    hardest (last) positive.
    """

    cmc: np.ndarray
    mAP: float
    mINP: float
    num_valid_queries: int
    num_skipped_queries: int
    ranks: tuple[int, ...] = field(default=DEFAULT_RANKS)

    def rank(self, k: int) -> float:
        """CMC at rank k (1-based)."""
        if not 1 <= k <= len(self.cmc):
            raise EvaluationError(f"rank {k} is outside the computed CMC (1..{len(self.cmc)})")
        return float(self.cmc[k - 1])

    @property
    def r1(self) -> float:
        return self.rank(1)

    @property
    def r5(self) -> float:
        return self.rank(5)

    @property
    def r10(self) -> float:
        return self.rank(10)

    def as_dict(self) -> dict:
        """Plain JSON-ready dict: r<k> for each requested rank, mAP, mINP, counts, cmc."""
        out: dict = {f"r{k}": self.rank(k) for k in self.ranks}
        out.update(
            mAP=self.mAP,
            mINP=self.mINP,
            num_valid_queries=self.num_valid_queries,
            num_skipped_queries=self.num_skipped_queries,
            cmc=[float(x) for x in self.cmc],
        )
        return out


# ---------------------------------------------------------------- input checks


def _ids(x, what: str, expected: int, side: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise EvaluationError(f"{what} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        raise EvaluationError(f"{what} must be integers, got dtype {arr.dtype}")
    if arr.shape[0] != expected:
        raise EvaluationError(
            f"{what} has {arr.shape[0]} entries but there are {expected} {side} images"
        )
    return arr.astype(np.int64, copy=False)


def _check_split_sizes(num_q: int, num_g: int, name: str) -> None:
    if num_q == 0:
        raise EvaluationError(f"{name}: the query split is empty (0 images)")
    if num_g == 0:
        raise EvaluationError(f"{name}: the gallery split is empty (0 images)")


def _check_finite(block: np.ndarray, first_row: int, what: str) -> None:
    if block.dtype.kind != "f":
        return
    finite = np.isfinite(block)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        n_bad = int(finite.size - np.count_nonzero(finite))
        raise EvaluationError(
            f"{what} contains {n_bad} NaN/inf value(s) in rows {first_row}..{first_row + block.shape[0] - 1} "
            f"(first at query {first_row + int(r)}, gallery {int(c)})"
        )


def _check_ranks(ranks: Iterable[int], max_rank: int) -> tuple[int, ...]:
    if not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise EvaluationError(f"max_rank must be a positive integer, got {max_rank!r}")
    ranks = tuple(int(k) for k in ranks)
    bad = [k for k in ranks if not 1 <= k <= max_rank]
    if bad:
        raise EvaluationError(f"ranks {bad} are outside 1..max_rank ({max_rank})")
    return ranks


# ------------------------------------------------------------- the gallery side


class _Gallery:
    """Gallery ids grouped by pid, so a query finds its same-pid images at once."""

    def __init__(self, g_pids: np.ndarray, g_camids: np.ndarray):
        self.pids, self.camids = g_pids, g_camids
        self.order = np.argsort(g_pids, kind="stable")  # gallery indices, grouped by pid
        self.uniq, self.starts, self.sizes = np.unique(
            g_pids[self.order], return_index=True, return_counts=True
        )

    def group_of(self, q_pids: np.ndarray) -> np.ndarray:
        """Index into `uniq` for each query pid, -1 where the gallery lacks it."""
        j = np.searchsorted(self.uniq, q_pids)
        j = np.minimum(j, len(self.uniq) - 1)
        return np.where(self.uniq[j] == q_pids, j, -1)


# ------------------------------------------------------------- counting below
# A query's positives and same-pid junk are few: their counts are done for the
# whole block at once with uint64 keys (row << 32 | order of the value), so one
# flat sort orders every row and one searchsorted counts within rows. Gallery
# candidates are many: they are counted row by row (see _count_candidates).


def _float32_order(values: np.ndarray) -> np.ndarray:
    """Monotone uint32 image of float32 values (ties stay ties, -0.0 == 0.0)."""
    bits = (values + np.float32(0)).view(np.uint32)  # + 0 turns -0.0 into +0.0
    return np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000)).astype(np.uint64)


def _orders(*arrays: np.ndarray) -> list[np.ndarray]:
    """Order codes for several arrays in one shared code space."""
    if arrays[0].dtype in (np.float32, np.float16):
        return [_float32_order(a.astype(np.float32, copy=False)) for a in arrays]
    # other dtypes (float64, ints): dense ranks over all values together
    _, inverse = np.unique(np.concatenate(arrays), return_inverse=True)
    cuts = np.cumsum([a.size for a in arrays])[:-1]
    return np.split(inverse.astype(np.uint64), cuts)


def _keys(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    return (rows.astype(np.uint64) << np.uint64(32)) | order


def _count_below_in_rows(values, value_rows, probes, probe_rows):
    """For each probe: (#values strictly below, #values at or below) in the probe's row."""
    v_o, p_o = _orders(values, probes)
    sorted_keys = np.sort(_keys(value_rows, v_o))
    keys = _keys(probe_rows, p_o)
    base = np.searchsorted(sorted_keys, _keys(probe_rows, np.uint64(0)), "left")
    return (
        np.searchsorted(sorted_keys, keys, "left") - base,
        np.searchsorted(sorted_keys, keys, "right") - base,
    )


# Costs (ns) that pick how one row's candidates are counted: sorting them, or
# two vectorised comparisons over them per positive. Measured on the 2-core box.
_SORT_NS_PER_ITEM = 18.0
_CMP_NS_PER_ITEM = 0.15
_CALL_NS = 1200.0


def _count_candidates(cand: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(#cand < x, #cand <= x) for each x of the sorted positives `pos`."""
    n = cand.size
    if 2 * pos.size * (_CMP_NS_PER_ITEM * n + _CALL_NS) < _SORT_NS_PER_ITEM * n:
        lt = np.fromiter((np.count_nonzero(cand < x) for x in pos), np.int64, pos.size)
        le = np.fromiter((np.count_nonzero(cand <= x) for x in pos), np.int64, pos.size)
        return lt, le
    cand = np.sort(cand)
    return cand.searchsorted(pos, "left"), cand.searchsorted(pos, "right")


# ------------------------------------------------------------------ a block of queries


def _ranks_by_argsort(d: np.ndarray, q_pid: int, q_cam: int, gal: _Gallery) -> np.ndarray:
    """Kept-list positions of the positives, ordered exactly as torchreid orders them."""
    order = np.argsort(d)  # numpy's default sort, as torchreid's np.argsort(distmat, axis=1)
    same = gal.pids[order] == q_pid
    keep = ~(same & (gal.camids[order] == q_cam))
    return np.flatnonzero(same[keep])


def _rank_block(block: np.ndarray, q_pids, q_camids, groups, gal: _Gallery):
    """Ranks of every query's true matches in its filtered gallery list.

    Returns `(skipped, lengths, ranks)`: the number of queries without a valid
    match, then for each valid query its number of positives and their 0-based
    ranks (ascending, query after query).
    """
    block = np.ascontiguousarray(block)
    num_rows, num_g = block.shape
    rows = np.arange(num_rows)
    # every query's same-pid gallery images (its positives and same-camera junk)
    g = np.maximum(groups, 0)
    sizes = np.where(groups >= 0, gal.sizes[g], 0)
    same_rows = np.repeat(rows, sizes)
    first = np.cumsum(sizes) - sizes
    members = gal.order[np.repeat(gal.starts[g] - first, sizes) + np.arange(same_rows.size)]
    same_d = block[same_rows, members]
    good = gal.camids[members] != q_camids[same_rows]
    pos_rows, pos_d = same_rows[good], same_d[good]
    n_pos = np.bincount(pos_rows, minlength=num_rows)
    valid = n_pos > 0
    if not valid.any():
        return num_rows, np.zeros(0, np.int64), np.zeros(0, np.int64)

    # positives sorted within each query; the farthest one bounds the candidates
    by_row_dist = np.lexsort((pos_d, pos_rows))
    pos_rows, pos_d = pos_rows[by_row_dist], pos_d[by_row_dist]
    pos_start = np.cumsum(n_pos) - n_pos
    farthest = np.zeros(num_rows, block.dtype)
    farthest[valid] = pos_d[pos_start[valid] + n_pos[valid] - 1]
    below = block <= farthest[:, None]
    below[~valid] = False
    flat = np.flatnonzero(below)
    del below
    cand_d = block.reshape(-1)[flat]
    cand_start = np.searchsorted(flat, rows * num_g)
    cand_stop = np.append(cand_start[1:], flat.size)
    del flat

    lt = np.empty(pos_d.size, np.int64)
    le = np.empty(pos_d.size, np.int64)
    for r in np.flatnonzero(valid):
        p0, p1 = pos_start[r], pos_start[r] + n_pos[r]
        lt[p0:p1], le[p0:p1] = _count_candidates(cand_d[cand_start[r] : cand_stop[r]], pos_d[p0:p1])
    s_lt, s_le = _count_below_in_rows(same_d, same_rows, pos_d, pos_rows)
    k = np.arange(pos_rows.size) - np.repeat(pos_start, n_pos)
    ranks = (lt - s_lt) + k
    lengths = n_pos[valid]

    # a negative exactly as close as a positive: the order is the sort's choice,
    # so take it from np.argsort like torchreid does
    tie = (le - lt) != (s_le - s_lt)
    if tie.any():
        tie_rows = np.unique(pos_rows[tie])
        ranks = [ranks[~np.isin(pos_rows, tie_rows)]]
        ranks += [_ranks_by_argsort(block[r], int(q_pids[r]), int(q_camids[r]), gal) for r in tie_rows]
        lengths = np.concatenate([lengths[~np.isin(rows[valid], tie_rows)], [len(x) for x in ranks[1:]]])
        ranks = np.concatenate(ranks)
    return int(num_rows - valid.sum()), lengths, ranks


# ------------------------------------------------------------ accumulation


class _Tally:
    """Per-query results gathered block by block, reduced once at the end."""

    def __init__(self) -> None:
        self.lengths: list[np.ndarray] = []
        self.ranks: list[np.ndarray] = []
        self.skipped = 0

    def add_block(self, block: np.ndarray, q_pids, q_camids, groups, gal: _Gallery) -> None:
        skipped, lengths, ranks = _rank_block(block, q_pids, q_camids, groups, gal)
        self.skipped += skipped
        self.lengths.append(lengths)
        self.ranks.append(ranks)

    def reduce(self, max_rank: int, name: str, num_q: int) -> tuple[np.ndarray, float, float, int]:
        lengths = np.concatenate(self.lengths)
        n_valid = lengths.size
        if n_valid == 0:
            raise EvaluationError(
                f"{name}: the query set has no match in the gallery: none of the {num_q} queries has "
                "a gallery image of the same pid from another camera (are query and gallery from the "
                "same dataset, with pids and camids parsed the same way?)"
            )
        ranks = np.concatenate(self.ranks)
        starts = np.cumsum(lengths) - lengths
        k = np.arange(ranks.size) - np.repeat(starts, lengths)  # index of each positive in its query
        ap = np.add.reduceat((k + 1) / (ranks + 1.0), starts) / lengths
        inp = lengths / (ranks[starts + lengths - 1] + 1.0)
        first = ranks[starts]
        hits = np.bincount(np.minimum(first, max_rank), minlength=max_rank + 1)[:max_rank]
        cmc = np.cumsum(hits).astype(np.float32) / np.float32(n_valid)
        return cmc, float(np.mean(ap)), float(np.mean(inp)), n_valid


def _to_numpy(rows) -> np.ndarray:
    """CPU numpy view of a block; bfloat16 (no numpy dtype) widens exactly to float32."""
    if isinstance(rows, torch.Tensor):
        if rows.dtype == torch.bfloat16:
            rows = rows.float()
        rows = rows.detach().cpu().numpy()
    return rows


def _rank_matrix(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int, name: str, shorten: bool = False):
    """Rank a whole matrix block by block; `shorten` cuts max_rank to the gallery size (torchreid)."""
    if isinstance(distmat, torch.Tensor):
        shape = tuple(distmat.shape)
    else:
        distmat = np.asarray(distmat)
        shape = distmat.shape
        if distmat.dtype.kind not in "fiu":
            raise EvaluationError(f"{name}: distmat must be numeric, got dtype {distmat.dtype}")
    if len(shape) != 2:
        raise EvaluationError(f"{name}: distmat must be 2-D (queries x gallery), got shape {shape}")
    num_q, num_g = shape
    _check_split_sizes(num_q, num_g, name)
    q_pids = _ids(q_pids, "q_pids", num_q, "query (distmat rows)")
    q_camids = _ids(q_camids, "q_camids", num_q, "query (distmat rows)")
    g_pids = _ids(g_pids, "g_pids", num_g, "gallery (distmat columns)")
    g_camids = _ids(g_camids, "g_camids", num_g, "gallery (distmat columns)")

    gal = _Gallery(g_pids, g_camids)
    groups = gal.group_of(q_pids)
    tally = _Tally()
    step = rows_per_block(num_g, 8, DEFAULT_BLOCK_BYTES // 4)
    for start in range(0, num_q, step):
        stop = min(start + step, num_q)
        block = _to_numpy(distmat[start:stop])
        _check_finite(block, start, f"{name}: distmat")
        tally.add_block(block, q_pids[start:stop], q_camids[start:stop], groups[start:stop], gal)
    if shorten:
        max_rank = min(max_rank, num_g)
    return tally.reduce(max_rank, name, num_q), tally.skipped


# ------------------------------------------------------------------ public API


def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50) -> tuple[np.ndarray, float]:
    """Drop-in for `torchreid.metrics.evaluate_rank(..., use_cython=False)` (Market protocol).

    Returns `(cmc, mAP)`: `cmc` is float32 of length `min(max_rank, num_gallery)`
    (torchreid shortens it the same way), `mAP` a float. Unlike torchreid, a
    query whose filtered gallery is shorter than `max_rank` is fine: its CMC
    stays 1 past the end of its list. Raises EvaluationError instead of
    asserting when no query has a match.
    """
    _check_ranks((), max_rank)
    (cmc, mAP, _inp, _n), _skipped = _rank_matrix(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank, "evaluate_rank", shorten=True
    )
    return cmc, mAP


def evaluate(
    distmat_or_features,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    *,
    ranks: Sequence[int] = DEFAULT_RANKS,
    max_rank: int = 50,
    metric: str = "euclidean",
    normalize: bool = False,
    name: str = "test set",
) -> ReidMetrics:
    """CMC, mAP, mINP and query counts from a distance matrix or from features.

    Args:
        distmat_or_features: a (num_query x num_gallery) distance matrix (numpy
            or torch), or a pair `(query_features, gallery_features)`; features
            go through `evaluate_features` (chunked, never the full matrix).
        q_pids, g_pids, q_camids, g_camids: 1-D integer ids per image.
        ranks: CMC ranks to report (each within 1..max_rank).
        max_rank: length of the CMC curve.
        metric, normalize: used only with features (see `compute_distance_matrix`).
        name: the test set's name, used in error messages.
    """
    if isinstance(distmat_or_features, (tuple, list)):
        if len(distmat_or_features) != 2:
            raise EvaluationError(f"{name}: expected a distance matrix or a (query, gallery) feature pair")
        qf, gf = distmat_or_features
        return evaluate_features(
            qf, gf, q_pids, g_pids, q_camids, g_camids,
            metric=metric, normalize=normalize, ranks=ranks, max_rank=max_rank, name=name,
        )
    ranks = _check_ranks(ranks, max_rank)
    (cmc, mAP, mINP, n_valid), skipped = _rank_matrix(
        distmat_or_features, q_pids, g_pids, q_camids, g_camids, max_rank, name
    )
    return ReidMetrics(cmc, mAP, mINP, n_valid, skipped, ranks)


def evaluate_features(
    qf,
    gf,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    *,
    metric: str = "euclidean",
    normalize: bool = False,
    ranks: Sequence[int] = DEFAULT_RANKS,
    max_rank: int = 50,
    chunk: int | None = None,
    name: str = "test set",
    timings: dict | None = None,
) -> ReidMetrics:
    """Evaluate from features, ranking each block of queries as soon as it is computed.

    Only `chunk` query rows of distances exist at a time (default about 256 MB),
    so the extra memory stays bounded at any gallery size (MSMT17: 11,659 x
    82,161). The numbers equal `evaluate(compute_distance_matrix(qf, gf, ...), ...)`
    (up to the last bit of a distance when a different chunk changes BLAS
    blocking). Features may live on CUDA; each block is ranked on the CPU.
    Pass a dict as `timings` to get "distance_s" and "rank_s" filled in.
    """
    ranks = _check_ranks(ranks, max_rank)
    try:
        qf, gf = check_features(qf, gf)
    except FeatureError as exc:
        raise EvaluationError(f"{name}: {exc}") from None
    num_q, num_g = int(qf.shape[0]), int(gf.shape[0])
    q_pids = _ids(q_pids, "q_pids", num_q, "query (feature rows)")
    q_camids = _ids(q_camids, "q_camids", num_q, "query (feature rows)")
    g_pids = _ids(g_pids, "g_pids", num_g, "gallery (feature rows)")
    g_camids = _ids(g_camids, "g_camids", num_g, "gallery (feature rows)")
    gal = _Gallery(g_pids, g_camids)
    groups = gal.group_of(q_pids)
    tally = _Tally()
    distance_s = rank_s = 0.0
    try:
        blocks = iter_distance_blocks(qf, gf, metric=metric, normalize=normalize, chunk=chunk, validate=False)
        t0 = time.perf_counter()
        for start, block in blocks:
            stop = start + block.shape[0]
            rows = _to_numpy(block)  # on CUDA this also waits for the GEMM
            del block
            t1 = time.perf_counter()
            _check_finite(rows, start, f"{name}: distances")
            tally.add_block(rows, q_pids[start:stop], q_camids[start:stop], groups[start:stop], gal)
            del rows
            t2 = time.perf_counter()
            distance_s += t1 - t0
            rank_s += t2 - t1
            t0 = t2
    except EvaluationError:
        raise
    except ValueError as exc:  # a bad metric or chunk: say which test set
        raise EvaluationError(f"{name}: {exc}") from None
    t0 = time.perf_counter()
    cmc, mAP, mINP, n_valid = tally.reduce(max_rank, name, num_q)
    if timings is not None:
        timings.update(distance_s=distance_s, rank_s=rank_s + time.perf_counter() - t0)
    return ReidMetrics(cmc, mAP, mINP, n_valid, tally.skipped, ranks)
