"""A dataset's fingerprint: a cheap, stable key for caches (features, FID statistics)."""
from __future__ import annotations

import hashlib
import os

from benchmark.datasets.records import DataError, Dataset


def fingerprint(dataset: Dataset) -> str:
    """16 hex digits hashing each split's (relative path, file size, pid, camid); no image is decoded.

    Paths are taken relative to dataset.root, so the same files under another
    data root give the same fingerprint; any renamed, resized, added or
    removed file, or changed label, gives a different one.
    """
    h = hashlib.sha256()
    root = str(dataset.root)
    for split in ("train", "query", "gallery"):
        h.update(f"[{split}]\n".encode())
        for r in sorted(dataset.split(split), key=lambda r: r.path):
            try:
                size = os.stat(r.path).st_size
            except OSError as exc:
                raise DataError(f"cannot fingerprint {dataset.key}: {r.path} is unreadable ({exc.strerror})") from None
            rel = os.path.relpath(r.path, root).replace(os.sep, "/")
            h.update(f"{rel}\t{size}\t{r.pid}\t{r.camid}\n".encode())
    return h.hexdigest()[:16]
