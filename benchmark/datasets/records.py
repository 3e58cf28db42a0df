"""The records every loader yields and every stage consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class Record:
    """One image: where it is, who it shows, which camera took it.

    `attrs` maps FineGPR attribute names (benchmark.attributes) to 1-based codes
    where the dataset knows them (FineGPR, the sim- twins, submissions), else None.
    """

    path: str
    pid: int
    camid: int
    attrs: Mapping[str, int] | None = None


@dataclass
class Dataset:
    """A loaded dataset: splits of records plus what is known about it."""

    key: str  # canonical registry key, e.g. "market1501", "sim-finegpr"
    kind: str  # "real" | "synthetic" | "procedural" | "submission"
    root: Path  # the folder the loader read
    train: list[Record] = field(default_factory=list)
    query: list[Record] = field(default_factory=list)
    gallery: list[Record] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # e.g. the twin's true prior, id attribute table

    @property
    def num_train_pids(self) -> int:
        return len({r.pid for r in self.train})

    def split(self, name: str) -> list[Record]:
        if name not in ("train", "query", "gallery"):
            raise ValueError(f"unknown split {name!r}; expected train, query or gallery")
        return getattr(self, name)

    @property
    def has_attributes(self) -> bool:
        return bool(self.train) and all(r.attrs for r in self.train[:50])

    def summary(self) -> dict:
        out = {"key": self.key, "kind": self.kind, "root": str(self.root)}
        for s in ("train", "query", "gallery"):
            recs = self.split(s)
            out[s] = {"images": len(recs), "ids": len({r.pid for r in recs}), "cameras": len({r.camid for r in recs})}
        return out


class DataError(Exception):
    """Bad or missing data, with a message that names the file and what was expected."""


class DatasetMissing(DataError):
    """The dataset's files are not where they are expected; the message says where to get them."""


def as_path(p: str | Path) -> Path:
    return Path(p).expanduser()
