"""What makes `submit` a recoverable transaction: owner-tagged temporary folders and one commit lock.

Temporary folders (`aostbench-submit-*` in the temp area, `.incoming-*` in the
store) carry their owner in their name: `<prefix><pid>-<start ticks>-<host hash>-<random>`.
A folder whose owner process is gone (same host, pid not running or reused) is
stale and is removed at the next submit and by `db check --repair`; a live
owner's folder (a concurrent submit) is never touched, nor one from another host.

The commit phase (store copy, DB row, submission.toml) runs under an exclusive
lock on `<store root>/.submit.lock`: two submits of one name get consecutive
versions and each toml's history lists every earlier version, and repair
never mistakes a folder being committed for an orphan.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from benchmark.store.owner import Owner, process_start
from benchmark.submissions.errors import SubmissionError

TEMP_PREFIX = "aostbench-submit-"
INCOMING_PREFIX = ".incoming-"
LOCK_NAME = ".submit.lock"
LOCK_TIMEOUT = 3600.0  # a commit copies the images; one hour is far beyond any real one
_TAG = re.compile(r"^(\d+)-(\d+|x)-([0-9a-f]{8})-")


def _host_hash(host: str | None = None) -> str:
    return hashlib.sha256((host or socket.gethostname()).encode()).hexdigest()[:8]


def tagged_prefix(prefix: str) -> str:
    """`prefix` + this process's owner tag, for tempfile.mkdtemp(prefix=...)."""
    pid = os.getpid()
    start = process_start(pid)
    return f"{prefix}{pid}-{'x' if start is None else start}-{_host_hash()}-"


def is_stale(name: str, prefix: str) -> bool:
    """True when `name` is one of our temporary folders and its owner process is gone (on this host)."""
    if not name.startswith(prefix):
        return False
    m = _TAG.match(name[len(prefix):])
    if not m or m.group(3) != _host_hash():
        return False  # untagged (older versions) or another machine's: cannot tell, never touched
    start = None if m.group(2) == "x" else int(m.group(2))
    return not Owner(socket.gethostname(), int(m.group(1)), start).is_alive()


def stale_folders(folder: Path, prefix: str) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.is_dir() and not p.is_symlink() and is_stale(p.name, prefix)]


def remove_folder(p: Path) -> None:
    """Delete one of our temporary folders (the store makes its contents read-only)."""
    for dirpath, _, filenames in os.walk(p):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            try:
                os.chmod(os.path.join(dirpath, f), 0o644)
            except OSError:
                pass
    shutil.rmtree(p, ignore_errors=True)


def clean_stale(folder: Path, prefix: str) -> list[Path]:
    """Remove the stale temporary folders under `folder`; returns them."""
    gone = stale_folders(folder, prefix)
    for p in gone:
        remove_folder(p)
    return gone


@contextmanager
def commit_lock(store_root: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Exclusive lock on <store_root>/.submit.lock (released by the OS if this process dies)."""
    store_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(store_root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SubmissionError(f"another `aostbench submit` held {store_root / LOCK_NAME} for "
                                          f"{timeout:.0f} s; try again when it has finished") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock
