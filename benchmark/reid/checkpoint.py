"""Checkpoints: atomic writes, RNG capture/restore, and loading with weights_only=True.

Everything a checkpoint holds is stored as tensors and plain Python values so
it loads with `torch.load(..., weights_only=True)`: numpy's RNG keys become a
tensor and MultiStepLR's milestone Counter a dict (both turned back on load).
"""
from __future__ import annotations

import os
import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pth"
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then os.replace: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def capture_rng() -> dict[str, Any]:
    """The state of every global RNG a training step may touch (torch, CUDA, numpy, python)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": _py_state_to_plain(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _py_state_to_plain(st: tuple) -> list:
    version, internal, gauss = st
    return [version, list(internal), gauss]


def scheduler_state(scheduler) -> dict[str, Any]:
    state = dict(scheduler.state_dict())
    if isinstance(state.get("milestones"), Counter):
        state["milestones"] = dict(state["milestones"])
    return state


def load_scheduler_state(scheduler, state: dict[str, Any]) -> None:
    state = dict(state)
    if isinstance(state.get("milestones"), dict):
        state["milestones"] = Counter(state["milestones"])  # MultiStepLR indexes it like a Counter
    scheduler.load_state_dict(state)


def save_checkpoint(
    path: str | Path,
    *,
    model_state: dict[str, torch.Tensor],
    optimizer,
    scheduler,
    scaler,
    epoch: int,
    meta: dict[str, Any],
) -> None:
    """Write the state after `epoch` completed epochs (model, optimizer, scheduler, scaler, RNGs, meta)."""
    atomic_save(
        {
            "format": FORMAT_VERSION,
            "epoch": epoch,
            "model": {k: v.detach().cpu() for k, v in model_state.items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler_state(scheduler),
            "scaler": scaler.state_dict(),
            "rng": capture_rng(),
            "meta": meta,
        },
        path,
    )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (weights_only); a clear error if it is not one of ours."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} is not an aostbench training checkpoint (format {FORMAT_VERSION})")
    return blob
