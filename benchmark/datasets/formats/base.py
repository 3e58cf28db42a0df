"""What a format reader is and what it returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable, Iterable

from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record


@dataclass
class LoadOptions:
    variant: str | None = None  # cuhk03: "detected" (default) or "labeled"
    materialize: bool = True  # False: do not extract anything (cuhk03 .mat), just describe


@dataclass
class Loaded:
    root: Path  # the folder the records were read from
    train: list[Record] = field(default_factory=list)
    query: list[Record] = field(default_factory=list)
    gallery: list[Record] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    # splits this format must fill; an empty one is an error
    required: tuple[str, ...] = ("train",)
    # deep check of images that do not live as files (cuhk03 .mat): () -> (decoded, error messages)
    embedded_check: Callable[[], tuple[int, list[str]]] | None = None


@dataclass(frozen=True)
class Format:
    name: str
    layout: str  # the expected layout relative to the base folder, for messages
    locate: Callable[[Path], Path | None]  # the dataset folder under base, or None when absent
    load: Callable[[Path, Issues, LoadOptions], Loaded]


def dense_index(keys: Iterable[Hashable]) -> dict:
    """Map sorted distinct keys to 0..n-1 (deterministic camera numbering for composite cameras)."""
    return {k: i for i, k in enumerate(sorted(set(keys)))}


def first_dir(*candidates: Path) -> Path | None:
    for c in candidates:
        if c.is_dir():
            return c
    return None
