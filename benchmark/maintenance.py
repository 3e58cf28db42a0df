"""`db rebuild` and `db check [--repair]` over everything the DB caches: runs and submissions.

    from benchmark.maintenance import rebuild, check, repair
    report = rebuild()                 # the DB recreated from runs/*/result.json + submission files
    findings = check()                 # every difference between the DB and the files
    done = repair(findings)            # the fixes that the files decide

The run side lives in benchmark.store (rebuild.py, check.py), the submission side in
benchmark.submissions.recover; this module only puts them together.
"""
from __future__ import annotations

from pathlib import Path

from benchmark.store.check import Finding, check_runs
from benchmark.store.rebuild import RebuildReport, rebuild_from_runs


def rebuild(runs_dir: str | Path | None = None, db_path: str | Path | None = None, *,
            submissions_dir: str | Path | None = None, store_root: str | Path | None = None,
            data_root: str | Path | None = None, timeout: float | None = None) -> RebuildReport:
    """Recreate the DB from the run artefacts and the submissions' files; the old file is kept beside it."""
    from benchmark.submissions.recover import rows_from_files

    rows, problems = rows_from_files(submissions_dir, store_root, data_root)
    return rebuild_from_runs(runs_dir, db_path, timeout, submission_rows=rows, problems=problems)


def check(db_path: str | Path | None = None, runs_dir: str | Path | None = None, *,
          submissions_dir: str | Path | None = None, store_root: str | Path | None = None,
          data_root: str | Path | None = None, temp_dir: str | Path | None = None,
          timeout: float | None = None) -> list[Finding]:
    """Every difference between the DB and the files of runs and submissions (empty: they agree)."""
    from benchmark.submissions.recover import check_submissions

    findings = check_runs(db_path, runs_dir, timeout)
    if any(f.db_unreadable for f in findings):
        return findings  # nothing else can be compared with a DB that cannot be read
    return findings + check_submissions(db_path, submissions_dir, store_root, data_root, temp_dir)


def repair(findings: list[Finding]) -> tuple[list[str], list[str]]:
    """Apply every fix; (what was done, what could not be fixed and why)."""
    done, left = [], []
    for f in findings:
        if f.fix is None:
            left.append(f.message)
            continue
        try:
            done.append(f.fix())
        except Exception as exc:  # noqa: BLE001 - one failed fix must not stop the others
            left.append(f"{f.message} (the repair failed: {str(exc).splitlines()[0] if str(exc) else exc!r})")
    return done, left
