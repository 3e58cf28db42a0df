"""Before a grid submits anything: every dataset and weights file its cells need is where the jobs will look.

The jobs see the head's data root (an absolute path on the shared filesystem)
and its environment (AOSTBENCH_WEIGHTS, TORCH_HOME), so checking here is
checking there. Every problem is collected: one missing file stops the whole
submission, and the message lists them all.
"""
from __future__ import annotations

from pathlib import Path


class PreflightError(RuntimeError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("nothing was submitted; the cells need files that are not there:\n  - "
                         + "\n  - ".join(problems))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def check_cells(cells, data_root: Path, fid: bool = True) -> list[str]:
    """Problems that would stop a cell's job; an empty list means every cell can start."""
    from benchmark.datasets import load_dataset
    from benchmark import weights as W
    from benchmark.paths import find_weights, weights_dirs
    from benchmark.profiles import load_profile
    from benchmark.specs import parse_spec

    problems: list[str] = []
    datasets: dict[str, list[str]] = {}  # key -> cells that need it
    profiles: dict[str, set[str]] = {}  # profile -> stages its cells use
    for c in cells:
        spec = parse_spec(c.spec)
        if spec.is_submission:
            problems.append(f"{c.label}: submissions run with --executor inprocess only "
                            "(a job would have to read the DB to find the submission's files)")
            continue
        for k in (spec.base, *c.tests):
            datasets.setdefault(k, []).append(c.label)
        profiles.setdefault((c.profile, tuple(c.overrides)), set()).update(spec.stages)
    for key, users in datasets.items():
        try:
            load_dataset(key, data_root)
        except Exception as e:  # noqa: BLE001 - every kind of missing/broken dataset is reported, then all stop
            problems.append(f"dataset {key} under {data_root} (needed by {len(users)} cell(s)): {_first_line(e)}")
    where = " or ".join(str(d) for d in weights_dirs())
    for (name, overrides), stages in profiles.items():
        profile = load_profile(name, dict(overrides))
        for wf, why in W.needed_by(profile):  # the files a run of these cells requires (benchmark.weights)
            if (wf is W.VGG19 and "ao" not in stages) or (wf is W.FID_INCEPTION and not fid):
                continue
            if find_weights(wf.filename) is None:
                problems.append(f"weights file {wf.filename} ({why}, profile {name}) is not in {where}; "
                                f"get it with `{W.fetch_command(wf)}`")
    return list(dict.fromkeys(problems))
