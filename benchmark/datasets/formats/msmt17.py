"""MSMT17 (V1 and V2): images in per-id folders, splits given by list files.

`msmt17/MSMT17_V1/{train,test}/PPPP/<name>.jpg` (V2: `mask_train_v2`, `mask_test_v2`)
plus `list_{train,val,query,gallery}.txt`, one "relpath pid" per line. As in
torchreid: the list is authoritative for the pid, camid = third field of the
name minus one, train = list_train only (list_val is kept in meta["val"]).
"""
from __future__ import annotations

from pathlib import Path

from benchmark.datasets.formats.base import Format, LoadOptions, Loaded
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record
from benchmark.datasets.scan import NamePattern, bad_name, require_dir

VERSIONS = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2")}
LAYOUT = "msmt17/MSMT17_V1|MSMT17_V2/{train,test|mask_train_v2,mask_test_v2}/PPPP/*.jpg + list_{train,val,query,gallery}.txt"
NAME = NamePattern(r"^(\d+)_(\d+)_(\d+)_\S*\.jpg$", "PPPP_NNN_CC_<date><time>_FFFF_X.jpg (e.g. 0000_000_01_0303morning_0015_0.jpg)")
CAMERAS = 15


def _locate(base: Path) -> Path | None:
    for version in VERSIONS:
        if (base / "msmt17" / version).is_dir():
            return base / "msmt17" / version
    return base / "msmt17" if (base / "msmt17").is_dir() else None


def _read_list(list_path: Path, img_dir: Path, issues: Issues) -> list[Record]:
    if not list_path.is_file():
        issues.error(f"missing list file {list_path} (expected layout: {LAYOUT})")
        return []
    out: list[Record] = []
    for lineno, line in enumerate(list_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            issues.error(f"{list_path}:{lineno}: expected 'relpath pid', got {line!r}")
            continue
        rel, pid = parts[0], int(parts[1])
        path = img_dir / rel
        m = NAME.match(Path(rel).name)
        if m is None:
            issues.error(bad_name(str(path), NAME.text) + f" (listed in {list_path}:{lineno})")
            continue
        cam = int(m.group(3))
        if not 1 <= cam <= CAMERAS:
            issues.error(f"bad camera in {path}: {cam:02d}, expected 01..{CAMERAS}")
            continue
        if not path.is_file():
            issues.error(f"missing image {path} (listed in {list_path}:{lineno})")
            continue
        if int(m.group(1)) != pid:
            issues.warn(f"{list_path}:{lineno}: pid {pid} differs from the name's {m.group(1)} ({rel}); using the list")
        out.append(Record(path=str(path), pid=pid, camid=cam - 1))
    return out


def _load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = _locate(base) or base / "msmt17" / "MSMT17_V1"
    loaded = Loaded(root=data_dir, required=("train", "query", "gallery"))
    if data_dir.name not in VERSIONS:
        issues.error(f"no MSMT17_V1 or MSMT17_V2 folder in {data_dir} (expected layout: {LAYOUT})")
        return loaded
    train_sub, test_sub = VERSIONS[data_dir.name]
    train_dir, test_dir = data_dir / train_sub, data_dir / test_sub
    ok_train = require_dir(train_dir, issues, LAYOUT)
    ok_test = require_dir(test_dir, issues, LAYOUT)
    if ok_train:
        loaded.train = _read_list(data_dir / "list_train.txt", train_dir, issues)
        val_list = data_dir / "list_val.txt"
        loaded.meta["val"] = _read_list(val_list, train_dir, issues) if val_list.is_file() else []
    if ok_test:
        loaded.query = _read_list(data_dir / "list_query.txt", test_dir, issues)
        loaded.gallery = _read_list(data_dir / "list_gallery.txt", test_dir, issues)
    loaded.meta["version"] = data_dir.name
    return loaded


FORMATS = {"msmt17": Format("msmt17", LAYOUT, _locate, _load)}
