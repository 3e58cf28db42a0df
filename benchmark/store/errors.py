"""The store's exceptions: each says what happened and what to do next."""
from __future__ import annotations

from pathlib import Path

HOW_TO_GET_RESULTS = (
    "run `aostbench run --train sim-finegpr --test sim-market --profile smoke` "
    "or `aostbench demo`"
)


class StoreError(Exception):
    """Something about the results store is wrong (schema, contents, arguments)."""


class StoreEmpty(StoreError):
    """There is no results database yet (or it holds no schema): nothing to show."""

    def __init__(self, path: str | Path, detail: str = "no results database"):
        self.path = Path(path)
        super().__init__(f"no results yet ({detail} at {self.path}): {HOW_TO_GET_RESULTS}")


class StoreBusy(StoreError):
    """Another process kept the DuckDB file locked for longer than the timeout."""

    def __init__(self, path: str | Path, waited: float, last_error: Exception | None = None):
        self.path = Path(path)
        self.waited = waited
        hint = f" (last error: {last_error})" if last_error else ""
        super().__init__(
            f"the results database {self.path} stayed locked by another process for {waited:.0f} s{hint}. "
            "DuckDB allows one writing process at a time: wait for the other `aostbench` command to finish, "
            "or raise the limit with AOSTBENCH_DB_TIMEOUT=SECONDS."
        )


class StoreOutdated(StoreError):
    """The DB has an older schema; readers never migrate it (`aostbench db migrate`, or any writer, does)."""


class RunNotFound(StoreError, KeyError):
    """No run with that id (or id prefix)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


class SubmissionNotFound(StoreError, KeyError):
    """No submission with that name (and version)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "submission not found"
