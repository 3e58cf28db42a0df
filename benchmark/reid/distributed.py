"""torchrun / DistributedDataParallel helpers.

One entry point serves one process and many: code asks `world_size()` and
`rank()` and works the same when torch.distributed is not initialised (world
size 1, rank 0). `init_from_env()` joins the process group that `torchrun`
describes in its environment (gloo on CPU, nccl on CUDA);
`launch_torchrun()` starts such a group from Python (`aostbench run --nproc N`).
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    backend: str | None  # None when running as a single plain process


def env_world_size() -> int:
    """WORLD_SIZE as torchrun sets it (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True on the one process that writes checkpoints, results and progress bars."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def backend_for(device: str | torch.device) -> str:
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: str | torch.device = "cpu") -> DistInfo:
    """Join the process group described by torchrun's environment, if any.

    Idempotent; a plain single process (no WORLD_SIZE or WORLD_SIZE=1) stays
    un-initialised. On CUDA each process takes the GPU of its LOCAL_RANK.
    """
    if env_world_size() <= 1 and not is_distributed():
        return DistInfo(0, 1, 0, None)
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(local_rank())
    if not is_distributed():
        for key in ("MASTER_ADDR", "MASTER_PORT", "RANK"):
            if key not in os.environ:
                raise RuntimeError(
                    f"WORLD_SIZE={env_world_size()} but {key} is not set: start multi-process runs with "
                    "torchrun (or `aostbench run --nproc N`), which sets the rendezvous variables"
                )
        dist.init_process_group(backend=backend_for(device), init_method="env://")
    return DistInfo(rank(), world_size(), local_rank(), dist.get_backend())


def cleanup() -> None:
    """Leave the process group (safe to call when none was joined)."""
    if is_distributed():
        dist.destroy_process_group()


def comm_device() -> torch.device:
    """Where tensors must live for collectives: the local GPU under nccl, else the CPU."""
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Sum a few scalars over all processes (loss/accuracy bookkeeping)."""
    if not is_distributed():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def shard_bounds(n: int, world: int, r: int) -> tuple[int, int]:
    """Contiguous [start, stop) of n items for process r of world; the first n % world get one more."""
    base, extra = divmod(n, world)
    start = r * base + min(r, extra)
    return start, start + base + (1 if r < extra else 0)


def gather_shards(local: torch.Tensor, n_total: int) -> torch.Tensor:
    """Concatenate every process's contiguous shard (rows) back into the original order.

    Shards may differ in length by one (or be empty): each is padded to the
    longest before all_gather and trimmed after. Returns a CPU tensor on every rank.
    """
    if not is_distributed():
        return local.cpu()
    world = world_size()
    sizes = [shard_bounds(n_total, world, r) for r in range(world)]
    longest = max(stop - start for start, stop in sizes)
    dev = comm_device()
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=dev)
    padded[: local.shape[0]] = local.to(dev)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: stop - start].cpu() for p, (start, stop) in zip(parts, sizes)], dim=0)


def torchrun_command(
    nproc: int, module_or_script: str, args: Sequence[str] = (), *, python: str | None = None
) -> list[str]:
    """The command line that `launch_torchrun` runs (single node, standalone rendezvous)."""
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    cmd = [python or sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    # a path to a .py file runs as a script; anything else ("benchmark.pipeline") as a module
    if module_or_script.endswith(".py") or Path(module_or_script).is_file():
        cmd.append(str(module_or_script))
    else:
        cmd += ["--module", module_or_script]
    return cmd + [str(a) for a in args]


def launch_torchrun(
    nproc: int,
    module_or_script: str,
    args: Sequence[str] = (),
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    check: bool = True,
    capture_output: bool = False,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run `python -m torch.distributed.run --standalone --nproc_per_node N` on a module or script.

    Multi-node runs use plain `torchrun` with the same entry point. `env`
    entries are added to the current environment. With check=True a failing
    group raises CalledProcessError (with the captured output if captured).
    """
    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, nproc))))
    if env:
        full_env.update(env)
    return subprocess.run(
        torchrun_command(nproc, module_or_script, args),
        env=full_env,
        cwd=str(cwd) if cwd else None,
        check=check,
        capture_output=capture_output,
        text=True,
        timeout=timeout,
    )
