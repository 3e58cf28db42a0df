"""The procedural twins' own spec file, `twin.toml`, as the loaders see it.

The engine (benchmark.synth) writes it next to the data. Loaders attach the
parsed dict to Dataset.meta["twin"] (it holds the TRUE attribute prior) and the
check compares the images on disk with its counts. labels.csv, the per-image
ground truth, is never read here: no stage may see a target's labels.
"""
from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from benchmark.datasets.records import DataError

TWIN_FILE = "twin.toml"
SPLITS = ("train", "query", "gallery")


def read_twin(base: Path, key: str) -> dict:
    """The parsed twin.toml of a twin's base folder; DataError when absent or unreadable."""
    path = base / TWIN_FILE
    if not path.is_file():
        raise DataError(
            f"missing {path}: every procedural twin carries its spec there. "
            f"Regenerate it: aostbench data make {key} --data-root {base.parent} --overwrite"
        )
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse {path} as TOML: {exc}") from None


def _int(v) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def expected_counts(twin: dict) -> dict[str, dict[str, int]]:
    """split -> {"images": n, "ids": m, "cameras": k} as far as twin.toml states them.

    Accepts `[counts]` with `train = N`, `train = {images = N, ids = M}` or
    `train_images = N` / `train_ids = M` (the engine's own schema decides; all
    three say the same thing).
    """
    counts = twin.get("counts")
    if not isinstance(counts, dict):
        return {}
    out: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        entry: dict[str, int] = {}
        v = counts.get(split)
        if _int(v) is not None:
            entry["images"] = _int(v)
        elif isinstance(v, dict):
            for field in ("images", "ids", "cameras"):
                if _int(v.get(field)) is not None:
                    entry[field] = _int(v.get(field))
        for field in ("images", "ids"):
            if _int(counts.get(f"{split}_{field}")) is not None:
                entry[field] = _int(counts.get(f"{split}_{field}"))
        if entry:
            out[split] = entry
    return out
