"""A contact sheet of a twin on disk: identities in rows, cameras (or viewpoints) in columns.

Reads the written files (through the twin's labels.csv, which lists every
image with its id and camera), so it shows exactly what the loaders will read.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmark.synth.spec import SpecError, load_twin_spec
from benchmark.synth.writers import LABELS_FILE

_CAPTION = 12
_LEFT = 38


def _base(name: str, data_root: Path) -> Path:
    try:
        folder = load_twin_spec(name).name
    except SpecError:
        folder = str(name)
    return Path(data_root).expanduser() / folder


def preview_sheet(name: str, data_root: Path, out: Path, *, ids: int = 8, cols: int = 8) -> Path:
    """Write a PNG contact sheet of twin `name` under `data_root` to `out`; returns `out`.

    Rows: the `ids` identities seen by the most cameras; columns: one image per camera
    (FineGPR: spread over the viewpoints), filled up with more images of that id.
    """
    base = _base(name, data_root)
    labels = base / LABELS_FILE
    if not labels.is_file():
        raise FileNotFoundError(f"no {labels}: generate the twin first (aostbench data make {name} "
                                f"--data-root {data_root})")
    if ids < 1 or cols < 1:
        raise ValueError(f"ids and cols must be >= 1, got {ids}, {cols}")
    by_id: dict[tuple[str, int], list[tuple[int, str]]] = defaultdict(list)
    with open(labels, newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] == "gallery" and row["pid"] == "0":
                continue  # distractors are nobody in particular
            by_id[(row["split"] if row["split"] == "train" else "test", int(row["pid"]))].append(
                (int(row["camid"]), row["relpath"]))
    if not by_id:
        raise ValueError(f"{labels} lists no images")
    # prefer train ids, then those seen by most cameras
    order = sorted(by_id, key=lambda k: (k[0] != "train", -len({c for c, _ in by_id[k]}), k[1]))[:ids]
    chosen = [(k, _columns(by_id[k], cols)) for k in order]
    first = Image.open(base / chosen[0][1][0][1])
    h, w = first.height, first.width
    if h > 256:  # keep the sheet a sensible size at FineGPR resolution
        w, h = max(int(round(w * 256 / h)), 1), 256
    sheet = Image.new("RGB", (_LEFT + cols * (w + 2), len(chosen) * (h + _CAPTION + 2)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    cam_word = "v" if any(p.startswith("finegpr/") for _, p in chosen[0][1]) else "c"
    for r, ((split, pid), items) in enumerate(chosen):
        y = r * (h + _CAPTION + 2)
        draw.text((2, y + h // 2 - 6), f"{pid}", fill=(0, 0, 0))
        draw.text((2, y + h // 2 + 6), split[:5], fill=(110, 110, 110))
        for c, (camid, rel) in enumerate(items):
            with Image.open(base / rel) as im:
                cell = im.convert("RGB").resize((w, h), Image.BILINEAR)
            x = _LEFT + c * (w + 2)
            sheet.paste(cell, (x, y))
            draw.text((x + 2, y + h), f"{cam_word}{camid + 1}", fill=(60, 60, 60))
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG")
    return out


def _columns(items: list[tuple[int, str]], cols: int) -> list[tuple[int, str]]:
    """One image per camera first (spread evenly when there are more cameras than columns), then more."""
    items = sorted(items)
    per_cam: dict[int, list[str]] = defaultdict(list)
    for cam, rel in items:
        per_cam[cam].append(rel)
    cams = sorted(per_cam)
    if len(cams) > cols:
        cams = [cams[int(i)] for i in np.linspace(0, len(cams) - 1, cols).round()]
    picked = [(c, per_cam[c][0]) for c in cams]
    rest = [(c, rel) for c in sorted(per_cam) for rel in per_cam[c][1:]]
    return (picked + rest)[:cols]
