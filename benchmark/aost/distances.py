"""Gatys style and content distances with VGG-19 (the paper's Eq. 1-3), and how an image meets a set.

Between two images x and y, with VGG-19 feature maps F^l (N_l filters, M_l
positions) and Gram matrices G^l = F^l F^l^T:

- Eq. 2  D_style   = sum_l w_l / (4 N_l^2 M_l^2) * ||G^l(x) - G^l(y)||_F^2
         over relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 with w_l = 0.2;
- Eq. 1  D_content = 1/2 * ||F(x) - F(y)||^2 on relu4_2;
- Eq. 3  D_total   = alpha * D_style / s_style + beta * D_content / s_content,
         alpha 0.9, beta 1.

One scale: D_style and D_content differ by orders of magnitude (and with the
VGG weights), so each is divided by its median s over all probe-target pairs
before Eq. 3; the medians are returned and stored with the run.

Pairs at scale: both distances are squared Euclidean distances between fixed
per-image vectors (the scaled Gram matrices, the scaled relu4_2 maps), so each
image is reduced once to a seeded count sketch of those vectors (`sketch_dim`
buckets) and every probe x target distance is a distance between sketches:
unbiased, relative error about sqrt(2 / sketch_dim) (tested against the exact
Eq. 1-2). No Gram matrix is kept per image.

How one image is compared with a SET of target images: by its soft
nearest-neighbour claim on the set (`soft_claims`). Each target image t
spreads one unit over the probe images, softmax_i(-D_total(x_i, t) / h) (times
the current weight of x_i), and image x_i's claim n_i is what it collects; the
distance of x_i to the set is -log n_i (in nats, fitted through the
surrogate). Every target image counts exactly once, whatever its distance to
the source domain (the camera-style gap), and the claims of a cell's images
estimate how much of the target looks like that cell. The obvious alternative,
distance to the set's mean Gram (= mean distance to each target image up to a
constant), ranks images by closeness to an "average" image that no target
image resembles (bright and dark scenes average to grey); on sim-market1501 it
recovered the attribute prior worse than the uniform distribution did.

Weights: the paper profile uses torchvision's ImageNet VGG-19
(`vgg19-dcbb9e9d.pth`, read from disk, never downloaded); the others use a
seeded random-init VGG-19 (He init by fan-in, so activations keep their scale
through depth), recorded as "random(seed=S)".
"""
from __future__ import annotations

import hashlib
import json
import os
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset as TorchDataset
from torchvision.models import vgg as tv_vgg

from benchmark import weights as W
from benchmark.paths import cache_root

STYLE_LAYERS: dict[str, int] = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
CONTENT_LAYER: tuple[str, int] = ("relu4_2", 22)
STYLE_LAYER_WEIGHT = 0.2  # w_l in Eq. 2 (the paper's setting)
ALPHA = 0.9  # Eq. 3
BETA = 1.0  # Eq. 3
VGG19_FILE = W.VGG19.filename
SKETCH_SEED = 12345  # part of the method (fixed), not of the run
SKETCH_DIM = 4096  # relative error of a pair distance about sqrt(2 / 4096) = 2%
_LAST_LAYER = max(STYLE_LAYERS.values())


# --- the network ---------------------------------------------------------------------------


class VGGTaps(nn.Module):
    """VGG-19 `features` up to relu5_1, returning the tapped activations by layer name."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features[: _LAST_LAYER + 1]
        self.taps = {idx: name for name, idx in STYLE_LAYERS.items()}
        self.taps[CONTENT_LAYER[1]] = CONTENT_LAYER[0]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for idx, layer in enumerate(self.features):
            x = layer(x)
            if idx in self.taps:
                out[self.taps[idx]] = x.clone()  # the next ReLU works in place
        return out


def require_vgg_weights() -> Path:
    """The ImageNet VGG-19 file, or MissingWeights (call it before any work is done)."""
    return W.require(W.VGG19, "the attribute-optimisation distances")


def build_vgg(weights: str, seed: int = 0) -> tuple[VGGTaps, str]:
    """VGG-19 taps and the label recorded for its weights ("imagenet" or "random(seed=S)").

    With ImageNet weights the net carries `weights_use` (file, SHA-256, tensors loaded)."""
    features = tv_vgg.make_layers(tv_vgg.cfgs["E"])
    use = None
    if weights == "imagenet":
        path = require_vgg_weights()
        state = torch.load(path, map_location="cpu", weights_only=True)
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        if not feats:
            raise ValueError(f"{path}: expected a torchvision VGG-19 state dict with 'features.*' keys")
        features.load_state_dict(feats)  # strict: every conv layer of `features`
        label = "imagenet"
        use = W.use_record("ao_vgg19", path, len(feats), label)
    elif weights == "random":
        gen = torch.Generator().manual_seed(seed)
        for m in features:
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
                    m.bias.zero_()
        label = f"random(seed={seed})"
    else:
        raise ValueError(f"unknown VGG weights {weights!r}; expected 'imagenet' or 'random'")
    net = VGGTaps(features).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    net.weights_use = use
    return net, label


def weights_identity(weights: str, seed: int = 0) -> str:
    """What VGG features depend on: the ImageNet file's SHA-256 (not its name), or the random init's seed."""
    if weights == "imagenet":
        return "sha256-" + W.sha256_of(require_vgg_weights())[:16]
    return f"random(seed={seed})"


# --- Eq. 1-3 --------------------------------------------------------------------------------


def gram(feat: torch.Tensor) -> torch.Tensor:
    """Gram matrices G = F F^T of feature maps [B, N, H, W] -> [B, N, N] (unnormalised, as in Eq. 2)."""
    b, n = feat.shape[:2]
    f = feat.reshape(b, n, -1)
    return f @ f.transpose(1, 2)


def style_norm(n: int, m: int) -> float:
    """The 1/(4 N^2 M^2) factor of Eq. 2."""
    return 1.0 / (4.0 * n * n * m * m)


def exact_pair_distances(taps_a: dict[str, torch.Tensor], taps_b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2 and Eq. 1 for every pair of two small batches -> (D_style [A, B], D_content [A, B])."""
    d_style = 0.0
    for name in STYLE_LAYERS:
        fa, fb = taps_a[name], taps_b[name]
        n, m = fa.shape[1], fa.shape[2] * fa.shape[3]
        ga, gb = gram(fa).flatten(1), gram(fb).flatten(1)
        d_style = d_style + STYLE_LAYER_WEIGHT * style_norm(n, m) * torch.cdist(ga.double(), gb.double()).pow(2)
    ca, cb = taps_a[CONTENT_LAYER[0]].flatten(1), taps_b[CONTENT_LAYER[0]].flatten(1)
    d_content = 0.5 * torch.cdist(ca.double(), cb.double()).pow(2)
    return d_style, d_content


def total_distance(d_style, d_content, scales: tuple[float, float] = (1.0, 1.0), alpha: float = ALPHA, beta: float = BETA):
    """Eq. 3 with each distance divided by its scale (the medians)."""
    return alpha * d_style / scales[0] + beta * d_content / scales[1]


def median_scales(d_style: np.ndarray, d_content: np.ndarray) -> tuple[float, float]:
    """The medians that put D_style and D_content on one scale (1.0 where a median is 0)."""
    s, c = float(np.median(d_style)), float(np.median(d_content))
    return (s if s > 0 else 1.0, c if c > 0 else 1.0)


# --- sketches: every pair's distance without keeping any Gram matrix -----------------------


class CountSketch:
    """Seeded count sketch: ||sketch(u) - sketch(v)||^2 is an unbiased estimate of ||u - v||^2."""

    def __init__(self, dim: int, seed: int = SKETCH_SEED):
        self.dim = dim
        self.seed = seed
        self._tables: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def _table(self, name: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (name, size)
        if key not in self._tables:  # a table depends on (seed, name, size) only, not on call order
            salt = int(hashlib.sha1(f"{name}/{size}".encode()).hexdigest()[:8], 16)
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + salt)
            h = torch.randint(0, self.dim, (size,), generator=gen)
            s = torch.randint(0, 2, (size,), generator=gen).float() * 2 - 1
            self._tables[key] = (h, s)
        return self._tables[key]

    def add(self, out: torch.Tensor, name: str, vec: torch.Tensor) -> None:
        """out[B, dim] += sketch of vec[B, D] (one fixed table per (name, D))."""
        h, s = self._table(name, vec.shape[1])
        out.index_add_(1, h.to(vec.device), vec * s.to(vec.device))


@dataclass
class Sketches:
    """Per image: count sketches of the Eq. 2 vector (style) and of the Eq. 1 vector (content)."""

    style: np.ndarray  # [n, k]
    content: np.ndarray  # [n, k]

    def __len__(self) -> int:
        return int(self.style.shape[0])

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"style": self.style, "content": self.content}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "Sketches":
        return cls(np.asarray(a["style"]), np.asarray(a["content"]))


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def pair_distances(a: Sketches, b: Sketches) -> tuple[np.ndarray, np.ndarray]:
    """(D_style [len a, len b], D_content [len a, len b]) estimated from the sketches."""
    return _sq_dists(a.style, b.style), _sq_dists(a.content, b.content)


@dataclass
class StyleContentDistance:
    """VGG-19 Eq. 1-2 vectors of images, reduced to sketches (see the module docstring)."""

    weights: str = "random"  # "imagenet" | "random"
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 32
    sketch_dim: int = SKETCH_DIM
    net: VGGTaps = field(init=False, repr=False)
    weights_label: str = field(init=False)

    def __post_init__(self) -> None:
        self.net, self.weights_label = build_vgg(self.weights, self.seed)
        self.net.to(self.device)
        self._sketch = CountSketch(self.sketch_dim)

    def sketches(self, data: TorchDataset, *, partial: Path | None = None, label: str = "VGG images",
                 chunk: int = 256) -> Sketches:
        """Sketches of every image of `data` (items: normalised image tensors, or tuples starting with one).

        partial: a folder where every `chunk` images' sketches are saved as they are done, so an
        interrupted pass resumes where it stopped (chunks are whole batches: the same numbers as
        one pass). The folder is removed when the pass is complete.
        """
        from torch.utils.data import Subset

        from benchmark import progress
        from benchmark.reid.features import extract_features

        if len(data) == 0:
            raise ValueError("no images to compute VGG distances for")
        k, sketch = self.sketch_dim, self._sketch

        def forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
            taps = net(x)
            ss = torch.zeros(x.shape[0], k, device=x.device)
            for name in STYLE_LAYERS:
                f = taps[name]
                n, m = f.shape[1], f.shape[2] * f.shape[3]
                sketch.add(ss, name, gram(f).flatten(1) * math.sqrt(STYLE_LAYER_WEIGHT * style_norm(n, m)))
            cs = torch.zeros(x.shape[0], k, device=x.device)
            sketch.add(cs, CONTENT_LAYER[0], taps[CONTENT_LAYER[0]].flatten(1) * math.sqrt(0.5))
            return torch.cat([ss, cs], dim=1)

        if partial is None:
            arr = extract_features(self.net, data, batch_size=self.batch_size, device=self.device, forward=forward,
                                   split=label).numpy()
            return Sketches(arr[:, :k].copy(), arr[:, k:].copy())
        chunk = max(self.batch_size, chunk // self.batch_size * self.batch_size)
        partial = Path(partial)
        partial.mkdir(parents=True, exist_ok=True)
        n = len(data)
        parts: list[np.ndarray] = []
        for start in range(0, n, chunk):  # chunks already computed (a resumed pass)
            f = partial / f"{start:09d}.npy"
            if not f.is_file():
                break
            parts.append(np.load(f))
        done = sum(len(p) for p in parts)
        with progress.stage(label, n, done=done) as bar:
            for start in range(done, n, chunk):
                sub = Subset(data, range(start, min(n, start + chunk)))
                out = extract_features(self.net, sub, batch_size=self.batch_size, device=self.device, forward=forward,
                                       split=label, progress=False).numpy()
                _save_chunk(partial, f"{start:09d}.npy", out)
                parts.append(out)
                bar.update(len(out))
        arr = np.concatenate(parts)
        return Sketches(arr[:, :k].copy(), arr[:, k:].copy())


def _save_chunk(partial: Path, name: str, out: np.ndarray) -> None:
    """Keep a finished chunk for a resumed pass. Best effort: another process (a parallel grid job on
    the same cache entry) may finish first and remove the folder; the chunk is still in memory."""
    try:
        partial.mkdir(parents=True, exist_ok=True)
        tmp = partial / f".{name}.{os.getpid()}.tmp.npy"
        np.save(tmp, out)
        tmp.replace(partial / name)
    except OSError:
        pass


# --- one image against a set: soft nearest-neighbour claims ---------------------------------


def claim_temperature(d_total: np.ndarray, k: int = 5, factor: float = 0.1) -> float:
    """h = factor * median over target images of (k-th - 1st smallest D_total to the probe images).

    A scale of the distances between a target image and its nearest source
    images, so h adapts to the features and the domain gap; factor 0.1 makes a
    target image's claim go mostly to its one to three nearest probe images.
    """
    d = np.sort(np.asarray(d_total, dtype=np.float64), axis=0)
    k = min(k, d.shape[0]) - 1
    gap = float(np.median(d[k] - d[0])) if k > 0 else 0.0
    return factor * gap if gap > 0 else 1.0


def soft_claims(d_total: np.ndarray, temperature: float, log_weights: np.ndarray | None = None) -> np.ndarray:
    """Claims n_i = sum_t softmax_i(-D[i, t] / h + log w_i): each target image t casts one unit over the probe.

    d_total: [probe, target]. log_weights: log of the current weight of each
    probe image (its cell's probability over the probe's design probability);
    None is uniform. sum(n) equals the number of target images.
    """
    d = np.asarray(d_total, dtype=np.float64)
    z = -d / temperature
    if log_weights is not None:
        z = z + np.asarray(log_weights, dtype=np.float64)[:, None]
    z -= z.max(axis=0, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=0, keepdims=True)).sum(axis=1)


# --- a small on-disk cache keyed by what the numbers depend on -------------------------------


def cache_key(parts: dict) -> str:
    """A stable short hash of a JSON-able description."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def load_or_compute(
    kind: str, parts: dict, compute: Callable[[Path], dict[str, np.ndarray]], root: Path | None = None
) -> tuple[dict[str, np.ndarray], bool]:
    """Arrays cached as <cache_root>/ao/<kind>-<hash>.npz (+ .json saying what they are); (arrays, was_cached).

    compute(partial) gets a folder `<kind>-<hash>.partial` for work in progress (removed once the
    arrays are saved), so an interrupted computation can resume."""
    folder = (root or cache_root()) / "ao"
    path = folder / f"{kind}-{cache_key(parts)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}, True
        except (OSError, ValueError):
            pass  # a broken cache entry is recomputed
    partial = folder / f"{kind}-{cache_key(parts)}.partial"
    arrays = compute(partial)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # grid jobs may compute the same entry at once
    np.savez(tmp, **arrays)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(parts, sort_keys=True, default=str, indent=1))
    if partial.is_dir():
        import shutil

        shutil.rmtree(partial, ignore_errors=True)
    return arrays, False


def images_dataset(images: Sequence[np.ndarray], height: int, width: int) -> TorchDataset:
    """In-memory HxWx3 uint8 images as VGG inputs, resized and normalised like the file loader."""
    return _ArrayImages(list(images), height, width)


class _ArrayImages(TorchDataset):
    def __init__(self, images: list[np.ndarray], height: int, width: int):
        self.images, self.height, self.width = images, height, width

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        from benchmark.reid.data import to_normalized_tensor

        im = Image.fromarray(np.asarray(self.images[i], dtype=np.uint8)).convert("RGB")
        return to_normalized_tensor(im.resize((self.width, self.height), Image.BILINEAR))
