"""Progress a person can follow: one line per stage with a bar, a rate and an ETA.

    with progress.stage("AO probe (VGG-19)", total=len(images), unit="img") as p:
        for batch in batches:
            ...
            p.update(len(batch), loss=0.12)

- On a terminal the line is redrawn in place (at most ~8 times a second) and
  left finished when the stage ends.
- Anywhere else (a Slurm log, a pipe, a file) plain lines are printed, at most
  one every `PLAIN_INTERVAL` seconds, plus a last line when the stage ends.
- `log_file(path)` also appends every finished line and every plain line to a
  readable log (the run folder's `run.log`), whatever the terminal shows.

Nothing here imports torch: the CLI's light commands (`weights fetch`) use it too.
"""
from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import IO, Iterator

PLAIN_INTERVAL = 10.0  # seconds between plain lines: a Slurm log stays readable
TTY_INTERVAL = 0.12
_state = threading.local()
_enabled = [True]


def set_enabled(on: bool) -> bool:
    """Turn every bar off (library use, tests); finished lines still go to the log file. Returns the old state."""
    old, _enabled[0] = _enabled[0], bool(on)
    return old


def _log_handles() -> list[IO[str]]:
    return getattr(_state, "logs", [])


@contextlib.contextmanager
def log_file(path: str | Path) -> Iterator[None]:
    """Append stage lines (and `note` messages) to `path` while the block runs."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a", encoding="utf-8")
    logs = _log_handles()
    _state.logs = [*logs, fh]
    try:
        yield
    finally:
        _state.logs = logs
        fh.close()


def note(message: str) -> None:
    """A plain message for the log file (the caller prints it to the console itself)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for fh in _log_handles():
        fh.write(f"{stamp} {message}\n")
        fh.flush()


def format_seconds(s: float | None) -> str:
    if s is None or s != s or s == float("inf"):
        return "--:--"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def _format_amount(x: float, unit: str) -> str:
    if unit == "B":
        for u in ("B", "KiB", "MiB", "GiB"):
            if abs(x) < 1024 or u == "GiB":
                return f"{x:.0f} {u}" if u == "B" else f"{x:.1f} {u}"
            x /= 1024
    return f"{int(x)}" if float(x).is_integer() else f"{x:.1f}"


class Stage:
    """One stage's progress line. Use `stage(...)` to make one."""

    def __init__(self, label: str, total: float | None, unit: str, stream: IO[str] | None, interval: float | None,
                 enabled: bool, done: float = 0):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.silent = not enabled  # enabled=False: nothing at all (an inner pass of a stage with its own line)
        self.enabled = enabled and _enabled[0]
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (TTY_INTERVAL if self.tty else PLAIN_INTERVAL)
        self.start_done = self.done = done  # `done` > 0: resumed work, not counted in the rate
        self.fields: dict[str, object] = {}
        self.t0 = time.monotonic()
        self._last = self.t0
        self._width = 0

    # -- what the line says ---------------------------------------------------------------------
    def rate(self) -> float | None:
        dt = time.monotonic() - self.t0
        n = self.done - self.start_done
        return n / dt if dt > 0 and n > 0 else None

    def eta(self) -> float | None:
        r = self.rate()
        if self.total is None or r is None:
            return None
        return max(0.0, (self.total - self.done) / r)

    def line(self, final: bool = False) -> str:
        parts = [self.label]
        if self.total:
            frac = min(1.0, self.done / self.total)
            if self.tty:
                n = 24
                fill = int(frac * n)
                parts.append("[" + "#" * fill + "." * (n - fill) + "]")
            parts.append(f"{_format_amount(self.done, self.unit)}/{_format_amount(self.total, self.unit)}"
                         + ("" if self.unit == "B" else f" {self.unit}") + f" {frac:4.0%}")
        elif self.done:
            parts.append(_format_amount(self.done, self.unit) + ("" if self.unit == "B" else f" {self.unit}"))
        r = self.rate()
        if r is not None:
            parts.append(f"{_format_amount(r, self.unit)}/s" if self.unit == "B" else f"{r:.1f} {self.unit}/s")
        for k, v in self.fields.items():
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
        elapsed = time.monotonic() - self.t0
        if final:
            parts.append(f"done in {format_seconds(elapsed)}")
        else:
            parts.append(f"elapsed {format_seconds(elapsed)} ETA {format_seconds(self.eta())}")
        return "  ".join(parts)

    # -- updates ---------------------------------------------------------------------------------
    def update(self, n: float = 1, **fields: object) -> None:
        self.done += n
        self.fields.update(fields)
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._emit()

    def set(self, done: float, **fields: object) -> None:
        self.update(done - self.done, **fields)

    def _emit(self) -> None:
        if self.silent:
            return
        text = self.line()
        if self.enabled:
            if self.tty:  # one terminal row, or the carriage return cannot redraw it
                cols = shutil.get_terminal_size((100, 24)).columns
                shown = text if len(text) < cols else text[: max(10, cols - 2)] + "…"
                pad = max(0, self._width - len(shown))
                self.stream.write("\r" + shown + " " * pad)
                self._width = len(shown)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        if not self.tty:
            note(text)

    def close(self, ok: bool = True) -> None:
        if self.silent:
            return
        text = self.line(final=ok) + ("" if ok else "  (stopped)")
        if self.enabled:
            if self.tty:
                pad = max(0, self._width - len(text))
                self.stream.write("\r" + text + " " * pad + "\n")  # the finished line may wrap: it stays
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        note(text)


@contextlib.contextmanager
def stage(label: str, total: float | None = None, *, unit: str = "img", stream: IO[str] | None = None,
          interval: float | None = None, enabled: bool = True, done: float = 0) -> Iterator[Stage]:
    """A progress line for one stage; closed (finished or stopped) when the block ends."""
    s = Stage(label, total, unit, stream, interval, enabled, done)
    if s.enabled and s.tty:
        s._emit()
    ok = False
    try:
        yield s
        ok = True
    finally:
        s.close(ok)
