"""A bounded tar reader: headers parsed here, under our limits, never by Python's `tarfile`.

Why not tarfile: it reads a PAX or GNU long-name header whole into memory
whatever its declared size (a 300 MiB header costs 800 MB), and Python 3.11.7's
PAX record regex is quadratic in the header's length (CVE-2024-6232: a 389-byte
.tar.gz with a 200,000-digit record costs a minute of CPU). Here every
extended header (PAX `x`/`g`, GNU `L`/`K`) is refused above
Limits.max_header_bytes before a byte of it is read, the extended headers of
one archive are counted against Limits.max_header_total, at most
_MAX_CHAIN of them may precede one member, and PAX records are parsed in one
linear pass with a bounded length field.

The reader walks a stream (plain or gzip) from the start; `entries()` yields
each member's header with the offset of its data, `read_member()` streams one
member's bytes on a second walk, in offset order.
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from benchmark.submissions.errors import Rejected
from benchmark.submissions.limits import Limits
from benchmark.submissions.names import shown

BLOCK = 512
_EXTENDED = {b"x": "PAX", b"g": "PAX global", b"L": "GNU long name", b"K": "GNU long link name"}
_MAX_CHAIN = 8  # extended headers before one member (tar writers use at most 3: x, L, K)
_MAX_SIZE_DIGITS = 20  # a PAX `size` beyond 10**20 bytes is not a size


@dataclass
class Entry:
    name: str  # the member's path as stored (UTF-8; undecodable bytes as surrogates)
    type: bytes  # the tar type flag: b"0"/b"\0" file, b"5" folder, b"1" hard link, b"2" symlink, ...
    size: int  # bytes of data
    offset: int  # where its data starts in the (decompressed) stream
    linkname: str = ""
    sparse: bool = False

    def isdir(self) -> bool:
        return self.type == b"5"

    def isfile(self) -> bool:
        return self.type in (b"0", b"\0")


class _Stream:
    """A forward-only stream of the archive's (decompressed) bytes that knows its offset."""

    def __init__(self, path: Path, gz: bool):
        self.f: IO[bytes] = gzip.open(path, "rb") if gz else open(path, "rb")
        self.offset = 0

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        self.offset += len(data)
        return data

    def exact(self, n: int, what: str) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise Rejected(f"the archive ends inside {what} (truncated at byte {self.offset:,})")
        return data

    def skip_to(self, offset: int) -> None:
        while self.offset < offset:
            if not self.read(min(1 << 20, offset - self.offset)):
                raise Rejected(f"the archive ends early (truncated at byte {self.offset:,})")

    def close(self) -> None:
        self.f.close()


def _octal(field: bytes, what: str, at: int) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for big numbers
        value = int.from_bytes(field[1:], "big")
        return -value if field[0] & 0x40 else value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise Rejected(f"not a readable tar archive: a broken header at byte {at:,} ({what} is not a number)") from None


def _checksum_ok(block: bytes, at: int) -> bool:
    stored = _octal(block[148:156], "the checksum", at)
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = unsigned - 2 * sum(b for b in block[:148] + block[156:] if b > 127)
    return stored in (unsigned, signed)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def parse_pax(data: bytes, where: str) -> dict[str, str]:
    """PAX records `LEN KEY=VALUE\\n`, in one pass; Rejected for anything malformed."""
    out: dict[str, str] = {}
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] == 0:  # some writers pad with NULs
            break
        space = data.find(b" ", pos, pos + _MAX_SIZE_DIGITS + 1)
        digits = data[pos:space] if space > pos else b""
        if not digits.isdigit():
            raise Rejected(f"{where}: a malformed record at byte {pos:,} (expected LENGTH KEY=VALUE)")
        length = int(digits)
        if length < len(digits) + 4 or pos + length > end or data[pos + length - 1] != 0x0A:
            raise Rejected(f"{where}: a malformed record at byte {pos:,} (its length does not fit)")
        record = data[space + 1:pos + length - 1]
        eq = record.find(b"=")
        if eq <= 0:
            raise Rejected(f"{where}: a record without KEY= at byte {pos:,}")
        out[record[:eq].decode("utf-8", "surrogateescape")] = record[eq + 1:].decode("utf-8", "surrogateescape")
        pos += length
    return out


class TarReader:
    """Walks one tar (or tar.gz) archive under `limits`; see the module docstring."""

    def __init__(self, path: Path, gz: bool, limits: Limits):
        self.path, self.gz, self.limits = path, gz, limits
        self.header_bytes = 0  # extended header bytes so far (all members)

    def entries(self) -> Iterator[Entry]:
        s = _Stream(self.path, self.gz)
        try:
            yield from self._walk(s)
        finally:
            s.close()

    def _extended(self, s: _Stream, kind: bytes, size: int, at: int) -> bytes:
        what = f"the {_EXTENDED[kind]} header at byte {at:,}"
        lim = self.limits
        if size > lim.max_header_bytes:
            raise Rejected(f"{what} declares {size:,} bytes, over the limit of {lim.max_header_bytes:,} "
                           "per header (a header bomb?)")
        self.header_bytes += size
        if self.header_bytes > lim.max_header_total:
            raise Rejected(f"the archive's extended headers exceed {lim.max_header_total:,} bytes in all "
                           "(the limit; a header bomb?)")
        data = s.exact(size, what)
        s.exact(-size % BLOCK, what)
        return data

    def _walk(self, s: _Stream) -> Iterator[Entry]:
        pax: dict[str, str] = {}
        long_name = long_link = None
        chain = 0
        while True:
            at = s.offset
            block = s.read(BLOCK)
            if not block or block == bytes(BLOCK):
                return  # the end-of-archive marker (or a clean end of the stream)
            if len(block) < BLOCK:
                raise Rejected(f"the archive ends inside a header (truncated at byte {s.offset:,})")
            if not _checksum_ok(block, at):
                raise Rejected(f"not a readable tar archive: the header at byte {at:,} has a wrong checksum")
            kind = block[156:157]
            size = _octal(block[124:136], "the size", at)
            if size < 0:
                raise Rejected(f"the header at byte {at:,} declares a negative size")
            if kind in _EXTENDED:
                chain += 1
                if chain > _MAX_CHAIN:
                    raise Rejected(f"more than {_MAX_CHAIN} extended headers in a row at byte {at:,} "
                                   "(a header bomb?)")
                data = self._extended(s, kind, size, at)
                if kind == b"x":
                    pax.update(parse_pax(data, f"the PAX header at byte {at:,}"))
                elif kind == b"g":
                    parse_pax(data, f"the PAX global header at byte {at:,}")  # checked, not applied
                elif kind == b"L":
                    long_name = _text(data)
                else:
                    long_link = _text(data)
                continue
            chain = 0
            name = _text(block[0:100])
            if block[257:263] == b"ustar\0" and block[345:500].strip(b"\0"):
                name = _text(block[345:500]) + "/" + name
            linkname = _text(block[157:257])
            name = pax.get("path", long_name if long_name is not None else name)
            linkname = pax.get("linkpath", long_link if long_link is not None else linkname)
            if "size" in pax:
                raw = pax["size"]
                if not raw.isdigit() or len(raw) > _MAX_SIZE_DIGITS:
                    raise Rejected(f"member {shown(name)}: the PAX size {shown(raw, 40)} is not a byte count")
                size = int(raw)
            sparse = kind == b"S" or any(k.startswith("GNU.sparse.") for k in pax)
            entry = Entry(name, kind, size if kind not in (b"1", b"2", b"3", b"4", b"5", b"6") else 0,
                          s.offset, linkname, sparse)
            pax, long_name, long_link = {}, None, None
            yield entry
            s.skip_to(entry.offset + entry.size + (-entry.size % BLOCK))

    def read_members(self, wanted: list[Entry]) -> Iterator[tuple[Entry, "_Slice"]]:
        """(entry, a reader of exactly its bytes) for each wanted entry, in offset order, on one walk."""
        s = _Stream(self.path, self.gz)
        try:
            for e in sorted(wanted, key=lambda e: e.offset):
                s.skip_to(e.offset)
                yield e, _Slice(s, e.size)
        finally:
            s.close()


class _Slice:
    """At most `size` bytes of the stream (what a member holds)."""

    def __init__(self, s: _Stream, size: int):
        self.s, self.left = s, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = self.s.read(n) if n else b""
        self.left -= len(data)
        return data
