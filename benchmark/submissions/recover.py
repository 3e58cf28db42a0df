"""Submissions against their files: restore rows from submission.toml + the store, check, repair.

The files are the submission's record outside the DB: `<submissions_dir>/<name>/submission.toml`
(the latest accepted version, with the history of earlier ones) and the store folder
`<store_root>/<content hash>/`. `rows_from_files` turns them back into DB rows for `db rebuild`;
`check_submissions` lists every difference between them and the DB as Findings, with the fix
`db check --repair` applies (under the submit commit lock, so a running submit is never raced).
"""
from __future__ import annotations

import json
import stat
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Callable

from benchmark.datasets.fingerprint import fingerprint
from benchmark.store import Store
from benchmark.store.check import Finding, db_error_line
from benchmark.store.db import resolve, write
from benchmark.store.result_format import parse_time
from benchmark.submissions.catalog import dataset_from_store
from benchmark.submissions.content_store import CONTENT_NAME, default_store_root, is_store_folder, read_store, \
    remove_tree
from benchmark.submissions.errors import SubmissionError
from benchmark.submissions.manifest_toml import TOML_NAME, default_submissions_dir, toml_doc, write_toml
from benchmark.submissions.names import is_valid_name, shown
from benchmark.submissions.submit import TOML_HEADER
from benchmark.submissions.txn import INCOMING_PREFIX, TEMP_PREFIX, commit_lock, remove_folder, stale_folders
from benchmark.text_safety import printable

COLUMNS = ("name", "version", "status", "reasons", "report", "path", "n_images", "n_ids", "created_at", "n_cams",
           "fingerprint", "has_attributes")
MAX_TOML_BYTES = 4 * 1024 * 1024  # ours are a few KB
LOST_REASON = "restored from submission.toml history: the reasons were only in the DB that was lost"


def _dirs(submissions_dir, store_root, data_root=None) -> tuple[Path, Path]:
    subs = Path(submissions_dir).expanduser().absolute() if submissions_dir else default_submissions_dir()
    store = Path(store_root).expanduser().absolute() if store_root else default_store_root(data_root)
    return subs, store


def _folder_of(store: Path, content_hash: Any, stated: Any) -> Path | None:
    for cand in ([Path(stated)] if isinstance(stated, str) and stated else []) + \
            ([store / content_hash] if isinstance(content_hash, str) and CONTENT_NAME.fullmatch(content_hash) else []):
        if is_store_folder(cand) and (not isinstance(content_hash, str) or cand.name == content_hash):
            return cand
    return None


def _counts(folder: Path) -> dict:
    rows, _ = read_store(folder)
    return {"images": len(rows), "ids": len({r["pid"] for r in rows}), "cameras": len({r["camid"] for r in rows})}


def read_toml_record(path: Path) -> dict:
    """A submission.toml checked for the fields a row needs; SubmissionError(one line) otherwise."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise SubmissionError(f"{path}: not a regular file")
        with open(path, "rb") as f:
            raw = f.read(MAX_TOML_BYTES + 1)
        if len(raw) > MAX_TOML_BYTES:
            raise SubmissionError(f"{path}: larger than {MAX_TOML_BYTES:,} bytes, not a submission.toml")
        doc = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise SubmissionError(f"{path}: not a readable submission.toml ({shown(exc, 200)})") from None
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not is_valid_name(name) or name != path.parent.name:
        raise SubmissionError(f"{path}: its name {shown(name)} is not a valid submission name or not its folder's")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version < 2 ** 31:
        raise SubmissionError(f"{path}: version {shown(version)} is not a positive whole number")
    if doc.get("status") != "accepted":
        raise SubmissionError(f"{path}: status {shown(doc.get('status'))}, expected accepted")
    history = doc.get("history", [])
    if not isinstance(history, list) or not all(
            isinstance(h, dict) and isinstance(h.get("version"), int) and not isinstance(h.get("version"), bool)
            and 1 <= h["version"] < version and h.get("status") in ("accepted", "rejected") for h in history):
        raise SubmissionError(f"{path}: its history is not a list of earlier versions with a status")
    for key in ("created", "content_hash", "store_path", "description", "license"):
        if key in doc and not isinstance(doc[key], str):
            raise SubmissionError(f"{path}: {key} must be text")
    return doc


def _time(text: Any):
    try:
        return parse_time(text) if isinstance(text, str) and text else None
    except ValueError:
        return None


def _row(name: str, version: int, status: str, created: Any, folder: Path | None, report: dict,
         reasons: list[str], fp: str | None = None, has_attributes: bool | None = None) -> dict:
    counts = _counts(folder) if folder else {}
    return {"name": name, "version": version, "status": status, "reasons": json.dumps(reasons),
            "report": json.dumps(report), "path": str(folder) if folder else None,
            "n_images": counts.get("images"), "n_ids": counts.get("ids"), "created_at": _time(created),
            "n_cams": counts.get("cameras"), "fingerprint": fp, "has_attributes": has_attributes}


def rows_from_toml(path: Path, store: Path) -> list[dict]:
    """The DB rows one submission.toml stands for: its version and its history (SubmissionError if unusable)."""
    doc = read_toml_record(path)
    name, version = doc["name"], doc["version"]
    folder = _folder_of(store, doc.get("content_hash"), doc.get("store_path"))
    if folder is None:
        raise SubmissionError(f"{path}: version {version} has no store folder (expected {store}/"
                              f"{doc.get('content_hash', '?')}); its files are gone")
    fp = doc.get("fingerprint") or fingerprint(dataset_from_store(folder, name))
    report = {"restored_from": str(path), "content_hash": folder.name, "layout": doc.get("layout"),
              "source": {"kind": doc.get("source_kind")}, "description": doc.get("description", ""),
              "license": doc.get("license", ""), "fingerprint": fp,
              "counts": {"total": _counts(folder)},
              "attributes": {"columns": [c for c in doc.get("attributes", []) if isinstance(c, dict)],
                             "has_attributes": bool(doc.get("has_attributes"))}}
    rows = [_row(name, version, "accepted", doc.get("created"), folder, report, [], fp,
                 bool(doc.get("has_attributes")))]
    for h in doc.get("history", []):
        old = _folder_of(store, h.get("content_hash"), None) if h["status"] == "accepted" else None
        if h["status"] == "accepted" and old is None:
            continue  # its files are gone: nothing to restore
        rep = {"restored_from": str(path), "content_hash": h.get("content_hash", "")}
        rows.append(_row(name, h["version"], h["status"], h.get("created"), old, rep,
                         [] if old else [LOST_REASON]))
    return rows


def rows_from_files(submissions_dir=None, store_root=None, data_root=None) -> tuple[list[dict], list[str]]:
    """Every submission row the files can restore, and a one-line problem per unusable submission.toml."""
    subs, store = _dirs(submissions_dir, store_root, data_root)
    rows, problems = [], []
    for path in sorted(subs.glob(f"*/{TOML_NAME}")) if subs.is_dir() else []:
        try:
            rows += rows_from_toml(path, store)
        except (SubmissionError, OSError, ValueError) as exc:
            why = printable(exc)
            problems.append(why if why.startswith(str(path)) else f"{path}: {why}")
    return rows, problems


# -- check and repair ------------------------------------------------------------------------------------
def check_submissions(db_path=None, submissions_dir=None, store_root=None, data_root=None,
                      temp_dir: str | Path | None = None) -> list[Finding]:
    """Every difference between the submissions' DB rows and their files, each with its fix where there is one."""
    subs, store = _dirs(submissions_dir, store_root, data_root)
    db = resolve(db_path)
    out: list[Finding] = []
    try:
        rows = Store(db).list_submissions()
    except Exception as exc:  # noqa: BLE001 - the runs check reports an unreadable DB
        return [Finding(f"submissions not checked: the DB cannot be read ({db_error_line(exc)})")]
    by_key = {(r["name"], int(r["version"])): r for r in rows}
    referenced = {Path(r["path"]).name for r in rows if r["status"] == "accepted" and r.get("path")}
    referenced |= {(r.get("report") or {}).get("content_hash") for r in rows if r["status"] == "accepted"}
    latest: dict[str, dict] = {}
    for r in rows:
        if r["status"] == "accepted":
            latest[r["name"]] = r  # rows come ordered by name, version
        if r["status"] == "accepted" and not _folder_of(store, (r.get("report") or {}).get("content_hash"),
                                                        r.get("path")):
            out.append(Finding(f"submission {r['name']} version {r['version']}: its store folder {r.get('path')} "
                               f"is missing or damaged (`aostbench submissions remove {r['name']}`, then submit "
                               "it again)"))
    tomls = {}
    for path in sorted(subs.glob(f"*/{TOML_NAME}")) if subs.is_dir() else []:
        try:
            doc = read_toml_record(path)
        except SubmissionError as exc:
            out.append(Finding(f"unreadable {TOML_NAME} (left as it is): {printable(exc)}"))
            continue
        tomls[doc["name"]] = (path, doc)
        referenced.add(doc.get("content_hash"))
        key = (doc["name"], doc["version"])
        if key not in by_key:
            folder = _folder_of(store, doc.get("content_hash"), doc.get("store_path"))
            if folder is not None:
                out.append(Finding(f"submission {doc['name']} version {doc['version']}: {path} says accepted but "
                                   "the DB has no row", _insert_from_toml(db, store, path)))
            else:
                out.append(Finding(f"submission {doc['name']} version {doc['version']}: {path} says accepted but "
                                   "the DB has no row and its store folder is gone",
                                   _remove_file(path, store)))
    for name, row in sorted(latest.items()):
        history = [r for r in rows if r["name"] == name and int(r["version"]) < int(row["version"])]
        want = toml_doc(row, history)
        have = tomls.get(name)
        path = subs / name / TOML_NAME
        if have is None:
            if path.exists():
                continue  # reported as unreadable above; never overwritten
            out.append(Finding(f"submission {name} version {row['version']} is in the DB but has no {path}",
                               _write_toml(path, store, want)))
        elif have[1]["version"] < int(row["version"]) or _history(have[1]) != _history(want):
            out.append(Finding(f"submission {name}: {path} says version {have[1]['version']} with "
                               f"{len(have[1].get('history', []))} earlier version(s), the DB version "
                               f"{row['version']} with {len(history)}", _write_toml(path, store, want)))
    if store.is_dir():
        for p in sorted(store.iterdir()):
            if CONTENT_NAME.fullmatch(p.name) and p.name not in referenced and p.is_dir() and not p.is_symlink():
                out.append(Finding(f"store folder {p} belongs to no submission (left by an interrupted submit)",
                                   _remove_store_folder(p, store, db, subs)))
        for p in stale_folders(store, INCOMING_PREFIX):
            out.append(Finding(f"{p} was left by a submit that was killed", _remove_temp(p, store)))
    temp = Path(temp_dir) if temp_dir else Path(tempfile.gettempdir())
    for p in stale_folders(temp, TEMP_PREFIX):
        out.append(Finding(f"{p} was left by a submit that was killed", _remove_temp(p, None)))
    return out


def _history(doc: dict) -> list[tuple]:
    return sorted((int(h["version"]), h["status"]) for h in doc.get("history", []))


def _locked(store: Path, fn: Callable[[], str]) -> Callable[[], str]:
    def fix() -> str:
        if not store.is_dir():
            return fn()
        with commit_lock(store):
            return fn()
    return fix


def _insert_from_toml(db: Path, store: Path, path: Path) -> Callable[[], str]:
    def fn() -> str:
        mine = rows_from_toml(path, store)[0]
        cols = list(COLUMNS)
        write(db, lambda con: con.execute(
            f"INSERT INTO submissions ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
            "ON CONFLICT DO NOTHING", [mine[c] for c in cols]))
        return f"recorded submission {mine['name']} version {mine['version']} from {path}"
    return _locked(store, fn)


def _remove_file(path: Path, store: Path) -> Callable[[], str]:
    def fn() -> str:
        path.unlink(missing_ok=True)
        if path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()
        return f"removed {path} (it pointed to files that are gone)"
    return _locked(store, fn)


def _write_toml(path: Path, store: Path, doc: dict) -> Callable[[], str]:
    def fn() -> str:
        write_toml(path, doc, TOML_HEADER)
        return f"wrote {path} from the DB (version {doc['version']})"
    return _locked(store, fn)


def _remove_store_folder(p: Path, store: Path, db: Path, subs: Path) -> Callable[[], str]:
    def fn() -> str:
        # look again under the lock: a submit may have recorded it since the check
        rows = Store(db).list_submissions()
        used = {Path(r["path"]).name for r in rows if r.get("path")} | {
            (r.get("report") or {}).get("content_hash") for r in rows}
        for t in subs.glob(f"*/{TOML_NAME}") if subs.is_dir() else []:
            try:
                used.add(read_toml_record(t).get("content_hash"))
            except SubmissionError:
                pass
        if p.name in used:
            return f"left {p}: a submission uses it now"
        remove_tree(p)
        return f"removed {p}"
    return _locked(store, fn)


def _remove_temp(p: Path, store: Path | None) -> Callable[[], str]:
    def fn() -> str:
        remove_folder(p)
        return f"removed {p}"
    return _locked(store, fn) if store is not None else fn
