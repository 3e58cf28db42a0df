"""Reading, resizing and writing the images a style method consumes and produces.

Every method works at one model size (h, w); `translate` restores each image's
own size on the way out and keeps its file name and format.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.datasets.records import DataError

# Output format follows the input's extension; JPEG is re-encoded at high quality.
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}


def load_rgb(path: str | Path) -> np.ndarray:
    """Read one image as uint8 RGB (H, W, 3); a clear DataError names a bad file."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise DataError(f"image not found: {path} (expected a readable image file)") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: expected an RGB/greyscale image Pillow can open ({exc})") from None


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 (H, W, 3) to size=(h, w) with antialiased bicubic; no-op when equal."""
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    return np.asarray(Image.fromarray(img).resize((w, h), Image.BICUBIC), dtype=np.uint8)


def load_resized(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    return resize(load_rgb(path), size)


def to_unit(batch: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 (H, W, 3) images -> float32 (N, 3, H, W) in [0, 1]."""
    arr = np.stack(batch).astype(np.float32) / 255.0
    return arr.transpose(0, 3, 1, 2).copy()


def from_unit(batch: np.ndarray) -> list[np.ndarray]:
    """float (N, 3, H, W) in [0, 1] -> list of uint8 (H, W, 3), rounded."""
    arr = np.clip(np.rint(np.asarray(batch) * 255.0), 0, 255).astype(np.uint8)
    return [a.transpose(1, 2, 0).copy() for a in arr]


def save_like(img: np.ndarray, out_path: Path, like: str | Path) -> None:
    """Write img in the format of `like` (by extension), atomically (tmp + rename)."""
    fmt = _FORMATS.get(Path(like).suffix.lower(), "PNG")
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    kwargs = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    Image.fromarray(img).save(tmp, format=fmt, **kwargs)
    os.replace(tmp, out_path)


def output_paths(paths: Sequence[str | Path], out_dir: Path, keep_names: bool) -> list[Path]:
    """Where each translated image goes; refuses name collisions and overwriting an input."""
    out_dir = Path(out_dir)
    if keep_names:
        names = [Path(p).name for p in paths]
        seen: dict[str, str] = {}
        for p, n in zip(paths, names):
            if n in seen:
                raise ValueError(
                    f"two inputs share the file name {n!r} ({seen[n]} and {p}); "
                    "translate them into separate folders or pass keep_names=False"
                )
            seen[n] = str(p)
    else:
        names = [f"{i:07d}_{Path(p).name}" for i, p in enumerate(paths)]
    outs = [out_dir / n for n in names]
    inputs = {os.path.realpath(p) for p in paths}
    for o in outs:
        if os.path.realpath(o) in inputs:
            raise ValueError(f"refusing to overwrite the input image {o}: choose an out_dir outside the source folder")
    return outs
