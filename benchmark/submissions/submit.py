"""One submission from PATH to the store: validate, then store everything or nothing.

Order, so that a failure at any step leaves nothing behind:
1. the name is checked (an invalid name records nothing at all);
2. everything is validated, archives extracted into a private temporary folder
   (deleted afterwards, whatever happens);
3. rejected: one `rejected` row with the reasons and the report, nothing else;
4. accepted: the store folder is built under a temporary name and renamed into
   place; then submission.toml is replaced atomically; then the DB row is
   written. If a later step fails, the earlier ones are undone (a store folder
   this call created is deleted, the previous submission.toml is restored).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.datasets.fingerprint import fingerprint
from benchmark.store import Store
from benchmark.store.result_format import utc_now
from benchmark.submissions.catalog import dataset_from_store
from benchmark.submissions.content_store import default_store_root, install, remove_tree
from benchmark.submissions.errors import SubmissionError
from benchmark.submissions.limits import DEFAULT_LIMITS, Limits
from benchmark.submissions.manifest_toml import TOML_NAME, default_submissions_dir, write_toml
from benchmark.submissions.names import validate_name
from benchmark.submissions.validate import Validation, validate

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
    earlier = store.list_submissions()
    with tempfile.TemporaryDirectory(prefix="aostbench-submit-", dir=work_dir) as tmp:
        v = validate(path, name, Path(tmp), attributes=attributes, description=description, license=license,
                     limits=limits, db_path=db_path, index_dir=Path(index_dir) if index_dir else None,
                     earlier=earlier)
        if dry_run:
            return _result(v, "valid" if v.ok else "invalid", None)
        if not v.ok:
            return _reject(store, v, v.reasons())
        root = Path(store_root).expanduser().absolute() if store_root else default_store_root(data_root)
        try:
            folder, created = install(v.source.root, v.rows, v.manifest, v.schema, v.digest, root,
                                      limits.max_file_bytes)
        except (SubmissionError, OSError) as exc:
            _reject(store, v, [f"storing failed: {exc}"])
            raise SubmissionError(f"submission {name} could not be stored: {exc}") from exc
    v.report["store_path"] = str(folder)
    try:
        v.report["fingerprint"] = fingerprint(dataset_from_store(folder, name))
    except BaseException:
        if created:
            remove_tree(folder)
        raise
    mine = [r for r in earlier if r["name"] == name]
    version = max((int(r["version"]) for r in mine), default=0) + 1
    toml_path = Path(submissions_dir or default_submissions_dir()).expanduser().absolute() / name / TOML_NAME
    undo = _TomlUndo(toml_path)
    try:
        write_toml(toml_path, _toml_doc(v, version, folder, description, license, mine), TOML_HEADER)
        got = store.add_submission(
            name, status="accepted", report=v.report, path=folder, n_images=v.counts["total"]["images"],
            n_ids=v.counts["total"]["ids"], n_cams=v.counts["total"]["cameras"],
            fingerprint=v.report.get("fingerprint"), has_attributes=v.has_attributes)
        if got != version:  # another submission of this name was recorded meanwhile
            version = got
            write_toml(toml_path, _toml_doc(v, version, folder, description, license, mine), TOML_HEADER)
    except BaseException:
        undo.restore()
        if created:
            remove_tree(folder)
        raise
    return _result(v, "accepted", version, folder, toml_path)


def _result(v: Validation, status: str, version: int | None, folder: Path | None = None,
            toml_path: Path | None = None) -> SubmissionResult:
    v.report["status"] = status
    return SubmissionResult(v.name, status, version, v.reasons(), v.report.get("warnings", []), v.report,
                            folder, toml_path)


def _reject(store: Store, v: Validation, reasons: list[str]) -> SubmissionResult:
    v.report["status"] = "rejected"
    if reasons != v.reasons():
        v.report["errors"] = reasons
    version = store.add_submission(v.name, status="rejected", reasons=reasons, report=v.report)
    result = _result(v, "rejected", version)
    result.reasons = reasons
    return result


def _toml_doc(v: Validation, version: int, folder: Path, description: str, license: str,
              mine: list[dict]) -> dict:
    counts = v.counts
    return {
        "name": v.name, "version": version, "status": "accepted", "created": utc_now(),
        "content_hash": v.digest, "store_path": str(folder), "layout": v.report.get("layout"),
        "source_kind": v.report.get("source", {}).get("kind"), "description": description, "license": license,
        "has_attributes": v.has_attributes,
        "counts": {**counts["total"], **{s: counts[s] for s in ("train", "query", "gallery") if counts[s]["images"]}},
        "attributes": [{k: c[k] for k in ("name", "kind", "level", "per", "source", "coverage", "values")}
                       for c in v.attribute_schema],
        "history": [{"version": int(r["version"]), "status": r["status"],
                     "content_hash": (r.get("report") or {}).get("content_hash", ""),
                     "created": str(r.get("created_at") or "")} for r in mine],
    }


class _TomlUndo:
    """Remembers submission.toml as it was, to put it back if the submission fails later."""

    def __init__(self, path: Path):
        self.path = path
        self.folder_existed = path.parent.is_dir()
        self.old = path.read_bytes() if path.is_file() else None

    def restore(self) -> None:
        try:
            if self.old is not None:
                tmp = self.path.with_name(f".{self.path.name}.restore")
                tmp.write_bytes(self.old)
                tmp.replace(self.path)
            elif self.path.is_file():
                self.path.unlink()
            if not self.folder_existed and self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
                self.path.parent.rmdir()
        except OSError:
            pass  # the original error matters more
