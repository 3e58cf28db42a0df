"""Loaders, registry, validation and fingerprints over tiny fixtures in each real on-disk format.

Every fixture is built here with PIL/h5py/scipy inside tmp_path (no binary blobs in git).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from collections import Counter
from functools import lru_cache
from io import BytesIO
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from benchmark.attributes import ID_ATTRIBUTES, ID_NAMES
from benchmark.datasets import (
    CheckReport,
    DataError,
    DatasetMissing,
    canonical_key,
    check_dataset,
    dataset_keys,
    dataset_status,
    fingerprint,
    load_dataset,
)

# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=None)
def image_bytes(fmt: str = "JPEG", shade: int = 0) -> bytes:
    """A real 16x8 image; every fixture file is a copy (fast to write, decodes for real)."""
    rng = np.random.default_rng(shade)
    arr = rng.integers(0, 255, size=(16, 8, 3), dtype=np.uint8)
    buf = BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def put(path: Path, data: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = image_bytes("PNG" if path.suffix == ".png" else "JPEG")
    path.write_bytes(data)
    return path


def tree_state(root: Path) -> str:
    """Hash of every path, size, mtime and content under root: proves nothing was written."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        h.update(dirpath.encode())
        for f in sorted(filenames):
            p = Path(dirpath) / f
            st = p.stat()
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def pid_cam(records) -> Counter:
    return Counter((r.pid, r.camid) for r in records)


# --------------------------------------------------------------------------- fixture builders


MARKET_DIR = ("market1501", "Market-1501-v15.09.15")


def make_market(base: Path) -> Path:
    """Train: ids 1,2,3 on cams 1+2 and id 7 on cam 3 only; query: ids 4,5; gallery: their
    other-camera images, one same-camera image, a distractor (0) and two junk (-1) files."""
    d = base.joinpath(*MARKET_DIR)
    for pid in (1, 2, 3):
        for cam in (1, 2):
            put(d / "bounding_box_train" / f"{pid:04d}_c{cam}s1_{100 * pid + cam:06d}_01.jpg")
    put(d / "bounding_box_train" / "0007_c3s2_000700_02.jpg")
    put(d / "query" / "0004_c1s1_000400_00.jpg")
    put(d / "query" / "0005_c1s1_000500_00.jpg")
    put(d / "bounding_box_test" / "0004_c2s1_000410_01.jpg")
    put(d / "bounding_box_test" / "0004_c1s1_000420_01.jpg")
    put(d / "bounding_box_test" / "0005_c3s1_000510_01.jpg")
    put(d / "bounding_box_test" / "0000_c4s1_000001_01.jpg")
    put(d / "bounding_box_test" / "-1_c1s1_000002_01.jpg")
    put(d / "bounding_box_test" / "-1_c5s1_000003_01.jpg")
    put(d / "bounding_box_test" / "Thumbs.db", b"windows thumbnail cache")
    put(d / "query" / "notes.txt", b"not an image")
    put(d / "readme.txt", b"Market-1501 fixture")  # outside the split folders: never scanned
    return d


def make_duke(base: Path) -> Path:
    d = base / "dukemtmc-reid" / "DukeMTMC-reID"
    for pid in (5, 9):
        for cam in (1, 8):
            put(d / "bounding_box_train" / f"{pid:04d}_c{cam}_f{pid * 1000 + cam:07d}.jpg")
    put(d / "query" / "0011_c2_f0000011.jpg")
    put(d / "bounding_box_test" / "0011_c5_f0000099.jpg")
    put(d / "bounding_box_test" / "0012_c6_f0000100.jpg")
    return d


def make_cuhk03_np(base: Path, variants=("detected", "labeled")) -> Path:
    for v in variants:
        d = base / "cuhk03-np" / v
        for pid in (1, 2, 3):
            for cam in (1, 2):
                put(d / "bounding_box_train" / f"{pid:04d}_c{cam}_{cam:02d}.png")
        put(d / "query" / "0010_c1_01.png")
        put(d / "bounding_box_test" / "0010_c2_03.png")
        if v == "labeled":
            put(d / "bounding_box_test" / "0011_c2_04.png")
    return base / "cuhk03-np"


MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def write_matlab73_cells(path: Path, arrays: dict[str, list[list[list[np.ndarray | None]]]]) -> None:
    """Write cell arrays of images the way MATLAB v7.3 does: HDF5 with a 512-byte MATLAB header,
    cell contents as object references into '#refs#', arrays stored transposed (column-major),
    empty cells as a 2-element uint64 vector flagged MATLAB_empty."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        counter = iter(range(10**6))

        def store(data: np.ndarray, cls: str, empty: bool = False):
            ds = refs.create_dataset(f"r{next(counter)}", data=data)
            ds.attrs["MATLAB_class"] = np.bytes_(cls)
            if empty:
                ds.attrs["MATLAB_empty"] = np.uint8(1)
            return ds.ref

        for name, pairs in arrays.items():
            pair_refs = []
            for ids in pairs:
                table = np.empty((len(ids), 10), dtype=object)
                for i, imgs in enumerate(ids):
                    for k in range(10):
                        img = imgs[k] if k < len(imgs) else None
                        if img is None:
                            table[i, k] = store(np.zeros(2, dtype=np.uint64), "double", empty=True)
                        else:
                            table[i, k] = store(np.ascontiguousarray(img.T), "uint8")
                cell = refs.create_dataset(f"r{next(counter)}", data=table.T, dtype=h5py.ref_dtype)
                cell.attrs["MATLAB_class"] = np.bytes_("cell")
                pair_refs.append(cell.ref)
            top = f.create_dataset(name, data=np.array([pair_refs], dtype=object), dtype=h5py.ref_dtype)
            top.attrs["MATLAB_class"] = np.bytes_("cell")
        tests = np.array([[1, 3], [1, 4]], dtype=np.float64)
        f.create_dataset("testsets", data=np.array([[store(tests.T, "double")]], dtype=object), dtype=h5py.ref_dtype)
    header = MATLAB_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))


CUHK_NAMES = {  # (pair, person) -> images at these cell indices (0..4 view 1, 5..9 view 2)
    (1, 1): (0, 1, 5), (1, 2): (0, 5, 6), (1, 3): (0, 1, 5), (1, 4): (0, 1, 5),
}


def make_cuhk03_mat(base: Path, *, hole: str | None = None) -> Path:
    """One camera pair with 4 persons. Train: persons 1-2 (6 images); query: the first view-1
    image of persons 3-4; gallery: their other 4 images. `hole` empties one listed cell."""
    d = base / "cuhk03"
    (d / "cuhk03_release").mkdir(parents=True)
    rng = np.random.default_rng(3)
    persons = []
    names, labels = [], []
    for (pair, person), idxs in sorted(CUHK_NAMES.items()):
        imgs: list[np.ndarray | None] = [None] * 10
        for k in idxs:
            name = f"{pair}_{person:03d}_{1 if k < 5 else 2}_{k + 1:02d}.png"
            names.append(name)
            labels.append(100 + person)  # raw labels, deliberately not 0-based
            if name != hole:
                imgs[k] = rng.integers(0, 255, size=(12 + k, 6, 3), dtype=np.uint8)
        persons.append(imgs)
    write_matlab73_cells(d / "cuhk03_release" / "cuhk-03.mat", {"detected": [persons], "labeled": [persons]})
    idx = {n: i + 1 for i, n in enumerate(names)}  # MATLAB 1-based
    train = [idx[n] for n in names if n.split("_")[1] in ("001", "002")]
    query = [idx["1_003_1_01.png"], idx["1_004_1_01.png"]]
    gallery = [i for n, i in idx.items() if i not in train and i not in query]
    for variant in ("detected", "labeled"):
        savemat(
            d / f"cuhk03_new_protocol_config_{variant}.mat",
            {
                "filelist": np.array(names, dtype=object).reshape(-1, 1),
                "labels": np.array(labels, dtype=np.float64).reshape(-1, 1),
                "camId": np.array([int(n.split("_")[2]) for n in names], dtype=np.float64).reshape(-1, 1),
                "train_idx": np.array(train, dtype=np.float64).reshape(-1, 1),
                "query_idx": np.array(query, dtype=np.float64).reshape(-1, 1),
                "gallery_idx": np.array(gallery, dtype=np.float64).reshape(-1, 1),
            },
        )
    return d


MSMT_NAME = "{pid:04d}_{n:03d}_{cam:02d}_0303morning_{f:04d}_0.jpg"


def make_msmt17(base: Path, version: str = "MSMT17_V1") -> Path:
    d = base / "msmt17" / version
    train_sub, test_sub = ("train", "test") if version == "MSMT17_V1" else ("mask_train_v2", "mask_test_v2")
    lists: dict[str, list[str]] = {"train": [], "val": [], "query": [], "gallery": []}

    def add(split: str, sub: str, pid: int, n: int, cam: int) -> None:
        rel = f"{pid:04d}/" + MSMT_NAME.format(pid=pid, n=n, cam=cam, f=n + 10)
        put(d / sub / rel)
        lists[split].append(f"{rel} {pid}")

    for pid in (0, 1):
        add("train", train_sub, pid, 0, 1)
        add("train", train_sub, pid, 1, 15)
    add("val", train_sub, 2, 0, 3)
    add("query", test_sub, 0, 0, 4)
    add("gallery", test_sub, 0, 1, 7)
    add("gallery", test_sub, 1, 0, 2)
    for split, lines in lists.items():
        (d / f"list_{split}.txt").write_text("\n".join(lines) + "\n")
    return d


FINEGPR_IDS = {
    1: dict(zip(ID_NAMES, (2, 1, 2, 2, 1, 2, 2, 2, 2, 1, 1, 7, 1))),
    42: dict(zip(ID_NAMES, (1, 2, 3, 1, 2, 1, 2, 1, 2, 2, 2, 3, 9))),
}


def write_attributes_csv(path: Path, table: dict[int, dict[str, int]]) -> None:
    lines = ["pid," + ",".join(ID_NAMES)]
    lines += [f"{pid}," + ",".join(str(a[n]) for n in ID_NAMES) for pid, a in table.items()]
    put(path, ("\n".join(lines) + "\n").encode())


FINEGPR_ENV = ((1, 1, 3, 2), (10, 4, 7, 9), (36, 7, 1, 5))  # (c, w, l, p)


def make_finegpr(base: Path, *, subset: bool = False, with_csv: bool = True) -> Path:
    d = base / "finegpr" / ("FineGPR_subset" if subset else "FineGPR")
    for pid in FINEGPR_IDS:
        for c, w, l, p in FINEGPR_ENV:
            name = f"{pid:04d}_c{c:02d}_w{w:02d}_l{l:02d}_p{p:02d}.jpg"
            put(d / name if subset else d / f"{pid:04d}" / name)
    if with_csv:
        write_attributes_csv(base / "finegpr" / "attributes.csv", FINEGPR_IDS)
    return d


def make_randperson(base: Path) -> Path:
    d = base / "randperson" / "images"
    put(d / "000000_s00_c00_f000264.jpg")
    put(d / "000000_c01_s00_f001632.jpg")  # the public subset's order: camera first
    put(d / "000001_s03_c00_f000010.jpg")
    put(d / "000001_s03_c02_f000011.jpg")
    return d


def make_unreal(base: Path) -> Path:
    d = base / "unreal"
    put(d / "unreal_v1.1" / "images" / "5_c1_000001.jpg")
    put(d / "unreal_v1.1" / "images" / "5_c2_000002.jpg")
    put(d / "unreal_v2.3" / "images" / "5_c1_000003.jpg")  # same P, other model version: other person
    put(d / "unreal_v2.3" / "images" / "6_c1_000004.jpg")
    return d


def make_personx(base: Path) -> Path:
    d = base / "personx" / "PersonX_v1"
    put(d / "1" / "bounding_box_train" / "0001_c1s1_01.jpg")
    put(d / "1" / "bounding_box_train" / "0001_c2s1_19.jpg")
    put(d / "2" / "bounding_box_train" / "0002_c3s1_05.jpg")
    put(d / "1" / "query" / "0100_c1s1_01.jpg")
    put(d / "1" / "bounding_box_test" / "0100_c4s1_02.jpg")
    return d


def make_somaset(base: Path) -> Path:
    d = base / "somaset" / "soma"
    for pid in ("0001", "0007"):
        for outfit in ("outfit_a", "outfit_b"):
            put(d / pid / outfit / "pose_000.jpg")
    put(d / "0007" / "outfit_b" / "pose_001.jpg")
    return d


def make_syri(base: Path) -> Path:
    d = base / "syri"
    for name in ("1_0_0001.jpg", "1_5_0002.jpg", "2_5_0001.jpg", "2_9_0001.jpg"):
        put(d / name)
    return d


# --------------------------------------------------------------------------- registry


def test_keys_aliases_and_unknown_names():
    keys = dataset_keys()
    real = ["market1501", "dukemtmc", "cuhk03", "msmt17", "finegpr", "randperson", "unreal", "personx", "somaset", "syri"]
    assert keys == real + [f"sim-{k}" for k in real]
    assert canonical_key("market") == "market1501"
    assert canonical_key("Duke") == "dukemtmc"
    assert canonical_key("msmt") == "msmt17"
    assert canonical_key("sim-market") == "sim-market1501"
    assert canonical_key("sim-duke") == "sim-dukemtmc"
    assert canonical_key("sim-msmt") == "sim-msmt17"
    assert canonical_key(" sim-finegpr ") == "sim-finegpr"
    with pytest.raises(KeyError) as e:
        canonical_key("markt")
    assert "market1501" in str(e.value) and "sim-syri" in str(e.value) and "'markt'" in str(e.value)


def test_missing_real_data_is_an_instruction(tmp_path):
    with pytest.raises(DatasetMissing) as e:
        load_dataset("market", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "market1501" / "Market-1501-v15.09.15") in msg
    assert "zheng-lab" in msg  # where it comes from
    assert "--train sim-finegpr+aost --test sim-market" in msg
    with pytest.raises(DatasetMissing) as e:
        load_dataset("sim-duke", tmp_path)
    assert "aostbench data make sim-dukemtmc" in str(e.value)
    assert str(tmp_path / "sim-dukemtmc") in str(e.value)


def test_default_data_root_comes_from_the_environment(tmp_path, monkeypatch):
    make_market(tmp_path)
    monkeypatch.setenv("AOSTBENCH_DATA", str(tmp_path))
    assert len(load_dataset("market1501").query) == 2


# --------------------------------------------------------------------------- real formats


def test_market1501_counts_junk_and_distractors(tmp_path):
    make_market(tmp_path)
    before = tree_state(tmp_path)
    ds = load_dataset("market", tmp_path)
    assert (ds.key, ds.kind) == ("market1501", "real")
    assert ds.root == tmp_path.joinpath(*MARKET_DIR)
    assert len(ds.train) == 7 and ds.num_train_pids == 4
    assert {r.pid for r in ds.train} == {1, 2, 3, 7}  # raw pids: the trainer relabels
    assert pid_cam(ds.query) == Counter({(4, 0): 1, (5, 0): 1})
    assert pid_cam(ds.gallery) == Counter({(4, 1): 1, (4, 0): 1, (5, 2): 1, (0, 3): 1})  # junk -1 skipped
    assert ds.meta["junk_skipped"] == 2
    assert all(Path(r.path).is_file() and Path(r.path).is_absolute() for r in ds.train)
    assert all(r.attrs is None for r in ds.train + ds.query + ds.gallery)

    report = check_dataset("market1501", tmp_path, deep=True)
    assert report.ok, report.to_text()
    assert report.decoded == 7 + 2 + 4
    assert any("one camera only" in w and "pid 7" in w for w in report.warnings)
    assert any("published" in w for w in report.warnings)  # the tiny fixture is not the full release
    assert any("Thumbs.db" in i for i in report.ignored) and any("notes.txt" in i for i in report.ignored)
    d = report.to_dict()
    assert d["ok"] and d["counts"]["gallery"] == {"images": 4, "ids": 3, "cameras": 4}
    assert "result: OK" in report.to_text()
    assert tree_state(tmp_path) == before


def test_market_layout_without_version_folder_is_accepted(tmp_path):
    d = make_market(tmp_path)
    flat = tmp_path / "market1501"
    for sub in ("bounding_box_train", "query", "bounding_box_test"):
        shutil.move(str(d / sub), str(flat / sub))
    d.joinpath("readme.txt").unlink()
    d.rmdir()
    ds = load_dataset("market1501", tmp_path)
    assert len(ds.gallery) == 4 and ds.root == flat
    assert any("Market-1501-v15.09.15" in w for w in check_dataset("market1501", tmp_path).warnings)


def test_torchreid_market1501_reads_the_same_fixture(tmp_path):
    """Pins our Market format to the real loader: torchreid's own class on the same files."""
    from torchreid.reid.data.datasets.image.market1501 import Market1501

    make_market(tmp_path)
    ours = load_dataset("market1501", tmp_path)
    before = tree_state(tmp_path)
    theirs = Market1501(root=str(tmp_path), verbose=False)
    assert tree_state(tmp_path) == before
    for split in ("train", "query", "gallery"):
        assert len(getattr(theirs, split)) == len(getattr(ours, split)), split
    assert theirs.num_train_pids == ours.num_train_pids
    mine = {r.path: r for r in ours.train}
    for path, label, camid, _ in theirs.train:
        assert mine[path].camid == camid  # same files, same cameras; torchreid relabels pids
    assert sorted((p, pid, cam) for p, pid, cam, _ in theirs.query) == sorted((r.path, r.pid, r.camid) for r in ours.query)
    assert sorted((p, pid, cam) for p, pid, cam, _ in theirs.gallery) == sorted(
        (r.path, r.pid, r.camid) for r in ours.gallery
    )


def test_dukemtmc(tmp_path):
    make_duke(tmp_path)
    ds = load_dataset("duke", tmp_path)
    assert ds.key == "dukemtmc" and len(ds.train) == 4
    assert {(r.pid, r.camid) for r in ds.train} == {(5, 0), (5, 7), (9, 0), (9, 7)}
    assert pid_cam(ds.gallery) == Counter({(11, 4): 1, (12, 5): 1})
    assert check_dataset("dukemtmc", tmp_path).ok


def test_cuhk03_np_detected_and_labeled(tmp_path):
    make_cuhk03_np(tmp_path)
    det = load_dataset("cuhk03", tmp_path)
    lab = load_dataset("cuhk03", tmp_path, variant="labeled")
    assert det.meta["variant"] == "detected" and lab.meta["variant"] == "labeled"
    assert (len(det.train), len(det.query), len(det.gallery)) == (6, 1, 1)
    assert len(lab.gallery) == 2
    assert {r.camid for r in det.train} == {0, 1}
    assert all(r.path.endswith(".png") for r in det.train)
    with pytest.raises(DataError, match="unknown CUHK03 variant"):
        load_dataset("cuhk03", tmp_path, variant="hand")


def test_cuhk03_mat_release_extracts_to_the_cache_only(tmp_path, monkeypatch):
    data, cache = tmp_path / "data", tmp_path / "cache"
    make_cuhk03_mat(data)
    monkeypatch.setenv("AOSTBENCH_CACHE", str(cache))
    from scipy.io.matlab import matfile_version

    assert matfile_version(str(data / "cuhk03" / "cuhk03_release" / "cuhk-03.mat"))[0] == 2  # a real v7.3 file
    before = tree_state(data)

    report = check_dataset("cuhk03", data)  # describes, extracts nothing
    assert report.ok, report.to_text()
    assert report.counts["train"] == {"images": 6, "ids": 2, "cameras": 2}
    assert not cache.exists()
    deep = check_dataset("cuhk03", data, deep=True)  # decodes straight from the .mat
    assert deep.ok and deep.decoded == 12 and not cache.exists()

    ds = load_dataset("cuhk03", data)
    assert (len(ds.train), len(ds.query), len(ds.gallery)) == (6, 2, 4)
    assert {r.pid for r in ds.train} == {101, 102} and {r.pid for r in ds.query} == {103, 104}
    assert pid_cam(ds.query) == Counter({(103, 0): 1, (104, 0): 1})
    assert Counter(r.camid for r in ds.gallery) == Counter({0: 2, 1: 2})
    assert all(Path(r.path).is_file() and Path(r.path).is_relative_to(cache) for r in ds.train)
    with Image.open(next(r.path for r in ds.train if r.path.endswith("1_001_1_02.png"))) as im:
        assert im.size == (6, 13)  # cell index 1: 13 rows x 6 columns, so the transpose is right
    assert tree_state(data) == before
    assert fingerprint(load_dataset("cuhk03", data)) == fingerprint(ds)  # second load reuses the cache
    assert load_dataset("cuhk03", data, variant="labeled").meta["layout"] == "cuhk03-mat"


def test_cuhk03_mat_with_an_empty_listed_cell_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("AOSTBENCH_CACHE", str(tmp_path / "cache"))
    make_cuhk03_mat(tmp_path / "data", hole="1_003_2_06.png")
    with pytest.raises(DataError, match=r"cuhk-03\.mat.*1_003_2_06\.png"):
        load_dataset("cuhk03", tmp_path / "data")
    report = check_dataset("cuhk03", tmp_path / "data")
    assert not report.ok and any("1_003_2_06.png" in e for e in report.errors)


def test_cuhk03_mat_without_protocol_file_names_it(tmp_path):
    d = make_cuhk03_mat(tmp_path)
    (d / "cuhk03_new_protocol_config_detected.mat").unlink()
    with pytest.raises(DataError, match="cuhk03_new_protocol_config_detected.mat.*person-re-ranking"):
        load_dataset("cuhk03", tmp_path)


@pytest.mark.parametrize("version", ["MSMT17_V1", "MSMT17_V2"])
def test_msmt17_lists(tmp_path, version):
    make_msmt17(tmp_path, version)
    ds = load_dataset("msmt", tmp_path)
    assert ds.meta["version"] == version
    assert pid_cam(ds.train) == Counter({(0, 0): 1, (0, 14): 1, (1, 0): 1, (1, 14): 1})
    assert [(r.pid, r.camid) for r in ds.meta["val"]] == [(2, 2)]
    assert pid_cam(ds.query) == Counter({(0, 3): 1})
    assert pid_cam(ds.gallery) == Counter({(0, 6): 1, (1, 1): 1})
    assert check_dataset("msmt17", tmp_path).ok


def test_msmt17_list_naming_a_missing_image(tmp_path):
    d = make_msmt17(tmp_path)
    with open(d / "list_query.txt", "a") as f:
        f.write("0003/0003_000_05_0303morning_0001_0.jpg 3\n")
    with pytest.raises(DataError, match=r"missing image .*0003_000_05_0303morning_0001_0\.jpg.*list_query\.txt:2"):
        load_dataset("msmt17", tmp_path)


def test_finegpr_attributes_from_names_and_csv(tmp_path):
    make_finegpr(tmp_path)
    ds = load_dataset("finegpr", tmp_path)
    assert ds.kind == "synthetic" and not ds.query and not ds.gallery
    assert len(ds.train) == 6 and {r.pid for r in ds.train} == {1, 42}
    r = next(r for r in ds.train if r.path.endswith("0042_c10_w04_l07_p09.jpg"))
    assert r.camid == 9  # viewpoint code - 1
    assert dict(r.attrs) == {**FINEGPR_IDS[42], "viewpoint": 10, "weather": 4, "illumination": 7, "scene": 9}
    assert ds.has_attributes
    assert ds.meta["id_attributes"][1] == FINEGPR_IDS[1]
    assert pickle.loads(pickle.dumps(r)) == r  # records travel to DataLoader workers
    assert dict(r.attrs) == r.attrs  # compares like a dict
    sub = tmp_path / "sub"
    make_finegpr(sub, subset=True)
    ds2 = load_dataset("finegpr", sub)
    assert ds2.meta["subset"] and len(ds2.train) == 6
    assert sorted(dict(x.attrs).items() for x in ds2.train) == sorted(dict(x.attrs).items() for x in ds.train)


def test_finegpr_without_csv_keeps_env_attributes(tmp_path):
    make_finegpr(tmp_path, with_csv=False)
    ds = load_dataset("finegpr", tmp_path)
    assert set(ds.train[0].attrs) == {"viewpoint", "weather", "illumination", "scene"}
    assert any("attributes.csv" in w for w in check_dataset("finegpr", tmp_path).warnings)


def test_finegpr_bad_inputs_name_the_file(tmp_path):
    make_finegpr(tmp_path)
    csv_path = tmp_path / "finegpr" / "attributes.csv"
    write_attributes_csv(csv_path, {1: FINEGPR_IDS[1]})  # id 42 lost its row
    with pytest.raises(DataError, match=r"attributes\.csv has no row for id 42"):
        load_dataset("finegpr", tmp_path)
    bad = dict(FINEGPR_IDS[42], upper_colour=10)
    write_attributes_csv(csv_path, {1: FINEGPR_IDS[1], 42: bad})
    with pytest.raises(DataError, match=r"attributes\.csv:3: upper_colour='10'; expected a code 1\.\.9"):
        load_dataset("finegpr", tmp_path)
    write_attributes_csv(csv_path, FINEGPR_IDS)
    put(tmp_path / "finegpr" / "FineGPR" / "0001" / "0001_c37_w01_l01_p01.jpg")
    with pytest.raises(DataError, match=r"0001_c37_w01_l01_p01\.jpg: c37, expected c01\.\.c36"):
        load_dataset("finegpr", tmp_path)
    os.remove(tmp_path / "finegpr" / "FineGPR" / "0001" / "0001_c37_w01_l01_p01.jpg")
    put(tmp_path / "finegpr" / "FineGPR" / "0001" / "0042_c01_w01_l01_p01.jpg")
    with pytest.raises(DataError, match="in folder 0001"):
        load_dataset("finegpr", tmp_path)


def test_value_names_are_accepted_in_attributes_csv(tmp_path):
    make_finegpr(tmp_path)
    named = {pid: {a.name: a.value(v[a.name]) for a in ID_ATTRIBUTES} for pid, v in FINEGPR_IDS.items()}
    write_attributes_csv(tmp_path / "finegpr" / "attributes.csv", named)
    assert load_dataset("finegpr", tmp_path).meta["id_attributes"] == FINEGPR_IDS


def test_randperson_both_name_orders(tmp_path):
    make_randperson(tmp_path)
    ds = load_dataset("randperson", tmp_path)
    assert [(r.pid, r.camid) for r in ds.train] == [(0, 1), (0, 0), (1, 2), (1, 3)]
    assert ds.meta["cameras"] == [[0, 0], [0, 1], [3, 0], [3, 2]]  # camid -> (scene, camera)


def test_unreal_identity_is_version_and_person(tmp_path):
    make_unreal(tmp_path)
    ds = load_dataset("unreal", tmp_path)
    assert sorted(r.pid for r in ds.train) == [100005, 100005, 300005, 300006]
    assert ds.meta["cameras"] == [[1, 1], [1, 2], [2, 1]]
    assert sorted(r.camid for r in ds.train) == [0, 1, 2, 2]


def test_personx_all_subsets(tmp_path):
    make_personx(tmp_path)
    ds = load_dataset("personx", tmp_path)
    assert pid_cam(ds.train) == Counter({(1, 0): 1, (1, 1): 1, (2, 2): 1})
    assert len(ds.query) == 1 and len(ds.gallery) == 1
    assert ds.meta["subsets"] == ["1", "2"]


def test_somaset_and_syri(tmp_path):
    make_somaset(tmp_path)
    make_syri(tmp_path)
    soma = load_dataset("somaset", tmp_path)
    assert Counter(r.pid for r in soma.train) == Counter({1: 2, 7: 3})
    assert {r.camid for r in soma.train} == {0, 1}
    syri = load_dataset("syri", tmp_path)
    assert [(r.pid, r.camid) for r in syri.train] == [(1, 0), (1, 1), (2, 1), (2, 2)]


def test_somaset_folder_names_that_are_not_numbers(tmp_path):
    d = tmp_path / "somaset" / "soma"
    put(d / "woman_b" / "o1" / "x.jpg")
    put(d / "man_a" / "o1" / "x.jpg")
    ds = load_dataset("somaset", tmp_path)
    assert ds.meta["pid_names"] == ["man_a", "woman_b"]
    assert sorted(r.pid for r in ds.train) == [0, 1]


# --------------------------------------------------------------------------- broken fixtures


@pytest.mark.parametrize(
    "key,maker,bad,pattern",
    [
        ("market1501", make_market, "market1501/Market-1501-v15.09.15/bounding_box_train/0001_c1_bad.jpg", "PPPP_cCsS_FFFFFF_NN.jpg"),
        ("market1501", make_market, "market1501/Market-1501-v15.09.15/query/0004_c1s1_000400_00.png", "PPPP_cCsS_FFFFFF_NN.jpg"),
        ("dukemtmc", make_duke, "dukemtmc-reid/DukeMTMC-reID/query/11_c2.jpg", "PPPP_cC_fFFFFFFF.jpg"),
        ("cuhk03", make_cuhk03_np, "cuhk03-np/detected/query/0010-c1-01.png", "PPPP_cC_NN.png"),
        ("finegpr", make_finegpr, "finegpr/FineGPR/0001/0001_c01_w01.jpg", "IIII_cXX_wXX_lXX_pXX.jpg"),
        ("randperson", make_randperson, "randperson/images/000002_f000001.jpg", "PPPPPP_sSS_cCC_fFFFFFF.jpg"),
        ("unreal", make_unreal, "unreal/unreal_v1.1/images/x5_c1_1.jpg", "{P}_c{D}_{F}.jpg"),
        ("personx", make_personx, "personx/PersonX_v1/2/bounding_box_train/0002_c3_05.jpg", "PPPP_cCs1_VV.jpg"),
        ("syri", make_syri, "syri/1-0-0001.jpg", "pid_camid_frameid.jpg"),
    ],
)
def test_bad_file_names_are_rejected_by_name(tmp_path, key, maker, bad, pattern):
    maker(tmp_path)
    put(tmp_path / bad)
    with pytest.raises(DataError) as e:
        load_dataset(key, tmp_path)
    assert str(tmp_path / bad) in str(e.value) and pattern in str(e.value)
    report = check_dataset(key, tmp_path)
    assert not report.ok and any(str(tmp_path / bad) in m for m in report.errors)


def test_check_collects_every_bad_name(tmp_path):
    make_market(tmp_path)
    train = tmp_path.joinpath(*MARKET_DIR, "bounding_box_train")
    for i in range(3):
        put(train / f"bad_{i}.jpg")
    put(train / "0001_c7s1_000001_01.jpg")  # camera 7 does not exist in Market
    put(tmp_path.joinpath(*MARKET_DIR, "query", "0000_c1s1_000001_01.jpg"))  # distractor in query
    report = check_dataset("market1501", tmp_path)
    assert len(report.errors) == 5
    assert any("c7, expected c1..c6" in e for e in report.errors)
    assert any("distractors (pid 0) belong to the gallery only" in e for e in report.errors)
    assert "result: FAILED (5 error(s))" in report.to_text()


def test_missing_split_folder(tmp_path):
    d = make_market(tmp_path)
    shutil.rmtree(d / "query")
    with pytest.raises(DataError, match=f"missing folder {d / 'query'}"):
        load_dataset("market1501", tmp_path)
    report = check_dataset("market1501", tmp_path)
    assert not report.ok and any(str(d / "query") in e for e in report.errors)


def test_empty_split(tmp_path):
    d = make_market(tmp_path)
    for f in (d / "query").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="the query split is empty"):
        load_dataset("market1501", tmp_path)
    assert any("query split is empty" in e for e in check_dataset("market1501", tmp_path).errors)
    assert next(r for r in dataset_status(tmp_path) if r["key"] == "market1501")["error"]


def test_truncated_image_is_found_by_deep_check_only(tmp_path):
    d = make_market(tmp_path)
    victim = d / "bounding_box_test" / "0005_c3s1_000510_01.jpg"
    big = image_bytes("JPEG", shade=9)
    victim.write_bytes(big[: len(big) // 2])
    assert len(load_dataset("market1501", tmp_path).gallery) == 4  # names are fine
    assert check_dataset("market1501", tmp_path).ok
    report = check_dataset("market1501", tmp_path, deep=True)
    assert not report.ok
    assert [e for e in report.errors if str(victim) in e and "undecodable" in e]


def test_queries_without_a_cross_camera_match_are_reported(tmp_path):
    d = make_market(tmp_path)
    (d / "bounding_box_test" / "0005_c3s1_000510_01.jpg").unlink()
    report = check_dataset("market1501", tmp_path)
    assert report.ok
    assert any("query: 1 ids have no gallery image from another camera (e.g. pid 5)" in w for w in report.warnings)


# --------------------------------------------------------------------------- twins


def make_twin_market(data_root: Path, *, counts: bool = True) -> Path:
    """A hand-made sim-market1501 as the engine lays it out: Market files + twin.toml + labels.csv."""
    base = data_root / "sim-market1501"
    make_market(base)
    toml = [
        'name = "sim-market1501"', 'format = "market1501"', 'scale = "demo"', "seed = 0",
        "[prior]", "gender = [0.6, 0.4]", "weather = [0.5, 0.5, 0, 0, 0, 0, 0]",
    ]
    if counts:
        toml += ["[counts]", "train = {images = 7, ids = 4}", "query_images = 2", "gallery = 4"]
    put(base / "twin.toml", ("\n".join(toml) + "\n").encode())
    put(base / "labels.csv", b"relpath,pid,camid,split,gender\nx.jpg,1,0,train,2\n")
    return base


def test_twin_reads_like_the_real_format_and_carries_its_prior(tmp_path):
    make_twin_market(tmp_path)
    ds = load_dataset("sim-market", tmp_path)
    assert (ds.key, ds.kind) == ("sim-market1501", "procedural")
    assert ds.meta["twin"]["prior"]["gender"] == [0.6, 0.4]
    assert ds.meta["base"] == str(tmp_path / "sim-market1501")
    assert all(r.attrs is None for r in ds.train + ds.query + ds.gallery)  # labels.csv is never read
    report = check_dataset("sim-market1501", tmp_path)
    assert report.ok and "counts match twin.toml" in report.notes
    assert not any("published" in w for w in report.warnings)


def test_twin_count_mismatch_is_an_error(tmp_path):
    base = make_twin_market(tmp_path)
    next(base.joinpath(*MARKET_DIR, "bounding_box_train").glob("0001_*.jpg")).unlink()
    report = check_dataset("sim-market1501", tmp_path)
    assert not report.ok
    assert any("train: 6 images on disk but twin.toml says 7" in e for e in report.errors)


def test_twin_without_twin_toml(tmp_path):
    base = make_twin_market(tmp_path)
    (base / "twin.toml").unlink()
    with pytest.raises(DataError, match=f"missing {base / 'twin.toml'}.*aostbench data make sim-market1501"):
        load_dataset("sim-market1501", tmp_path)
    make_twin_market(tmp_path / "b", counts=False)
    assert any("states no counts" in w for w in check_dataset("sim-market1501", tmp_path / "b").warnings)


def test_twin_finegpr_gets_id_and_env_attributes(tmp_path):
    base = tmp_path / "sim-finegpr"
    make_finegpr(base)
    put(base / "twin.toml", b'name = "sim-finegpr"\n[counts]\ntrain = 6\n')
    ds = load_dataset("sim-finegpr", tmp_path)
    assert ds.kind == "procedural" and ds.has_attributes
    assert ds.train[0].attrs["gender"] == FINEGPR_IDS[1]["gender"]
    report = check_dataset("sim-finegpr", tmp_path)
    assert report.ok and any("no [prior]" in w for w in report.warnings)


# --------------------------------------------------------------------------- status, fingerprint, read-only


def test_dataset_status_rows(tmp_path):
    make_market(tmp_path)
    make_syri(tmp_path)
    put(tmp_path / "dukemtmc-reid" / "DukeMTMC-reID" / "bounding_box_train" / "oops.jpg")
    rows = {r["key"]: r for r in dataset_status(tmp_path)}
    assert set(rows) == set(dataset_keys())
    m = rows["market1501"]
    assert m["found"] and not m["error"] and m["counts"]["train"]["images"] == 7 and m["kind"] == "real"
    assert rows["syri"]["found"] and rows["syri"]["kind"] == "synthetic"
    assert rows["dukemtmc"]["found"] and "oops.jpg" in rows["dukemtmc"]["error"]
    msmt = rows["msmt17"]
    assert not msmt["found"] and "pkuvmc" in msmt["hint"] and str(tmp_path / "msmt17") in msmt["expected"]
    assert not rows["sim-market1501"]["found"] and "aostbench data make sim-market1501" in rows["sim-market1501"]["hint"]


def test_fingerprint_is_stable_and_sensitive(tmp_path):
    make_market(tmp_path / "a")
    fp = fingerprint(load_dataset("market1501", tmp_path / "a"))
    assert len(fp) == 16 and fp == fingerprint(load_dataset("market1501", tmp_path / "a"))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert fingerprint(load_dataset("market1501", tmp_path / "b")) == fp  # relative paths only
    d = tmp_path.joinpath("b", *MARKET_DIR)
    with open(d / "query" / "0005_c1s1_000500_00.jpg", "ab") as f:
        f.write(b"\0")  # one byte longer
    fp_size = fingerprint(load_dataset("market1501", tmp_path / "b"))
    assert fp_size != fp
    (d / "query" / "0005_c1s1_000500_00.jpg").rename(d / "query" / "0005_c2s1_000500_00.jpg")
    assert fingerprint(load_dataset("market1501", tmp_path / "b")) not in (fp, fp_size)


ALL_MAKERS = {
    "market1501": make_market, "dukemtmc": make_duke, "cuhk03": make_cuhk03_np, "msmt17": make_msmt17,
    "finegpr": make_finegpr, "randperson": make_randperson, "unreal": make_unreal,
    "personx": make_personx, "somaset": make_somaset, "syri": make_syri,
}


def test_every_format_is_read_only_and_checks_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("AOSTBENCH_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    for maker in ALL_MAKERS.values():
        maker(data)
    before = tree_state(data)
    for key in ALL_MAKERS:
        ds = load_dataset(key, data)
        assert ds.train, key
        fingerprint(ds)
        report = check_dataset(key, data, deep=True)
        assert isinstance(report, CheckReport) and report.ok, report.to_text()
        assert report.decoded == len(ds.train) + len(ds.query) + len(ds.gallery)
    assert all(r["found"] and not r["error"] for r in dataset_status(data) if r["key"] in ALL_MAKERS)
    assert tree_state(data) == before


def _engine_ready() -> bool:
    try:
        from benchmark.synth import make_twin  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _engine_ready(), reason="benchmark.synth.make_twin is not written yet")
def test_every_engine_twin_reads_and_checks_clean(tmp_path):
    """The layout contract between the engine (writer) and these loaders (readers), for all ten twins."""
    from benchmark.synth import make_twin

    for key in dataset_keys():
        if key.startswith("sim-"):
            make_twin(key, tmp_path, scale="tiny", seed=0)
    before = tree_state(tmp_path)
    for key in dataset_keys():
        if not key.startswith("sim-"):
            continue
        ds = load_dataset(key, tmp_path)
        assert ds.kind == "procedural" and "prior" in ds.meta["twin"], key
        report = check_dataset(key, tmp_path, deep=True)
        assert report.ok and "counts match twin.toml" in report.notes, report.to_text()
        if key == "sim-finegpr":
            assert ds.has_attributes and set(ds.train[0].attrs) == set(ID_NAMES) | {
                "viewpoint", "weather", "illumination", "scene"}
        else:
            assert all(r.attrs is None for r in ds.train + ds.query + ds.gallery), key  # labels.csv unread
    assert tree_state(tmp_path) == before
