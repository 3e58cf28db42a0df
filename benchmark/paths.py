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
