"""Reading a stranger's CSV: a bad row is one line of the report naming the file and line, never a raw csv.Error.

The csv module raises for a field over its limit (131,072 characters), a NUL byte
or an unterminated quote; `CsvRows` turns that into an error finding
("manifest.csv line 7: a field longer than 131,072 characters") and stops.
"""
from __future__ import annotations

import csv
import io
from typing import Iterator

from benchmark.submissions.findings import Findings

_FIELD_LIMIT = csv.field_size_limit()


def _why(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field longer than {_FIELD_LIMIT:,} characters (the limit)"
    if "NUL" in text:
        return "a NUL byte (not text)"
    if "EOF" in text or "unexpected end of data" in text:
        return "a quoted field that is never closed"
    return f"not readable as CSV ({text})"


class CsvRows:
    """Rows of `text`; on a CSV error, one finding `<label> line N: why` and the end of the rows."""

    def __init__(self, text: str, label: str, findings: Findings):
        self._reader = csv.reader(io.StringIO(text, newline=""))
        self.label, self.findings = label, findings
        self.failed = False

    def __iter__(self) -> Iterator[list[str]]:
        return self

    def __next__(self) -> list[str]:
        if self.failed:
            raise StopIteration
        try:
            return next(self._reader)
        except csv.Error as exc:
            self.failed = True
            self.findings.error(f"{self.label} line {max(self._reader.line_num, 1)}: {_why(exc)}")
            raise StopIteration from None
