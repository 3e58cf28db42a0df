"""Which process owns a `running` run, and whether that process still exists.

A run row records host, pid and the pid's start time (Linux /proc ticks), so a
reused pid is not mistaken for the original process.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None where /proc is unavailable)."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: int | None  # process start ticks; None off Linux

    @classmethod
    def current(cls) -> "Owner":
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start(pid))

    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def is_alive(self) -> bool:
        """True unless we can tell the process is gone (only decidable on this host)."""
        if not self.is_local():
            return True  # another machine: cannot tell, so never call it dead
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by someone else
        fields = _proc_stat(self.pid)
        if fields is None:
            return os.path.exists(f"/proc/{self.pid}") or not os.path.isdir("/proc")
        if fields[0] in ("Z", "X"):  # killed but not yet reaped
            return False
        return self.start is None or int(fields[19]) == self.start
