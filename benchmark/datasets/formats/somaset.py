"""SOMAset: `somaset/soma/<pid>/<outfit>/<img>.jpg`, all train.

pid = the folder two levels above the image: its number when every id folder
is numeric, else the index of its name among the sorted folder names (the
names are kept in meta["pid_names"]). camid = index of the outfit/pose folder
name among all such names (SOMAset's "cameras").
"""
from __future__ import annotations

from pathlib import Path

from benchmark.datasets.formats.base import Format, LoadOptions, Loaded, dense_index
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record
from benchmark.datasets.scan import bad_name, image_files, require_dir, subfolders

LAYOUT = "somaset/soma/<pid>/<outfit>/<img>.jpg"


def _locate(base: Path) -> Path | None:
    return base / "somaset" / "soma" if (base / "somaset").is_dir() else None


def _load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = base / "somaset" / "soma"
    loaded = Loaded(root=data_dir, required=("train",))
    if not require_dir(data_dir, issues, LAYOUT):
        return loaded
    parsed = []
    for id_dir in subfolders(data_dir, issues):
        for outfit in subfolders(Path(id_dir.path), issues):
            for e in image_files(Path(outfit.path), issues):
                if not e.name.lower().endswith(".jpg"):
                    issues.error(bad_name(e.path, "soma/<pid>/<outfit>/<img>.jpg (a .jpg file)"))
                    continue
                parsed.append((e.path, id_dir.name, outfit.name))
    id_names = sorted({i for _, i, _ in parsed})
    numeric = all(n.isdigit() for n in id_names)
    pid_of = {n: int(n) for n in id_names} if numeric else {n: k for k, n in enumerate(id_names)}
    cams = dense_index(o for _, _, o in parsed)
    loaded.train = [Record(path=p, pid=pid_of[i], camid=cams[o]) for p, i, o in parsed]
    loaded.meta.update(cameras=list(cams), pid_names=None if numeric else id_names)
    return loaded


FORMATS = {"somaset": Format("somaset", LAYOUT, _locate, _load)}
