"""Where things live by default: data, results DB, runs, weights. Env vars override."""
from __future__ import annotations

import os
from pathlib import Path


def data_root(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("AOSTBENCH_DATA") or "./data").expanduser()


def db_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or os.environ.get("AOSTBENCH_DB") or "./results/aostbench.duckdb").expanduser()


def cache_root() -> Path:
    """Feature caches (VGG, FID statistics) keyed by dataset fingerprint."""
    return Path(os.environ.get("AOSTBENCH_CACHE") or "./results/cache").expanduser()


def weights_dirs() -> list[Path]:
    """Folders searched for pretrained weights, in order: AOSTBENCH_WEIGHTS, then the torch hub cache."""
    dirs: list[Path] = []
    if os.environ.get("AOSTBENCH_WEIGHTS"):
        dirs.append(Path(os.environ["AOSTBENCH_WEIGHTS"]).expanduser())
    torch_home = Path(os.environ.get("TORCH_HOME") or Path.home() / ".cache" / "torch").expanduser()
    dirs.append(torch_home / "hub" / "checkpoints")
    return dirs


def find_weights(filename: str) -> Path | None:
    for d in weights_dirs():
        p = d / filename
        if p.is_file():
            return p
    return None


class MissingWeights(Exception):
    """A profile needs a weights file that is not on disk. Never downloaded at run time."""

    def __init__(self, filename: str, purpose: str, source: str):
        where = " or ".join(str(d) for d in weights_dirs())
        super().__init__(
            f"missing weights file {filename!r} ({purpose}).\n"
            f"  Put it in: {where}\n  (set AOSTBENCH_WEIGHTS=DIR to use another folder)\n"
            f"  It comes from: {source}\n"
            f"  Nothing is downloaded at run time; or use --profile cpu, which needs no weights."
        )
        self.filename = filename


def require_weights(filename: str, purpose: str, source: str) -> Path:
    p = find_weights(filename)
    if p is None:
        raise MissingWeights(filename, purpose, source)
    return p
