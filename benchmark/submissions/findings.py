"""What validation finds: errors (reject), warnings (accepted, but worth knowing) and notes.

Counts are always exact; only the first `keep` messages of each kind are kept,
so a broken submission of half a million files gives a readable report.
"""
from __future__ import annotations


class Findings:
    def __init__(self, keep: int = 50):
        self.keep = keep
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self.n_errors = 0
        self.n_warnings = 0

    def error(self, message: str) -> None:
        self.n_errors += 1
        if len(self.errors) < self.keep:
            self.errors.append(message)

    def warn(self, message: str) -> None:
        self.n_warnings += 1
        if len(self.warnings) < self.keep:
            self.warnings.append(message)

    def note(self, message: str) -> None:
        if len(self.notes) < self.keep:
            self.notes.append(message)

    @property
    def ok(self) -> bool:
        return self.n_errors == 0

    def reasons(self) -> list[str]:
        """The errors, with a last line saying how many more there were."""
        out = list(self.errors)
        if self.n_errors > len(self.errors):
            out.append(f"... and {self.n_errors - len(self.errors)} more error(s)")
        return out

    def to_dict(self) -> dict:
        more_w = self.n_warnings - len(self.warnings)
        return {
            "errors": self.reasons(),
            "warnings": self.warnings + ([f"... and {more_w} more warning(s)"] if more_w > 0 else []),
            "notes": list(self.notes),
            "errors_total": self.n_errors,
            "warnings_total": self.n_warnings,
        }
