"""One submission from PATH to the store: validate, then store everything or nothing.

Order, so that a failure at any step leaves nothing behind and a crash (kill -9)
at any step leaves either nothing or a state `aostbench db check` reports and
`db check --repair` completes or removes:
1. the name is checked (an invalid name records nothing at all); stale
   temporary folders of dead earlier submits are removed (txn.py);
2. everything is validated, archives extracted into a private temporary folder
   tagged with this process (deleted afterwards, whatever happens);
3. rejected: one `rejected` row with the reasons and the report, nothing else;
4. accepted, under the commit lock: the store folder is built under an
   `.incoming-*` name and renamed into place; the DB row is written; then
   submission.toml is replaced atomically. If a later step fails, the earlier
   ones are undone (the row deleted, a store folder this call created removed).
   Killed between steps: an orphan store folder (repair removes it) or a DB row
   whose submission.toml is missing or behind (repair writes it from the row).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.datasets.fingerprint import fingerprint
from benchmark.faults import crash_point
from benchmark.store import Store
from benchmark.store.db import write
from benchmark.submissions.catalog import dataset_from_store
from benchmark.submissions.content_store import default_store_root, install, remove_tree
from benchmark.submissions.errors import SubmissionError
from benchmark.submissions.limits import DEFAULT_LIMITS, Limits
from benchmark.submissions.manifest_toml import TOML_NAME, default_submissions_dir, toml_doc, write_toml
from benchmark.submissions.names import validate_name
from benchmark.submissions.txn import INCOMING_PREFIX, TEMP_PREFIX, clean_stale, commit_lock, tagged_prefix
from benchmark.submissions.validate import Validation, validate
from benchmark.text_safety import inert_tree, printable

TOML_HEADER = ("# aostbench submission manifest, written by `aostbench submit` (do not edit).\n"
               "# The full validation report is in the results DB: aostbench submissions show NAME")


@dataclass
class SubmissionResult:
    name: str
    status: str  # accepted | rejected | valid (dry run, nothing stored) | invalid (dry run)
    version: int | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    store_path: Path | None = None
    manifest_path: Path | None = None

    @property
    def accepted(self) -> bool:
        return self.status in ("accepted", "valid")


def submit(path: str | Path, name: str, *, attributes: str | Path | None = None, description: str = "",
           license: str = "", db_path: str | Path | None = None, data_root: str | Path | None = None,
           store_root: str | Path | None = None, submissions_dir: str | Path | None = None,
           index_dir: str | Path | None = None, limits: Limits = DEFAULT_LIMITS, work_dir: str | Path | None = None,
           dry_run: bool = False) -> SubmissionResult:
    """Validate a submission (folder or archive) and, when it passes, store it as a new version of `name`.

    Returns the result (accepted or rejected, with the reasons and the report);
    raises InvalidName for a bad name (nothing recorded) and SubmissionError when
    storing fails after validation (a rejected row is recorded, nothing else kept).
    With dry_run, nothing at all is written (status valid / invalid).
    """
    validate_name(name)
    store = Store(db_path)
    root = Path(store_root).expanduser().absolute() if store_root else default_store_root(data_root)
    clean_stale(Path(work_dir) if work_dir else Path(tempfile.gettempdir()), TEMP_PREFIX)
    if root.is_dir():
        clean_stale(root, INCOMING_PREFIX)
    earlier = store.list_submissions()
    with tempfile.TemporaryDirectory(prefix=tagged_prefix(TEMP_PREFIX), dir=work_dir) as tmp:
        v = validate(path, name, Path(tmp), attributes=attributes, description=description, license=license,
                     limits=limits, db_path=db_path, index_dir=Path(index_dir) if index_dir else None,
                     earlier=earlier)
        crash_point("validated")
        if dry_run:
            return _result(v, "valid" if v.ok else "invalid", None)
        if not v.ok:
            return _reject(store, v, v.reasons())
        try:
            lock = commit_lock(root)
            lock.__enter__()
        except (SubmissionError, OSError) as exc:
            _reject(store, v, [f"storing failed: {exc}"])
            raise SubmissionError(f"submission {name} could not be stored: {exc}") from exc
        try:
            return _commit(store, v, name, root, limits, submissions_dir)
        finally:
            lock.__exit__(None, None, None)


def _commit(store: Store, v: Validation, name: str, root: Path, limits: Limits,
            submissions_dir: str | Path | None) -> SubmissionResult:
    """Store folder, DB row, submission.toml, in that order, under the commit lock (see the module doc)."""
    try:
        folder, created = install(v.source.root, v.rows, v.manifest, v.schema, v.digest, root,
                                  limits.max_file_bytes)
    except (SubmissionError, OSError) as exc:
        _reject(store, v, [f"storing failed: {exc}"])
        raise SubmissionError(f"submission {name} could not be stored: {exc}") from exc
    crash_point("installed")
    v.report["store_path"] = str(folder)
    version = None
    try:
        v.report["fingerprint"] = fingerprint(dataset_from_store(folder, name))
        version = store.add_submission(
            name, status="accepted", report=v.report, path=folder, n_images=v.counts["total"]["images"],
            n_ids=v.counts["total"]["ids"], n_cams=v.counts["total"]["cameras"],
            fingerprint=v.report.get("fingerprint"), has_attributes=v.has_attributes)
        crash_point("recorded")
        rows = [r for r in store.list_submissions() if r["name"] == name]  # read under the lock: complete
        row = next(r for r in rows if int(r["version"]) == version)
        toml_path = Path(submissions_dir or default_submissions_dir()).expanduser().absolute() / name / TOML_NAME
        write_toml(toml_path, toml_doc(row, [r for r in rows if int(r["version"]) < version]), TOML_HEADER)
        crash_point("toml-written")
    except BaseException:
        if version is not None:
            _delete_version(store, name, version)
        if created:
            remove_tree(folder)
        raise
    return _result(v, "accepted", version, folder, toml_path)


def _delete_version(store: Store, name: str, version: int) -> None:
    try:
        write(store.path, lambda con: con.execute("DELETE FROM submissions WHERE name = ? AND version = ?",
                                                  [name, version]), store.timeout)
    except Exception:  # noqa: BLE001 - the original error matters more; `db check` reports the row
        pass


def _result(v: Validation, status: str, version: int | None, folder: Path | None = None,
            toml_path: Path | None = None) -> SubmissionResult:
    v.report["status"] = status
    return SubmissionResult(v.name, status, version, v.reasons(), v.report.get("warnings", []), v.report,
                            folder, toml_path)


def _reject(store: Store, v: Validation, reasons: list[str]) -> SubmissionResult:
    reasons = [printable(r) for r in reasons]  # stored text is printable: never a lone surrogate or an escape
    v.report["status"] = "rejected"
    if reasons != v.reasons():
        v.report["errors"] = reasons
    v.report = inert_tree(v.report)
    version = store.add_submission(v.name, status="rejected", reasons=reasons, report=v.report)
    result = _result(v, "rejected", version)
    result.reasons = reasons
    return result
