"""The submissions store: one read-only folder per accepted content, named by its SHA-256.

    <store_root>/<sha256>/manifest.csv   split,path,pid,camid,sha256,bytes,width,height,source,<attributes...>
    <store_root>/<sha256>/schema.json    the attribute columns (name, kind, level, values: code k = values[k-1])
    <store_root>/<sha256>/images/<image sha256>.jpg|png

The folder name hashes manifest.csv and schema.json, and manifest.csv holds
every image's own hash, so the name covers images and labels alike. A folder is
built under a private `.incoming-*` name beside its final place, every file
hashed again as it is copied (the source may have changed since it was
checked), made read-only, then renamed into place in one step: a crash or a
failed check leaves no half-written folder under a content name.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from benchmark.faults import crash_point
from benchmark.submissions.errors import SubmissionError
from benchmark.submissions.images import ImageInfo, extension_for, read_file
from benchmark.submissions.layouts import SPLITS, Item
from benchmark.submissions.names import shown
from benchmark.submissions.txn import INCOMING_PREFIX, tagged_prefix

STORE_MANIFEST = "manifest.csv"
SCHEMA_FILE = "schema.json"
IMAGES_DIR = "images"
FIXED_COLUMNS = ("split", "path", "pid", "camid", "sha256", "bytes", "width", "height", "source")
CONTENT_NAME = re.compile(r"^[0-9a-f]{64}$")
STORE_ENV = "AOSTBENCH_SUBMISSIONS_STORE"


def default_store_root(data_root: str | Path | None = None) -> Path:
    """The resolved Paths' submissions store: $AOSTBENCH_SUBMISSIONS_STORE, else <data_root>/submissions-store."""
    from benchmark import paths

    return (paths.current().with_flags(data=data_root) if data_root else paths.current()).submissions_store


def canonical_rows(items: list[Item], infos: dict[str, ImageInfo], codes: list[dict[str, int]],
                   schema_names: list[str]) -> list[dict]:
    """The store's manifest rows, in one deterministic order (split, pid, camid, source path)."""
    rows = []
    for it, c in zip(items, codes):
        info = infos[it.rel]
        row = {
            "split": it.split, "path": f"{IMAGES_DIR}/{info.sha256}{extension_for(info.format)}", "pid": it.pid,
            "camid": it.camid, "sha256": info.sha256, "bytes": info.bytes, "width": info.width,
            "height": info.height, "source": it.rel,
        }
        row.update({n: c.get(n, "") for n in schema_names})
        rows.append(row)
    rows.sort(key=lambda r: (SPLITS.index(r["split"]), r["pid"], r["camid"], r["source"]))
    return rows


def manifest_bytes(rows: list[dict], schema_names: list[str]) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    cols = [*FIXED_COLUMNS, *schema_names]
    w.writerow(cols)
    for r in rows:
        w.writerow([r[c] for c in cols])
    return buf.getvalue().encode("utf-8")


def schema_bytes(schema: list[dict]) -> bytes:
    kept = [{k: col[k] for k in ("name", "kind", "level", "values", "per", "source")} for col in schema]
    return (json.dumps({"attributes": kept}, indent=1, sort_keys=True) + "\n").encode("utf-8")


def content_hash(manifest: bytes, schema: bytes) -> str:
    h = hashlib.sha256()
    for part in (manifest, schema):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def set_read_only(folder: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(folder):
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o444)
        os.chmod(dirpath, 0o555)


def _writable(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)


def remove_tree(folder: Path) -> None:
    """Delete a folder this module made read-only."""
    if folder.is_symlink() or not folder.is_dir():
        return
    _writable(folder)
    shutil.rmtree(folder)


def install(source_root: Path, rows: list[dict], manifest: bytes, schema: bytes, digest: str, store_root: Path,
            max_file_bytes: int) -> tuple[Path, bool]:
    """The store folder for this content, built now unless it is already there; (folder, created)."""
    final = store_root / digest
    if (final / STORE_MANIFEST).is_file():
        if read_file(final / STORE_MANIFEST, len(manifest) + 1) != manifest:
            raise SubmissionError(f"the store folder {final} exists but does not hold this content; "
                                  "remove it and submit again")
        return final, False
    store_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=tagged_prefix(INCOMING_PREFIX), dir=store_root))
    try:
        images = tmp / IMAGES_DIR
        images.mkdir()
        done: set[str] = set()
        for r in rows:
            if len(done) == 1:
                crash_point("store-copy")
            if r["sha256"] in done:
                continue
            data = read_file(source_root / r["source"], max_file_bytes)
            if hashlib.sha256(data).hexdigest() != r["sha256"]:
                raise SubmissionError(f"{shown(r['source'])} changed while the submission was being stored; "
                                      "submit again")
            (tmp / r["path"]).write_bytes(data)
            done.add(r["sha256"])
        (tmp / STORE_MANIFEST).write_bytes(manifest)
        (tmp / SCHEMA_FILE).write_bytes(schema)
        set_read_only(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if (final / STORE_MANIFEST).is_file():  # the same content arrived meanwhile
                remove_tree(tmp)
                return final, False
            raise
        return final, True
    except BaseException:
        remove_tree(tmp)
        raise


def read_store(folder: Path) -> tuple[list[dict], list[dict]]:
    """(manifest rows with typed numbers and codes, attribute schema) of a store folder."""
    try:
        text = (folder / STORE_MANIFEST).read_text(encoding="utf-8")
        schema = json.loads((folder / SCHEMA_FILE).read_text(encoding="utf-8"))["attributes"]
    except (OSError, ValueError, KeyError) as exc:
        raise SubmissionError(f"the submissions store folder {folder} is incomplete or damaged ({exc}); "
                              "remove the submission and submit it again") from None
    rows = []
    names = [c["name"] for c in schema]
    for r in csv.DictReader(io.StringIO(text, newline="")):
        for k in ("pid", "camid", "bytes", "width", "height"):
            r[k] = int(r[k])
        r["attrs"] = {n: int(r[n]) for n in names if r.get(n)}
        rows.append(r)
    return rows, schema


def store_hashes(folder: Path) -> set[str]:
    """The image hashes of one store folder (empty when it cannot be read)."""
    try:
        with open(folder / STORE_MANIFEST, encoding="utf-8", newline="") as f:
            return {r["sha256"] for r in csv.DictReader(f)}
    except (OSError, KeyError, ValueError):
        return set()


def is_store_folder(path: Path) -> bool:
    """A folder this module made: a 64-hex name holding our manifest (guards deletes driven by DB rows)."""
    return CONTENT_NAME.fullmatch(path.name) is not None and path.is_dir() and not path.is_symlink() \
        and (path / STORE_MANIFEST).is_file() and (path / SCHEMA_FILE).is_file()
