"""The executor a grid runs on and its settings (parsed once, checked before anything is submitted)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

EXECUTORS = ("inprocess", "local", "slurm")
LOCAL_TIME_MIN = 7 * 24 * 60  # submitit's local default is 2 minutes; a local cell has no real time limit


class ExecutorError(ValueError):
    """A bad executor setting, or an engine that is not there; one line naming the input."""


def parse_time_min(value: str | int | None) -> int | None:
    """Minutes from `90`, `1:30:00`, `2-00:00:00` (Slurm's forms; seconds round up)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+(?::\d+){0,2})", text)
    if not m:
        raise ExecutorError(f"--time {text!r}: expected minutes (90), H:MM:SS (1:30:00) or D-HH:MM:SS (2-00:00:00)")
    days, rest = m.groups()
    parts = [int(x) for x in rest.split(":")]
    if days is None:  # Slurm: M, M:S, H:M:S
        h, mi, sec = ([0] * (3 - len(parts)) + parts) if len(parts) == 3 else (0, parts[0], parts[1] if len(parts) > 1 else 0)
    else:  # D-H, D-H:M, D-H:M:S
        h, mi, sec = (parts + [0, 0])[:3]
    minutes = int(days or 0) * 1440 + h * 60 + mi + (1 if sec else 0)
    if minutes <= 0:
        raise ExecutorError(f"--time {text!r}: must be more than zero")
    return minutes


def parse_sbatch_flags(flags: list[str] | tuple[str, ...]) -> dict:
    """`account=abc`, `--qos=high`, `--exclusive` -> {"account": "abc", "qos": "high", "exclusive": True}."""
    out: dict = {}
    for flag in flags or ():
        text = flag.strip().lstrip("-")
        key, sep, value = text.partition("=")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
            raise ExecutorError(f"--sbatch {flag!r}: expected NAME=VALUE or --NAME (an sbatch option)")
        out[key.replace("-", "_")] = value if sep else True
    return out


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    time_min: int | None = None  # per job
    gpus_per_job: int | None = None
    cpus_per_job: int | None = None
    mem_gb: float | None = None
    array_parallelism: int | None = None  # array tasks running at once (default: Slurm's limit)
    sbatch: dict = field(default_factory=dict)  # extra sbatch flags
    setup: tuple[str, ...] = ()  # shell lines run before the job (module load ..., source venv)


@dataclass(frozen=True)
class ExecutorOptions:
    kind: str = "inprocess"
    jobs: int | None = None  # local: jobs at once (default: one per 2 cores... see local_jobs)
    threads: int | None = None  # torch threads per job (default: cores / jobs locally, cpus per job on Slurm)
    nproc: int = 1  # processes per job for training (torchrun / DDP)
    python: str | None = None  # the command that starts Python on the nodes (default: this interpreter)
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    poll_s: float = 1.0  # how often the head looks at its jobs

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise ExecutorError(f"--executor {self.kind!r}: expected one of {', '.join(EXECUTORS)}")
        for name in ("jobs", "threads"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ExecutorError(f"--{name} {v}: must be at least 1")
        if self.nproc < 1:
            raise ExecutorError(f"--nproc {self.nproc}: must be at least 1")

    def local_jobs(self) -> int:
        return self.jobs or max(1, (os.cpu_count() or 1) // (self.threads or 1))

    def job_threads(self) -> int | None:
        """Torch threads inside one job: what was asked, else an even share of this machine (local)."""
        if self.threads:
            return self.threads
        if self.kind == "local":
            return max(1, (os.cpu_count() or 1) // self.local_jobs() // self.nproc)
        if self.kind == "slurm" and self.slurm.cpus_per_job:
            return max(1, self.slurm.cpus_per_job // self.nproc)
        return None


def _cancellable_controllers() -> None:
    """`grid cancel` stops a local job with SIGINT to submitit's controller (benchmark.executors.head).
    A head started in the background by a script (`aostbench grid ... &`) inherits SIGINT ignored, and
    the controllers it spawns would too: the job would run on, cancelled in name only. Restore Python's
    own SIGINT handling here, which the controllers then get by default."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def make_executor(opts: ExecutorOptions, folder: Path):
    """The submitit executor for `opts` writing its pickles and logs under `folder` (one sub-folder per job)."""
    import submitit

    folder = Path(folder) / "%j"
    if opts.kind == "local":
        _cancellable_controllers()
        ex = submitit.LocalExecutor(folder=folder, python=opts.python)
        ex.update_parameters(timeout_min=opts.slurm.time_min or LOCAL_TIME_MIN, tasks_per_node=1,
                             gpus_per_node=opts.slurm.gpus_per_job or 0)
        return ex
    if opts.kind != "slurm":
        raise ExecutorError(f"executor {opts.kind!r} does not submit jobs")
    try:
        ex = submitit.SlurmExecutor(folder=folder, python=opts.python)
    except RuntimeError:
        raise ExecutorError("--executor slurm: no Slurm here (`srun` is not on PATH); "
                            "run on the cluster's login node, or use --executor local") from None
    s = opts.slurm
    params: dict = {"job_name": "aostbench", "nodes": 1, "ntasks_per_node": 1, "time": s.time_min or 24 * 60}
    if s.partition:
        params["partition"] = s.partition
    if s.gpus_per_job:
        params["gpus_per_node"] = s.gpus_per_job
    if s.cpus_per_job:
        params["cpus_per_task"] = s.cpus_per_job
    if s.mem_gb:
        params["mem"] = f"{int(s.mem_gb)}GB" if float(s.mem_gb).is_integer() else f"{int(s.mem_gb * 1024)}MB"
    if s.array_parallelism:
        params["array_parallelism"] = s.array_parallelism
    if s.sbatch:
        params["additional_parameters"] = dict(s.sbatch)
    if s.setup:
        params["setup"] = list(s.setup)
    try:
        ex.update_parameters(**params)
    except ValueError as e:
        raise ExecutorError(f"Slurm options: {e}") from None
    return ex
