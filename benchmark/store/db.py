"""Short DuckDB connections that wait their turn.

DuckDB lets one process open a file read-write, or many processes open it
read-only, never both. Every store operation therefore opens, does its work
in one short transaction and closes; while another process holds the file,
opening is retried with exponential back-off and jitter until a timeout
(default 120 s, AOSTBENCH_DB_TIMEOUT), then StoreBusy says so.
"""
from __future__ import annotations

import logging
import os
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import duckdb

from benchmark import paths

from .errors import StoreBusy, StoreEmpty, StoreError, StoreOutdated
from .schema import SCHEMA_VERSION, apply_migrations, current_version, refresh_reference

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_TIMEOUT = 120.0
_FIRST_DELAY = 0.02
_MAX_DELAY = 1.0


def resolve(db_path: str | Path | None) -> Path:
    """The DB file: the argument, else AOSTBENCH_DB, else ./results/aostbench.duckdb."""
    return paths.db_path(db_path)


def default_timeout(timeout: float | None = None) -> float:
    if timeout is not None:
        return float(timeout)
    env = os.environ.get("AOSTBENCH_DB_TIMEOUT")
    try:
        return float(env) if env else DEFAULT_TIMEOUT
    except ValueError:
        raise StoreError(f"AOSTBENCH_DB_TIMEOUT={env!r} is not a number of seconds") from None


def is_busy_error(exc: BaseException) -> bool:
    """True for the errors that mean 'someone else has the file right now'."""
    msg = str(exc).lower()
    if isinstance(exc, duckdb.IOException) and ("lock" in msg or "resource temporarily unavailable" in msg):
        return True
    # same process, another thread holds the file with the other access mode
    if isinstance(exc, duckdb.ConnectionException) and "different configuration" in msg:
        return True
    # two connections of one process wrote the same rows
    if isinstance(exc, duckdb.TransactionException) and "conflict" in msg:
        return True
    return False


def retrying(path: Path, timeout: float | None, fn: Callable[[], T]) -> T:
    """Call fn until it stops failing with a busy error, backing off exponentially with jitter."""
    limit = default_timeout(timeout)
    start = time.monotonic()
    delay = _FIRST_DELAY
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except duckdb.Error as exc:
            if not is_busy_error(exc):
                raise
            waited = time.monotonic() - start
            if waited >= limit:
                raise StoreBusy(path, waited, exc) from None
            pause = min(delay / 2 + random.uniform(0, delay / 2), max(limit - waited, 0.0))
            log.debug("%s busy (attempt %d), retrying in %.3f s: %s", path, attempt, pause, exc)
            time.sleep(pause)
            delay = min(delay * 2, _MAX_DELAY)


def _open(path: Path, read_only: bool, timeout: float | None) -> duckdb.DuckDBPyConnection:
    return retrying(path, timeout, lambda: duckdb.connect(str(path), read_only=read_only))


def migrate(db_path: str | Path | None = None, timeout: float | None = None) -> int:
    """Create or bring the DB forward to the current schema; returns its version."""
    with connect_write(db_path, timeout) as con:
        return current_version(con)


@contextmanager
def connect_write(db_path: str | Path | None = None, timeout: float | None = None,
                  migrate_schema: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection (the file's only one while open); schema migrated on open. Keep it short."""
    path = resolve(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, False, timeout)
    try:
        if migrate_schema:
            apply_migrations(con)
            refresh_reference(con)
        yield con
    finally:
        con.close()


@contextmanager
def connect_read(db_path: str | Path | None = None,
                 timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; StoreEmpty when there is no DB yet. Never writes: an older schema is an
    error that says how to migrate it (so a DB on read-only storage, or one being written, is safe to read)."""
    path = resolve(db_path)
    if not path.is_file():
        raise StoreEmpty(path)
    con = _open(path, True, timeout)
    try:
        version = current_version(con)
        if version == 0:
            raise StoreEmpty(path, "an empty database")
        if version < SCHEMA_VERSION:
            raise StoreOutdated(f"{path} has schema version {version}, older than this aostbench reads "
                                f"({SCHEMA_VERSION}); bring it forward with `aostbench db migrate --db {path}` "
                                "(any run also does); reading never changes the file")
        elif version > SCHEMA_VERSION:
            raise StoreError(f"{path} has schema version {version}, newer than this aostbench "
                             f"understands ({SCHEMA_VERSION}); update aostbench")
        yield con
    finally:
        con.close()


def read(db_path: str | Path | None, fn: Callable[[duckdb.DuckDBPyConnection], T],
         timeout: float | None = None) -> T:
    """Run fn on a fresh read-only connection (retried while a writer holds the file)."""
    with connect_read(db_path, timeout) as con:
        return fn(con)


def write(db_path: str | Path | None, fn: Callable[[duckdb.DuckDBPyConnection], T],
          timeout: float | None = None) -> T:
    """Run fn inside one transaction on a fresh read-write connection; all or nothing.

    Retried as a whole while the file is busy (the transaction is rolled back first)."""
    path = resolve(db_path)

    def attempt() -> T:
        with connect_write(path, timeout) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                out = fn(con)
                con.execute("COMMIT")
                return out
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass  # already rolled back by DuckDB after a failed statement
                raise

    return retrying(path, timeout, attempt)
