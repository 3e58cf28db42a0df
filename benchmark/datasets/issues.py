"""One collector for what a loader finds wrong, shared by loading and checking.

Loading is strict: the first error raises DataError. Checking collects every
error and warning so the report can list them all; the parsing code is the
same in both cases, so `check` can never accept what `load` rejects.
"""
from __future__ import annotations

from benchmark.datasets.records import DataError


class Issues:
    """Errors, warnings and ignored files met while reading a dataset."""

    def __init__(self, strict: bool = True):
        self.strict = strict
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.ignored: list[str] = []  # "path (why)" for files skipped as unrelated

    def error(self, message: str) -> None:
        """A problem that makes the dataset unusable as it is (raises when strict)."""
        if self.strict:
            raise DataError(message)
        self.errors.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def ignore(self, path: str, why: str) -> None:
        self.ignored.append(f"{path} ({why})")
