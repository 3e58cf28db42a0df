"""Read-only directory scanning shared by the format loaders.

Only two kinds of files are skipped without complaint (and listed in the check
report): system clutter (Thumbs.db, .DS_Store, AppleDouble `._*` files, other
hidden files) and files that are not images at all (readme.txt, .mat, ...).
Every image file must match its format's name pattern.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

from benchmark.datasets.issues import Issues

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
SYSTEM_FILES = frozenset({"thumbs.db", ".ds_store", "desktop.ini", "__macosx"})


def is_system_file(name: str) -> bool:
    return name.lower() in SYSTEM_FILES or name.startswith(".")


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def entries(folder: Path) -> list[os.DirEntry]:
    """Directory entries sorted by name (deterministic record order)."""
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)


def image_files(folder: Path, issues: Issues) -> Iterator[os.DirEntry]:
    """Image files directly inside `folder`, sorted; other entries are noted as ignored."""
    for e in entries(folder):
        if is_system_file(e.name):
            issues.ignore(e.path, "system file")
        elif e.is_dir():
            issues.ignore(e.path, "unexpected folder, not read")
        elif not is_image_name(e.name):
            issues.ignore(e.path, "not an image file")
        else:
            yield e


def subfolders(folder: Path, issues: Issues) -> Iterator[os.DirEntry]:
    """Folders directly inside `folder`, sorted; files there are noted as ignored unless they are images."""
    for e in entries(folder):
        if is_system_file(e.name):
            issues.ignore(e.path, "system file")
        elif e.is_dir():
            yield e
        elif is_image_name(e.name):
            issues.error(f"unexpected image {e.path}: this level holds only folders")
        else:
            issues.ignore(e.path, "not an image file")


def require_dir(path: Path, issues: Issues, expected: str) -> bool:
    """True when `path` is a folder; otherwise an error naming it and the expected layout."""
    if path.is_dir():
        return True
    issues.error(f"missing folder {path} (expected layout: {expected})")
    return False


def bad_name(path: str, pattern: str) -> str:
    return f"bad file name {path}: expected {pattern}"


class NamePattern:
    """A compiled file-name regex plus the human-readable form used in error messages."""

    def __init__(self, regex: str, text: str):
        self.regex = re.compile(regex)
        self.text = text

    def match(self, name: str) -> re.Match | None:
        return self.regex.match(name)
