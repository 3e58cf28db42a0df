"""Where things live: one Paths object, resolved once from flags, then the environment, then defaults.

    paths = Paths.resolve(data="~/reid-data", db="out/a.duckdb")   # flags; the rest from env/defaults
    with use(paths):                                                # what the code below reads
        ...

`Paths.resolve` is the only place that reads the environment (AOSTBENCH_DATA,
AOSTBENCH_DB, AOSTBENCH_RUNS, AOSTBENCH_CACHE, AOSTBENCH_WEIGHTS,
AOSTBENCH_SUBMISSIONS, AOSTBENCH_SUBMISSIONS_STORE, TORCH_HOME). The CLI
resolves it once per command and installs it (`use`); the pipeline narrows it
to a run's own flags (`with_flags`). Code below reads `current()`, or the thin
wrappers kept for the callers that existed before (`data_root()`, `db_path()`,
`cache_root()`, `weights_dirs()`). Run artefacts and caches follow the DB: by
default `runs/` and `cache/` sit next to the DB file, wherever it is.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

ENV = {
    "data": "AOSTBENCH_DATA", "db": "AOSTBENCH_DB", "runs": "AOSTBENCH_RUNS", "cache": "AOSTBENCH_CACHE",
    "weights": "AOSTBENCH_WEIGHTS", "submissions": "AOSTBENCH_SUBMISSIONS",
    "submissions_store": "AOSTBENCH_SUBMISSIONS_STORE",
}
_FIELDS = tuple(ENV)


def _p(v: str | Path) -> Path:
    return Path(v).expanduser()


@dataclass(frozen=True)
class Paths:
    data: Path  # the datasets (and user_datasets.toml)
    db: Path  # the results DB file
    runs: Path  # run artefacts (runs/<id>/result.json, ...)
    cache: Path  # feature caches (VGG, FID statistics, style models, image hashes)
    weights: tuple[Path, ...]  # folders searched for pretrained weights, in order
    submissions: Path  # submissions' manifests
    submissions_store: Path  # submitted images, by content
    # what it was resolved from, so a narrower set of flags re-derives the rest the same way
    flags: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    env: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def resolve(cls, *, env: Mapping[str, str] | None = None, **flags: str | Path | None) -> "Paths":
        """Each folder from its flag, else its environment variable, else its default.

        Defaults: ./data, ./results/aostbench.duckdb; runs/ and cache/ next to the DB;
        weights: $AOSTBENCH_WEIGHTS then <TORCH_HOME or ~/.cache/torch>/hub/checkpoints;
        ./submissions; <data>/submissions-store."""
        unknown = set(flags) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown path flag(s) {', '.join(sorted(unknown))}; expected {', '.join(_FIELDS)}")
        src = dict(os.environ if env is None else env)
        env_used = {k: src[v] for k, v in ENV.items() if src.get(v)}
        if src.get("TORCH_HOME"):
            env_used["torch_home"] = src["TORCH_HOME"]
        given = {k: str(v) for k, v in flags.items() if v not in (None, "")}

        def pick(name: str) -> str | None:
            return given.get(name) or env_used.get(name)

        data = _p(pick("data") or "./data")
        db = _p(pick("db") or "./results/aostbench.duckdb")
        weights: list[Path] = [_p(pick("weights"))] if pick("weights") else []
        torch_home = _p(env_used.get("torch_home") or Path.home() / ".cache" / "torch")
        weights.append(torch_home / "hub" / "checkpoints")
        return cls(
            data=data, db=db,
            runs=_p(pick("runs")) if pick("runs") else db.parent / "runs",
            cache=_p(pick("cache")) if pick("cache") else db.parent / "cache",
            weights=tuple(weights),
            submissions=_p(pick("submissions") or "submissions").absolute(),
            submissions_store=(_p(pick("submissions_store")) if pick("submissions_store")
                               else data / "submissions-store").absolute(),
            flags=given, env=env_used,
        )

    def with_flags(self, **flags: str | Path | None) -> "Paths":
        """These flags on top of the ones this was resolved from (None leaves a flag as it was);
        derived folders (runs/, cache/ next to the DB) follow."""
        merged = {**self.flags, **{k: str(v) for k, v in flags.items() if v not in (None, "")}}
        env = {ENV[k]: v for k, v in self.env.items() if k in ENV}
        if "torch_home" in self.env:
            env["TORCH_HOME"] = self.env["torch_home"]
        return Paths.resolve(env=env, **merged)


_CURRENT: contextvars.ContextVar[Paths | None] = contextvars.ContextVar("aostbench_paths", default=None)


def current() -> Paths:
    """The Paths installed by the CLI (or a caller's `use`); without one, resolved from the environment."""
    return _CURRENT.get() or Paths.resolve()


@contextlib.contextmanager
def use(paths: Paths) -> Iterator[Paths]:
    """Make `paths` what current() returns inside the block."""
    token = _CURRENT.set(paths)
    try:
        yield paths
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """Whatever is installed inside the block (a command's narrowed Paths) is undone when it ends."""
    token = _CURRENT.set(_CURRENT.get())
    try:
        yield
    finally:
        _CURRENT.reset(token)


def install(paths: Paths):
    """Make `paths` current until `uninstall(token)` (the CLI: from a command's start to its end)."""
    return _CURRENT.set(paths)


def uninstall(token) -> None:
    _CURRENT.reset(token)


# -- thin wrappers kept for the callers written before Paths ------------------------------------
def data_root(explicit: str | Path | None = None) -> Path:
    return _p(explicit) if explicit else current().data


def db_path(explicit: str | Path | None = None) -> Path:
    return _p(explicit) if explicit else current().db


def cache_root() -> Path:
    """Feature caches (VGG, FID statistics) keyed by dataset fingerprint."""
    return current().cache


def weights_dirs() -> list[Path]:
    """Folders searched for pretrained weights, in order: AOSTBENCH_WEIGHTS, then the torch hub cache."""
    return list(current().weights)


def find_weights(filename: str) -> Path | None:
    for d in weights_dirs():
        p = d / filename
        if p.is_file():
            return p
    return None
