"""CUHK03 under the new protocol (CUHK03-NP, 767 train / 700 test ids), two layouts.

1. The CUHK03-NP release: `cuhk03-np/{detected,labeled}/{bounding_box_train,query,
   bounding_box_test}/PPPP_cC_NN.png` (also accepted under `cuhk03/cuhk03-np/`).
   The procedural twin sim-cuhk03 is written in this layout (detected only).
2. The original release: `cuhk03/cuhk03_release/cuhk-03.mat` (MATLAB v7.3 = HDF5,
   read with h5py) plus `cuhk03/cuhk03_new_protocol_config_{detected,labeled}.mat`
   (MATLAB v5, read with scipy). The images live inside cuhk-03.mat; torchreid
   extracts them into the data folder, we never write there: we reuse torchreid's
   `cuhk03/images_{variant}/` when it is complete, else extract the PNGs once into
   the cache (benchmark.paths.cache_root()).

Names of extracted images follow torchreid: `{pair}_{pid:03}_{view}_{img:02}.png`;
camid = view - 1; pid = the protocol file's label (raw, not relabelled).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from benchmark.datasets.formats.base import Format, LoadOptions, Loaded, first_dir
from benchmark.datasets.formats.market import CUHK03NP_NAME, read_three_splits
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import DataError, Record

VARIANTS = ("detected", "labeled")
NP_LAYOUT = "cuhk03-np/{detected,labeled}/{bounding_box_train,query,bounding_box_test}/PPPP_cC_NN.png"
MAT_LAYOUT = "cuhk03/cuhk03_release/cuhk-03.mat + cuhk03/cuhk03_new_protocol_config_{detected,labeled}.mat"
LAYOUT = f"{NP_LAYOUT} | {MAT_LAYOUT}"  # " | " separates alternatives
MAT_IMAGE_NAME = re.compile(r"^(\d)_(\d{3})_([12])_(\d{2})\.png$")
PROTOCOL_KEYS = ("filelist", "labels", "train_idx", "query_idx", "gallery_idx")


def _locate(base: Path) -> Path | None:
    return first_dir(base / "cuhk03-np", base / "cuhk03" / "cuhk03-np", base / "cuhk03")


def _variant(opts: LoadOptions) -> str:
    v = opts.variant or "detected"
    if v not in VARIANTS:
        raise DataError(f"unknown CUHK03 variant {v!r}; expected one of {', '.join(VARIANTS)}")
    return v


def _load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    variant = _variant(opts)
    found = _locate(base)
    if found is not None and found.name == "cuhk03-np":
        loaded = read_three_splits(found / variant, CUHK03NP_NAME, 2, issues, NP_LAYOUT)
        loaded.meta.update(variant=variant, layout="cuhk03-np")
        return loaded
    return _load_mat(base / "cuhk03", variant, issues, opts)


# --- the .mat release ------------------------------------------------------------
def _protocol(path: Path, issues: Issues) -> dict | None:
    """The new-protocol config: 0-based index arrays, raw labels and the file list."""
    if not path.is_file():
        issues.error(
            f"missing {path}: the 767/700 protocol file (from github.com/zhunzhong07/person-re-ranking, "
            f"evaluation/data/CUHK03/); expected layout: {MAT_LAYOUT}"
        )
        return None
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises several kinds for a bad file
        issues.error(f"cannot read {path} as a MATLAB file: {exc}")
        return None
    missing = [k for k in PROTOCOL_KEYS if k not in mat]
    if missing:
        issues.error(f"{path} lacks {', '.join(missing)}; expected the fields {', '.join(PROTOCOL_KEYS)}")
        return None
    names = []
    for cell in mat["filelist"].flatten():
        names.append(str(cell[0]) if hasattr(cell, "__len__") and not isinstance(cell, str) else str(cell))
    labels = [int(x) for x in mat["labels"].flatten()]
    if len(labels) != len(names):
        issues.error(f"{path}: {len(names)} file names but {len(labels)} labels")
        return None
    out = {"names": names, "labels": labels}
    for split in ("train", "query", "gallery"):
        idx = [int(x) - 1 for x in mat[f"{split}_idx"].flatten()]  # MATLAB indices are 1-based
        bad = [i + 1 for i in idx if not 0 <= i < len(names)]
        if bad:
            issues.error(f"{path}: {split}_idx holds {bad[0]}, outside 1..{len(names)}")
            idx = [i for i in idx if 0 <= i < len(names)]
        out[split] = idx
    for name in names:
        if not MAT_IMAGE_NAME.match(name):
            issues.error(f"{path}: bad file name {name!r} in filelist; expected P_PPP_V_NN.png (e.g. 1_001_1_01.png)")
    return out


def _cache_dir(mat_path: Path, variant: str) -> Path:
    from benchmark.paths import cache_root

    st = mat_path.stat()
    key = hashlib.sha1(f"{mat_path.absolute()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return (cache_root() / "datasets" / f"cuhk03-{key}" / f"images_{variant}").absolute()


def _image_refs(h5, variant: str, wanted: set[str], mat_path: Path, issues: Issues) -> dict:
    """name -> HDF5 reference of each wanted image, reading shapes only (no pixels)."""
    if variant not in h5:
        issues.error(f"{mat_path} has no '{variant}' cell array (expected 'detected' and 'labeled')")
        return {}
    refs, empty = {}, set()
    for pair_idx, pair_ref in enumerate(h5[variant][0]):
        cells = h5[pair_ref]  # stored transposed: (10 images, n ids)
        if cells.ndim != 2:
            issues.error(f"{mat_path}: {variant} camera pair {pair_idx + 1} is not a 2-D cell array")
            continue
        table = cells[()].T  # (n ids, 10 images) of references
        for pid_idx in range(table.shape[0]):
            for img_idx in range(table.shape[1]):
                view = 1 if img_idx < 5 else 2
                name = f"{pair_idx + 1}_{pid_idx + 1:03d}_{view}_{img_idx + 1:02d}.png"
                if name not in wanted:
                    continue
                ds = h5[table[pid_idx, img_idx]]
                if ds.ndim != 3 or ds.size == 0:  # MATLAB stores an empty cell as a 2-element vector
                    empty.add(name)
                    issues.error(f"{mat_path}: {variant} image {name} is an empty cell but the protocol lists it")
                    continue
                refs[name] = table[pid_idx, img_idx]
    for name in sorted(wanted - set(refs) - empty):
        issues.error(f"{mat_path}: the protocol lists {name} but the {variant} array has no such cell")
    return refs


def _load_mat(cuhk_dir: Path, variant: str, issues: Issues, opts: LoadOptions) -> Loaded:
    mat_path = cuhk_dir / "cuhk03_release" / "cuhk-03.mat"
    loaded = Loaded(root=cuhk_dir, required=("train", "query", "gallery"))
    loaded.meta.update(variant=variant, layout="cuhk03-mat")
    if not mat_path.is_file():
        issues.error(f"missing {mat_path} (expected layout: {LAYOUT})")
        return loaded
    proto = _protocol(cuhk_dir / f"cuhk03_new_protocol_config_{variant}.mat", issues)
    if proto is None:
        return loaded
    wanted = {proto["names"][i] for s in ("train", "query", "gallery") for i in proto[s]}

    import h5py

    try:
        h5 = h5py.File(mat_path, "r")
    except OSError as exc:
        issues.error(f"cannot read {mat_path} as a MATLAB v7.3 (HDF5) file: {exc}")
        return loaded
    with h5:
        refs = _image_refs(h5, variant, wanted, mat_path, issues)
        torchreid_dir = cuhk_dir / f"images_{variant}"
        if torchreid_dir.is_dir() and all((torchreid_dir / n).is_file() for n in wanted):
            img_dir = torchreid_dir.absolute()  # torchreid already extracted them: read, never write
        else:
            img_dir = _cache_dir(mat_path, variant)
            if opts.materialize:
                _extract(h5, refs, img_dir)
    loaded.root = img_dir
    loaded.meta["mat"] = str(mat_path)
    for split in ("train", "query", "gallery"):
        recs = []
        for i in proto[split]:
            name = proto["names"][i]
            m = MAT_IMAGE_NAME.match(name)
            if m is None or (name not in refs and not (img_dir / name).is_file()):
                continue  # already reported
            recs.append(Record(path=str(img_dir / name), pid=proto["labels"][i], camid=int(m.group(3)) - 1))
        recs.sort(key=lambda r: r.path)
        setattr(loaded, split, recs)
    loaded.embedded_check = lambda: _decode_all(mat_path, variant, sorted(refs))
    return loaded


def _pixels(h5, ref):
    import numpy as np

    return np.ascontiguousarray(h5[ref][()].T)  # MATLAB column-major -> H x W x 3


def _extract(h5, refs: dict, img_dir: Path) -> None:
    """Write the listed images as PNG into the cache (atomic per file; done once)."""
    from PIL import Image

    img_dir.mkdir(parents=True, exist_ok=True)
    for name, ref in refs.items():
        out = img_dir / name
        if out.is_file():
            continue
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        Image.fromarray(_pixels(h5, ref)).save(tmp, format="PNG")
        os.replace(tmp, out)


def _decode_all(mat_path: Path, variant: str, names: list[str]) -> tuple[int, list[str]]:
    """Deep check: decode every listed image straight from the .mat (nothing is written)."""
    import h5py

    errors: list[str] = []
    with h5py.File(mat_path, "r") as h5:
        refs = _image_refs(h5, variant, set(names), mat_path, Issues(strict=False))
        for name in names:
            try:
                arr = _pixels(h5, refs[name])
                if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype.kind != "u":
                    raise ValueError(f"expected an H x W x 3 uint8 image, got shape {arr.shape} {arr.dtype}")
            except Exception as exc:  # noqa: BLE001 - report, do not stop
                errors.append(f"undecodable image {mat_path}::{variant}/{name}: {exc}")
    return len(names), errors


FORMATS = {"cuhk03": Format("cuhk03", LAYOUT, _locate, _load)}
