"""Submissions: a zoo of broken and malicious inputs rejected with nothing left behind; good ones
accepted, versioned, listed, shown, removed and loaded for training. Real DuckDB files, real archives."""
from __future__ import annotations

import csv
import io
import json
import os
import stat
import struct
import tarfile
import tempfile
import uuid
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from benchmark.submissions import (
    InvalidName,
    Limits,
    SubmissionError,
    UnknownSubmission,
    get_submission,
    list_submissions,
    load_submission_dataset,
    remove_submission,
    shown,
    submit,
)
from benchmark.submissions.content_store import SCHEMA_FILE, STORE_MANIFEST, content_hash
from cli import submit as submit_cli

SMALL = Limits(max_files=200, max_total_bytes=4 * 1024 * 1024, ratio_floor_bytes=64 * 1024, max_ratio=50.0,
               max_pixels=512 * 512)


# -- building submissions --------------------------------------------------------------------------
def image_bytes(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (8, 16)) -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


def market_files(n_ids: int = 4, per_id: int = 3, seed: int = 0, ext: str = "jpg") -> dict[str, bytes]:
    fmt = "PNG" if ext == "png" else "JPEG"
    out = {}
    for pid in range(1, n_ids + 1):
        for k in range(per_id):
            name = f"bounding_box_train/{pid:04d}_c{k % 2 + 1}s1_{k:06d}_01.{ext}"
            out[name] = image_bytes(seed * 1000 + pid * 10 + k, fmt)
    return out


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, data in files.items():
            z.writestr(rel, data)
    return path


def make_tar(path: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = (), gz: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w") as t:
        for rel, data in files.items():
            ti = tarfile.TarInfo(rel)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for ti in extra:
            t.addfile(ti)
    return path


def png_header(w: int, h: int) -> bytes:
    """A PNG that declares w x h pixels but holds almost no data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


# -- the environment: everything inside tmp_path -----------------------------------------------------
@pytest.fixture()
def env(tmp_path: Path, monkeypatch) -> dict:
    cwd, inputs, work = tmp_path / "cwd", tmp_path / "inputs", tmp_path / "tmp"
    for d in (cwd, inputs, work):
        d.mkdir()
    monkeypatch.chdir(cwd)
    db = tmp_path / "db" / "results.duckdb"
    monkeypatch.setenv("AOSTBENCH_DB", str(db))
    monkeypatch.setenv("AOSTBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AOSTBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("AOSTBENCH_SUBMISSIONS", raising=False)
    monkeypatch.delenv("AOSTBENCH_SUBMISSIONS_STORE", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(work))  # the private temporary area lives in tmp_path too
    return {"root": tmp_path, "cwd": cwd, "inputs": inputs, "work": work, "db": db,
            "store": tmp_path / "data" / "submissions-store", "subs": cwd / "submissions"}


def snapshot(env: dict) -> dict[str, tuple]:
    """Every path under tmp_path but the DB folder: type and, for files, size and content time."""
    out = {}
    skip = env["root"] / "db"
    for dirpath, dirnames, filenames in os.walk(env["root"]):
        d = Path(dirpath)
        if d == skip or skip in d.parents:
            continue
        for n in dirnames + filenames:
            if d / n == skip:
                continue
            st = (d / n).lstat()
            regular = stat.S_ISREG(st.st_mode)
            out[str((d / n).relative_to(env["root"]))] = (
                stat.S_IFMT(st.st_mode), st.st_size if regular else 0, st.st_mtime_ns if regular else 0)
    return out


def assert_rejected_cleanly(env: dict, name: str, before: dict, result, expected: str) -> None:
    assert result.status == "rejected"
    joined = " | ".join(result.reasons)
    assert expected in joined, joined
    assert snapshot(env) == before  # nothing under the store, submissions dir, CWD, inputs or temp area
    assert not any(env["work"].iterdir())
    rows = [r for r in list_submissions() if r["name"] == name]
    assert rows and all(r["status"] == "rejected" for r in rows)
    assert all(r["path"] is None for r in rows)
    assert expected in " | ".join(rows[-1]["reasons"])


# -- the zoo of malicious and broken archives ------------------------------------------------------
def _zip_member(path: Path, name: str, data: bytes = b"x", mode: int | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for rel, good in market_files().items():
            z.writestr(rel, good)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        if mode is not None:
            info.external_attr = mode << 16
            info.create_system = 3
        z.writestr(info, data)
    return path


def _tar_member(path: Path, ti: tarfile.TarInfo, data: bytes | None = None, gz: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w") as t:
        for rel, good in market_files().items():
            g = tarfile.TarInfo(rel)
            g.size = len(good)
            t.addfile(g, io.BytesIO(good))
        if data is not None:
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        else:
            t.addfile(ti)
    return path


def _ti(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    if kind == tarfile.CHRTYPE:
        ti.devmajor, ti.devminor = 1, 3  # /dev/null's numbers; declaring it needs no privilege
    return ti


ESCAPE = "../../../../escaped-" + uuid.uuid4().hex + ".jpg"
ABSOLUTE = "/tmp/aostbench-absolute-" + uuid.uuid4().hex + ".jpg"


def _encrypted_zip(path: Path) -> Path:
    make_zip(path, market_files())
    data = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):  # set the "encrypted" flag in both headers
        i = data.find(sig)
        while i >= 0:
            data[i + off] |= 0x1
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))
    return path


ZOO = {
    "zip-dotdot": (lambda d: _zip_member(d / "a.zip", ESCAPE, image_bytes(1)), "'..' in the path"),
    "tar-dotdot": (lambda d: _tar_member(d / "a.tar", tarfile.TarInfo(ESCAPE), image_bytes(1)), "'..' in the path"),
    "zip-absolute": (lambda d: _zip_member(d / "a.zip", ABSOLUTE, image_bytes(1)), "absolute path"),
    "tgz-absolute": (lambda d: _tar_member(d / "a.tar.gz", tarfile.TarInfo(ABSOLUTE), image_bytes(1), gz=True),
                     "absolute path"),
    "zip-backslash": (lambda d: _zip_member(d / "a.zip", "..\\..\\evil.jpg", image_bytes(1)), "backslash"),
    "zip-control-char": (lambda d: _zip_member(d / "a.zip", "bounding_box_train/\x1b[31mx.jpg", b"x"),
                         "control character"),
    "zip-symlink": (lambda d: _zip_member(d / "a.zip", "bounding_box_train/0009_c1s1_000000_01.jpg",
                                          b"/etc/passwd", stat.S_IFLNK | 0o777), "symbolic link"),
    "zip-fifo": (lambda d: _zip_member(d / "a.zip", "fifo.jpg", b"", stat.S_IFIFO | 0o644), "device, fifo or socket"),
    "tar-symlink": (lambda d: _tar_member(d / "a.tar", _ti("bounding_box_train/0009_c1s1_0_01.jpg", tarfile.SYMTYPE,
                                                           "/etc/passwd")), "symbolic link"),
    "tar-hardlink": (lambda d: _tar_member(d / "a.tar", _ti("bounding_box_train/0009_c1s1_0_01.jpg", tarfile.LNKTYPE,
                                                            "/etc/passwd")), "hard link"),
    "tar-device": (lambda d: _tar_member(d / "a.tar", _ti("dev.jpg", tarfile.CHRTYPE)), "device file"),
    "tar-block-device": (lambda d: _tar_member(d / "a.tar", _ti("blk.jpg", tarfile.BLKTYPE)), "device file"),
    "tar-fifo": (lambda d: _tar_member(d / "a.tar", _ti("fifo.jpg", tarfile.FIFOTYPE)), "fifo"),
    "zip-too-many-files": (lambda d: make_zip(d / "a.zip", market_files(n_ids=51, per_id=4)), "more than 200 files"),
    "tar-too-many-bytes": (lambda d: _tar_member(d / "a.tar", tarfile.TarInfo("big.csv"), os.urandom(5 * 1024 * 1024)),
                           "bytes uncompressed"),
    "zip-bomb": (lambda d: _zip_member(d / "a.zip", "bomb.jpg", b"\0" * (3 * 1024 * 1024)), "compression bomb"),
    "tgz-bomb": (lambda d: _tar_member(d / "a.tgz", tarfile.TarInfo("bomb.jpg"), b"\0" * (3 * 1024 * 1024), gz=True),
                 "compression bomb"),
    "zip-duplicate-member": (lambda d: _zip_member(d / "a.zip", "bounding_box_train/0001_c1s1_000000_01.jpg",
                                                   image_bytes(5)), "more than once"),
    "zip-encrypted": (lambda d: _encrypted_zip(d / "a.zip"), "encrypted"),
    "zip-not-a-zip": (lambda d: (d / "a.zip").write_bytes(b"Rar!\x1a\x07\x00 not a zip") and d / "a.zip",
                      "not a zip archive"),
    "tar-garbage": (lambda d: (d / "a.tar").write_bytes(os.urandom(3000)) and d / "a.tar", "not a readable tar"),
    "rar": (lambda d: (d / "a.rar").write_bytes(b"Rar!") and d / "a.rar", "neither a folder nor an accepted archive"),
    "missing-path": (lambda d: d / "nothing-here", "does not exist"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns while the test builds that case
@pytest.mark.parametrize("case", sorted(ZOO))
def test_malicious_and_broken_archives_are_rejected_and_leave_nothing(env, case):
    build, expected = ZOO[case]
    path = build(env["inputs"])
    before = snapshot(env)
    result = submit(path, "zoo", limits=SMALL)
    assert_rejected_cleanly(env, "zoo", before, result, expected)
    assert not os.path.exists(ABSOLUTE)
    assert not list(env["root"].parent.glob("escaped-*")) and not list(env["root"].glob("escaped-*"))


def test_member_names_are_shown_escaped(env):
    path = _zip_member(env["inputs"] / "a.zip", "bounding_box_train/\x1b[31mred.jpg", b"x")
    result = submit(path, "escaped", limits=SMALL)
    joined = " ".join(result.reasons)
    assert "\x1b" not in joined and "\\x1b[31mred.jpg" in joined
    assert shown("a\u202eb\nc") == "'a\\u202eb\\nc'"


# -- the zoo: folders ----------------------------------------------------------------------------
def test_folder_with_a_symlink_is_rejected(env):
    root = write_tree(env["inputs"] / "sub", market_files())
    (root / "bounding_box_train" / "0009_c1s1_000000_01.jpg").symlink_to("/etc/passwd")
    before = snapshot(env)
    assert_rejected_cleanly(env, "linky", before, submit(root, "linky", limits=SMALL), "symbolic link")


def test_folder_with_a_fifo_is_rejected(env):
    root = write_tree(env["inputs"] / "sub", market_files())
    os.mkfifo(root / "bounding_box_train" / "pipe.jpg")
    before = snapshot(env)
    assert_rejected_cleanly(env, "fifo", before, submit(root, "fifo", limits=SMALL), "device, fifo or socket")


# -- the zoo: images -------------------------------------------------------------------------------
def _truncated_jpeg() -> bytes:
    data = image_bytes(3, size=(32, 64))
    return data[: len(data) // 2]


def _png_without_end() -> bytes:
    return image_bytes(4, "PNG")[:-12]


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 16)).save(buf, "GIF")
    return buf.getvalue()


def _multi(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 16), (9, 9, 9)).save(buf, fmt, save_all=True, append_images=[Image.new("RGB", (8, 16))])
    return buf.getvalue()


BAD_IMAGES = {
    "undecodable": ("0009_c1s1_000000_01.jpg", b"this is not an image at all" * 10, "not a JPEG or PNG image"),
    "truncated-jpeg": ("0009_c1s1_000000_01.jpg", _truncated_jpeg(), "does not decode completely"),
    "truncated-png": ("0009_c1s1_000000_01.png", _png_without_end(), "IEND"),
    "zero-size": ("0009_c1s1_000000_01.jpg", b"", "empty file (0 bytes)"),
    "png-bomb-huge": ("0009_c1s1_000000_01.png", png_header(100_000, 100_000), "decompression bomb"),
    "png-bomb-over-our-limit": ("0009_c1s1_000000_01.png", png_header(5000, 5000), "decompression bomb"),
    "gif-content": ("0009_c1s1_000000_01.jpg", _gif(), "not a JPEG or PNG image"),
    "bmp-extension": ("0009_c1s1_000000_01.bmp", b"BM....", "unsupported image format"),
    "mpo-two-pictures": ("0009_c1s1_000000_01.jpg", _multi("MPO"), "holds 2 pictures"),
    "apng-two-frames": ("0009_c1s1_000000_01.png", _multi("PNG"), "holds 2 pictures"),
    "jpeg-trailing-html": ("0009_c1s1_000000_01.jpg", image_bytes(5) + b"<html></html>", "trailing data"),
    "png-trailing-bytes": ("0009_c1s1_000000_01.png", image_bytes(6, "PNG") + b"xx", "trailing data"),
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_are_rejected_with_the_file_named(env, case):
    name, data, expected = BAD_IMAGES[case]
    files = market_files()
    files[f"bounding_box_train/{name}"] = data
    path = make_zip(env["inputs"] / "a.zip", files)
    before = snapshot(env)
    result = submit(path, "pics", limits=SMALL)
    assert_rejected_cleanly(env, "pics", before, result, expected)
    assert name in " ".join(result.reasons)


def test_the_pixel_limit_is_restored_after_checking(env):
    limit = Image.MAX_IMAGE_PIXELS
    submit(make_zip(env["inputs"] / "a.zip", market_files()), "restore", limits=SMALL)
    assert Image.MAX_IMAGE_PIXELS == limit


# -- the zoo: layouts, labels, attributes ---------------------------------------------------------
def _manifest(rows: list[list], header=("path", "pid", "camid")) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


BAD_LAYOUTS = {
    "no-layout": ({"images/a.jpg": image_bytes(1)}, "no layout found"),
    "bad-market-name": ({**market_files(), "bounding_box_train/person7.jpg": image_bytes(2)}, "bad file name"),
    "negative-pid": ({**market_files(), "bounding_box_train/-1_c1s1_000000_01.jpg": image_bytes(2)}, "bad file name"),
    "camera-zero": ({**market_files(), "bounding_box_train/0009_c0s1_000000_01.jpg": image_bytes(2)}, "c0"),
    "one-identity": (market_files(n_ids=1), "at least 2"),
    "manifest-missing-file": ({"manifest.csv": _manifest([["a.jpg", 1, 0], ["b.jpg", 2, 1]]), "a.jpg": image_bytes(1)},
                              "is not in the submission"),
    "manifest-dotdot": ({"manifest.csv": _manifest([["../../etc/passwd", 1, 0]]), "a.jpg": image_bytes(1)},
                        "'..' in the path"),
    "manifest-absolute": ({"manifest.csv": _manifest([["/etc/hosts", 1, 0]]), "a.jpg": image_bytes(1)},
                          "absolute path"),
    "manifest-bad-pid": ({"manifest.csv": _manifest([["a.jpg", "1; DROP TABLE submissions", 0]]),
                          "a.jpg": image_bytes(1)}, "expected a non-negative integer"),
    "manifest-missing-column": ({"manifest.csv": _manifest([["a.jpg", 1]], header=("path", "pid")),
                                 "a.jpg": image_bytes(1)}, "missing column(s) camid"),
    "manifest-bad-attribute": ({"manifest.csv": _manifest([["a.jpg", 1, 0, "robot"], ["b.jpg", 2, 1, "male"]],
                                                          header=("path", "pid", "camid", "gender")),
                                "a.jpg": image_bytes(1), "b.jpg": image_bytes(2)}, "is not a FineGPR gender"),
    "manifest-code-out-of-range": ({"manifest.csv": _manifest([["a.jpg", 1, 0, 3], ["b.jpg", 2, 1, 1]],
                                                              header=("path", "pid", "camid", "gender")),
                                    "a.jpg": image_bytes(1), "b.jpg": image_bytes(2)}, "code 1..2"),
    "manifest-cell-over-the-csv-limit": ({"manifest.csv": _manifest([["a.jpg", 1, 0, "x" * 200_000]],
                                                                   header=("path", "pid", "camid", "note")),
                                          "a.jpg": image_bytes(1)}, "'manifest.csv' line 2: a field longer than"),
    "manifest-header-over-the-csv-limit": ({"manifest.csv": b"path,pid,camid," + b"h" * 140_000 + b"\n",
                                            "a.jpg": image_bytes(1)}, "'manifest.csv' line 1: a field longer than"),
    "manifest-nul-byte": ({"manifest.csv": b"path,pid,camid\na.jpg,1,0\nb\0.jpg,2,1\n", "a.jpg": image_bytes(1)},
                          "'manifest.csv' line 3: unsafe path 'b\\x00.jpg'"),
    "manifest-bad-own-column": ({"manifest.csv": _manifest([["a.jpg", 1, 0, "x"], ["b.jpg", 2, 1, "y"]],
                                                           header=("path", "pid", "camid", "9lives")),
                                 "a.jpg": image_bytes(1), "b.jpg": image_bytes(2)}, "own attribute names"),
}


@pytest.mark.parametrize("case", sorted(BAD_LAYOUTS))
def test_bad_layouts_and_labels_are_rejected(env, case):
    files, expected = BAD_LAYOUTS[case]
    root = write_tree(env["inputs"] / "sub", files)
    before = snapshot(env)
    assert_rejected_cleanly(env, "lay", before, submit(root, "lay", limits=SMALL), expected)


def test_too_many_own_attribute_values_is_rejected(env):
    rows = [[f"{i}.jpg", i, i % 2, f"v{i}"] for i in range(6)]
    files = {"manifest.csv": _manifest(rows, header=("path", "pid", "camid", "style"))}
    files.update({f"{i}.jpg": image_bytes(i) for i in range(6)})
    root = write_tree(env["inputs"] / "sub", files)
    before = snapshot(env)
    result = submit(root, "vals", limits=SMALL.with_(max_own_values=5))
    assert_rejected_cleanly(env, "vals", before, result, "at most 5")


@pytest.mark.parametrize("bad", ["../x", "a;DROP TABLE", "", "x/y", "Upper", "-lead", "trail-", "a" * 65,
                                 "name\n", "sp ace", "a+aost", "a:b", "ééé", "..", "."])
def test_bad_names_are_refused_before_anything_is_written(env, bad):
    root = write_tree(env["inputs"] / "sub", market_files())
    before = snapshot(env)
    with pytest.raises(InvalidName, match="name"):
        submit(root, bad)
    assert snapshot(env) == before
    assert not env["db"].exists()  # not even a rejected row: there is no usable name to record it under
    with pytest.raises(InvalidName):
        load_submission_dataset(bad)
    with pytest.raises(InvalidName):
        remove_submission(bad)


# -- good submissions --------------------------------------------------------------------------------
def _read_only(folder: Path) -> bool:
    modes = [p.lstat().st_mode for p in [folder, *folder.rglob("*")]]
    return all(not (m & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) for m in modes)


def test_good_folder_is_accepted_stored_read_only_and_versioned(env):
    import tomllib

    root = write_tree(env["inputs"] / "sub", {**market_files(n_ids=5, per_id=4),
                                              "bounding_box_train/readme.txt": b"notes",
                                              "bounding_box_train/.DS_Store": b"x"})
    before_inputs = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    r1 = submit(root, "mine", description="five people\nrendered", license="CC-BY-4.0")
    assert r1.status == "accepted" and r1.version == 1, r1.reasons
    assert r1.report["counts"]["train"] == {"images": 20, "ids": 5, "cameras": 2}
    assert r1.report["layout"] == "market" and r1.report["errors_total"] == 0
    folder = r1.store_path
    assert folder.parent == env["store"] and folder.name == r1.report["content_hash"]
    assert folder.name == content_hash((folder / STORE_MANIFEST).read_bytes(), (folder / SCHEMA_FILE).read_bytes())
    assert _read_only(folder)
    assert not [p for p in env["store"].iterdir() if p.name.startswith(".incoming")]
    doc = tomllib.loads((env["subs"] / "mine" / "submission.toml").read_text())
    assert doc["version"] == 1 and doc["content_hash"] == folder.name and doc["license"] == "CC-BY-4.0"
    assert doc["description"] == "five people\nrendered" and doc["counts"]["images"] == 20
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before_inputs  # the user's folder untouched
    assert not any(env["work"].iterdir())

    r2 = submit(root, "mine")
    assert r2.status == "accepted" and r2.version == 2
    assert r2.store_path == folder  # same content, same store folder
    assert any("own earlier version" in n for n in r2.report["notes"])
    doc = tomllib.loads((env["subs"] / "mine" / "submission.toml").read_text())
    assert doc["version"] == 2 and [h["version"] for h in doc["history"]] == [1]
    row = get_submission("mine")
    assert row["version"] == 2 and row["status"] == "accepted" and row["n_images"] == 20 and row["n_ids"] == 5
    assert row["report"]["counts"]["train"]["images"] == 20

    ds = load_submission_dataset("mine")
    assert ds.key == "submission:mine" and ds.kind == "submission" and ds.meta["version"] == 2
    assert len(ds.train) == 20 and ds.num_train_pids == 5 and not ds.has_attributes
    assert all(Path(rec.path).is_file() and Path(rec.path).is_relative_to(folder) for rec in ds.train)
    assert load_submission_dataset("mine", version=1).meta["version"] == 1


def _attribute_submission(inputs: Path, top: str = "my_data/") -> dict[str, bytes]:
    rows, files = [], {}
    for pid in range(1, 5):
        for k in range(3):
            rel = f"imgs/p{pid}_{k}.png"
            files[top + rel] = image_bytes(pid * 10 + k, "PNG")
            split = "train" if pid <= 3 else ("query" if k == 0 else "gallery")
            rows.append([rel, pid, k % 2, split, "female" if pid % 2 else "1", str(k + 1), "red" if k else "blue"])
    files[top + "manifest.csv"] = _manifest(rows, header=("path", "pid", "camid", "split", "Gender", "viewpoint",
                                                           "hat_style"))
    return files


def test_good_archive_with_attributes_is_accepted_and_loads_for_training(env):
    path = make_tar(env["inputs"] / "data.tar.gz", _attribute_submission(env["inputs"]), gz=True)
    attrs = env["inputs"] / "ids.csv"
    attrs.write_text("pid,bag,upper_colour\n1,yes,black\n2,no,2\n3,1,brown\n4,no,red\n")
    result = submit(path, "attr-set", attributes=attrs)
    assert result.status == "accepted", result.reasons
    rep = result.report
    assert rep["layout"] == "manifest" and rep["source"]["kind"] == "tar.gz"
    cols = {c["name"]: c for c in rep["attributes"]["columns"]}
    assert set(cols) == {"gender", "viewpoint", "hat_style", "bag", "upper_colour"}
    assert cols["gender"]["kind"] == "finegpr" and cols["gender"]["counts"] == {"male": 3, "female": 6}
    assert cols["hat_style"]["kind"] == "own" and cols["hat_style"]["values"] == ["blue", "red"]
    assert cols["bag"]["per"] == "id" and cols["bag"]["source"] == "attributes csv"
    assert rep["attributes"]["has_attributes"] is True
    assert rep["counts"]["query"]["images"] == 1 and rep["counts"]["gallery"]["images"] == 2

    ds = load_submission_dataset("attr-set")
    assert len(ds.train) == 9 and len(ds.query) == 1 and len(ds.gallery) == 2
    assert ds.has_attributes
    first = next(r for r in ds.train if r.pid == 1)
    assert first.attrs["gender"] == 2 and first.attrs["bag"] == 1 and first.attrs["upper_colour"] == 1
    assert "hat_style" not in first.attrs  # own attributes live in meta, FineGPR names in Record.attrs
    assert ds.meta["own_attributes"][first.path]["hat_style"] in (1, 2)
    assert {c["name"] for c in ds.meta["attribute_schema"]} == set(cols)

    # usable for training: the trainer's own dataset class reads every record
    from torch.utils.data import DataLoader

    from benchmark.reid.data import ReidImages, check_train_records

    check_train_records(ds.train)
    images = ReidImages(ds.train, 32, 16, train=True, flip=0.5, seed=0)
    x, labels, camids, _ = next(iter(DataLoader(images, batch_size=9)))
    assert tuple(x.shape) == (9, 3, 32, 16) and sorted(set(labels.tolist())) == [0, 1, 2]
    assert images.num_classes == 3


def test_a_failure_after_the_store_copy_leaves_nothing_behind(env):
    root = write_tree(env["inputs"] / "sub", market_files())
    blocker = env["root"] / "not-a-folder"
    blocker.write_text("a file where the submissions folder should be")
    with pytest.raises(OSError):
        submit(root, "half", submissions_dir=blocker)
    # only the commit lock file (benchmark/submissions/txn.py) may remain
    assert not env["store"].exists() or [p.name for p in env["store"].iterdir()] == [".submit.lock"]
    assert [r for r in list_submissions() if r["name"] == "half"] == []


def test_dry_run_writes_nothing(env):
    root = write_tree(env["inputs"] / "sub", market_files())
    before = snapshot(env)
    result = submit(root, "dry", dry_run=True)
    assert result.status == "valid" and result.version is None
    assert snapshot(env) == before and not env["db"].exists()


def test_duplicates_within_across_and_against_known_datasets(env):
    files = market_files(n_ids=3, per_id=3)
    dup = files["bounding_box_train/0001_c1s1_000000_01.jpg"]
    files["bounding_box_train/0002_c2s1_000009_01.jpg"] = dup  # same bytes, another id
    root = write_tree(env["inputs"] / "a", files)
    first = submit(root, "first")
    assert first.status == "accepted"
    within = first.report["duplicates"]["within"]
    assert within["images"] == 1 and within["conflicting_ids"] == 1
    assert any("byte-identical" in w for w in first.warnings) and any("label noise" in w for w in first.warnings)

    second = submit(root, "second")
    assert second.status == "accepted"
    assert second.report["duplicates"]["submissions"][0]["name"] == "first"
    assert any("identical content to submission 'first'" in w for w in second.warnings)

    import hashlib

    index = env["root"] / "cache" / "image-hashes"
    index.mkdir(parents=True)
    h = hashlib.sha256(dup).hexdigest()
    (index / "sim-finegpr.sha256").write_text(f"{h}  finegpr/FineGPR/0001/x.jpg\n")
    third = submit(root, "third")
    assert third.status == "accepted"
    assert any("known dataset sim-finegpr" in w for w in third.warnings)

    (index / "market1501.sha256").write_text(f"{h}  bounding_box_test/0001_c1s1_000151_01.jpg\n")
    before = snapshot(env)
    leak = submit(root, "leak")
    assert_rejected_cleanly(env, "leak", before, leak, "real datasets are test data")


def test_a_known_dataset_resubmitted_file_for_file_is_rejected(env):
    from benchmark.store import Store

    root = write_tree(env["inputs"] / "copy", market_files())
    dry = submit(root, "copycat", dry_run=True)
    fp = dry.report["duplicates"]["fingerprint_as_submitted"]
    Store().upsert_dataset("market1501", "real", env["inputs"], {}, fp)  # as a run that used it would record
    before = snapshot(env)
    assert_rejected_cleanly(env, "copycat", before, submit(root, "copycat"), "is the known dataset market1501")


def test_index_known_dataset_hashes_a_dataset_on_disk(env):
    from benchmark.submissions import index_known_dataset

    data = env["root"] / "data"
    base = data / "syri"
    for pid in range(2):
        for cam in range(2):
            (base).mkdir(parents=True, exist_ok=True)
            (base / f"{pid}_{cam}_0.jpg").write_bytes(image_bytes(pid * 2 + cam))
    path = index_known_dataset("syri", data)
    lines = path.read_text().splitlines()
    assert path.name == "syri.sha256" and len(lines) == 4 and all(len(line.split()[0]) == 64 for line in lines)


def test_unknown_and_rejected_names_give_clear_errors(env):
    with pytest.raises(UnknownSubmission, match="no submission has been accepted yet"):
        load_submission_dataset("ghost")
    write_tree(env["inputs"] / "ok", market_files())
    assert submit(env["inputs"] / "ok", "real-one").status == "accepted"
    with pytest.raises(UnknownSubmission, match="accepted submissions: real-one"):
        load_submission_dataset("ghost")
    write_tree(env["inputs"] / "bad", market_files(n_ids=1))
    assert submit(env["inputs"] / "bad", "bad-one").status == "rejected"
    with pytest.raises(UnknownSubmission, match="was rejected"):
        load_submission_dataset("bad-one")


def test_remove_deletes_rows_manifest_and_unshared_store_folders(env):
    write_tree(env["inputs"] / "a", market_files(seed=1))
    write_tree(env["inputs"] / "b", market_files(seed=2))
    a = submit(env["inputs"] / "a", "keep")
    b = submit(env["inputs"] / "b", "drop")
    shared = submit(env["inputs"] / "a", "shares")  # same content as "keep"
    assert shared.store_path == a.store_path
    done = remove_submission("drop")
    assert done["rows"] == 1 and done["toml_removed"] and done["store_folders_deleted"] == [str(b.store_path)]
    assert not b.store_path.exists() and not (env["subs"] / "drop").exists()
    done = remove_submission("shares")
    assert done["store_folders_deleted"] == [] and a.store_path.is_dir()  # "keep" still uses it
    assert {r["name"] for r in list_submissions()} == {"keep"}
    with pytest.raises(UnknownSubmission):
        remove_submission("drop")


def test_store_failure_is_a_submission_error(env):
    root = write_tree(env["inputs"] / "sub", market_files())
    blocker = env["root"] / "store-file"
    blocker.write_text("x")  # the store root is a file: the copy cannot be made
    with pytest.raises(SubmissionError, match="could not be stored"):
        submit(root, "nostore", store_root=blocker)
    rows = [r for r in list_submissions() if r["name"] == "nostore"]
    assert [r["status"] for r in rows] == ["rejected"] and "storing failed" in rows[0]["reasons"][0]
    assert not (env["subs"] / "nostore").exists()


# -- the command line -------------------------------------------------------------------------------
@pytest.fixture()
def app() -> typer.Typer:
    a = typer.Typer()
    submit_cli.register(a)
    return a


def _out(result) -> str:
    err = getattr(result, "stderr", "") if getattr(result, "stderr_bytes", None) is not None else ""
    return result.stdout + err


def test_cli_submit_list_show_remove(env, app):
    runner = CliRunner()
    zpath = make_zip(env["inputs"] / "good.zip", {f"pack/{k}": v for k, v in market_files().items()})
    r = runner.invoke(app, ["submit", str(zpath), "--name", "cli-set", "--license", "MIT"])
    assert r.exit_code == 0, _out(r)
    assert "accepted" in r.stdout and "submission:cli-set" in r.stdout
    r = runner.invoke(app, ["submit", str(zpath), "--name", "cli-set", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["version"] == 2

    bad = make_zip(env["inputs"] / "bad.zip", {**market_files(), "../../evil.jpg": b"x"})
    r = runner.invoke(app, ["submit", str(bad), "--name", "cli-bad"])
    assert r.exit_code == 1 and "rejected" in r.stdout and "'..' in the path" in r.stdout

    for bad_name in ("a;DROP TABLE submissions", "[/x]", "../x"):
        r = runner.invoke(app, ["submit", str(zpath), "--name", bad_name])
        assert r.exit_code == 1 and "invalid submission name" in _out(r) and bad_name in _out(r)

    r = runner.invoke(app, ["submissions", "list"])
    assert r.exit_code == 0 and "cli-set" in r.stdout and "cli-bad" in r.stdout and "rejected" in r.stdout
    r = runner.invoke(app, ["submissions", "list", "--all", "--json"])
    assert [(x["name"], x["version"]) for x in json.loads(r.stdout)] == [("cli-bad", 1), ("cli-set", 1), ("cli-set", 2)]

    r = runner.invoke(app, ["submissions", "show", "cli-set"])
    assert r.exit_code == 0 and "version 2" in r.stdout and "train" in r.stdout and "cameras" in r.stdout
    r = runner.invoke(app, ["submissions", "show", "cli-bad", "--json"])
    assert json.loads(r.stdout)["status"] == "rejected"
    r = runner.invoke(app, ["submissions", "show", "nobody"])
    assert r.exit_code == 1 and "unknown submission" in _out(r)

    r = runner.invoke(app, ["submissions", "remove", "cli-set", "--yes"])
    assert r.exit_code == 0 and "2 version(s)" in r.stdout
    assert [x["name"] for x in list_submissions()] == ["cli-bad"]
    assert not (env["subs"] / "cli-set").exists()
