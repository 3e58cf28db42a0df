"""Frechet Inception Distance through pytorch-fid's InceptionV3.

- Network: pytorch-fid's FID variant of InceptionV3 (its patched blocks), built
  here so its weights are read from disk and never downloaded: the official
  file `pt_inception-2015-12-05-6726825d.pth` is looked up in
  AOSTBENCH_WEIGHTS and $TORCH_HOME/hub/checkpoints (where pytorch-fid itself
  would cache it). A profile with fid_weights="official" needs that file: a
  run stops before any work without it (`aostbench weights fetch
  fid-inception`). Other profiles use the file when it is present and else the
  same architecture with seeded random weights; the result's label says which
  was loaded ("official" / "random"), with the file's SHA-256 and tensor count.
  Random-weight values are internally consistent but not comparable with
  published FID.
- Images: every image is resized to 299x299 (bilinear) first, so crops of any
  size mix, then scaled to [0, 1] (the network maps that to [-1, 1]). At most
  profile.fid_max_images per side, a seeded subsample when there are more.
- Features: the pool (or the profile's smaller block, by fid_dims) activations,
  spatially averaged as pytorch-fid does, cached by content: the images (a
  dataset fingerprint, or a hash of the files' paths, sizes and times), the
  weights (the file's SHA-256, or the random init's seed), dims, input size,
  the cap and `FEATURES_VERSION`.
- Distance: our own `frechet_distance` (eigen-decompositions of symmetric
  matrices, no scipy `sqrtm(disp=...)`), equal to pytorch-fid's
  `calculate_frechet_distance` on well-conditioned inputs (tested); from
  activations, `frechet_distance_of_activations` takes the same value through
  an n x n SVD when there are fewer images than dimensions.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from benchmark import weights as W
from benchmark.datasets.records import Record
from benchmark.paths import cache_root, find_weights
from benchmark.profiles import Profile

FID_WEIGHTS_FILE = W.FID_INCEPTION.filename
FID_SIZE = 299
FEATURES_VERSION = 2  # bump when what shapes the cached activations changes (resize, pooling, init)
RANDOM_SEED = 0  # the fallback network's weights: one fixed net, so fallback values compare with each other
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class FIDResult:
    value: float
    weights: str  # "official" | "random" (fallback: not comparable with published FID)
    dims: int
    n_a: int
    n_b: int
    weights_use: dict | None = None  # the official file loaded: name, SHA-256, tensors (benchmark.weights.use_record)

    def to_dict(self) -> dict:
        return {"value": self.value, "weights": self.weights, "dims": self.dims, "n_a": self.n_a, "n_b": self.n_b,
                "weights_use": self.weights_use}


# --- the Frechet distance ------------------------------------------------------------------


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) for symmetric PSD S1, S2.

    Tr((S1 S2)^(1/2)) = sum of square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2),
    a symmetric PSD matrix with the same spectrum as S1 S2, so only `eigh` is needed.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"Frechet distance: mismatched shapes mu {mu1.shape}/{mu2.shape}, sigma {s1.shape}/{s2.shape}")
    r1 = _sqrt_psd(s1)
    inner = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def frechet_distance_of_activations(acts1: np.ndarray, acts2: np.ndarray) -> float:
    """The Frechet distance between the Gaussians fitted to two activation sets (rows are samples).

    With A = centred acts1 / sqrt(n1 - 1) and B likewise, S1 S2 = A^T A B^T B has the
    same non-zero eigenvalues as (A B^T)(A B^T)^T, so Tr((S1 S2)^(1/2)) is the sum of
    the singular values of A B^T: an n1 x n2 problem instead of d x d when there are
    fewer images than dimensions (the usual case for FID on small sets).
    """
    x1, x2 = np.asarray(acts1, np.float64), np.asarray(acts2, np.float64)
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"Frechet distance: activations must be [n, d] with one d, got {x1.shape} and {x2.shape}")
    n1, n2, d = x1.shape[0], x2.shape[0], x1.shape[1]
    if n1 < 2 or n2 < 2:
        raise ValueError(f"FID needs at least 2 images per side, got {n1} and {n2}")
    if min(n1, n2) >= d:
        return frechet_distance(*stats_of(x1), *stats_of(x2))
    mu1, mu2 = x1.mean(0), x2.mean(0)
    a = (x1 - mu1) / np.sqrt(n1 - 1)
    b = (x2 - mu2) / np.sqrt(n2 - 1)
    tr_covmean = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    diff = mu1 - mu2
    return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2.0 * tr_covmean)


def stats_of(acts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples), as pytorch-fid computes them."""
    acts = np.asarray(acts, dtype=np.float64)
    if acts.shape[0] < 2:
        raise ValueError(f"FID needs at least 2 images per side, got {acts.shape[0]}")
    return acts.mean(axis=0), np.cov(acts, rowvar=False)


# --- the network ---------------------------------------------------------------------------


def resolve_weights(requested: str | None = None) -> str:
    """The weights FID will load: "official" asked for -> the official file or MissingWeights (never a
    silent fallback); "random" -> the seeded random net; None -> the official file when present, else random."""
    if requested == "random":
        return "random"
    if requested == "official":
        W.require(W.FID_INCEPTION, "FID with fid_weights=official")
        return "official"
    if requested is not None:
        raise ValueError(f"unknown FID weights {requested!r}; expected 'official' or 'random'")
    return "official" if find_weights(FID_WEIGHTS_FILE) is not None else "random"


def weights_identity(label: str) -> str:
    """What the activations depend on: the official file's SHA-256, or the random init's seed."""
    if label == "official":
        return "sha256-" + W.sha256_of(W.require(W.FID_INCEPTION, "FID with fid_weights=official"))[:16]
    return f"random-seed{RANDOM_SEED}"


def fid_backbone() -> torch.nn.Module:
    """pytorch-fid's FID Inception architecture (torchvision's with its patched blocks), without weights."""
    from pytorch_fid import inception as pf

    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    return net


def build_inception(dims: int = 2048, weights: str = "official") -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (FID variant) returning the block for `dims`, weights read from disk only."""
    from pytorch_fid import inception as pf

    if dims not in pf.InceptionV3.BLOCK_INDEX_BY_DIM:
        raise ValueError(f"FID dims must be one of {sorted(pf.InceptionV3.BLOCK_INDEX_BY_DIM)}, got {dims}")

    def fid_inception_from_disk():
        net = fid_backbone()
        if weights == "official":
            path = W.require(W.FID_INCEPTION, "FID with fid_weights=official")
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state)  # strict: every tensor of the file, and all the net has
            used.append(W.use_record("fid_inception", path, len(state), "official"))
        else:
            _variance_preserving_init(net)
        return net

    # InceptionV3 builds its backbone with the module-level fid_inception_v3 (which downloads);
    # ours is swapped in for the constructor only.
    used: list[dict] = []
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        original = pf.fid_inception_v3
        pf.fid_inception_v3 = fid_inception_from_disk
        try:
            model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[dims]], resize_input=False, normalize_input=True)
        finally:
            pf.fid_inception_v3 = original
    model.weights_use = used[0] if used else None  # what was loaded, read by compute_fid
    return model.eval()


def _variance_preserving_init(net: torch.nn.Module) -> None:
    """He (fan-in) normal convolutions: torch's default init shrinks activations to ~1e-8 by the pool layer."""
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
            torch.nn.init.normal_(m.weight, 0.0, (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)


def _pooled(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    out = model(images)[0]
    if out.shape[2] != 1 or out.shape[3] != 1:
        out = torch.nn.functional.adaptive_avg_pool2d(out, output_size=(1, 1))
    return out.flatten(1)


class _FIDImages(TorchDataset):
    def __init__(self, paths: Sequence[str]):
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        from torchvision.transforms import functional as TF

        from benchmark.reid.data import load_image

        return TF.to_tensor(load_image(self.paths[i], FID_SIZE, FID_SIZE))


# --- activations with a cache --------------------------------------------------------------


def _paths_of(images: Sequence[str | Path | Record]) -> list[str]:
    return [str(x.path if isinstance(x, Record) else x) for x in images]


def _subsample(paths: list[str], max_images: int) -> list[str]:
    if len(paths) <= max_images:
        return paths
    keep = np.sort(np.random.default_rng(0).choice(len(paths), size=max_images, replace=False))
    return [paths[i] for i in keep]


def _files_key(paths: Sequence[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        try:
            st = os.stat(p)
        except OSError as exc:
            raise FileNotFoundError(f"FID: cannot read image {p} ({exc.strerror})") from None
        h.update(f"{p}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _cache_path(key: str, paths: Sequence[str], weights: str, dims: int, max_images: int) -> Path:
    """<key>-<which images>-<weights file hash>-<dims>-<n>-<cap>-<size>-v<version>.npy: the key guards
    the files' content (a dataset fingerprint), the short hash of the path list which images of it were
    used; the weights part is the file's SHA-256 (not its label), so another file under the same name
    never returns the old activations."""
    which = hashlib.sha1("\n".join(paths).encode()).hexdigest()[:8]
    wid = weights_identity(weights)
    return cache_root() / "fid" / f"{key}-{which}-{wid}-{dims}-{len(paths)}-{max_images}-{FID_SIZE}-v{FEATURES_VERSION}.npy"


def activations(
    images: Sequence[str | Path | Record],
    *,
    dims: int,
    weights: str,
    max_images: int,
    device: str = "cpu",
    batch_size: int = 32,
    cache_key: str | None = None,
    model: torch.nn.Module | None = None,
    label: str = "FID images",
) -> np.ndarray:
    """Inception activations [n, dims] of (at most max_images of) the images, cached."""
    paths = _subsample(_paths_of(images), max_images)
    if len(paths) < 2:
        raise ValueError(f"FID needs at least 2 images per side, got {len(paths)}")
    cache = _cache_path(cache_key or _files_key(paths), paths, weights, dims, max_images)
    if cache.is_file():
        try:
            return np.load(cache)
        except (OSError, ValueError):
            pass
    from benchmark.reid.features import extract_features

    net = model if model is not None else build_inception(dims, weights).to(device)
    acts = extract_features(net, _FIDImages(paths), batch_size=batch_size, device=device, forward=_pooled, split=label)
    out = acts.numpy().astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.stem + ".tmp.npy")
    np.save(tmp, out)
    tmp.replace(cache)
    return out


def compute_fid(
    images_a: Sequence[str | Path | Record],
    images_b: Sequence[str | Path | Record],
    *,
    profile: Profile,
    device: str = "cpu",
    cache_key_a: str | None = None,
    cache_key_b: str | None = None,
    weights: str | None = None,
    batch_size: int = 32,
    name: str = "FID",
) -> FIDResult:
    """FID between two image sets with the profile's fid_dims and fid_max_images.

    weights: None follows the profile: fid_weights="official" needs the official
    file (MissingWeights without it); otherwise the official file is used
    whenever it is present (so values stay comparable) and else the seeded
    random net. "random" forces the random net. The result records which was
    loaded and, for the official file, its SHA-256 and tensor count.
    """
    if weights is None and profile.fid_weights == "official":
        weights = "official"
    label = resolve_weights(weights)
    dims = profile.fid_dims
    model = None

    def acts(images, key, side):
        nonlocal model
        paths = _subsample(_paths_of(images), profile.fid_max_images)
        k = key or _files_key(paths)
        if model is None and not _cache_path(k, paths, label, dims, profile.fid_max_images).is_file():
            model = build_inception(dims, label).to(device)
        return activations(
            paths, dims=dims, weights=label, max_images=profile.fid_max_images,
            device=device, batch_size=batch_size, cache_key=k, model=model, label=f"{name} ({side})",
        )

    a = acts(images_a, cache_key_a, "images")
    b = acts(images_b, cache_key_b, "target")
    value = frechet_distance_of_activations(a, b)
    use = None
    if label == "official":  # cached activations: the file they came from is the one hashed into their key
        use = getattr(model, "weights_use", None) or dict(
            W.use_record("fid_inception", W.require(W.FID_INCEPTION, "FID"), 0, "official"), from_cache=True)
    return FIDResult(max(0.0, value), label, int(a.shape[1]), len(a), len(b), use)
