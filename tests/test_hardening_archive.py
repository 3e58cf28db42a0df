"""Tiny archives that would cost memory or minutes through their headers (issue 15 items 8, 9).

The archives are written byte by byte here (Python's tarfile would refuse to write most of them);
every one must be refused in well under a second with bounded memory, before anything is extracted.
Good archives from tarfile's three formats (GNU long names, PAX, ustar prefix) still extract exactly.
"""
from __future__ import annotations

import gzip
import io
import struct
import tarfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from benchmark.submissions import Limits
from benchmark.submissions.archive import open_source
from benchmark.submissions.errors import Rejected
from benchmark.submissions.tar_headers import parse_pax

MIB = 1024 * 1024
LIMITS = Limits()  # the defaults: what a stranger meets


def work(tmp_path: Path, name: str) -> Path:
    """The private folder `submit` would give open_source (it extracts into <work>/files)."""
    w = tmp_path / name
    w.mkdir(exist_ok=True)
    return w


def header(name: bytes, size: int, kind: bytes = b"0", linkname: bytes = b"") -> bytes:
    b = bytearray(512)
    b[0:len(name[:100])] = name[:100]
    b[100:108] = b"0000644\0"
    b[108:116] = b"0000000\0"
    b[116:124] = b"0000000\0"
    b[124:136] = f"{size:011o}\0".encode() if size < 8 ** 11 else b"\x80" + size.to_bytes(11, "big")
    b[136:148] = b"00000000000\0"
    b[156:157] = kind
    b[157:157 + len(linkname[:100])] = linkname[:100]
    b[257:265] = b"ustar\x0000"
    b[148:156] = b" " * 8
    b[148:156] = f"{sum(b):06o}\0 ".encode()
    return bytes(b)


def pad(n: int) -> bytes:
    return b"\0" * (-n % 512)


def pax_record(key: str, value: bytes) -> bytes:
    body = f" {key}=".encode() + value + b"\n"
    n = len(body)
    while len(str(n + len(str(n))).encode()) + len(body) != n + len(str(n)):
        n += 1
    total = len(str(n + len(str(n)))) + len(body)
    return str(total).encode() + body


def write(path: Path, parts, gz: bool) -> Path:
    """parts: bytes or (callable writing into the stream) pieces, then the end-of-archive marker."""
    with (gzip.open(path, "wb", compresslevel=6) if gz else open(path, "wb")) as f:
        for p in parts:
            p(f) if callable(p) else f.write(p)
        f.write(b"\0" * 1024)
    return path


def big_extended(kind: bytes, size: int, key: str = "path"):
    """An extended header of `size` bytes whose payload is streamed (never held whole)."""
    def parts(f):
        f.write(header(b"././@LongLink" if kind in (b"L", b"K") else b"pax", size, kind))
        if kind in (b"x", b"g"):
            prefix = f"{size} {key}=".encode()
            f.write(prefix)
            left = size - len(prefix) - 1
        else:
            left = size - 1
        chunk = b"9" * MIB
        while left > 0:
            f.write(chunk[:min(left, MIB)])
            left -= MIB
        f.write(b"\n" + pad(size))
    return parts


def member(name: bytes, data: bytes, kind: bytes = b"0") -> bytes:
    return header(name, len(data), kind) + data + pad(len(data))


def assert_refused_fast(path: Path, tmp_path: Path, expected: str, limits: Limits = LIMITS) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(Rejected) as exc:
            open_source(path, work(tmp_path, "work"), limits)
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert expected in str(exc.value), str(exc.value)
    assert "\n" not in str(exc.value)
    assert seconds < 1.0, f"{seconds:.2f} s"
    assert peak < 8 * MIB, f"{peak / MIB:.1f} MiB"
    assert not (tmp_path / "work" / "files").exists()  # nothing extracted


@pytest.mark.parametrize("gz", [True, False], ids=["tgz", "tar"])
@pytest.mark.parametrize("kind,key", [(b"x", "path"), (b"x", "size"), (b"x", "linkpath"), (b"x", "comment"),
                                      (b"g", "path"), (b"L", ""), (b"K", "")])
def test_a_huge_extended_header_is_refused_from_its_size(tmp_path, kind, key, gz):
    # the case in full (300 MiB in a ~300 KB .tar.gz); the variants need only exceed the limit
    size = 300 * MIB if (kind, key, gz) == (b"x", "path", True) else 2 * MIB
    path = write(tmp_path / ("a.tgz" if gz else "a.tar"),
                 [big_extended(kind, size, key), member(b"x.jpg", b"abc")], gz)
    if size > 2 * MIB:
        assert path.stat().st_size < 1 * MIB
    assert_refused_fast(path, tmp_path, "over the limit of 65,536 per header")


@pytest.mark.parametrize("key", ["size", "path", "linkpath", "mtime", "uid", "SCHILY.xattr.user.x", "hdrcharset",
                                 "GNU.sparse.size", "comment"])
def test_a_200000_digit_pax_value_costs_no_time(tmp_path, key):
    rec = pax_record(key, b"1" * 200_000)
    path = write(tmp_path / "a.tar.gz", [header(b"pax", len(rec), b"x"), rec, pad(len(rec)),
                                         member(b"x.jpg", b"abc")], gz=True)
    assert path.stat().st_size < 4096
    assert_refused_fast(path, tmp_path, "per header")


@pytest.mark.parametrize("key,expected", [("size", "is not a byte count"), ("path", "path longer than"),
                                          ("linkpath", "is a symbolic link"), ("mtime", None), ("comment", None)])
def test_long_pax_values_under_the_header_limit_parse_in_linear_time(tmp_path, key, expected):
    value = b"7" * 60_000
    rec = pax_record(key, value)
    kind = b"2" if key == "linkpath" else b"0"
    data = b"" if kind == b"2" else b"a,b\n1,2\n"
    path = write(tmp_path / "a.tgz", [header(b"pax", len(rec), b"x"), rec, pad(len(rec)),
                                      member(b"x.csv", data, kind)], gz=True)
    t0 = time.perf_counter()
    if expected is None:
        src = open_source(path, work(tmp_path, "work"), LIMITS)
        assert src.files == {"x.csv": len(data)}
    else:
        with pytest.raises(Rejected, match=expected):
            open_source(path, work(tmp_path, "work"), LIMITS)
    assert time.perf_counter() - t0 < 1.0


def test_many_small_extended_headers_are_refused(tmp_path):
    rec = pax_record("comment", b"x")
    one = header(b"pax", len(rec), b"x") + rec + pad(len(rec))
    path = write(tmp_path / "chain.tgz", [one * 100_000, member(b"x.jpg", b"abc")], gz=True)
    assert_refused_fast(path, tmp_path, "extended headers in a row")
    # many members each with a legal header, over the total: counted across the archive
    rec = pax_record("comment", b"c" * 60_000)
    parts = [header(b"pax", len(rec), b"x") + rec + pad(len(rec)) + member(f"f{i}.csv".encode(), b"a\n")
             for i in range(40)]
    path = write(tmp_path / "total.tgz", parts, gz=True)
    assert_refused_fast(path, tmp_path, "extended headers exceed", LIMITS.with_(max_header_total=1 * MIB))


@pytest.mark.parametrize("bad", ["1 a=b\n", "99 path=x\n", "x path=y\n", "6 =ab\n", "5 abc", "12345678901234567890123 a=b\n"])
def test_malformed_pax_records_are_one_line_errors(bad):
    with pytest.raises(Rejected) as exc:
        parse_pax(bad.encode(), "the PAX header")
    assert "malformed" in str(exc.value) or "KEY=" in str(exc.value)


def test_broken_headers_are_one_line_errors(tmp_path):
    good = member(b"x.csv", b"a\n")
    cases = {
        "checksum": good[:148] + b"0000000\0" + good[156:],
        "size-not-octal": header(b"x.csv", 0)[:124] + b"zzzzzzzzzzz\0" + header(b"x.csv", 0)[136:],
        "truncated-data": header(b"x.csv", 10_000) + b"abc",
        "truncated-header": good[:300],
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.tar"
        path.write_bytes(data)
        with pytest.raises(Rejected) as exc:
            open_source(path, work(tmp_path, f"work-{name}"), LIMITS)
        assert "\n" not in str(exc.value) and ("tar" in str(exc.value) or "truncated" in str(exc.value)), name


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("gz", [True, False])
def test_tarfile_written_archives_still_extract_exactly(tmp_path, fmt, gz):
    files = {f"{'deep-folder-name/' * 5}bounding_box_train/{k:04d}_c1s1_000000_01.jpg": bytes([k]) * (k * 100 + 1)
             for k in range(1, 6)}
    files["ünïcode/é.csv"] = b"x\n" if fmt != tarfile.USTAR_FORMAT else b""
    if fmt == tarfile.USTAR_FORMAT:
        files.pop("ünïcode/é.csv")
    path = tmp_path / ("a.tgz" if gz else "a.tar")
    with tarfile.open(path, "w:gz" if gz else "w", format=fmt) as t:
        for rel, data in files.items():
            ti = tarfile.TarInfo(rel)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    src = open_source(path, work(tmp_path, "work"), LIMITS)
    assert src.files == {rel: len(d) for rel, d in files.items()}
    for rel, data in files.items():
        assert (src.root / rel).read_bytes() == data


def _patched_eocd(path: Path, entries: int | None = None, cd_size: int | None = None) -> Path:
    data = bytearray(path.read_bytes())
    i = data.rfind(b"PK\x05\x06")
    if entries is not None:
        data[i + 8:i + 12] = struct.pack("<HH", entries, entries)
    if cd_size is not None:
        data[i + 12:i + 16] = struct.pack("<I", cd_size)
    path.write_bytes(bytes(data))
    return path


def test_zip_end_record_is_checked_before_the_member_list(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("x.csv", "a\n")
    small = LIMITS.with_(max_files=100, max_header_total=4096)
    assert_refused_fast(_patched_eocd(tmp_path / "a.zip", entries=60_000), tmp_path, "more than 100 files", small)
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as z:
        z.writestr("x.csv", "a\n")
    assert_refused_fast(_patched_eocd(tmp_path / "b.zip", cd_size=3_000_000_000), tmp_path,
                        "central directory", small)
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
        z.writestr(zipfile.ZipInfo("x.csv"), "a\n")
        z.comment = b"c"
    src = open_source(tmp_path / "c.zip", work(tmp_path, "work-c"), small)
    assert src.files == {"x.csv": 2}


@pytest.mark.parametrize("build,expected", [
    (lambda: header(b"x.csv", 10 ** 20), "bytes uncompressed"),
    (lambda: header(b"sparse.jpg", 0, b"S"), "sparse file"),
    (lambda: header(b"pax", len(pax_record("GNU.sparse.size", b"10")), b"x") + pax_record("GNU.sparse.size", b"10")
     + pad(len(pax_record("GNU.sparse.size", b"10"))) + member(b"x.jpg", b"abc"), "sparse file"),
    (lambda: header(b"odd.jpg", 0, b"V"), "of tar type 'V'"),
    (lambda: header(b"name\xff.jpg", 3) + b"abc" + pad(3), "non-UTF-8"),
    (lambda: header(b"dir/../../x.jpg", 3) + b"abc" + pad(3), "'..' in the path"),
])
def test_member_headers_that_lie_or_hide_are_refused(tmp_path, build, expected):
    path = write(tmp_path / "a.tgz", [build()], gz=True)
    assert_refused_fast(path, tmp_path, expected)
