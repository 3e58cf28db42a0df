"""Crash points for the tests: `AOSTBENCH_TEST_CRASH_AT=<step>` makes this process die (SIGKILL) at that step.

Used only by tests that prove a crash at any step of `submit` or of storing a run leaves
either nothing or a state `aostbench db check` reports and `db check --repair` completes or
removes. Unset (always, outside those tests) it costs one dictionary lookup.
"""
from __future__ import annotations

import os
import signal

ENV = "AOSTBENCH_TEST_CRASH_AT"


_seen: dict[str, int] = {}


def crash_point(step: str) -> None:
    """Die here when the environment names this step (`step`, or `step#N` for its N-th passage)."""
    wanted = os.environ.get(ENV)
    if not wanted or not wanted.startswith(step):
        return
    _seen[step] = _seen.get(step, 0) + 1
    if wanted == step or wanted == f"{step}#{_seen[step]}":
        os.kill(os.getpid(), signal.SIGKILL)
