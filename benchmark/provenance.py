"""What a run records about where it came from: code version, libraries, device."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

_LIBRARIES = ("aostbench", "torch", "torchvision", "torchreid", "numpy", "xgboost-cpu", "pyswarms",
              "pytorch-fid", "duckdb", "scipy", "pillow")


def code_version() -> tuple[str | None, bool | None]:
    """(git commit, dirty) of the checkout this package runs from; (None, None) outside git."""
    here = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_name(device: str, threads: int | None = None) -> str:
    """The device in words; `threads` is what the work ran with (default: this process's now)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        return f"cuda:{torch.cuda.get_device_name(index)}"
    return f"cpu:{platform.processor() or platform.machine()} x{threads or torch.get_num_threads()} threads"
