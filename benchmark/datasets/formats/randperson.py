"""RandPerson: flat `randperson/images/` (or the public `randperson/randperson_subset/`).

Names `PPPPPP_sSS_cCC_fFFFFFF.jpg`; the public subset writes the camera first
(`PPPPPP_cCC_sSS_fFFFFFF.jpg`): both orders are read. A camera is a (scene,
camera) pair; camid = its index among the sorted pairs present. All train.
"""
from __future__ import annotations

import re
from pathlib import Path

from benchmark.datasets.formats.base import Format, LoadOptions, Loaded, dense_index, first_dir
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record
from benchmark.datasets.scan import bad_name, image_files, require_dir

LAYOUT = "randperson/images/PPPPPP_sSS_cCC_fFFFFFF.jpg (or randperson/randperson_subset/)"
_SCENE_FIRST = re.compile(r"^(\d+)_s(\d+)_c(\d+)_f(\d+)\.jpg$")
_CAMERA_FIRST = re.compile(r"^(\d+)_c(\d+)_s(\d+)_f(\d+)\.jpg$")
PATTERN = "PPPPPP_sSS_cCC_fFFFFFF.jpg or PPPPPP_cCC_sSS_fFFFFFF.jpg (e.g. 000000_s00_c00_f000264.jpg)"


def _locate(base: Path) -> Path | None:
    found = first_dir(base / "randperson" / "images", base / "randperson" / "randperson_subset")
    return found or (base / "randperson" if (base / "randperson").is_dir() else None)


def _load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = _locate(base) or base / "randperson" / "images"
    loaded = Loaded(root=data_dir, required=("train",))
    if data_dir.name not in ("images", "randperson_subset"):
        require_dir(data_dir / "images", issues, LAYOUT)
        return loaded
    parsed = []
    for e in image_files(data_dir, issues):
        m = _SCENE_FIRST.match(e.name)
        if m:
            pid, scene, cam = int(m.group(1)), int(m.group(2)), int(m.group(3))
        elif (m := _CAMERA_FIRST.match(e.name)) is not None:
            pid, cam, scene = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:
            issues.error(bad_name(e.path, PATTERN))
            continue
        parsed.append((e.path, pid, (scene, cam)))
    cams = dense_index(c for _, _, c in parsed)
    loaded.train = [Record(path=p, pid=pid, camid=cams[c]) for p, pid, c in parsed]
    loaded.meta["cameras"] = [list(c) for c in cams]  # camid -> (scene, camera)
    return loaded


FORMATS = {"randperson": Format("randperson", LAYOUT, _locate, _load)}
