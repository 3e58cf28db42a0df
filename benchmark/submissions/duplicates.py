"""Duplicate images by content hash: within a submission, across earlier ones, against known datasets.

Known datasets are compared two ways, each "where present":
- the dataset fingerprint (benchmark.datasets.fingerprint) of every dataset
  the results DB has recorded, against the submission read the same way
  (catches a known dataset re-submitted file for file);
- image hash indexes `<index_dir>/<key>.sha256` (lines `sha256  relative/path`),
  written by `index_known_dataset` (`aostbench submissions index-known KEY`);
  the default folder is <cache_root>/image-hashes.
"""
from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmark.submissions.content_store import is_store_folder, store_hashes
from benchmark.submissions.images import ImageInfo
from benchmark.submissions.layouts import Item
from benchmark.submissions.names import shown

INDEX_SUFFIX = ".sha256"


def default_index_dir() -> Path:
    from benchmark.paths import cache_root

    return cache_root() / "image-hashes"


def within(items: list[Item], infos: dict[str, ImageInfo]) -> dict:
    """Groups of byte-identical images inside the submission, and those labelled with different ids."""
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        groups[infos[it.rel].sha256].append(it)
    dup = [g for g in groups.values() if len(g) > 1]
    conflicting = [g for g in dup if len({it.pid for it in g}) > 1]
    return {
        "groups": len(dup),
        "images": sum(len(g) - 1 for g in dup),
        "examples": [[it.rel for it in g[:3]] for g in dup[:5]],
        "conflicting_ids": len(conflicting),
        "conflicting_examples": [[f"{it.rel} (pid {it.pid})" for it in g[:3]] for g in conflicting[:5]],
    }


def against_submissions(hashes: set[str], rows: list[dict], digest: str | None = None) -> list[dict]:
    """Overlap with every accepted earlier submission whose store folder is on disk.

    `identical` marks one with exactly this content (the same store folder)."""
    out = []
    for r in rows:
        if r.get("status") != "accepted" or not r.get("path"):
            continue
        folder = Path(r["path"])
        if not is_store_folder(folder):
            continue
        shared = len(hashes & store_hashes(folder))
        if shared:
            out.append({"name": r["name"], "version": int(r["version"]), "images": shared,
                        "identical": digest is not None and folder.name == digest})
    return out


def read_index(path: Path) -> set[str]:
    out = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            h = line[:64]
            if len(h) == 64:
                out.add(h)
    return out


def against_known(hashes: set[str], index_dir: Path | None) -> list[dict]:
    """Overlap with every known dataset whose image hash index is present."""
    folder = index_dir or default_index_dir()
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob(f"*{INDEX_SUFFIX}")):
        key = p.name[: -len(INDEX_SUFFIX)]
        shared = len(hashes & read_index(p))
        if shared:
            out.append({"dataset": key, "kind": _kind(key), "images": shared})
    return out


def _kind(key: str) -> str:
    from benchmark.names import builtin_kind

    return builtin_kind(key) or "user"  # an index file not of a built-in dataset: one of yours (data add)


def known_fingerprints(db_path: str | Path | None) -> dict[str, str]:
    """fingerprint -> dataset key, for the datasets the results DB records (empty without a DB)."""
    from benchmark.store import StoreEmpty, connect_read

    try:
        with connect_read(db_path) as con:
            rows = con.execute("SELECT key, fingerprint FROM datasets WHERE fingerprint IS NOT NULL").fetchall()
    except StoreEmpty:
        return {}
    return {fp: key for key, fp in rows}


def _sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_known_dataset(name: str, data_root: str | Path | None = None, index_dir: str | Path | None = None) -> Path:
    """Hash every image of a known dataset into `<index_dir>/<key>.sha256`; returns the file."""
    from benchmark.datasets import load_dataset

    ds = load_dataset(name, data_root)
    recs = [r for s in ("train", "query", "gallery") for r in ds.split(s)]
    folder = Path(index_dir) if index_dir else default_index_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        hashes = list(pool.map(_sha, [r.path for r in recs]))
    target = folder / f"{ds.key}{INDEX_SUFFIX}"
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for h, r in zip(hashes, recs):
            rel = os.path.relpath(r.path, ds.root).replace(os.sep, "/")
            f.write(f"{h}  {rel}\n")
    os.replace(tmp, target)
    return target


def describe_submissions(overlaps: list[dict]) -> str:
    return ", ".join(f"{shown(o['name'])} v{o['version']} ({o['images']})" for o in overlaps)
