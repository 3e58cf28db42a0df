"""L*: `budget` source images drawn by the optimised attribute distribution V* (Algorithm 1, line 10).

- Sources with files (FineGPR, submissions): existing train records are drawn
  without replacement with probability proportional to

      w(x) = prod_a V*_a(x_a) / f_a(x_a),

  f_a the source's empirical marginal. If the source's attributes were
  independent, the selection's marginals would be V*'s exactly (importance
  weighting from the source's distribution to V*); sampling without
  replacement flattens the weights a little when the budget is a large share
  of the source. A budget at least the source's size takes every record.
- `sim-` sources (procedural FineGPR-format twins) are rendered: new people
  whose 13 id attributes are drawn from V*'s id part, each seen in cells drawn
  from V*'s env part (distinct (viewpoint, weather, illumination) per person,
  FineGPR's rule), written in FineGPR's layout and naming with an
  attributes.csv, so the folder is itself a FineGPR dataset.

V* is returned as {attribute: [p per code 1..n]} for storage, with the
source's own empirical distribution over the same attributes.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from benchmark.attributes import BY_NAME, ENV_NAMES, ID_NAMES
from benchmark.aost.probe import (
    empirical_marginals,
    renders_cells,
    render_settings,
    searchable_attributes,
    source_codes,
    weighted_sample,
)
from benchmark.datasets.records import Dataset, Record

SELECT_PERSON0 = 30_000_000  # render keys of selected (new) people: never an id of a twin or of the probe
MAX_FINEGPR_IDS = 9_999  # FineGPR names ids with four digits
CELLS_PER_ID = 36 * 7 * 7  # distinct (viewpoint, weather, illumination) cells of one FineGPR id


@dataclass
class Selection:
    records: list[Record]
    v_star: dict[str, list[float]]
    source_dist: dict[str, list[float]]
    kind: str  # "sampled" | "rendered"
    folder: Path | None = None  # where rendered images were written
    notes: list[str] = field(default_factory=list)


def _check_distribution(v_star: Mapping[str, Sequence[float]], attributes: Sequence[str]) -> dict[str, np.ndarray]:
    out = {}
    for a in attributes:
        if a not in v_star:
            raise ValueError(f"V* has no distribution for attribute {a!r} that the source carries")
        p = np.asarray(v_star[a], dtype=np.float64)
        if p.shape != (BY_NAME[a].n,) or np.any(p < 0) or not np.isfinite(p).all() or p.sum() <= 0:
            raise ValueError(f"V*[{a!r}] must be {BY_NAME[a].n} non-negative numbers with a positive sum, got {list(p)}")
        out[a] = p / p.sum()
    return out


def select(
    source: Dataset, v_star: Mapping[str, Sequence[float]], budget: int, *, seed: int = 0, out_dir: Path | None = None
) -> Selection:
    """Draw (or render, for sim- sources) `budget` images by V*; rendered ones are written under out_dir."""
    if budget < 1:
        raise ValueError(f"the AO budget must be at least 1 image, got {budget}")
    attributes = searchable_attributes(source)
    v = _check_distribution(v_star, attributes)
    source_dist = empirical_marginals(source_codes(source.train, attributes), attributes)
    stored = {a: [float(x) for x in v[a]] for a in attributes}
    if renders_cells(source, attributes):
        if out_dir is None:
            raise ValueError(f"{source.key} is rendered on demand: select() needs out_dir for the images")
        recs, notes = _render_selection(source, v, budget, seed, Path(out_dir))
        return Selection(recs, stored, source_dist, "rendered", Path(out_dir), notes)
    recs, notes = _sample_selection(source, v, attributes, source_dist, budget, seed)
    return Selection(recs, stored, source_dist, "sampled", None, notes)


def _sample_selection(
    source: Dataset, v: dict[str, np.ndarray], attributes: Sequence[str], emp: dict[str, list[float]], budget: int, seed: int
) -> tuple[list[Record], list[str]]:
    records = list(source.train)
    if budget >= len(records):
        return records, [f"budget {budget} >= {len(records)} source images: every image is selected"]
    codes = source_codes(records, attributes)
    logw = np.zeros(len(records))
    with np.errstate(divide="ignore"):
        for j, a in enumerate(attributes):
            logw += np.log(v[a][codes[:, j] - 1]) - np.log(np.asarray(emp[a])[codes[:, j] - 1])
    rng = np.random.default_rng([seed, 0x5E1])
    positive = int(np.isfinite(logw).sum())
    notes = []
    if positive < budget:
        notes.append(f"only {positive} source images have non-zero probability under V*; the rest are drawn at random")
        logw = np.where(np.isfinite(logw), logw, logw[np.isfinite(logw)].min(initial=0.0) - 50.0)
    take = np.sort(weighted_sample(logw, budget, rng))
    return [records[i] for i in take], notes


def _render_selection(source: Dataset, v: dict[str, np.ndarray], budget: int, seed: int, out_dir: Path
                      ) -> tuple[list[Record], list[str]]:
    from benchmark import progress
    from benchmark.synth import render_image
    from benchmark.synth.camera import encode_jpeg

    settings = render_settings(source)
    style = {k: val for k, val in settings["style"].items() if k != "jpeg"}  # encoded once, below
    quality = int(settings["style"].get("jpeg") or 95)
    n_ids = int(min(max(source.num_train_pids, 2), max(2, budget // 4), MAX_FINEGPR_IDS, budget))
    n_ids = max(n_ids, -(-budget // CELLS_PER_ID))  # never more images per id than distinct cells
    if n_ids > MAX_FINEGPR_IDS:
        raise ValueError(f"a budget of {budget} needs more than {MAX_FINEGPR_IDS} FineGPR ids; lower --budget")
    rng = np.random.default_rng([seed, 0x5E2])
    per_id = np.full(n_ids, budget // n_ids)
    per_id[: budget % n_ids] += 1
    base = out_dir / "finegpr" / "FineGPR"
    # what the images depend on: a resumed run whose V* and settings match keeps the files already
    # rendered (each is written atomically); anything else starts the folder afresh
    recipe = json.dumps({"v": {a: [round(float(x), 12) for x in v[a]] for a in sorted(v)}, "budget": budget,
                         "seed": seed, "settings": settings, "version": 1}, sort_keys=True, default=str)
    marker = out_dir / "selection.json"
    if base.exists() and not (marker.is_file() and marker.read_text() == recipe):
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    marker.write_text(recipe)
    records: list[Record] = []
    table = []
    notes = [f"rendered {budget} images of {n_ids} new identities into {out_dir}"]

    with progress.stage("AO selection (rendering L*)", budget) as bar:
        for k in range(n_ids):
            pid = k + 1
            ids = {a: int(rng.choice(len(v[a]), p=v[a])) + 1 for a in ID_NAMES}
            table.append((pid, ids))
            folder = base / f"{pid:04d}"
            folder.mkdir(exist_ok=True)
            for j, env in enumerate(_distinct_cells(v, int(per_id[k]), rng)):
                name = (f"{pid:04d}_c{env['viewpoint']:02d}_w{env['weather']:02d}"
                        f"_l{env['illumination']:02d}_p{env['scene']:02d}.jpg")
                path = folder / name
                if not path.is_file():  # rendered before an interrupt: the same bytes
                    img = render_image(ids, env, SELECT_PERSON0 + k, size=settings["size"],
                                       seed=seed * 1_000_003 + k * 4_099 + j, camera_style=style,
                                       twin_seed=settings["twin_seed"])
                    tmp = path.with_name(path.name + ".tmp")
                    tmp.write_bytes(encode_jpeg(img, quality))
                    tmp.replace(path)
                records.append(Record(str(path), pid, env["viewpoint"] - 1, {**ids, **env}))
                bar.update(1)
    _write_attributes_csv(out_dir / "finegpr" / "attributes.csv", table)
    return records, notes


def _distinct_cells(v: dict[str, np.ndarray], n: int, rng: np.random.Generator) -> list[dict[str, int]]:
    """n env cells by V*, with distinct (viewpoint, weather, illumination): FineGPR has one image per such cell."""
    cells: list[dict[str, int]] = []
    seen: set[tuple[int, int, int]] = set()
    for _ in range(n):
        for attempt in range(60):
            env = {a: int(rng.choice(len(v[a]), p=v[a])) + 1 for a in ENV_NAMES}
            key = (env["viewpoint"], env["weather"], env["illumination"])
            if key not in seen:
                break
        else:  # V* is too peaked for n distinct cells: take an unused one at random
            while key in seen:
                env["viewpoint"], env["weather"], env["illumination"] = (
                    int(rng.integers(1, 37)), int(rng.integers(1, 8)), int(rng.integers(1, 8)))
                key = (env["viewpoint"], env["weather"], env["illumination"])
        seen.add(key)
        cells.append(env)
    return cells


def _write_attributes_csv(path: Path, table: list[tuple[int, dict[str, int]]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("pid", *ID_NAMES))
    for pid, ids in table:
        w.writerow((pid, *(ids[a] for a in ID_NAMES)))
    path.write_text(buf.getvalue())
