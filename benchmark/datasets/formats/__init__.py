"""One module per on-disk format. Each exposes `FORMAT`, a `formats.base.Format`.

Every loader keeps the dataset's raw person ids in `Record.pid` (train ids are
NOT relabelled to 0..N-1 here: the trainer does that, `benchmark.reid.data.relabel`,
so one record means the same person in every stage and in the store). camids
are 0-based like torchreid's.
"""
from __future__ import annotations

import importlib

from benchmark.datasets.formats.base import Format

_MODULES = {
    "market1501": "market",
    "dukemtmc": "market",
    "personx": "market",
    "cuhk03": "cuhk03",
    "msmt17": "msmt17",
    "finegpr": "finegpr",
    "randperson": "randperson",
    "unreal": "unreal",
    "somaset": "somaset",
    "syri": "syri",
    "images": "images",  # unlabeled image folders (user targets)
}


def format_names() -> list[str]:
    """Every on-disk format a loader reads (a real dataset's key, or `images`)."""
    return list(_MODULES)


def get_format(name: str) -> Format:
    """The format reader registered under `name` (a real dataset key, or `images`)."""
    mod = importlib.import_module(f"benchmark.datasets.formats.{_MODULES[name]}")
    return mod.FORMATS[name]
