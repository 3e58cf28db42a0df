"""What a stage works on: the run's StageContext, and saving a stage's output for a resume.

A stage takes the run's StageContext, replaces `ctx.records` (the images the
model will train on), and records what it cost and what it found on
`ctx.result`. Each stage saves its output under `run_dir/stages/<name>/` so a
resumed run does not redo finished stages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.datasets.records import Dataset, Record
from benchmark.profiles import Profile
from benchmark.store import RunResult


@dataclass
class StageContext:
    profile: Profile
    seed: int
    budget: int
    source: Dataset
    target: Dataset | None  # the test set AO/ST adapt to (its train split, labels never read)
    run_dir: Path
    device: str
    result: RunResult
    records: list[Record]  # the current training images
    style: str | None = None  # style-transfer method override
    style_bank: Path | None = None
    # image sets whose FID against the target the run reports: stage -> (records, style method)
    fid_sets: dict[str, tuple[list[Record], str]] = field(default_factory=dict)
    progress: bool = True
    stages_done: list[str] = field(default_factory=list)  # the spec's stages that ran before this one
    fingerprints: dict[str, str] = field(default_factory=dict)  # dataset key -> fingerprint, computed once per run

    def fingerprint_of(self, ds: Dataset) -> str:
        from benchmark.datasets import fingerprint

        if ds.key not in self.fingerprints:
            self.fingerprints[ds.key] = fingerprint(ds)
        return self.fingerprints[ds.key]

    def stage_dir(self, name: str) -> Path:
        d = self.run_dir / "stages" / name
        d.mkdir(parents=True, exist_ok=True)
        return d


# -- saving a stage's output so a resumed run can skip it ---------------------------------------

def save_records(path: Path, records: list[Record]) -> None:
    rows = [{"path": r.path, "pid": r.pid, "camid": r.camid, "attrs": dict(r.attrs) if r.attrs else None} for r in records]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows))
    tmp.replace(path)


def load_records(path: Path) -> list[Record]:
    rows = json.loads(path.read_text())
    return [Record(r["path"], int(r["pid"]), int(r["camid"]), r["attrs"]) for r in rows]


def done_marker(ctx: StageContext, name: str) -> Path:
    return ctx.stage_dir(name) / "done.json"


def save_done(ctx: StageContext, name: str, payload: dict) -> None:
    p = done_marker(ctx, name)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(p)


def load_done(ctx: StageContext, name: str) -> dict | None:
    p = done_marker(ctx, name)
    return json.loads(p.read_text()) if p.is_file() else None
