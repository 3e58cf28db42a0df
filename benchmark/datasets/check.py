"""`aostbench data check`: validate a dataset on disk and say what is wrong, all of it.

Checks, in order: the layout and every file name (the loader's own rules, with
every error collected rather than the first raised), empty splits, counts
against the published release (real data: a warning, subsets exist) or against
twin.toml (twins: an error, the engine wrote those numbers), identities seen by
one camera only, and with deep=True whether every image decodes completely.
Nothing is written anywhere.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.datasets.formats.base import LoadOptions, Loaded
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import DataError, DatasetMissing
from benchmark.datasets.registry import (DatasetSpec, counts_of, get_spec, read, resolve_root, to_dataset,
                                        verify_registered)
from benchmark.datasets.twin import expected_counts

SHOW = 20  # messages listed per category in the text report


@dataclass
class CheckReport:
    key: str
    kind: str
    root: str
    deep: bool = False
    counts: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    decoded: int = 0
    missing: bool = False  # the layout is not there at all (as opposed to there but broken)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {
            "key": self.key, "kind": self.kind, "root": self.root, "deep": self.deep, "ok": self.ok,
            "counts": self.counts, "errors": self.errors, "warnings": self.warnings,
            "notes": self.notes, "ignored": self.ignored, "decoded": self.decoded,
        }

    def to_text(self) -> str:
        lines = [f"check {self.key} ({self.kind}){' --deep' if self.deep else ''}: {self.root}"]
        for split, c in self.counts.items():
            lines.append(f"  {split:<8}{c['images']:>10,} images {c['ids']:>7,} ids {c['cameras']:>4} cameras")
        for note in self.notes:
            lines.append(f"  {note}")
        if self.ignored:
            lines.append(f"  ignored {len(self.ignored)} unrelated file(s), e.g. {self.ignored[0]}")
        for title, items in (("warnings", self.warnings), ("errors", self.errors)):
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines += ["    - " + m.replace("\n", "\n      ") for m in items[:SHOW]]
                if len(items) > SHOW:
                    lines.append(f"    ... and {len(items) - SHOW} more")
        lines.append("result: OK" if self.ok else f"result: FAILED ({len(self.errors)} error(s))")
        return "\n".join(lines)


def _compare_published(spec: DatasetSpec, counts: dict, report: CheckReport) -> None:
    if not spec.published:
        return
    for pub in spec.published:
        if all(
            (img is None or counts[s]["images"] == img) and (ids is None or counts[s]["ids"] == ids)
            for s, (img, ids) in pub.splits.items()
        ):
            report.notes.append(f"counts match the published {pub.label} release")
            return
    want = "; ".join(
        f"{p.label}: " + ", ".join(
            f"{s} {'?' if img is None else f'{img:,}'} images/{'?' if ids is None else f'{ids:,}'} ids"
            for s, (img, ids) in p.splits.items()
        )
        for p in spec.published
    )
    report.warnings.append(f"counts differ from the published release ({want}): a subset or an incomplete copy?")


def _compare_twin(twin: dict, counts: dict, report: CheckReport) -> None:
    if not isinstance(twin.get("prior"), dict):
        report.warnings.append("twin.toml has no [prior] table: attribute-recovery scores are unavailable")
    expected = expected_counts(twin)
    if not expected:
        report.warnings.append("twin.toml states no counts; the image counts were not verified")
        return
    bad = False
    for split, exp in expected.items():
        for fld, n in exp.items():
            got = counts[split][fld]
            if got == n:
                continue
            if fld == "cameras":  # the engine may number composite cameras differently: worth a look only
                report.warnings.append(f"{split}: {got} cameras read but twin.toml says {n}")
                continue
            bad = True
            report.errors.append(f"{split}: {got:,} {fld} on disk but twin.toml says {n:,} (files lost or added?)")
    if not bad:
        report.notes.append("counts match twin.toml")


def _camera_coverage(loaded: Loaded, report: CheckReport) -> None:
    def cams_by_pid(recs):
        out: dict[int, set[int]] = {}
        for r in recs:
            out.setdefault(r.pid, set()).add(r.camid)
        return out

    train = cams_by_pid(loaded.train)
    single = sorted(p for p, c in train.items() if len(c) == 1)
    if single:
        report.warnings.append(
            f"train: {len(single)} of {len(train)} ids are seen by one camera only (e.g. pid {single[0]}); "
            "they teach no cross-camera invariance"
        )
    if loaded.query:
        gallery = cams_by_pid(loaded.gallery)
        unmatched = sorted(
            p for p, cams in cams_by_pid(loaded.query).items()
            if not any(gallery.get(p, set()) - {c} for c in cams)
        )
        if unmatched:
            report.warnings.append(
                f"query: {len(unmatched)} ids have no gallery image from another camera (e.g. pid {unmatched[0]}); "
                "evaluation skips those queries"
            )


def _decode(path: str) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()  # full decode: a truncated file fails here, not at verify()
    except Exception as exc:  # noqa: BLE001 - every failure is a finding
        return f"undecodable image {path}: {exc}"
    return None


def _deep(loaded: Loaded, report: CheckReport) -> None:
    paths = [r.path for s in ("train", "query", "gallery") for r in getattr(loaded, s)]
    if loaded.embedded_check is not None and not all(os.path.isfile(p) for p in paths):
        n, errors = loaded.embedded_check()
        report.decoded, report.errors = n, report.errors + errors
        return
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for err in pool.map(_decode, paths, chunksize=64):
            if err:
                report.errors.append(err)
    report.decoded = len(paths)


def check_dataset(name: str, data_root: str | Path | None = None, deep: bool = False) -> CheckReport:
    """Validate a dataset on disk; report.ok is False when anything makes it unusable.

    Never raises for a bad or missing dataset (that is the report's content);
    only an unknown name raises KeyError.
    """
    root = resolve_root(data_root)
    return check_spec(get_spec(name, root), root, deep=deep)[0]


def check_spec(spec: DatasetSpec, root: Path, deep: bool = False) -> tuple[CheckReport, str | None]:
    """check_dataset for a spec in hand; also returns the content fingerprint (None when unreadable).

    A registered user dataset whose folder changed since registration gets that as an error."""
    report = CheckReport(key=spec.key, kind=spec.kind_label, root=str(spec.base(root)), deep=deep)
    issues = Issues(strict=False)
    try:
        loaded, twin = read(spec, root, issues, LoadOptions(materialize=False))
    except DatasetMissing as exc:
        report.errors.append(str(exc))
        report.missing = True
        return report, None
    except DataError as exc:
        report.errors.append(str(exc))
        return report, None
    report.root = str(loaded.root)
    report.errors += issues.errors
    report.warnings += issues.warnings
    report.ignored = issues.ignored
    counts = counts_of(loaded)
    report.counts = {s: c for s, c in counts.items() if c["images"] or s in loaded.required}
    for split in loaded.required:
        if not counts[split]["images"]:
            report.errors.append(f"the {split} split is empty (expected layout: {spec.reader().layout})")
    if twin is not None:
        _compare_twin(twin, counts, report)
    else:
        _compare_published(spec, counts, report)
    if not loaded.meta.get("unlabeled"):  # an unlabeled folder has no ids or cameras to cover
        _camera_coverage(loaded, report)
    fp = None
    if spec.user is not None and not report.errors:  # your datasets: the folder must be what was registered
        try:
            fp = verify_registered(spec, to_dataset(spec, root, loaded, twin))
        except DataError as exc:
            report.errors.append(str(exc))
    if loaded.meta.get("junk_skipped"):
        report.notes.append(f"{loaded.meta['junk_skipped']:,} junk images (pid -1) skipped, as torchreid does")
    if deep:
        _deep(loaded, report)
        report.notes.append(f"decoded {report.decoded:,} images")
    return report, fp
