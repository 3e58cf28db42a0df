"""Stopping a run from outside: SIGTERM (a Slurm time limit, `kill`) as an exception, like Ctrl-C.

A run turns it into `Interrupted`, marks itself interrupted and says how to
resume; the CLI then exits with the shell's code (143; Ctrl-C: 130) and no
traceback. Light: imported by the CLI's error handling.
"""
from __future__ import annotations

import signal


class Interrupted(BaseException):
    """SIGTERM, raised where the run was, so it is marked interrupted, not left half-written."""

    exit_code = 143  # 128 + SIGTERM


def on_sigterm(signum, frame):  # pragma: no cover - exercised by the SIGTERM test in a subprocess
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not break the clean-up
    raise Interrupted("interrupted by SIGTERM")
