"""Images with more than one picture, or more than a picture (issue 15 items 11, 14): one rule each.

- More than one picture (MPO, APNG; GIF/TIFF/WebP are not accepted formats at all): rejected, one line.
- Bytes after the picture's own end (PNG: IEND, JPEG: EOI): rejected the same way for both formats.
Good images of every common encoder shape (progressive, restart markers, EXIF/ICC, ancillary
chunks, one-frame APNG-capable encoders) stay accepted.
"""
from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.submissions import Limits
from benchmark.submissions.images import check_image, pil_limits

LIMITS = Limits()


def picture(seed: int, size=(16, 32)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def encoded(fmt: str, frames: int = 1, **kw) -> bytes:
    buf = io.BytesIO()
    ims = [picture(k) for k in range(frames)]
    if frames > 1:
        kw.update(save_all=True, append_images=ims[1:])
    ims[0].save(buf, fmt, **kw)
    return buf.getvalue()


def check(tmp_path: Path, name: str, data: bytes):
    (tmp_path / name).write_bytes(data)
    with pil_limits(LIMITS):
        return check_image(tmp_path, name, LIMITS)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


MULTI = {
    "mpo-2": ("a.jpg", lambda: encoded("MPO", 2), "holds 2 pictures"),
    "mpo-3": ("a.jpeg", lambda: encoded("MPO", 3), "holds 3 pictures"),
    "apng-2": ("a.png", lambda: encoded("PNG", 2), "holds 2 pictures"),
    "apng-5-named-jpg": ("a.jpg", lambda: encoded("PNG", 5), "holds 5 pictures"),
    "gif-animated": ("a.png", lambda: encoded("GIF", 3), "not a JPEG or PNG image"),
    "webp-animated": ("a.jpg", lambda: encoded("WEBP", 3), "not a JPEG or PNG image"),
    "tiff-multipage": ("a.png", lambda: encoded("TIFF", 3), "not a JPEG or PNG image"),
}


@pytest.mark.parametrize("case", sorted(MULTI))
def test_more_than_one_picture_is_a_one_line_rejection(tmp_path, case):
    name, build, expected = MULTI[case]
    info = check(tmp_path, name, build())
    assert info.error and expected in info.error and "\n" not in info.error, info


TRAILING = {
    "jpeg+html": ("a.jpg", lambda: encoded("JPEG") + b"<html><script>alert(1)</script></html>"),
    "jpeg+zip": ("a.jpg", lambda: encoded("JPEG") + b"PK\x03\x04" + b"\0" * 100),
    "jpeg+zeros": ("a.jpg", lambda: encoded("JPEG") + b"\0" * 16),
    "jpeg+second-jpeg": ("a.jpg", lambda: encoded("JPEG") + encoded("JPEG")),
    "progressive-jpeg+bytes": ("a.jpg", lambda: encoded("JPEG", progressive=True) + b"x"),
    "png+bytes": ("a.png", lambda: encoded("PNG") + b"trailing"),
    "png+html": ("a.png", lambda: encoded("PNG") + b"<html></html>"),
    "png+chunk-after-iend": ("a.png", lambda: encoded("PNG") + _png_chunk(b"tEXt", b"k\0v")),
}


@pytest.mark.parametrize("case", sorted(TRAILING))
def test_bytes_after_the_picture_are_rejected_in_both_formats(tmp_path, case):
    name, build = TRAILING[case]
    info = check(tmp_path, name, build())
    assert info.error and "after the end of the" in info.error and "trailing data" in info.error, info


GOOD = {
    "jpeg": ("a.jpg", lambda: encoded("JPEG")),
    "jpeg-progressive": ("a.jpg", lambda: encoded("JPEG", progressive=True)),
    "jpeg-optimized-q5": ("a.jpg", lambda: encoded("JPEG", optimize=True, quality=5)),
    "jpeg-exif-icc": ("a.jpg", lambda: encoded("JPEG", exif=b"Exif\0\0" + b"\0" * 32, icc_profile=b"\0" * 400)),
    "jpeg-restart-markers": ("a.jpg", lambda: encoded("JPEG", restart_marker_blocks=1)),
    "jpeg-subsampling-444": ("a.jpg", lambda: encoded("JPEG", subsampling=0)),
    "mpo-one-picture": ("a.jpg", lambda: encoded("MPO")),
    "png": ("a.png", lambda: encoded("PNG")),
    "png-optimized": ("a.png", lambda: encoded("PNG", optimize=True)),
    "png-one-frame-save-all": ("a.png", lambda: encoded("PNG", save_all=True)),
}


@pytest.mark.parametrize("case", sorted(GOOD))
def test_ordinary_images_stay_accepted(tmp_path, case):
    name, build = GOOD[case]
    info = check(tmp_path, name, build())
    assert info.error is None, info.error
    assert info.format in ("JPEG", "PNG")


def test_truncated_images_are_still_called_truncated(tmp_path):
    png, jpg = encoded("PNG"), encoded("JPEG")
    assert "IEND" in check(tmp_path, "a.png", png[:-12]).error
    err = check(tmp_path, "b.jpg", jpg[:-2]).error  # everything but the EOI marker
    assert err and ("EOI" in err or "decode" in err)
