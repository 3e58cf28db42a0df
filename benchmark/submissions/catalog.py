"""Accepted submissions: list, show, remove, and load one as a Dataset for training.

The results DB's `submissions` table is the catalogue (one row per version,
accepted or rejected); an accepted row's `path` is its read-only store folder.
"""
from __future__ import annotations

import os
from pathlib import Path

from benchmark.datasets.records import Dataset, Record
from benchmark.store import Store
from benchmark.submissions.content_store import default_store_root, is_store_folder, read_store, remove_tree
from benchmark.submissions.errors import SubmissionError, UnknownSubmission
from benchmark.submissions.manifest_toml import TOML_NAME, default_submissions_dir
from benchmark.submissions.names import shown, validate_name

KEY_PREFIX = "submission:"


def list_submissions(db_path: str | Path | None = None) -> list[dict]:
    """Every recorded version (accepted and rejected), by name then version; [] without a DB."""
    return Store(db_path).list_submissions()


def _rows_of(name: str, db_path: str | Path | None) -> list[dict]:
    return [r for r in list_submissions(db_path) if r["name"] == name]


def _unknown(name: str, db_path: str | Path | None, rows: list[dict] | None = None) -> UnknownSubmission:
    accepted = sorted({r["name"] for r in list_submissions(db_path) if r["status"] == "accepted"})
    listing = (f"accepted submissions: {', '.join(accepted)}" if accepted
               else "no submission has been accepted yet; submit one with `aostbench submit PATH --name NAME`")
    if rows:
        last = rows[-1]
        why = "; ".join(last.get("reasons") or [])[:300]
        return UnknownSubmission(f"submission {shown(name)} has no accepted version (version {last['version']} "
                                 f"was rejected: {why}). {listing[0].upper()}{listing[1:]}")
    return UnknownSubmission(f"unknown submission {shown(name)}; {listing} (see `aostbench submissions list`)")


def get_submission(name: str, version: int | None = None, db_path: str | Path | None = None) -> dict:
    """One recorded version (default: the latest, accepted or rejected) with its report."""
    validate_name(name)
    rows = _rows_of(name, db_path)
    if version is not None:
        rows = [r for r in rows if int(r["version"]) == int(version)]
    if not rows:
        raise _unknown(name, db_path) if version is None else UnknownSubmission(
            f"submission {shown(name)} has no version {version}")
    return rows[-1]


def accepted_version(name: str, version: int | None = None, db_path: str | Path | None = None) -> dict:
    """The latest accepted version of `name` (or exactly `version`, which must be accepted)."""
    validate_name(name)
    rows = _rows_of(name, db_path)
    if not rows:
        raise _unknown(name, db_path)
    if version is not None:
        pick = [r for r in rows if int(r["version"]) == int(version)]
        if not pick:
            raise UnknownSubmission(f"submission {shown(name)} has no version {version} (versions: "
                                    f"{', '.join(str(r['version']) for r in rows)})")
        if pick[0]["status"] != "accepted":
            raise UnknownSubmission(f"submission {shown(name)} version {version} was rejected: "
                                    f"{'; '.join(pick[0].get('reasons') or [])[:300]}")
        return pick[0]
    good = [r for r in rows if r["status"] == "accepted"]
    if not good:
        raise _unknown(name, db_path, rows)
    return good[-1]


def store_folder(row: dict, data_root: str | Path | None = None) -> Path:
    """The row's store folder; where it was moved, <store root>/<content hash> under data_root."""
    folder = Path(row["path"]) if row.get("path") else None
    if folder is not None and is_store_folder(folder):
        return folder
    digest = (row.get("report") or {}).get("content_hash")
    if digest:
        alt = default_store_root(data_root) / digest
        if is_store_folder(alt):
            return alt
    raise SubmissionError(f"the files of submission {shown(row['name'])} version {row['version']} are missing "
                          f"(expected {folder}); remove it (`aostbench submissions remove {row['name']}`) "
                          "and submit it again")


def dataset_from_store(folder: Path, name: str, meta: dict | None = None) -> Dataset:
    """Records of a store folder: absolute paths, raw pids, attrs under FineGPR names where used."""
    rows, schema = read_store(folder)
    finegpr = {c["name"] for c in schema if c["kind"] == "finegpr"}
    own = {c["name"] for c in schema if c["kind"] == "own"}
    ds = Dataset(key=KEY_PREFIX + name, kind="submission", root=folder)
    own_attrs: dict[str, dict[str, int]] = {}
    missing = []
    for r in rows:
        path = str(folder / r["path"])
        try:
            if os.stat(path).st_size != r["bytes"]:
                missing.append(r["path"])
        except OSError:
            missing.append(r["path"])
        attrs = {k: c for k, c in r["attrs"].items() if k in finegpr} or None
        if own:
            own_attrs[path] = {k: c for k, c in r["attrs"].items() if k in own}
        ds.split(r["split"]).append(Record(path, r["pid"], r["camid"], attrs))
    if missing:
        raise SubmissionError(f"submission {shown(name)}: {len(missing)} stored image(s) are missing or changed "
                              f"(e.g. {folder / missing[0]}); the store is read-only, so something outside "
                              "aostbench altered it: remove the submission and submit it again")
    ds.meta.update(meta or {})
    ds.meta.update(submission=name, store=str(folder), attribute_schema=schema, content_hash=folder.name)
    if own_attrs:
        ds.meta["own_attributes"] = own_attrs  # path -> {own attribute: code}; schema in attribute_schema
    return ds


def load_submission_dataset(name: str, *, version: int | None = None, db_path: str | Path | None = None,
                            data_root: str | Path | None = None) -> Dataset:
    """An accepted submission as a Dataset (kind "submission", key "submission:<name>") for training.

    The latest accepted version unless `version`. Train records carry their
    FineGPR attributes (codes 1..n) in Record.attrs where the submission gives
    them; the submitter's own attribute columns are in meta["own_attributes"]
    and every column's values in meta["attribute_schema"]. An unknown name is
    an UnknownSubmission listing the accepted submissions.
    """
    row = accepted_version(name, version, db_path)
    folder = store_folder(row, data_root)
    report = row.get("report") or {}
    meta = {"version": int(row["version"]), "created_at": row.get("created_at"),
            "layout": report.get("layout"), "counts": report.get("counts")}
    return dataset_from_store(folder, name, meta)


def remove_submission(name: str, *, db_path: str | Path | None = None,
                      submissions_dir: str | Path | None = None) -> dict:
    """Remove every version of `name`: DB rows, submission.toml, and store folders no other row uses."""
    validate_name(name)
    all_rows = list_submissions(db_path)
    mine = [r for r in all_rows if r["name"] == name]
    if not mine:
        raise _unknown(name, db_path)
    kept_paths = {r["path"] for r in all_rows if r["name"] != name and r["status"] == "accepted" and r.get("path")}
    removed_rows = Store(db_path).remove_submission(name)
    toml_dir = Path(submissions_dir or default_submissions_dir()).expanduser().absolute() / name
    toml_removed = False
    if (toml_dir / TOML_NAME).is_file() and not (toml_dir / TOML_NAME).is_symlink():
        (toml_dir / TOML_NAME).unlink()
        toml_removed = True
    if toml_dir.is_dir() and not toml_dir.is_symlink() and not any(toml_dir.iterdir()):
        toml_dir.rmdir()
    deleted = []
    for p in sorted({r["path"] for r in mine if r["status"] == "accepted" and r.get("path")} - kept_paths):
        folder = Path(p)
        if is_store_folder(folder):  # never delete a folder the DB row merely names
            remove_tree(folder)
            deleted.append(str(folder))
    return {"name": name, "rows": removed_rows, "toml_removed": toml_removed, "store_folders_deleted": deleted}
