"""A "real camera" look: resolution loss, blur, colour cast, contrast, sensor noise, JPEG.

A camera style is a small mapping (the `style` table of a camera in a twin's
TOML). The clean synthetic source has none; target twins give each camera its
own, so their images differ in style from the source the way real CCTV does.
Blur is in pixels at a 128-pixel-high crop and scales with the crop height.
"""
from __future__ import annotations

import io
from functools import lru_cache
from typing import Any, Mapping

import cv2
import numpy as np
from PIL import Image

# key: (default, low, high, meaning)
STYLE_KEYS: dict[str, tuple[Any, float, float, str]] = {
    "blur": (0.0, 0.0, 5.0, "Gaussian blur sigma in pixels at 128 px height"),
    "noise": (0.0, 0.0, 40.0, "sensor noise std in 0..255 units (grows in the dark)"),
    "cast": ((1.0, 1.0, 1.0), 0.5, 1.5, "RGB gains, e.g. [1.05, 1.0, 0.9] for a warm camera"),
    "downscale": (1.0, 0.1, 1.0, "resolution loss: shrink by this factor and scale back up"),
    "jpeg": (0, 0, 100, "JPEG quality of the written files (0 = the writer's default)"),
    "contrast": (1.0, 0.3, 2.0, "contrast around the mean"),
    "saturation": (1.0, 0.0, 2.0, "colour saturation"),
    "gamma": (1.0, 0.4, 2.5, "tone curve exponent (>1 darker mid-tones)"),
    "vignette": (0.0, 0.0, 0.8, "darkening towards the corners"),
    "view": (0.5, 0.0, 1.0, "which stretch of the scene panorama this camera looks at"),
    # what real footage has and the clean source does not
    "backdrop": (0, 0, 1_000_000, "which place of each scene kind (0 = the source's own backgrounds)"),
    "crop_jitter": (0.0, 0.0, 1.0, "detector-box misalignment: scale and offset of the person in the box"),
    "occlusion": (0.0, 0.0, 1.0, "probability that another pedestrian is partly in the box"),
    "texture": (0.0, 0.0, 1.0, "photographic unevenness: smooth light and dirt variation plus grain"),
}
_INT_KEYS = ("jpeg", "backdrop")
DEFAULT_JPEG_QUALITY = 95


def validate_style(style: Mapping[str, Any] | None, where: str = "camera style") -> dict[str, Any]:
    """A complete style dict from a partial one; ValueError naming `where` for unknown keys or bad values."""
    out = {k: v[0] for k, v in STYLE_KEYS.items()}
    if not style:
        return out
    for key, value in style.items():
        if key not in STYLE_KEYS:
            raise ValueError(f"{where}: unknown key {key!r}; expected some of: {', '.join(STYLE_KEYS)}")
        _, lo, hi, meaning = STYLE_KEYS[key]
        if key == "cast":
            if (not isinstance(value, (list, tuple)) or len(value) != 3
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise ValueError(f"{where}: cast must be a list of 3 numbers ({meaning}), got {value!r}")
            if not all(lo <= float(v) <= hi for v in value):
                raise ValueError(f"{where}: cast values must be within {lo}..{hi}, got {value!r}")
            out[key] = tuple(float(v) for v in value)
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{where}: {key} must be a number ({meaning}), got {value!r}")
        if not lo <= float(value) <= hi:
            raise ValueError(f"{where}: {key}={value} out of range {lo}..{hi} ({meaning})")
        out[key] = int(value) if key in _INT_KEYS else float(value)
    return out


def style_colour(style: Mapping[str, Any], mean_grey: float) -> tuple[np.ndarray, np.ndarray]:
    """The style's colour cast, saturation and contrast as an affine map x -> C x + c (0..255 units);
    contrast pivots on `mean_grey`, the image's mean brightness."""
    C, cast, k = _style_matrix(style["cast"], style["saturation"], style["contrast"])
    return C, cast * ((1.0 - k) * mean_grey)


@lru_cache(maxsize=4096)
def _style_matrix(cast: tuple[float, float, float], s: float, k: float) -> tuple[np.ndarray, np.ndarray, float]:
    sat = s * np.eye(3) + (1.0 - s) / 3.0 * np.ones((3, 3))
    C = k * np.diag(cast) @ sat
    C.setflags(write=False)
    c = np.asarray(cast, dtype=float)
    c.setflags(write=False)
    return C, c, k


def apply_optics(img: np.ndarray, style: Mapping[str, Any], rng: np.random.Generator, brightness: float = 1.0
                 ) -> np.ndarray:
    """Resolution loss, blur, vignette and sensor noise on a float32 0..255 image (maybe a new array)."""
    h, w = img.shape[:2]
    f = style["downscale"]
    if f < 0.999:
        sw, sh = max(int(round(w * f)), 4), max(int(round(h * f)), 8)
        img = cv2.resize(cv2.resize(img, (sw, sh), interpolation=cv2.INTER_LINEAR), (w, h),
                         interpolation=cv2.INTER_LINEAR)
    sigma = style["blur"] * h / 128.0
    if sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    if style["vignette"] > 0:
        img *= _vignette(h, w, round(style["vignette"], 4))
    if style["texture"] > 0:  # uneven light and dirt: a smooth random gain field, then fine grain
        t = style["texture"]
        field = _texture_field(h, w)
        y, x = int(rng.integers(h)), int(rng.integers(w))
        img *= np.float32(1.0) + np.float32(0.16 * t) * field[y:y + h, x:x + w]
        grain = _noise_texture(h, w)
        y, x = int(rng.integers(h)), int(rng.integers(w))
        img += np.float32(5.0 * t) * grain[y:y + h, x:x + w]
    if style["noise"] > 0:
        sd = style["noise"] * (1.0 + 1.2 * max(0.0, 1.0 - brightness))
        tex = _noise_texture(h, w)
        y, x = int(rng.integers(h)), int(rng.integers(w))
        img += np.float32(sd) * tex[y:y + h, x:x + w]
    return img


@lru_cache(maxsize=16)
def _noise_texture(h: int, w: int) -> np.ndarray:
    """A fixed field of unit Gaussian noise, twice the crop in each direction: each image takes a random
    window of it (drawing fresh normals for every crop costs more than the rest of the render)."""
    tex = np.random.default_rng([0x0015E, h, w]).standard_normal((2 * h, 2 * w, 3), dtype=np.float32)
    tex.setflags(write=False)
    return tex


@lru_cache(maxsize=16)
def _texture_field(h: int, w: int) -> np.ndarray:
    """Smooth unit noise (blobs of about a tenth of the crop), twice the crop in each direction."""
    rng = np.random.default_rng([0x7E47, h, w])
    lum = rng.standard_normal((20, 20, 1)).astype(np.float32)
    chroma = rng.standard_normal((20, 20, 3)).astype(np.float32)
    small = lum + np.float32(0.2) * chroma  # mostly brightness, a faint tint
    field = cv2.resize(small, (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)
    field /= np.float32(field.std() + 1e-6)
    field.setflags(write=False)
    return field


@lru_cache(maxsize=16)
def _vignette(h: int, w: int, amount: float) -> np.ndarray:
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
    r2 = ys[:, None] ** 2 + xs[None, :] ** 2
    v = np.repeat((np.float32(1.0) - np.float32(amount) * r2 * np.float32(2.0))[..., None], 3, axis=2)
    v.setflags(write=False)
    return v


@lru_cache(maxsize=64)
def _gamma_lut(gamma: float) -> np.ndarray:
    return (np.power(np.arange(256) / 255.0, gamma) * 255.0 + 0.5).astype(np.uint8)


def to_uint8(img: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """float32 0..255 -> uint8 (rounded, saturated), then the style's tone curve."""
    img += np.float32(0.5)
    np.clip(img, 0.0, 255.0, out=img)
    out = img.astype(np.uint8)
    if gamma != 1.0:
        out = cv2.LUT(out, _gamma_lut(round(gamma, 4)))
    return out


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """JPEG bytes with fixed settings (baseline, 4:2:0, no optimisation, no metadata): deterministic."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality), subsampling=2, optimize=False)
    return buf.getvalue()


def encode_png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    with Image.open(io.BytesIO(encode_jpeg(img, quality))) as im:
        return np.asarray(im.convert("RGB")).copy()
