"""Before/after contact sheet: each cell shows an image and its translation side by side."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageDraw

from .images import load_rgb

CELL_H = 128  # every image is shown at this height, keeping its aspect ratio
GAP = 4


def contact_sheet(before_paths: Sequence[str | Path], after_paths: Sequence[str | Path], out_png: Path, n: int = 16) -> Path:
    """Save a PNG grid of the first n (before, after) pairs; returns its path."""
    if len(before_paths) != len(after_paths):
        raise ValueError(f"contact_sheet needs as many after images as before images ({len(before_paths)} vs {len(after_paths)})")
    pairs = list(zip(before_paths, after_paths))[: max(0, n)]
    if not pairs:
        raise ValueError("contact_sheet needs at least one (before, after) pair")

    def cell(path) -> Image.Image:
        im = Image.fromarray(load_rgb(path))
        return im.resize((max(1, round(im.width * CELL_H / im.height)), CELL_H), Image.BICUBIC)

    cells = [(cell(b), cell(a)) for b, a in pairs]
    pair_w = max(b.width + a.width for b, a in cells) + GAP
    cols = min(len(cells), max(1, math.ceil(math.sqrt(len(cells) * 2))))
    rows = math.ceil(len(cells) / cols)
    label_h = 14
    sheet = Image.new("RGB", (cols * (pair_w + GAP) + GAP, label_h + rows * (CELL_H + GAP) + GAP), (255, 255, 255))
    ImageDraw.Draw(sheet).text((GAP, 1), "each pair: before | after", fill=(0, 0, 0))
    for i, (b, a) in enumerate(cells):
        x = GAP + (i % cols) * (pair_w + GAP)
        y = label_h + GAP + (i // cols) * (CELL_H + GAP)
        sheet.paste(b, (x, y))
        sheet.paste(a, (x + b.width + GAP // 2, y))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png, format="PNG")
    return out_png
