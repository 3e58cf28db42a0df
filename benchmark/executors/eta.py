"""An ETA for a whole grid of local jobs: work per cell in training image passes, a rate learned as it runs.

Training is nearly all of a cell's time on a CPU, so a cell's work is its
training images times the profile's epochs. The rate (image passes per second
per job slot) comes from what has run so far: finished cells, and running
cells' progress as their run.log says it ("re-ID epoch k/N"). Before anything
has trained there is no rate and no ETA, rather than a guess.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.progress import format_seconds

EPOCH_LINE = re.compile(rb"re-ID epoch (\d+)/(\d+)")
REPORT_EVERY_S = 30.0  # a line every half minute keeps a terminal readable over a 10-minute demo


def cell_work(cell, train_images: int | None) -> float | None:
    """Image passes the cell's training makes: (its budget, else its training set) x the profile's epochs."""
    from benchmark.profiles import load_profile
    from benchmark.specs import parse_spec

    if train_images is None:
        return None
    profile = load_profile(cell.profile, dict(cell.overrides))
    n = train_images
    if parse_spec(cell.spec).uses_budget:  # +random / +ao select a budget of images from the source
        n = min(n, cell.budget or profile.ao_budget)
    return float(n * profile.epochs)


def training_fraction(run_log: Path) -> float:
    """How far the run's training is, from the last epoch line of its run.log (0 before training starts)."""
    try:
        with open(run_log, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            hits = EPOCH_LINE.findall(f.read())
    except OSError:
        return 0.0
    if not hits:
        return 0.0
    k, n = (int(x) for x in hits[-1])
    return min(1.0, k / n) if n else 0.0


@dataclass
class GridEta:
    slots: int
    work: dict[str, float | None]  # cell id -> image passes (None: unknown, counted as the mean)
    started: float = field(default_factory=time.monotonic)
    done_work: float = 0.0
    done_seconds: float = 0.0
    finished: set[str] = field(default_factory=set)
    _last: float = 0.0

    def _work(self, cid: str) -> float:
        known = [w for w in self.work.values() if w]
        return self.work.get(cid) or (sum(known) / len(known) if known else 1.0)

    def finish(self, cid: str, seconds: float | None) -> None:
        if cid in self.finished:
            return
        self.finished.add(cid)
        if seconds:
            self.done_work += self._work(cid)
            self.done_seconds += seconds

    def estimate(self, running: dict[str, tuple[float, float]]) -> float | None:
        """Seconds left; running: cell id -> (seconds it has run, fraction of its training done)."""
        work = self.done_work + sum(self._work(c) * f for c, (_, f) in running.items())
        seconds = self.done_seconds + sum(s for s, _ in running.values())
        if work <= 0 or seconds <= 0:
            return None
        rate = work / seconds  # image passes per second per slot
        queued = [c for c in self.work if c not in self.finished and c not in running]
        left_running = [self._work(c) * (1 - f) / rate for c, (_, f) in running.items()]
        left = sum(left_running) + sum(self._work(c) for c in queued) / rate
        return max(left / max(1, min(self.slots, len(queued) + len(running))), max(left_running, default=0.0))

    def line(self, running: dict[str, tuple[float, float]], force: bool = False) -> str | None:
        """A progress line at most every REPORT_EVERY_S seconds (or now when `force`)."""
        now = time.monotonic()
        if not force and now - self._last < REPORT_EVERY_S:
            return None
        self._last = now
        queued = len(self.work) - len(self.finished) - len(running)
        eta = self.estimate(running)
        when = "ETA once a cell has trained an epoch" if eta is None else \
            f"ETA {format_seconds(eta)} (about {time.strftime('%H:%M', time.localtime(time.time() + eta))})"
        return (f"    grid: {len(self.finished)}/{len(self.work)} cells done, {len(running)} running, "
                f"{max(0, queued)} queued; elapsed {format_seconds(now - self.started)}, {when}")
