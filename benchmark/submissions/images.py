"""Every image of a submission is read once: hashed, decoded completely, measured.

Accepted formats: JPEG (.jpg, .jpeg) and PNG (.png), judged by content, not by
extension. Rejected, with the file named: empty files, files over the size
limit, anything PIL cannot open as JPEG/PNG, images declaring more pixels than
the limit (a decompression bomb is refused from its header, before decoding),
images that do not decode completely (truncated or corrupt), files holding more
than one picture (multi-picture JPEG/MPO, animated PNG), and, one rule for both
formats, files that do not end exactly where the picture ends (PNG: after the
IEND chunk; JPEG: after the EOI marker): bytes after the picture (an HTML page,
an archive) make the file something other than an image.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageFile

from benchmark.submissions.limits import ACCEPTED_FORMATS, Limits



@dataclass(frozen=True)
class ImageInfo:
    rel: str
    sha256: str = ""
    bytes: int = 0
    width: int = 0
    height: int = 0
    format: str = ""
    error: str | None = None  # why the image is rejected
    warning: str | None = None  # accepted, but worth saying (extension does not match content)


@contextmanager
def pil_limits(limits: Limits) -> Iterator[None]:
    """PIL's own guards set explicitly for the checks, and put back afterwards.

    MAX_IMAGE_PIXELS becomes our limit (PIL warns above it and raises above twice
    it); the warning is turned into an error; truncated images must not load.
    """
    saved = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def read_file(path: Path, max_bytes: int) -> bytes:
    """A file's bytes, never through a link, at most max_bytes (+1 to tell it is longer)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        return f.read(max_bytes + 1)


def check_image(root: Path, rel: str, limits: Limits) -> ImageInfo:
    """One image's hash, size and format, or the reason it is rejected (call inside pil_limits)."""
    try:
        data = read_file(root / rel, limits.max_file_bytes)
    except OSError as exc:
        return ImageInfo(rel, error=f"cannot read the file: {exc.strerror or exc}")
    if not data:
        return ImageInfo(rel, error="empty file (0 bytes)")
    if len(data) > limits.max_file_bytes:
        return ImageInfo(rel, error=f"larger than the limit of {limits.max_file_bytes:,} bytes per image")
    sha = hashlib.sha256(data).hexdigest()
    accepted = ", ".join(ext.lstrip(".") for exts in ACCEPTED_FORMATS.values() for ext in exts)
    try:
        with Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS)) as im:
            fmt, (w, h) = im.format, im.size
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                return ImageInfo(rel, sha, len(data), error=(
                    f"holds {frames} pictures (a multi-picture or animated {fmt}); one picture per file is accepted"))
            fmt = "JPEG" if fmt == "MPO" else fmt  # a one-picture MPO is a JPEG
            if fmt not in ACCEPTED_FORMATS:
                return ImageInfo(rel, sha, len(data), error=f"a {fmt} image; accepted formats: {accepted}")
            if w < 1 or h < 1:
                return ImageInfo(rel, sha, len(data), error=f"declares an empty image ({w}x{h})")
            if w * h > limits.max_pixels:
                return ImageInfo(rel, sha, len(data), error=(
                    f"declares {w}x{h} = {w * h:,} pixels, over the limit of {limits.max_pixels:,} "
                    "(a decompression bomb?)"))
            im.load()  # the full decode: truncation and corruption show here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return ImageInfo(rel, sha, len(data), error=(
            f"declares more pixels than the limit of {limits.max_pixels:,} (a decompression bomb?): {exc}"))
    except Image.UnidentifiedImageError:
        return ImageInfo(rel, sha, len(data), error=f"not a JPEG or PNG image (accepted formats: {accepted})")
    except Exception as exc:  # noqa: BLE001 - any decoder failure rejects the image
        return ImageInfo(rel, sha, len(data), error=f"does not decode completely (truncated or corrupt): {exc}")
    end = picture_end(data, fmt)
    if end is None:
        marker = "an IEND chunk" if fmt == "PNG" else "an EOI marker"
        return ImageInfo(rel, sha, len(data), error=f"truncated {fmt} (it does not end with {marker})")
    if end < len(data):
        return ImageInfo(rel, sha, len(data), error=(
            f"{len(data) - end:,} byte(s) after the end of the {fmt} picture (trailing data is not accepted: "
            "a file must hold the picture and nothing else)"))
    warning = None
    if not rel.lower().endswith(ACCEPTED_FORMATS[fmt]):
        warning = f"{os.path.splitext(rel)[1] or 'no extension'} file holds a {fmt} image"
    return ImageInfo(rel, sha, len(data), w, h, fmt, warning=warning)


def picture_end(data: bytes, fmt: str) -> int | None:
    """Where the picture's own structure says the file ends (None when it never ends: truncated)."""
    return _png_end(data) if fmt == "PNG" else _jpeg_end(data)


def _png_end(data: bytes) -> int | None:
    pos = 8  # the signature
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos if pos <= len(data) else None
    return None


def _jpeg_end(data: bytes) -> int | None:
    """After the EOI marker that closes the frame: segments by their lengths, scans up to the next marker."""
    n, pos = len(data), 2  # after SOI
    while pos < n:
        if data[pos] != 0xFF:
            return None
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return pos
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            continue
        if pos + 2 > n:
            return None
        pos += int.from_bytes(data[pos:pos + 2], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return None
                nxt = data[pos + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                    pos += 1 if nxt == 0xFF else 2
                    continue
                break
    return None


def check_images(root: Path, rels: list[str], limits: Limits, workers: int | None = None) -> dict[str, ImageInfo]:
    """check_image over many files in a few threads (decoding and hashing release the GIL)."""
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    with pil_limits(limits), ThreadPoolExecutor(max_workers=workers) as pool:
        infos = pool.map(lambda r: check_image(root, r, limits), rels, chunksize=32)
        return {i.rel: i for i in infos}


def extension_for(fmt: str) -> str:
    """The file extension the store gives an image of this format."""
    return ACCEPTED_FORMATS[fmt][0]
