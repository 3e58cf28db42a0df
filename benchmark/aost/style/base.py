"""StyleModel: what every style method's fitted model is, and the shared translate loop."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .images import load_rgb, output_paths, resize, save_like

STYLE_FILE = "style.json"


class StyleModel:
    """A fitted style transfer: translates any images into the target style.

    `method` is one of STYLE_METHODS; `info` records method, size, res_blocks,
    epochs, train_seconds, images, device (and what the method estimated).
    Subclasses implement `_translate_batch` on uint8 images at the model size.
    """

    method: str = ""

    def __init__(self, info: dict, out_dir: Path):
        self.info = info
        self.out_dir = Path(out_dir)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.info["size"]
        return int(h), int(w)

    def _translate_batch(self, imgs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def translate_arrays(self, imgs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Translate uint8 RGB arrays of any size; each comes back at its own size."""
        small = [resize(np.asarray(im, dtype=np.uint8), self.size) for im in imgs]
        out = self._translate_batch(small)
        return [resize(o, im.shape[:2]) for o, im in zip(out, imgs)]

    def translate(
        self, paths: Sequence[str | Path], out_dir: Path, *, keep_names: bool = True,
        batch_size: int = 16, progress: bool = False,
    ) -> list[str]:
        """Translate image files into out_dir (same file names and sizes); returns the new paths.

        The input files are never modified: an out_dir that would overwrite an
        input is refused. With keep_names=False files are prefixed by their index.
        """
        paths = [str(p) for p in paths]
        out_dir = Path(out_dir)
        outs = output_paths(paths, out_dir, keep_names)
        out_dir.mkdir(parents=True, exist_ok=True)
        from benchmark import progress as prog

        with prog.stage(f"style translate ({self.method})", len(paths), enabled=progress) as bar:
            for i in range(0, len(paths), max(1, batch_size)):
                chunk = paths[i : i + batch_size]
                for src, img, dst in zip(chunk, self.translate_arrays([load_rgb(p) for p in chunk]), outs[i : i + batch_size]):
                    save_like(img, dst, src)
                bar.update(len(chunk))
        return [str(o) for o in outs]


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_style_json(out_dir: Path) -> dict:
    p = Path(out_dir) / STYLE_FILE
    if not p.is_file():
        raise FileNotFoundError(
            f"no fitted style model in {out_dir}: expected {p} (written by fit_style when training finishes)"
        )
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p} is not valid JSON ({exc}); refit with fit_style") from None
