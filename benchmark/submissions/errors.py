"""Submission exceptions; each message says what was wrong and what is expected."""
from __future__ import annotations

from benchmark.datasets.records import DataError


class SubmissionError(DataError):
    """A submission could not be made, read or removed."""


class InvalidName(SubmissionError, ValueError):
    """A submission name that breaks the naming rule (nothing is recorded for it)."""


class Rejected(SubmissionError):
    """Validation found problems that stop the submission right there (an unsafe archive, ...)."""

    def __init__(self, reasons: str | list[str]):
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        super().__init__("; ".join(self.reasons))


class UnknownSubmission(SubmissionError, KeyError):
    """No accepted submission by that name (and version)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown submission"
