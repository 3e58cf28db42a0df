"""Crash points for the tests: `AOSTBENCH_TEST_CRASH_AT=<step>` makes this process die (SIGKILL) at that step.

Used only by tests that prove a crash at any step of `submit` or of storing a run leaves
either nothing or a state `aostbench db check` reports and `db check --repair` completes or
removes. Unset (always, outside those tests) it costs one dictionary lookup.
"""
from __future__ import annotations

import os
import signal

ENV = "AOSTBENCH_TEST_CRASH_AT"


def crash_point(step: str) -> None:
    if os.environ.get(ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
