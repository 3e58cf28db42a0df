"""Train on a record list, then evaluate on test sets: the part of a run that scales out.

The pipeline calls `train_and_evaluate` in its own process (nproc 1) or starts
`python -m torch.distributed.run ... -m benchmark.reid.job JOB.json` (nproc > 1):
every process trains under DDP and extracts its shard of the features; rank 0
ranks them and writes `reid.json`, which the pipeline reads back.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmark.datasets.records import Record
from benchmark.profiles import Profile
from benchmark.reid import distributed as D

REID_RESULT = "reid.json"


@dataclass
class TestSplits:
    name: str
    query: list[Record]
    gallery: list[Record]


def _records_to_rows(records: Sequence[Record]) -> list[list]:
    return [[r.path, r.pid, r.camid] for r in records]


def _rows_to_records(rows: list[list]) -> list[Record]:
    return [Record(str(p), int(pid), int(cam)) for p, pid, cam in rows]


def evaluate_model(model, test: TestSplits, profile: Profile, device) -> dict:
    """Features of query and gallery (sharded under DDP), ranked on rank 0; percentages as the paper."""
    from benchmark.reid.evaluate import evaluate_features
    from benchmark.reid.features import extract_record_features

    t0 = time.perf_counter()
    qf = extract_record_features(model, test.query, profile, device=device, split=f"{test.name} query")
    gf = extract_record_features(model, test.gallery, profile, device=device, split=f"{test.name} gallery")
    if not D.is_main():
        return {}
    m = evaluate_features(
        qf, gf,
        [r.pid for r in test.query], [r.pid for r in test.gallery],
        [r.camid for r in test.query], [r.camid for r in test.gallery],
        metric=profile.dist_metric, normalize=profile.normalize_features, name=test.name,
    )
    return {
        "r1": 100 * m.r1, "r5": 100 * m.r5, "r10": 100 * m.r10, "map": 100 * m.mAP, "minp": 100 * m.mINP,
        "num_query": len(test.query), "num_gallery": len(test.gallery),
        "num_valid_queries": m.num_valid_queries, "eval_seconds": time.perf_counter() - t0,
    }


def train_and_evaluate(
    train_records: Sequence[Record],
    tests: Sequence[TestSplits],
    profile: Profile,
    out_dir: Path,
    *,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train (resuming from the last checkpoint when asked), evaluate every test set, return a JSON-able dict."""
    from benchmark.reid.models import load_trained_model
    from benchmark.reid.train import resolve_device, train

    tr = train(train_records, profile, out_dir, seed=seed, device=device, resume=resume, progress=progress)
    dev = resolve_device(device)
    model, _ = load_trained_model(tr.model_path, dev)
    metrics = {t.name: evaluate_model(model, t, profile, dev) for t in tests}
    return {"train": tr.to_dict(), "metrics": metrics}


def write_job(path: Path, train_records, tests, profile: Profile, out_dir: Path, seed: int, device: str, resume: bool) -> None:
    job = {
        "train": _records_to_rows(train_records),
        "tests": [{"name": t.name, "query": _records_to_rows(t.query), "gallery": _records_to_rows(t.gallery)} for t in tests],
        "profile": profile.to_dict(), "out_dir": str(out_dir), "seed": seed, "device": device, "resume": resume,
    }
    path.write_text(json.dumps(job))


def _profile_from_dict(d: dict) -> Profile:
    return Profile.from_dict(d)


def run_job_file(path: Path) -> None:
    """Entry point of each torchrun process."""
    job = json.loads(Path(path).read_text())
    profile = _profile_from_dict(job["profile"])
    tests = [TestSplits(t["name"], _rows_to_records(t["query"]), _rows_to_records(t["gallery"])) for t in job["tests"]]
    out_dir = Path(job["out_dir"])
    result = train_and_evaluate(
        _rows_to_records(job["train"]), tests, profile, out_dir,
        seed=job["seed"], device=job["device"], resume=job["resume"], progress=D.is_main(),
    )
    if D.is_main():
        tmp = out_dir / (REID_RESULT + ".tmp")
        tmp.write_text(json.dumps(result))
        tmp.replace(out_dir / REID_RESULT)
    D.cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m benchmark.reid.job JOB.json")
    run_job_file(Path(sys.argv[1]))
