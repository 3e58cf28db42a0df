"""UnrealPerson: `unreal/unreal_v{X}.{Y}/images/{P}_c{D}_{F}.jpg` (X environment, Y model version).

Identity is (Y, P): pid = Y * 100000 + P, so ids of different model versions
never collide and stay readable. Camera is (X, D): camid = its index among the
sorted pairs present. All train.
"""
from __future__ import annotations

import re
from pathlib import Path

from benchmark.datasets.formats.base import Format, LoadOptions, Loaded, dense_index
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record
from benchmark.datasets.scan import NamePattern, bad_name, image_files, require_dir, subfolders

LAYOUT = "unreal/unreal_v{X}.{Y}/images/{P}_c{D}_{F}.jpg"
NAME = NamePattern(r"^(\d+)_c(\d+)_(\d+)\.(?:jpg|png)$", "{P}_c{D}_{F}.jpg (e.g. 1021_c3_000123.jpg)")
_VERSION_DIR = re.compile(r"^unreal_v(\d+)\.(\d+)$")
PID_STRIDE = 100_000


def _locate(base: Path) -> Path | None:
    return base / "unreal" if (base / "unreal").is_dir() else None


def _load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = base / "unreal"
    loaded = Loaded(root=data_dir, required=("train",))
    if not require_dir(data_dir, issues, LAYOUT):
        return loaded
    parsed = []
    versions = []
    for d in subfolders(data_dir, issues):
        v = _VERSION_DIR.match(d.name)
        if v is None:
            issues.ignore(d.path, "not an unreal_vX.Y folder")
            continue
        env, model = int(v.group(1)), int(v.group(2))
        versions.append(d.name)
        img_dir = Path(d.path) / "images"
        if not require_dir(img_dir, issues, LAYOUT):
            continue
        for e in image_files(img_dir, issues):
            m = NAME.match(e.name)
            if m is None:
                issues.error(bad_name(e.path, NAME.text))
                continue
            p, cam = int(m.group(1)), int(m.group(2))
            if p >= PID_STRIDE:
                issues.error(f"person id {p} in {e.path} is too large (expected < {PID_STRIDE})")
                continue
            parsed.append((e.path, model * PID_STRIDE + p, (env, cam)))
    if not versions:
        issues.error(f"no unreal_vX.Y folders in {data_dir} (expected layout: {LAYOUT})")
    cams = dense_index(c for _, _, c in parsed)
    loaded.train = [Record(path=p, pid=pid, camid=cams[c]) for p, pid, c in parsed]
    loaded.meta.update(versions=versions, cameras=[list(c) for c in cams], pid_stride=PID_STRIDE)
    return loaded


FORMATS = {"unreal": Format("unreal", LAYOUT, _locate, _load)}
