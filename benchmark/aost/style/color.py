"""`color` and `dat`: the fast, identity-keeping style transfers (one map per domain pair).

Both estimate ONE map from the statistics of the two domains and apply the
same map to every image, so two people who differ in colour still differ the
same way afterwards. (Normalising each image to the target's statistics would
erase the person's own colours: identity is what loses.)

`color`, colour statistics transfer: a per-channel affine map in CIE Lab,
L* a* b* each mapped from the source domain's pooled pixel mean/std to the
target's (Reinhard et al. 2001, but at domain level). Gains are clamped to
[0.5, 2] and are positive, so the order of any two colours along each Lab
axis is kept. Nothing else changes: no blur, noise or JPEG.

`dat`, domain appearance transfer: the camera as well. All at the model size
(h, w), in this order of application:
1. sharpness / resolution: one Gaussian blur sigma (pixels at the model size),
   standing in for optics, low native resolution and upscaling.
2. sensor noise: one i.i.d. Gaussian noise std (in [0, 1] intensity units),
   seeded per image by its content, so the result never depends on the batch.
3. colour: the Lab map above, fitted on the source as it looks AFTER steps
   1-2 (blur lowers the pixel variance and noise raises it, so a map fitted
   on clean images would no longer match the target once degraded).
4. compression: the target's JPEG quality, read from its files' quantisation
   tables (none when the bank is not JPEG), after quantising to 8 bits.
(1) and (2) are fitted jointly by a grid search that degrades a sample of the
source and matches the target's domain-averaged descriptors: log band
energies of the luminance (difference-of-Gaussian bands 0-1, 1-2 and 2-4
pixels, relative to the image variance: how much fine detail survives) and a
robust noise estimate (median absolute finest-scale Haar diagonal coefficient
/ 0.6745).

Which one the cpu profile uses, and why, is measured in PERFORMANCE.md
("Why the cpu profile uses `color`, not `dat`").
"""
from __future__ import annotations

import math
import time
import zlib
from io import BytesIO
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .base import STYLE_FILE, StyleModel, write_json_atomic
from .images import from_unit, load_resized, to_unit
from .spgan import select_images

METHOD_NAMES = {"color": "colour statistics transfer", "dat": "domain appearance transfer (DAT)"}
# Saved maps of another version are refitted. 1: `color` was colour map, then optics; 2: optics, then the colour
# map; 3: `color` is the colour map alone and `dat` is version 2; 4: the statistics of up to STAT_IMAGES = 4,000
# images per side (was 400, and the pipeline's GAN cap of 300 applied too).
MAP_VERSION = 4
BLUR_GRID = (0.0, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
NOISE_GRID = (0.0, 0.004, 0.008, 0.012, 0.016, 0.024, 0.032, 0.048, 0.064)
GAIN_RANGE = (0.5, 2.0)
# images per domain for the statistics: all of a cpu-budget selection and of a demo target. Two 400-image
# samples of one 2,000-image selection differed by 3 in mean L*, which moved pixels by up to 51/255.
STAT_IMAGES = 4_000
SEARCH_IMAGES = 32  # source images degraded at each grid point

# ---------------------------------------------------------------- colour spaces
_RGB2XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
_XYZ2RGB = torch.linalg.inv(_RGB2XYZ)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883]).view(1, 3, 1, 1)
_D = 6.0 / 29.0


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], (N, 3, H, W) -> CIE Lab (D65)."""
    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055).clamp_min(0) ** 2.4)
    xyz = torch.einsum("ij,njhw->nihw", _RGB2XYZ, lin) / _WHITE
    f = torch.where(xyz > _D**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * _D**2) + 4 / 29)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (D65) -> sRGB in [0, 1] (out-of-gamut values clipped)."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], 1)
    xyz = torch.where(f > _D, f**3, 3 * _D**2 * (f - 4 / 29)) * _WHITE
    lin = torch.einsum("ij,njhw->nihw", _XYZ2RGB, xyz).clamp(0, 1)
    return torch.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055).clamp(0, 1)


# ---------------------------------------------------------------- degradations
def _blur_last_dim(x: torch.Tensor, k: torch.Tensor, r: int) -> torch.Tensor:
    """1-D convolution along the last axis with reflected borders (as conv1d: fast on CPU)."""
    n = x.shape[-1]
    p = min(r, n - 1)
    y = F.pad(x, (p, p, 0, 0), mode="reflect") if p > 0 else x
    if p < r:  # tiny images: reflect as far as possible, replicate beyond
        y = F.pad(y, (r - p, r - p, 0, 0), mode="replicate")
    return F.conv1d(y.reshape(-1, 1, y.shape[-1]), k.view(1, 1, -1)).view(x.shape)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflected borders; sigma 0 is the identity."""
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    y = _blur_last_dim(x, k, r)
    return _blur_last_dim(y.transpose(-1, -2), k, r).transpose(-1, -2).contiguous()


def jpeg(x: torch.Tensor, quality: int | None) -> torch.Tensor:
    """Round-trip every image through JPEG at `quality` (None: unchanged)."""
    if quality is None:
        return x
    out = []
    for img in from_unit(x.numpy()):
        buf = BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        out.append(np.asarray(Image.open(buf).convert("RGB")))
    return torch.from_numpy(to_unit(out))


def content_noise(img: np.ndarray, seed: int) -> torch.Tensor:
    """Unit Gaussian noise (3, H, W) seeded by (seed, the image's pixels): batch-independent."""
    rng = np.random.default_rng([seed, zlib.crc32(np.ascontiguousarray(img).tobytes())])
    return torch.from_numpy(rng.standard_normal((3, *img.shape[:2]), dtype=np.float32))


def optics(x: torch.Tensor, blur: float, noise: torch.Tensor | None, noise_std: float) -> torch.Tensor:
    """Blur and add sensor noise (steps 1-2 of the map), clipped to [0, 1]."""
    y = gaussian_blur(x, blur)
    return (y + noise_std * noise).clamp(0, 1) if noise_std > 0 else y.clamp(0, 1)


def degrade_images(imgs: list[np.ndarray], blur: float, noise_std: float, seed: int) -> torch.Tensor:
    """Steps 1-2 on uint8 images: blur, then noise seeded by each image's content (none drawn when noise_std is 0)."""
    noise = torch.stack([content_noise(im, seed) for im in imgs]) if noise_std > 0 else None
    return optics(torch.from_numpy(to_unit(imgs)), blur, noise, noise_std)


def compress(y: torch.Tensor, quality: int | None) -> torch.Tensor:
    """Quantise to 8 bits and JPEG (step 4)."""
    return jpeg(torch.round(y.clamp(0, 1) * 255) / 255, quality)


# ---------------------------------------------------------------- statistics
def descriptors(x: torch.Tensor) -> torch.Tensor:
    """Per-image sharpness/noise descriptors (N, 4) on luminance: log DoG band
    energies (sigma 0-1, 1-2, 2-4) over the variance, and log robust noise std."""
    y = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    var = y.flatten(1).var(1) + 1e-6
    g1 = gaussian_blur(y, 1.0)
    # the coarser bands at half resolution (g1 is already smooth): Gaussians compose, so
    # sigma 1 then sqrt(3) is sigma 2 and then sqrt(12) is sigma 4 (halved on the half grid)
    h1 = g1[..., ::2, ::2]
    h2 = gaussian_blur(h1, math.sqrt(3.0) / 2)
    h4 = gaussian_blur(h2, math.sqrt(12.0) / 2)
    bands = [(y - g1), (h1 - h2), (h2 - h4)]
    logs = [torch.log(b.pow(2).flatten(1).mean(1) / var + 1e-6) for b in bands]
    h, w = (y.shape[-2] // 2) * 2, (y.shape[-1] // 2) * 2
    q = y[..., :h, :w]
    diag = (q[..., 0::2, 0::2] - q[..., 0::2, 1::2] - q[..., 1::2, 0::2] + q[..., 1::2, 1::2]) / 2
    noise = diag.abs().flatten(1).median(1).values / 0.6745
    return torch.stack([*logs, torch.log(noise + 1e-3)], 1)


_JPEG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
])  # JPEG standard (Annex K) luminance table, quality 50


def jpeg_quality_of(path: str | Path) -> int | None:
    """Quality (libjpeg scale) whose luminance table best matches the file's; None if not JPEG."""
    try:
        with Image.open(path) as im:
            if im.format != "JPEG" or not getattr(im, "quantization", None):
                return None
            table = np.asarray(im.quantization[0], dtype=np.float64)
    except OSError:
        return None
    best, best_err = None, float("inf")
    for q in range(1, 101):
        scale = 5000 / q if q < 50 else 200 - 2 * q
        ref = np.clip(np.floor((_JPEG_LUMA * scale + 50) / 100), 1, 255)
        err = abs(ref.sum() - table.sum())  # order-free: tables may come zig-zag or natural
        if err < best_err:
            best, best_err = q, err
    return best


def lab_stats(batches: Iterable[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Pooled per-channel Lab mean and std over all pixels of the image batches ((N, 3, H, W) in [0, 1])."""
    s, s2, n = np.zeros(3), np.zeros(3), 0
    for x in batches:
        lab = rgb_to_lab(x).double()
        s += lab.sum((0, 2, 3)).numpy()
        s2 += lab.pow(2).sum((0, 2, 3)).numpy()
        n += lab.shape[0] * lab.shape[2] * lab.shape[3]
    mean = s / n
    return mean, np.sqrt(np.maximum(s2 / n - mean**2, 1e-6))


def _batches(paths: Sequence[str], size: tuple[int, int], n: int = 64) -> Iterator[list[np.ndarray]]:
    for i in range(0, len(paths), n):
        yield [load_resized(p, size) for p in paths[i : i + n]]


# ---------------------------------------------------------------- the model
class ColorStyle(StyleModel):
    """Applies one fitted map to every image: `color` (Lab colour map) or `dat` (blur, noise, colour map, JPEG)."""

    def __init__(self, info: dict, out_dir: Path):
        super().__init__(info, out_dir)
        self.method = info["method"]
        if info.get("map_version") != MAP_VERSION:
            raise ValueError(f"{Path(out_dir) / STYLE_FILE} holds a colour map of version {info.get('map_version', 1)} "
                             f"(this aostbench applies version {MAP_VERSION}); delete that folder to refit it")
        m = info["map"]
        self.src_mean = torch.tensor(m["lab_source_mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.tgt_mean = torch.tensor(m["lab_target_mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.gain = torch.tensor(m["lab_gain"], dtype=torch.float32).view(1, 3, 1, 1)
        self.blur, self.noise_std, self.quality = float(m["blur_sigma"]), float(m["noise_std"]), m["jpeg_quality"]
        self.seed = int(info.get("seed", 0))

    def colour_map(self, x: torch.Tensor) -> torch.Tensor:
        return lab_to_rgb((rgb_to_lab(x) - self.src_mean) * self.gain + self.tgt_mean)

    def _translate_batch(self, imgs: list[np.ndarray]) -> list[np.ndarray]:
        x = degrade_images(imgs, self.blur, self.noise_std, self.seed)
        return from_unit(compress(self.colour_map(x), self.quality).numpy())


def fit_color(
    source_paths: Sequence[str], bank_paths: Sequence[str], out_dir: Path, *,
    size: tuple[int, int], seed: int, max_images: int | None, progress: bool, optics_too: bool = False,
) -> ColorStyle:
    """Estimate the `color` map (or, with optics_too, the `dat` map; see the module doc) and save it in out_dir/style.json.

    Takes seconds (no progress bar needed); `progress` is accepted for a uniform API."""
    t0 = time.perf_counter()
    method = "dat" if optics_too else "color"
    cap = min(max_images, STAT_IMAGES) if max_images else STAT_IMAGES
    src = select_images(source_paths, cap, seed)
    bank = select_images(bank_paths, cap, seed + 1)
    info = {
        "method": method, "name": METHOD_NAMES[method], "map_version": MAP_VERSION, "size": list(size),
        "res_blocks": None, "epochs": 0, "device": "cpu", "seed": seed,
        "images": {"source": len(src), "bank": len(bank)},
        "map": {"blur_sigma": 0.0, "noise_std": 0.0, "jpeg_quality": None},
    }
    if optics_too:
        info["map"], info["descriptors"] = _fit_optics(src, bank, size, seed)
    # the colour statistics of the source as it looks after the optics (none for `color`), against the target's
    m = info["map"]
    mu_s, sd_s = lab_stats(degrade_images(b, m["blur_sigma"], m["noise_std"], seed) for b in _batches(src, size))
    mu_t, sd_t = lab_stats(torch.from_numpy(to_unit(b)) for b in _batches(bank, size))
    gain = np.clip(sd_t / sd_s, *GAIN_RANGE)
    info["map"].update(lab_source_mean=mu_s.tolist(), lab_source_std=sd_s.tolist(), lab_target_mean=mu_t.tolist(),
                       lab_target_std=sd_t.tolist(), lab_gain=gain.tolist())
    if optics_too:  # how close the whole map brings the sample's sharpness and noise to the target's
        imgs = [load_resized(p, size) for p in src[:SEARCH_IMAGES]]
        mapped = ColorStyle(info, out_dir)._translate_batch(imgs)
        info["descriptors"]["source_mapped"] = descriptors(torch.from_numpy(to_unit(mapped))).mean(0).tolist()
    info["train_seconds"] = round(time.perf_counter() - t0, 3)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(out_dir) / STYLE_FILE, info)
    return ColorStyle(info, out_dir)


def _fit_optics(src: Sequence[str], bank: Sequence[str], size: tuple[int, int], seed: int) -> tuple[dict, dict]:
    """Steps 1, 2 and 4 of `dat`: the target's JPEG quality, then blur and noise by a joint grid search."""
    qualities = [q for q in (jpeg_quality_of(p) for p in bank[:64]) if q is not None]
    quality = int(np.median(qualities)) if len(qualities) > len(bank[:64]) // 2 else None
    imgs = [load_resized(p, size) for p in src[:SEARCH_IMAGES]]
    x = torch.from_numpy(to_unit(imgs))
    noise = torch.stack([content_noise(im, seed) for im in imgs])
    # in batches: the bank may hold STAT_IMAGES images (1.5 GB as one float tensor at 256x128)
    target = torch.cat([descriptors(torch.from_numpy(to_unit(b))) for b in _batches(bank, size)]).mean(0)
    best = (float("inf"), 0.0, 0.0)
    for blur in BLUR_GRID:
        xb = gaussian_blur(x, blur)  # once per blur, not once per (blur, noise) pair
        for std in NOISE_GRID:
            d = descriptors(compress(optics(xb, 0.0, noise, std), quality)).mean(0)
            err = float((d - target).pow(2).sum())
            if err < best[0] - 1e-12:
                best = (err, blur, std)
    found = {"blur_sigma": best[1], "noise_std": best[2], "jpeg_quality": quality}
    report = {"names": ["log_band_0_1", "log_band_1_2", "log_band_2_4", "log_noise"], "target": target.tolist(),
              "source": descriptors(x).mean(0).tolist(), "residual": best[0]}
    return found, report
