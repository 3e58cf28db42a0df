"""SyRI: flat `syri/*.jpg` named `pid_camid_frameid.jpg`, all train.

camid = the index of the raw camera number among those present (SyRI's
"cameras" are its 140 HDR illuminations).
"""
from __future__ import annotations

from pathlib import Path

from benchmark.datasets.formats.base import Format, LoadOptions, Loaded, dense_index
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record
from benchmark.datasets.scan import NamePattern, bad_name, image_files

LAYOUT = "syri/<pid>_<camid>_<frameid>.jpg"
NAME = NamePattern(r"^(\d+)_(\d+)_(\d+)\.jpg$", "pid_camid_frameid.jpg (e.g. 12_3_0045.jpg)")


def _locate(base: Path) -> Path | None:
    return base / "syri" if (base / "syri").is_dir() else None


def _load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = base / "syri"
    loaded = Loaded(root=data_dir, required=("train",))
    parsed = []
    for e in image_files(data_dir, issues):
        m = NAME.match(e.name)
        if m is None:
            issues.error(bad_name(e.path, NAME.text))
            continue
        parsed.append((e.path, int(m.group(1)), int(m.group(2))))
    cams = dense_index(c for _, _, c in parsed)
    loaded.train = [Record(path=p, pid=pid, camid=cams[c]) for p, pid, c in parsed]
    loaded.meta["cameras"] = list(cams)
    return loaded


FORMATS = {"syri": Format("syri", LAYOUT, _locate, _load)}
