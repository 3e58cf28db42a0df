"""Getting a submission's files where they can be read, safely.

A folder is read in place (never modified): it is walked without following
links, and any link, device, fifo or socket in it rejects the submission. An
archive (.zip, .tar, .tar.gz/.tgz) is first inspected from its member list
alone: unsafe names (absolute, '..', backslash, drive letter), links, devices,
fifos, sparse or encrypted members, too many files or bytes, or a compression
ratio over the limit reject it before a single byte is extracted. Only then
are the members that can matter (images and CSV files) streamed into a private
temporary folder, counting bytes as they come, because declared sizes can lie.

Headers are bounded too: tar headers are parsed by tar_headers.TarReader
(never by Python's tarfile, see there), and a zip's end record is read first so
that more entries or a larger central directory than the limits allow are
refused before zipfile builds its member list.
"""
from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from benchmark.submissions.errors import Rejected
from benchmark.submissions.limits import IMAGE_EXTENSIONS, REFUSED_IMAGE_EXTENSIONS, Limits
from benchmark.submissions.names import normal_path, path_problem, shown
from benchmark.submissions.tar_headers import Entry, TarReader
from benchmark.text_safety import has_hidden

ARCHIVE_SUFFIXES = {".zip": "zip", ".tar": "tar", ".tar.gz": "tar.gz", ".tgz": "tar.gz"}
ACCEPTED_INPUTS = "a folder, or an archive ending in .zip, .tar, .tar.gz or .tgz"
_CLUTTER = frozenset({"__macosx", "thumbs.db", "desktop.ini", ".ds_store"})
_CHUNK = 1 << 16


@dataclass
class Source:
    """The submission's files, readable under `root`."""

    kind: str  # folder | zip | tar | tar.gz
    given: str  # the path as the user gave it
    root: Path  # where the files can be read now (the folder itself, or the private extraction)
    files: dict[str, int] = field(default_factory=dict)  # relative path -> size, regular files only
    ignored: list[str] = field(default_factory=list)  # clutter and files never extracted


def is_clutter(rel: str) -> bool:
    """System files and hidden files/folders (.DS_Store, __MACOSX/, ._x AppleDouble, .git/...)."""
    return any(p.lower() in _CLUTTER or p.startswith(".") for p in rel.split("/"))


def is_wanted(rel: str) -> bool:
    """Only images (accepted or refused kinds, to report them) and CSV files are ever extracted."""
    low = rel.lower()
    return low.endswith(IMAGE_EXTENSIONS) or low.endswith(REFUSED_IMAGE_EXTENSIONS) or low.endswith(".csv")


def input_kind(path: Path) -> str:
    """folder, zip, tar or tar.gz; Rejected for anything else."""
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise Rejected(f"{shown(path)} does not exist; expected {ACCEPTED_INPUTS}")
    name = path.name.lower()
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.endswith(suffix):
            kind = ARCHIVE_SUFFIXES[suffix]
            break
    else:
        raise Rejected(f"{shown(path)} is neither a folder nor an accepted archive; expected {ACCEPTED_INPUTS}")
    if not path.is_file():
        raise Rejected(f"{shown(path)} is not a regular file; expected {ACCEPTED_INPUTS}")
    with open(path, "rb") as f:
        head = f.read(4)
    if kind == "zip" and head[:2] != b"PK":
        raise Rejected(f"{shown(path)} ends in .zip but is not a zip archive")
    if kind == "tar.gz" and head[:2] != b"\x1f\x8b":
        raise Rejected(f"{shown(path)} ends in {path.suffix} but is not gzip-compressed")
    return kind


class _Budget:
    """Counts files and bytes against the limits while anything is read or written."""

    def __init__(self, limits: Limits, what: str):
        self.limits, self.what = limits, what
        self.files = 0
        self.bytes = 0

    def add_file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise Rejected(f"{self.what} holds more than {self.limits.max_files:,} files (the limit)")

    def add_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_total_bytes:
            raise Rejected(
                f"{self.what} holds more than {self.limits.max_total_bytes:,} bytes uncompressed (the limit)")


# -- folders ---------------------------------------------------------------------------------------
def scan_folder(folder: Path, limits: Limits) -> Source:
    """Every regular file under `folder` (clutter skipped); Rejected for links, special files, limits."""
    src = Source(kind="folder", given=str(folder), root=folder)
    budget = _Budget(limits, f"folder {shown(folder)}")
    problems: list[str] = []
    stack = [("", folder)]
    while stack:
        prefix, here = stack.pop()
        try:
            with os.scandir(here) as it:
                found = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise Rejected(f"cannot read folder {shown(here)}: {exc.strerror}") from None
        for e in found:
            rel = prefix + e.name
            if is_clutter(rel):
                src.ignored.append(rel)
                continue
            if has_hidden(e.name):
                problems.append(f"{shown(rel)}: control, invisible or non-UTF-8 character in the name "
                                "(file names must be printable UTF-8)")
                continue
            if e.is_symlink():
                problems.append(f"{shown(rel)} is a symbolic link (links are not accepted; copy the file instead)")
            elif e.is_dir(follow_symlinks=False):
                if rel.count("/") + 1 > limits.max_depth:
                    problems.append(f"{shown(rel)} is more than {limits.max_depth} folders deep")
                    continue
                stack.append((rel + "/", Path(e.path)))
            elif e.is_file(follow_symlinks=False):
                budget.add_file()
                size = e.stat(follow_symlinks=False).st_size
                budget.add_bytes(size)
                src.files[rel] = size
            else:
                problems.append(f"{shown(rel)} is not a regular file (device, fifo or socket)")
            if len(problems) >= limits.max_listed:
                break
    if problems:
        raise Rejected(problems)
    return src


# -- archives: inspection --------------------------------------------------------------------------
@dataclass
class _Member:
    rel: str  # normalised relative path
    size: int  # declared uncompressed size
    handle: object  # ZipInfo or TarInfo


def _check_name(raw: str, limits: Limits, problems: list[str]) -> str | None:
    why = path_problem(raw, max_chars=limits.max_path_chars, max_name_bytes=limits.max_name_bytes,
                       max_depth=limits.max_depth)
    if why:
        problems.append(f"unsafe member {shown(raw)}: {why}")
        return None
    return normal_path(raw)


def _zip_directory(path: Path, limits: Limits) -> None:
    """Refuse a zip whose end record declares more entries or a bigger central directory than the limits."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - (22 + 65535)))
        tail = f.read()
        i = tail.rfind(b"PK\x05\x06")
        if i < 0 or len(tail) - i < 22:
            raise Rejected(f"{shown(path.name)} is not a readable zip archive: no end of central directory record")
        entries, cd_size = struct.unpack("<HI", tail[i + 10:i + 16])
        loc = i - 20
        if loc >= 0 and tail[loc:loc + 4] == b"PK\x06\x07":  # zip64: the real counts are in its own record
            (z64,) = struct.unpack("<Q", tail[loc + 8:loc + 16])
            if z64 > size - 56:
                raise Rejected(f"{shown(path.name)} is not a readable zip archive: a broken zip64 record")
            f.seek(z64)
            rec = f.read(56)
            if len(rec) < 56 or rec[:4] != b"PK\x06\x06":
                raise Rejected(f"{shown(path.name)} is not a readable zip archive: a broken zip64 record")
            entries, cd_size = struct.unpack("<QQ", rec[32:48])
    if entries > limits.max_files:
        raise Rejected(f"archive {shown(path.name)} holds more than {limits.max_files:,} files (the limit)")
    if cd_size > limits.max_header_total:
        raise Rejected(f"archive {shown(path.name)} has a central directory of {cd_size:,} bytes, over the limit "
                       f"of {limits.max_header_total:,} (a header bomb?)")


def _zip_members(path: Path, limits: Limits, budget: _Budget) -> tuple[list[_Member], list[str]]:
    problems: list[str] = []
    members: list[_Member] = []
    archive_size = max(path.stat().st_size, 1)
    _zip_directory(path, limits)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise Rejected(f"{shown(path.name)} is not a readable zip archive: {exc}") from None
    for info in infos:
        budget.add_file()
        if len(info.extra) + len(info.comment) + len(info.filename) > limits.max_header_bytes:
            problems.append(f"member {shown(info.filename)} has a header over {limits.max_header_bytes:,} bytes")
            continue
        rel = _check_name(info.filename, limits, problems)
        mode = info.external_attr >> 16
        ftype = stat.S_IFMT(mode)
        label = shown(info.filename)
        if ftype == stat.S_IFLNK:
            problems.append(f"member {label} is a symbolic link (links are not accepted)")
        elif ftype and ftype not in (stat.S_IFREG, stat.S_IFDIR):
            problems.append(f"member {label} is a device, fifo or socket (only files and folders are accepted)")
        elif info.flag_bits & 0x1:
            problems.append(f"member {label} is encrypted (encrypted archives are not accepted)")
        elif rel is not None and not info.is_dir():
            budget.add_bytes(info.file_size)
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size >= limits.ratio_floor_bytes and ratio > limits.max_ratio:
                problems.append(
                    f"member {label} expands {ratio:,.0f}-fold ({info.compress_size:,} -> {info.file_size:,} bytes), "
                    f"over the limit of {limits.max_ratio:g} (a compression bomb?)")
            members.append(_Member(rel, info.file_size, info))
        if len(problems) >= limits.max_listed:
            break
    if budget.bytes >= limits.ratio_floor_bytes and budget.bytes / archive_size > limits.max_ratio:
        problems.append(f"the archive expands {budget.bytes / archive_size:,.0f}-fold ({archive_size:,} -> "
                        f"{budget.bytes:,} bytes), over the limit of {limits.max_ratio:g} (a compression bomb?)")
    return members, problems


_TAR_KINDS = {b"1": "a hard link", b"2": "a symbolic link", b"3": "a device file", b"4": "a device file",
              b"6": "a fifo", b"S": "a sparse file"}


def _tar_kind(m: Entry) -> str:
    if m.sparse:
        return "a sparse file"
    return _TAR_KINDS.get(m.type, f"of tar type {m.type.decode('latin-1')!r}")


def _tar_members(reader: TarReader, path: Path, compressed: bool, limits: Limits,
                 budget: _Budget) -> tuple[list[_Member], list[str]]:
    """Header by header, stopping at the first limit, so a bomb is never decompressed past its headers."""
    problems: list[str] = []
    members: list[_Member] = []
    archive_size = max(path.stat().st_size, 1)
    for m in reader.entries():  # one header at a time; a member's data is skipped only on the next step
        budget.add_file()
        rel = _check_name(m.name, limits, problems)
        label = shown(m.name)
        if not m.isdir():
            budget.add_bytes(m.size)  # whatever the type: its bytes are decompressed to be skipped
        if m.isdir():
            pass
        elif not m.isfile() or m.sparse:
            problems.append(f"member {label} is {_tar_kind(m)} (only files and folders are accepted)")
        elif rel is not None:
            members.append(_Member(rel, m.size, m))
        if compressed and budget.bytes >= limits.ratio_floor_bytes and budget.bytes / archive_size > limits.max_ratio:
            problems.append(f"the archive expands more than {limits.max_ratio:g}-fold ({archive_size:,} bytes "
                            f"declare {budget.bytes:,} bytes so far; a compression bomb?)")
            break
        if len(problems) >= limits.max_listed:
            break
    return members, problems


def _conflicts(members: Iterable[_Member]) -> list[str]:
    """The same path twice, or a file that is also a folder of another member."""
    seen: set[str] = set()
    problems = []
    folders: set[str] = set()
    for m in members:
        if m.rel in seen:
            problems.append(f"member {shown(m.rel)} appears more than once in the archive")
        seen.add(m.rel)
        parts = m.rel.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    problems += [f"member {shown(r)} is both a file and a folder" for r in sorted(seen & folders)]
    return problems


# -- archives: extraction --------------------------------------------------------------------------
def _write_member(stream: IO[bytes], dest: Path, m: _Member, budget: _Budget) -> None:
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    written = 0
    with os.fdopen(fd, "wb") as out:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            written += len(chunk)
            if written > m.size:
                raise Rejected(f"member {shown(m.rel)} holds more bytes than the archive declares ({m.size:,})")
            budget.add_bytes(len(chunk))
            out.write(chunk)
    if written != m.size:
        raise Rejected(f"member {shown(m.rel)} is shorter than the archive declares ({written:,} of {m.size:,} bytes)")


def _target(out_root: Path, rel: str) -> Path:
    dest = out_root.joinpath(*rel.split("/"))
    # belt and braces: names were checked, and nothing in out_root is a link we did not make
    if os.path.commonpath([os.path.abspath(dest), os.path.abspath(out_root)]) != os.path.abspath(out_root):
        raise Rejected(f"member {shown(rel)} would land outside the extraction folder")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return dest


def extract_archive(path: Path, kind: str, out_root: Path, limits: Limits) -> Source:
    """Inspect, then stream-extract the wanted members of `path` into `out_root` (a private folder)."""
    src = Source(kind=kind, given=str(path), root=out_root)
    listed = _Budget(limits, f"archive {shown(path.name)}")
    reader = None
    try:
        if kind == "zip":
            members, problems = _zip_members(path, limits, listed)
        else:
            reader = TarReader(path, kind == "tar.gz", limits)
            members, problems = _tar_members(reader, path, kind == "tar.gz", limits, listed)
        problems += _conflicts(members)
        if problems:
            raise Rejected(problems[: limits.max_listed])
        out_root.mkdir(mode=0o700, exist_ok=False)
        written = _Budget(limits, f"archive {shown(path.name)}")
        if kind == "zip":
            with zipfile.ZipFile(path) as zf:
                for m in _wanted(members, src):
                    with zf.open(m.handle) as stream:
                        _write_member(stream, _target(out_root, m.rel), m, written)
                    src.files[m.rel] = m.size
        else:
            wanted = {id(m.handle): m for m in _wanted(members, src)}
            for entry, stream in reader.read_members([m.handle for m in wanted.values()]):
                m = wanted[id(entry)]
                _write_member(stream, _target(out_root, m.rel), m, written)
                src.files[m.rel] = m.size
    except Rejected as exc:
        label = f"archive {shown(path.name)}"
        raise Rejected([r if label in r or shown(path.name) in r else f"{label}: {r}" for r in exc.reasons]) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error) as exc:
        raise Rejected(f"{shown(path.name)} is not a readable {kind} archive: {shown(exc, 200)}") from None
    return src


def _wanted(members: list[_Member], src: Source) -> Iterable[_Member]:
    for m in members:
        if is_clutter(m.rel) or not is_wanted(m.rel):
            src.ignored.append(m.rel)
        else:
            yield m


def open_source(path: str | Path, work: Path, limits: Limits) -> Source:
    """The submission's files: the folder itself, or the archive extracted into `work`/files."""
    p = Path(path).expanduser()
    kind = input_kind(p)
    if kind == "folder":
        return scan_folder(p, limits)
    return extract_archive(p, kind, work / "files", limits)
