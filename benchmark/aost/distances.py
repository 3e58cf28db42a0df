"""Gatys style and content distances with VGG-19 (the paper's Eq. 1-3).

Per image x and reference r, with VGG-19 feature maps F^l (N_l filters, M_l
positions) and Gram matrices G^l = F^l F^l^T:

- Eq. 2  D_style   = sum_l w_l / (4 N_l^2 M_l^2) * ||G^l(x) - A^l(r)||_F^2,
         over relu1_1, relu2_1, relu3_1, relu4_1, relu5_1, w_l = 0.2;
- Eq. 1  D_content = 1/2 * ||F(x) - P(r)||^2 on relu4_2;
- Eq. 3  D_total   = alpha * D_style + beta * D_content, alpha 0.9, beta 1.

How one image is compared with a SET of target images: the reference is the
target set's mean Gram matrices and mean relu4_2 features. Both distances are
squared Euclidean distances in a fixed feature space, so for any image x

    mean_t D(x, t) = D(x, mean_t) + mean_t D(t, mean_t),

i.e. distance to the mean equals the mean distance to every target image minus
a constant that depends on the target alone (tested). Ranking, surrogate fits
and search are unchanged by that constant, and the target needs one pass.

How the two distances are put on one scale: D_style and D_content differ by
orders of magnitude (and by the VGG weights), so each is divided by its median
over the probe set before Eq. 3 is applied: D_total = 0.9 * D_style / med_style
+ 1.0 * D_content / med_content. The medians are returned and stored.

Pairwise distances between two probe images (used by the search's diversity
term) are estimated from count sketches of the same scaled feature vectors
(unbiased for squared norms; relative error about sqrt(2/k)), so no Gram
matrix of a probe image needs to be kept.

Weights: the paper profile uses torchvision's ImageNet VGG-19
(`vgg19-dcbb9e9d.pth`, read from disk, never downloaded); the others use a
seeded random-init VGG-19 (He init scaled by fan-in so activations keep their
scale through depth), recorded as "random(seed=S)".
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import Subset
from torchvision.models import vgg as tv_vgg

from benchmark.paths import cache_root, require_weights

STYLE_LAYERS: dict[str, int] = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
CONTENT_LAYER: tuple[str, int] = ("relu4_2", 22)
STYLE_LAYER_WEIGHT = 0.2  # w_l in Eq. 2 (the paper's setting)
ALPHA = 0.9  # Eq. 3
BETA = 1.0  # Eq. 3
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_SOURCE = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth (torchvision's ImageNet VGG-19)"
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
                out[self.taps[idx]] = x.clone()  # the next ReLU is in-place
        return out


def require_vgg_weights() -> Path:
    """The ImageNet VGG-19 file, or MissingWeights (before any work is done)."""
    return require_weights(VGG19_FILE, "ImageNet VGG-19 for the attribute-optimisation distances", VGG19_SOURCE)


def build_vgg(weights: str, seed: int = 0) -> tuple[VGGTaps, str]:
    """VGG-19 taps and the label recorded for its weights ("imagenet" or "random(seed=S)")."""
    features = tv_vgg.make_layers(tv_vgg.cfgs["E"])
    if weights == "imagenet":
        path = require_vgg_weights()
        state = torch.load(path, map_location="cpu", weights_only=True)
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        if not feats:
            raise ValueError(f"{path}: expected a torchvision VGG-19 state dict with 'features.*' keys")
        features.load_state_dict(feats)
        label = "imagenet"
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
    return net, label


# --- Eq. 1-3 on tensors ----------------------------------------------------------------------


def gram(feat: torch.Tensor) -> torch.Tensor:
    """Gram matrices G = F F^T of feature maps [B, N, H, W] -> [B, N, N] (unnormalised, as in Eq. 2)."""
    b, n = feat.shape[:2]
    f = feat.reshape(b, n, -1)
    return f @ f.transpose(1, 2)


def style_norm(n: int, m: int) -> float:
    """The 1/(4 N^2 M^2) factor of Eq. 2."""
    return 1.0 / (4.0 * n * n * m * m)


def style_layer_distances(taps: dict[str, torch.Tensor], ref_grams: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per layer 1/(4 N^2 M^2) ||G - A||^2 for a batch -> [B, 5] (not yet weighted by w_l)."""
    cols = []
    for name in STYLE_LAYERS:
        f = taps[name]
        b, n, m = f.shape[0], f.shape[1], f.shape[2] * f.shape[3]
        a = ref_grams[name]
        if m >= n:
            d2 = (gram(f) - a.unsqueeze(0)).pow(2).sum(dim=(1, 2))
        else:
            # deep layers (N > M): ||FF^T - A||^2 = ||F^T F||^2 - 2 <F, A F> + ||A||^2 avoids N x N per image
            fl = f.reshape(b, n, m)
            ff = fl.transpose(1, 2) @ fl
            af = (a @ fl.transpose(0, 1).reshape(n, b * m)).reshape(n, b, m).transpose(0, 1)
            d2 = ff.pow(2).sum(dim=(1, 2)) - 2 * (fl * af).sum(dim=(1, 2)) + a.pow(2).sum()
            d2 = d2.clamp_min(0)
        cols.append(d2 * style_norm(n, m))
    return torch.stack(cols, dim=1)


def content_distance(feat: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Eq. 1: 1/2 sum (F - P)^2 per image of a batch -> [B]."""
    return 0.5 * (feat - ref.unsqueeze(0)).pow(2).flatten(1).sum(dim=1)


def style_distance(layer_dists: torch.Tensor | np.ndarray, w: float = STYLE_LAYER_WEIGHT):
    """Eq. 2 from per-layer distances [.., 5]: sum_l w_l * d_l."""
    return w * layer_dists.sum(-1)


def total_distance(d_style, d_content, scales: tuple[float, float] = (1.0, 1.0), alpha: float = ALPHA, beta: float = BETA):
    """Eq. 3 with each distance divided by its scale (the probe-set medians)."""
    return alpha * d_style / scales[0] + beta * d_content / scales[1]


def median_scales(d_style: np.ndarray, d_content: np.ndarray) -> tuple[float, float]:
    """The medians that put D_style and D_content on one scale (guarded against zero)."""
    s, c = float(np.median(d_style)), float(np.median(d_content))
    return (s if s > 0 else 1.0, c if c > 0 else 1.0)


# --- the target's reference statistics and the probe's distances ---------------------------


@dataclass
class TargetStats:
    """Mean Gram matrices per style layer and mean relu4_2 features of a set of target images."""

    grams: dict[str, torch.Tensor]
    content: torch.Tensor
    n: int

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"gram_{k}": v.numpy() for k, v in self.grams.items()}
        out["content"] = self.content.numpy()
        out["n"] = np.array(self.n)
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "TargetStats":
        grams = {k: torch.from_numpy(np.asarray(a[f"gram_{k}"])) for k in STYLE_LAYERS}
        return cls(grams, torch.from_numpy(np.asarray(a["content"])), int(a["n"]))


@dataclass
class ProbeDistances:
    """Per probe image: per-layer style distances [P, 5], content distance [P], and pair sketches."""

    style_layers: np.ndarray
    content: np.ndarray
    style_sketch: np.ndarray
    content_sketch: np.ndarray

    @property
    def style(self) -> np.ndarray:
        return style_distance(self.style_layers)

    def scales(self) -> tuple[float, float]:
        return median_scales(self.style, self.content)

    def total(self, scales: tuple[float, float] | None = None) -> np.ndarray:
        """D_total per probe image (Eq. 3 on the median-scaled distances)."""
        return total_distance(self.style, self.content, scales or self.scales())

    def pair_total(self, i: np.ndarray, j: np.ndarray, scales: tuple[float, float] | None = None) -> np.ndarray:
        """Estimated D_total between probe images i[k] and j[k], on the same scale as `total`."""
        s = scales or self.scales()
        ds = ((self.style_sketch[i] - self.style_sketch[j]) ** 2).sum(1)
        dc = ((self.content_sketch[i] - self.content_sketch[j]) ** 2).sum(1)
        return total_distance(ds, dc, s)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("style_layers", "content", "style_sketch", "content_sketch")}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "ProbeDistances":
        return cls(*(np.asarray(a[k]) for k in ("style_layers", "content", "style_sketch", "content_sketch")))


class CountSketch:
    """Seeded count sketch: ||sketch(u) - sketch(v)||^2 estimates ||u - v||^2 without keeping u or v."""

    def __init__(self, dim: int, seed: int = 0):
        self.dim = dim
        self.gen = torch.Generator().manual_seed(seed)
        self._tables: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def _table(self, name: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (name, size)
        if key not in self._tables:
            h = torch.randint(0, self.dim, (size,), generator=self.gen)
            s = torch.randint(0, 2, (size,), generator=self.gen).float() * 2 - 1
            self._tables[key] = (h, s)
        return self._tables[key]

    def add(self, out: torch.Tensor, name: str, vec: torch.Tensor) -> None:
        """out[B, dim] += sketch of vec[B, D] (the table for `name` is fixed at first use)."""
        h, s = self._table(name, vec.shape[1])
        out.index_add_(1, h.to(vec.device), vec * s.to(vec.device))


@dataclass
class StyleContentDistance:
    """VGG-19 distances of images to a target set (see the module docstring)."""

    weights: str = "random"  # "imagenet" | "random"
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 32
    sketch_dim: int = 2048
    net: VGGTaps = field(init=False, repr=False)
    weights_label: str = field(init=False)

    def __post_init__(self) -> None:
        self.net, self.weights_label = build_vgg(self.weights, self.seed)
        self.net.to(self.device)
        self._sketch = CountSketch(self.sketch_dim, seed=12345)  # part of the method: fixed, not the run seed

    def _extract(self, data: TorchDataset, forward: Callable) -> torch.Tensor:
        from benchmark.reid.features import extract_features

        return extract_features(self.net, data, batch_size=self.batch_size, device=self.device, forward=forward)

    def target_stats(self, data: TorchDataset) -> TargetStats:
        """Mean Grams and mean content features of the images of `data` (items: tensors or (tensor, ...))."""
        n = len(data)
        if n == 0:
            raise ValueError("the target set is empty: attribute optimisation needs unlabeled target images")
        sums: dict[str, torch.Tensor] = {}
        chunk = self.batch_size  # Grams of one chunk at a time keep memory bounded
        names = list(STYLE_LAYERS) + [CONTENT_LAYER[0]]
        shapes: dict[str, tuple[int, ...]] = {}

        def forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
            taps = net(x)
            parts = []
            for name in names:
                t = gram(taps[name]) if name in STYLE_LAYERS else taps[name]
                shapes[name] = tuple(t.shape[1:])
                parts.append(t.flatten(1))
            return torch.cat(parts, dim=1)

        for start in range(0, n, chunk):
            feats = self._extract(Subset(data, range(start, min(n, start + chunk))), forward)
            offset = 0
            for name in names:
                size = int(np.prod(shapes[name]))
                part = feats[:, offset : offset + size].sum(0, dtype=torch.float64)
                sums[name] = sums[name] + part if name in sums else part
                offset += size
        grams = {k: (sums[k] / n).float().reshape(shapes[k]) for k in STYLE_LAYERS}
        content = (sums[CONTENT_LAYER[0]] / n).float().reshape(shapes[CONTENT_LAYER[0]])
        return TargetStats(grams, content, n)

    def probe_distances(self, data: TorchDataset, stats: TargetStats) -> ProbeDistances:
        """Per image: per-layer style distances, content distance and the pair sketches."""
        grams = {k: v.to(self.device) for k, v in stats.grams.items()}
        ref_content = stats.content.to(self.device)
        k = self.sketch_dim
        sketch = self._sketch

        def forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
            taps = net(x)
            layers = style_layer_distances(taps, grams)
            content = content_distance(taps[CONTENT_LAYER[0]], ref_content)
            ss = torch.zeros(x.shape[0], k, device=x.device)
            for name in STYLE_LAYERS:
                f = taps[name]
                n, m = f.shape[1], f.shape[2] * f.shape[3]
                scale = math.sqrt(STYLE_LAYER_WEIGHT * style_norm(n, m))
                sketch.add(ss, name, gram(f).flatten(1) * scale)
            cs = torch.zeros(x.shape[0], k, device=x.device)
            sketch.add(cs, CONTENT_LAYER[0], taps[CONTENT_LAYER[0]].flatten(1) * math.sqrt(0.5))
            return torch.cat([layers, content[:, None], ss, cs], dim=1)

        out = self._extract(data, forward).double().numpy()
        return ProbeDistances(out[:, :5], out[:, 5], out[:, 6 : 6 + k], out[:, 6 + k :])


# --- a small on-disk cache keyed by what the numbers depend on -------------------------------


def cache_key(parts: dict) -> str:
    """A stable short hash of a JSON-able description."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def load_or_compute(kind: str, parts: dict, compute: Callable[[], dict[str, np.ndarray]], root: Path | None = None) -> tuple[dict[str, np.ndarray], bool]:
    """Arrays cached under <cache_root>/ao/<kind>-<hash>.npz; returns (arrays, was_cached)."""
    folder = (root or cache_root()) / "ao"
    path = folder / f"{kind}-{cache_key(parts)}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}, True
        except (OSError, ValueError):
            pass  # a broken cache entry is recomputed
    arrays = compute()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(parts, sort_keys=True, default=str, indent=1))
    return arrays, False


def images_dataset(images: Sequence[np.ndarray], height: int, width: int) -> TorchDataset:
    """In-memory HxWx3 uint8 images as VGG inputs (resized, ImageNet-normalised) like the file loader."""
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
