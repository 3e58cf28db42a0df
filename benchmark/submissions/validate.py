"""Validate a submission and write its report; nothing is stored here.

Errors (the submission is rejected):
- an unsafe archive or folder (links, devices, fifos, unsafe member names,
  more files or bytes than the limits, a compression bomb), an unreadable one;
- no recognisable layout; a bad file name, manifest row, pid or camid;
- an image that is empty, too large, not JPEG/PNG, over the pixel limit, or
  that does not decode completely; an image format other than jpg/png;
- an attribute value that is not a FineGPR value/code, a bad own attribute
  column or value, too many attribute columns or values, a broken attributes file;
- fewer than Limits.min_train_ids identities in the train split;
- images identical to a real dataset's (test data must never be trained on),
  or the whole submission equal to a known dataset (same fingerprint);
- a description or licence that is too long or holds control characters.
Warnings (accepted): ids with fewer than 2 images, ids seen by one camera
only, byte-identical images inside the submission (noted separately when they
carry different ids), images shared with other submissions or with known
synthetic datasets, images smaller than 8 pixels a side, a file extension
that does not match the content, partial attribute coverage, attribute names
close to FineGPR's, query/ without bounding_box_test/ (or the reverse).
"""
from __future__ import annotations

import re
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.datasets.fingerprint import fingerprint
from benchmark.datasets.records import DataError, Dataset, Record
from benchmark.submissions import duplicates
from benchmark.submissions.archive import Source, open_source
from benchmark.submissions.attribute_table import read_attributes_csv, resolve
from benchmark.submissions.content_store import canonical_rows, content_hash, manifest_bytes, schema_bytes
from benchmark.submissions.errors import Rejected
from benchmark.submissions.findings import Findings
from benchmark.submissions.images import check_images
from benchmark.submissions.layouts import SPLITS, Item, parse
from benchmark.submissions.limits import ACCEPTED_FORMATS, Limits
from benchmark.submissions.names import shown
from benchmark.text_safety import has_hidden, printable

MIN_SIDE = 8  # pixels; a smaller crop carries next to nothing about a person
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Validation:
    """The outcome: findings, the report, and what storing an accepted submission needs."""

    name: str
    findings: Findings
    report: dict = field(default_factory=dict)
    source: Source | None = None
    rows: list[dict] = field(default_factory=list)
    manifest: bytes = b""
    schema: bytes = b""
    digest: str | None = None
    counts: dict = field(default_factory=dict)
    has_attributes: bool = False
    attribute_schema: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.findings.ok

    def reasons(self) -> list[str]:
        return self.findings.reasons()


def _check_text(label: str, text: str, limit: int, findings: Findings) -> None:
    if len(text) > limit:
        findings.error(f"the {label} is longer than {limit:,} characters")
    if _TEXT_CONTROL.search(text) or has_hidden(text.replace("\n", "").replace("\t", "")):
        findings.error(f"the {label} holds control, invisible or non-UTF-8 characters (e.g. {shown(text, 60)}); "
                       "expected plain UTF-8 text")


def counts_of(items: list[Item]) -> dict:
    out = {}
    for split in SPLITS:
        recs = [it for it in items if it.split == split]
        out[split] = {"images": len(recs), "ids": len({it.pid for it in recs}),
                      "cameras": len({it.camid for it in recs})}
    out["total"] = {"images": len(items), "ids": len({it.pid for it in items}),
                    "cameras": len({it.camid for it in items})}
    return out


def _id_stats(items: list[Item], limits: Limits, findings: Findings) -> dict:
    train = [it for it in items if it.split == "train"]
    per_id: dict[int, list[Item]] = defaultdict(list)
    for it in train:
        per_id[it.pid].append(it)
    few = sorted(p for p, v in per_id.items() if len(v) < 2)
    one_cam = sorted(p for p, v in per_id.items() if len({it.camid for it in v}) == 1)
    if len(per_id) < limits.min_train_ids:
        findings.error(f"the train split has {len(per_id)} identit{'y' if len(per_id) == 1 else 'ies'}; "
                       f"re-ID training needs at least {limits.min_train_ids}")
    if few:
        findings.warn(f"{len(few)} of {len(per_id)} train ids have fewer than 2 images (e.g. pid {few[0]}); "
                      "they cannot form a positive pair")
    if one_cam:
        findings.warn(f"{len(one_cam)} of {len(per_id)} train ids are seen by one camera only (e.g. pid "
                      f"{one_cam[0]}); they teach no cross-camera invariance")
    return {"fewer_than_2_images": {"count": len(few), "examples": few[:10]},
            "single_camera": {"count": len(one_cam), "examples": one_cam[:10]}}


def _image_stats(infos: list) -> dict:
    if not infos:
        return {}
    ws = [i.width for i in infos]
    hs = [i.height for i in infos]
    sizes = Counter((i.width, i.height) for i in infos)
    return {
        "formats": dict(Counter(i.format for i in infos)),
        "width": {"min": min(ws), "median": statistics.median(ws), "max": max(ws)},
        "height": {"min": min(hs), "median": statistics.median(hs), "max": max(hs)},
        "distinct_sizes": len(sizes),
        "common_sizes": [[w, h, n] for (w, h), n in sizes.most_common(5)],
        "bytes": sum(i.bytes for i in infos),
    }


def _submitted_fingerprint(src: Source, base: str, items: list[Item]) -> str | None:
    """The submission read as a dataset at its layout folder, fingerprinted like the known datasets."""
    root = src.root / base if base else src.root
    ds = Dataset(key="submission", kind="submission", root=root)
    for it in items:
        ds.split(it.split).append(Record(str(src.root / it.rel), it.pid, it.camid))
    try:
        return fingerprint(ds)
    except DataError:
        return None


def validate(path: str | Path, name: str, work: Path, *, attributes: str | Path | None = None,
             description: str = "", license: str = "", limits: Limits, db_path: str | Path | None = None,
             index_dir: Path | None = None, earlier: list[dict] | None = None) -> Validation:
    """Check everything about a submission, extracting archives into `work` (a private temporary folder)."""
    t0 = time.perf_counter()
    findings = Findings(limits.max_listed)
    v = Validation(name=name, findings=findings)
    report: dict = {"name": name, "description": printable(description, "\n\t"), "license": printable(license),
                    "source": {"path": printable(path)}, "limits": dict(vars(limits)),
                    "accepted_formats": {k: list(e) for k, e in ACCEPTED_FORMATS.items()}}
    v.report = report
    _check_text("description", description, limits.max_text_chars, findings)
    _check_text("licence", license, limits.max_license_chars, findings)
    try:
        v.source = open_source(path, work, limits)
    except Rejected as exc:
        for r in exc.reasons:
            findings.error(r)
        return _finish(v, t0)
    src = v.source
    report["source"] = {"path": printable(path), "kind": src.kind, "files": len(src.files), "ignored": len(src.ignored)}
    parsed = parse(src, limits, findings)
    if parsed is None:
        return _finish(v, t0)
    report["layout"] = parsed.layout
    if not any(it.split == "train" for it in parsed.items):
        findings.error(f"no train images found ({'bounding_box_train/' if parsed.layout == 'market' else 'manifest.csv rows with split train'})")
    infos = check_images(src.root, [it.rel for it in parsed.items], limits)
    bad = [i for i in infos.values() if i.error]
    for i in bad:
        findings.error(f"image {shown(i.rel)}: {i.error}")
    mismatched = [i for i in infos.values() if i.warning]
    if mismatched:
        findings.warn(f"{len(mismatched)} image(s) have an extension that does not match the content "
                      f"(e.g. {shown(mismatched[0].rel)}: {mismatched[0].warning}); the store names them by content")
    good = [it for it in parsed.items if not infos[it.rel].error]
    tiny = [infos[it.rel] for it in good if min(infos[it.rel].width, infos[it.rel].height) < MIN_SIDE]
    if tiny:
        findings.warn(f"{len(tiny)} image(s) are smaller than {MIN_SIDE} pixels on a side "
                      f"(e.g. {shown(tiny[0].rel)}: {tiny[0].width}x{tiny[0].height})")
    table = read_attributes_csv(attributes, parsed.base, limits, findings) if attributes else None
    schema, codes = resolve(parsed.items, parsed.attribute_columns, table, limits, findings)
    v.attribute_schema = [c.to_dict() for c in schema]
    v.counts = counts_of(parsed.items)
    report["counts"] = v.counts
    report["ids"] = _id_stats(parsed.items, limits, findings)
    report["images"] = _image_stats([infos[it.rel] for it in good])
    finegpr = [c for c in schema if c.kind == "finegpr"]
    train_idx = [k for k, it in enumerate(parsed.items) if it.split == "train"]
    v.has_attributes = bool(finegpr) and bool(train_idx) and all(
        all(c.name in codes[k] for c in finegpr) for k in train_idx)
    for c in schema:
        if c.coverage < 1.0:
            findings.warn(f"attribute {c.name} covers {c.coverage:.1%} of the train images"
                          + ("; attribute optimisation (+ao) needs every image labelled" if c.kind == "finegpr" else ""))
    report["attributes"] = {"columns": v.attribute_schema, "has_attributes": v.has_attributes,
                            "finegpr": [c.name for c in finegpr], "own": [c.name for c in schema if c.kind == "own"]}
    if not findings.ok:
        return _finish(v, t0)
    names = [c.name for c in schema]
    v.rows = canonical_rows(parsed.items, infos, codes, names)
    v.manifest, v.schema = manifest_bytes(v.rows, names), schema_bytes(v.attribute_schema)
    v.digest = content_hash(v.manifest, v.schema)
    report["content_hash"] = v.digest
    _duplicates(v, parsed.items, infos, src, parsed.base, db_path, index_dir, earlier or [])
    return _finish(v, t0)


def _duplicates(v: Validation, items: list[Item], infos: dict, src: Source, base: str,
                db_path: str | Path | None, index_dir: Path | None, earlier: list[dict]) -> None:
    findings = v.findings
    inner = duplicates.within(items, infos)
    if inner["images"]:
        findings.warn(f"{inner['images']} image(s) are byte-identical copies of another image in the submission "
                      f"({inner['groups']} group(s), e.g. {', '.join(shown(p) for p in inner['examples'][0])})")
    if inner["conflicting_ids"]:
        findings.warn(f"{inner['conflicting_ids']} group(s) of identical images carry different ids (e.g. "
                      f"{', '.join(shown(p) for p in inner['conflicting_examples'][0])}): label noise")
    hashes = {r["sha256"] for r in v.rows}
    subs = duplicates.against_submissions(hashes, earlier, v.digest)
    own = [s for s in subs if s["name"] == v.name]
    others = [s for s in subs if s["name"] != v.name]
    if own:
        findings.note(f"shares images with its own earlier version(s): {duplicates.describe_submissions(own)}")
    if others:
        same = [s for s in others if s["identical"]]
        if same:
            findings.warn(f"identical content to submission {shown(same[0]['name'])} v{same[0]['version']}")
        findings.warn(f"shares images with other submissions: {duplicates.describe_submissions(others)}")
    known = duplicates.against_known(hashes, index_dir)
    for k in known:
        msg = f"{k['images']} image(s) are identical to images of the known dataset {k['dataset']} ({k['kind']})"
        if k["kind"] == "real":
            findings.error(msg + "; real datasets are test data and must never be trained on")
        else:
            findings.warn(msg)
    fp = _submitted_fingerprint(src, base, items)
    match = duplicates.known_fingerprints(db_path).get(fp) if fp else None
    if match:
        findings.error(f"the submission is the known dataset {match} file for file (same fingerprint {fp})")
    v.report["duplicates"] = {"within": inner, "submissions": subs, "known": known, "known_fingerprint": match,
                              "fingerprint_as_submitted": fp}


def _finish(v: Validation, t0: float) -> Validation:
    v.report.update(v.findings.to_dict())
    v.report["seconds"] = round(time.perf_counter() - t0, 3)
    return v
