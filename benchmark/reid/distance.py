"""Query-gallery distance matrices, computed in bounded-memory chunks.

The formulas are torchreid's (`torchreid.metrics.compute_distance_matrix`), so
the numbers agree with it: "euclidean" is the *squared* Euclidean distance
``|q|^2 + |g|^2 - 2 q.g`` (one GEMM), "cosine" is ``1 - q_hat . g_hat``.
Tiny negative squared distances from rounding are kept, not clamped to 0:
clamping would turn distinct near-zero distances into ties and change ranks.

Works on CPU and CUDA tensors; the result stays on the features' device.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.profiles import DIST_METRICS as METRICS  # one home for the choices

# Query rows per block: the block's temporaries (rows x gallery floats) stay
# around this many bytes whatever the gallery size.
DEFAULT_BLOCK_BYTES = 256 * 2**20


class FeatureError(ValueError):
    """Features that cannot be compared (shape, dtype, NaN/inf, emptiness)."""


def _as_tensor(x, what: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise FeatureError(f"{what} must be a torch tensor or numpy array, got {type(x).__name__}")
    if x.dim() != 2:
        raise FeatureError(f"{what} must be 2-D (images x dims), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise FeatureError(f"{what} must hold floating-point values, got dtype {x.dtype}")
    return x


def check_features(qf, gf) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a query/gallery feature pair and return them as tensors.

    Raises FeatureError naming the split for: non-2-D input, an empty split,
    different feature widths, different devices, and NaN/inf values.
    """
    qf = _as_tensor(qf, "query features")
    gf = _as_tensor(gf, "gallery features")
    for t, split in ((qf, "query"), (gf, "gallery")):
        if t.shape[0] == 0:
            raise FeatureError(f"the {split} split is empty (0 feature rows)")
        # a NaN/inf anywhere makes its row's sum non-finite; the sum is ~40x
        # cheaper than torch.isfinite on CPU, which only runs to say where
        if not bool(torch.isfinite(t.sum(dim=1)).all()):
            bad_rows = (~torch.isfinite(t)).any(dim=1)
            if not bool(bad_rows.any()):
                raise FeatureError(f"{split} features are too large: their row sums overflow {t.dtype}")
            rows = torch.nonzero(bad_rows).flatten()
            raise FeatureError(
                f"{split} features contain NaN/inf in {rows.numel()} of {t.shape[0]} rows "
                f"(first bad row: {int(rows[0])})"
            )
    if qf.shape[1] != gf.shape[1]:
        raise FeatureError(
            f"query features have {qf.shape[1]} dims but gallery features have {gf.shape[1]}"
        )
    if qf.device != gf.device:
        raise FeatureError(f"query features are on {qf.device} but gallery features on {gf.device}")
    if qf.dtype != gf.dtype:
        common = torch.promote_types(qf.dtype, gf.dtype)
        qf, gf = qf.to(common), gf.to(common)
    return qf, gf


def rows_per_block(num_gallery: int, itemsize: int = 4, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """How many query rows fit in one block of about `block_bytes`."""
    return max(1, block_bytes // max(1, num_gallery * itemsize))


def _squared_norms(x: torch.Tensor, rows: int = 512) -> torch.Tensor:
    """Row-wise sum of squares as a column, bitwise equal to x.pow(2).sum(dim=1, keepdim=True).

    Done in cache-sized row blocks: the full-size squared temporary costs ~2x the time.
    """
    out = torch.empty((x.shape[0], 1), dtype=x.dtype, device=x.device)
    for s in range(0, x.shape[0], rows):
        torch.sum(x[s : s + rows].pow(2), dim=1, keepdim=True, out=out[s : s + rows])
    return out


class _Prepared:
    """Gallery-side terms computed once and reused by every query block."""

    def __init__(self, qf: torch.Tensor, gf: torch.Tensor, metric: str, normalize: bool):
        if metric not in METRICS:
            raise ValueError(f"unknown distance metric {metric!r}; choose one of {', '.join(METRICS)}")
        if normalize or metric == "cosine":
            qf, gf = F.normalize(qf, p=2, dim=1), F.normalize(gf, p=2, dim=1)
        self.metric = metric
        self.qf, self.gf_t = qf, gf.t()
        if metric == "euclidean":
            self.q_sq = _squared_norms(qf)
            self.g_sq = _squared_norms(gf).t()

    def block(self, start: int, stop: int, out: torch.Tensor | None = None) -> torch.Tensor:
        q = self.qf[start:stop]
        if self.metric == "euclidean":
            # |q|^2 + |g|^2 first, then the GEMM accumulates -2 q.g in place (as torchreid)
            out = torch.add(self.q_sq[start:stop], self.g_sq, out=out)
            return out.addmm_(q, self.gf_t, beta=1, alpha=-2)
        out = torch.mm(q, self.gf_t, out=out)
        return out.neg_().add_(1)


def iter_distance_blocks(
    qf,
    gf,
    metric: str = "euclidean",
    normalize: bool = False,
    chunk: int | None = None,
    validate: bool = True,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield `(first_query_row, block)` with `block = distances[first:first+rows]`.

    Only one block (chunk x gallery) exists at a time, so a caller that ranks
    each block and drops it never holds the full matrix. `chunk` is the number
    of query rows per block (default: about 256 MB of distances).
    `validate=False` skips `check_features` for callers that already ran it.
    """
    if validate:
        qf, gf = check_features(qf, gf)
    prep = _Prepared(qf, gf, metric, normalize)
    rows = chunk or rows_per_block(gf.shape[0], gf.element_size())
    if rows < 1:
        raise ValueError(f"chunk must be a positive number of query rows, got {chunk}")
    for start in range(0, qf.shape[0], rows):
        yield start, prep.block(start, min(start + rows, qf.shape[0]))


def compute_distance_matrix(
    qf,
    gf,
    metric: str = "euclidean",
    normalize: bool = False,
    chunk: int | None = None,
) -> torch.Tensor:
    """Full query x gallery distance matrix (torch tensor on the features' device).

    Args:
        qf, gf: 2-D float features (torch tensors or numpy arrays), CPU or CUDA.
        metric: "euclidean" (squared, as torchreid) or "cosine" (1 - cosine similarity).
        normalize: L2-normalise the features first (then euclidean ranks like cosine).
        chunk: query rows per GEMM block; bounds the temporaries, not the output.
            Default: about 256 MB per block.

    Each block is written straight into the preallocated output, so the peak is
    the output plus the normalised feature copies (when `normalize`), nothing more.
    """
    qf, gf = check_features(qf, gf)
    prep = _Prepared(qf, gf, metric, normalize)
    out = torch.empty((qf.shape[0], gf.shape[0]), dtype=prep.qf.dtype, device=qf.device)
    rows = chunk or rows_per_block(gf.shape[0], gf.element_size())
    if rows < 1:
        raise ValueError(f"chunk must be a positive number of query rows, got {chunk}")
    for start in range(0, qf.shape[0], rows):
        stop = min(start + rows, qf.shape[0])
        prep.block(start, stop, out=out[start:stop])
    return out
