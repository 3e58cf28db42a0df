"""The plan of a twin: every image's file name, split, person, camera, attributes and render seed.

Planning is cheap and fully deterministic; rendering each planned image is
independent (its pixels depend only on the twin seed, the person and the
image's own seed), so a plan can be rendered in any order or in parallel.

People appear the way they do in real re-ID data: each identity is seen by
several cameras ("visits"); within a visit the weather, the time of day and
the scene stay the same and the viewpoint mostly does too (the person walks
one way past that camera).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmark.attributes import ENV_NAMES, ID_NAMES
from benchmark.synth.identity import CLOTHING, balanced_identity_attrs, sample_identity_attrs
from benchmark.synth.spec import TwinSpec

DISTRACTOR_PERSON0 = 10_000_000  # render keys of pid-0 distractors start here (never a real id)
_TOD = {1: "night", 2: "morning", 3: "morning", 4: "noon", 5: "afternoon", 6: "afternoon", 7: "night"}


@dataclass(slots=True)
class Job:
    relpath: str  # relative to the twin's base folder
    split: str  # train / query / gallery
    pid: int  # the id as the dataset's loader reads it
    cam: int  # index into spec.cameras (style, restrictions)
    person: int  # the render identity (pid argument of render_image)
    attrs: dict[str, int]  # the 13 id attributes of this image (an outfit's, for SOMAset)
    env: tuple[int, int, int, int]  # viewpoint, weather, illumination, scene
    seed: int  # the render seed of this image
    camid: int = 0  # camera index as the loader reports it (filled in at the end)
    list_name: str | None = None  # MSMT17: which list file names this image

    def env_dict(self) -> dict[str, int]:
        return dict(zip(ENV_NAMES, self.env))


@dataclass
class Plan:
    spec: TwinSpec
    scale: str
    seed: int
    twin_seed: int
    size: tuple[int, int]
    jobs: list[Job] = field(default_factory=list)
    identities: dict[int, dict[str, int]] = field(default_factory=dict)  # person -> 13 id attributes
    lists: dict[str, list[str]] = field(default_factory=dict)  # extra text files: relpath -> lines
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def twin_seed(spec: TwinSpec, seed: int = 0) -> int:
    """The seed all of a twin's people and images derive from: (the spec's seed, the user's seed)."""
    state = np.random.SeedSequence([int(spec.seed), int(seed) % (1 << 63)]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def make_plan(spec: TwinSpec, scale: str = "demo", seed: int = 0) -> Plan:
    """Plan every image of `spec` at `scale` (no pixels yet)."""
    sc = spec.scale(scale)
    ts = twin_seed(spec, seed)
    plan = Plan(spec=spec, scale=scale, seed=seed, twin_seed=ts, size=sc["size"])
    rng = np.random.default_rng([ts, 0x91A4])
    env = _EnvSampler(spec)
    kind = spec.kind
    if kind == "bbox":
        _plan_bbox(plan, sc, rng, env)
    elif kind == "personx":
        _plan_personx(plan, sc, rng, env)
    elif kind == "grid":
        _plan_grid(plan, sc, rng)
    elif kind == "somaset":
        _plan_somaset(plan, sc, rng, env)
    else:
        _plan_train(plan, sc, rng, env)
    for k, job in enumerate(plan.jobs):
        job.seed = k
    _assign_camids(plan)
    _check_unique(plan)
    plan.counts = _counts(plan)
    return plan


# ---- helpers ---------------------------------------------------------------
class _EnvSampler:
    """Env attribute codes from the twin's prior, restricted per camera."""

    def __init__(self, spec: TwinSpec):
        self.p = {(c, a): cam.env_prior(spec.prior, a) for c, cam in enumerate(spec.cameras) for a in ENV_NAMES}

    def code(self, rng: np.random.Generator, cam: int, attr: str) -> int:
        p = self.p[(cam, attr)]
        return int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right")) + 1

    def visit(self, rng: np.random.Generator, cam: int) -> "_Visit":
        return _Visit(self, rng, cam)


class _Visit:
    """One person passing one camera: shared weather, light and scene; a mostly constant heading."""

    def __init__(self, env: _EnvSampler, rng: np.random.Generator, cam: int):
        self.env, self.cam = env, cam
        self.base = tuple(env.code(rng, cam, a) for a in ENV_NAMES)
        self.frame = int(rng.integers(100, 150_000))
        self.step = int(rng.integers(3, 40))
        self.seq = int(rng.integers(1, 7))
        self.date = f"{int(rng.integers(1, 5)):02d}{int(rng.integers(1, 29)):02d}"

    def image(self, rng: np.random.Generator) -> tuple[tuple[int, int, int, int], int]:
        vp = self.base[0] if rng.random() < 0.6 else self.env.code(rng, self.cam, "viewpoint")
        self.frame += self.step
        return (vp, *self.base[1:]), self.frame  # type: ignore[return-value]


def _split_even(total: int, n: int, rng: np.random.Generator) -> list[int]:
    """total split into n near-equal parts (the larger parts at random places)."""
    base, extra = divmod(total, n)
    out = np.full(n, base)
    out[rng.permutation(n)[:extra]] += 1
    return [int(x) for x in out]


def _person_attrs(plan: Plan, person: int) -> dict[str, int]:
    """An identity's 13 attributes, drawn from the prior by its own seed (independent of the counts)."""
    if person not in plan.identities:
        rng = np.random.default_rng([plan.twin_seed, person % (1 << 63), 3])
        plan.identities[person] = sample_identity_attrs(plan.spec.prior, 1, rng)[0]
    return plan.identities[person]


def _per_camera(n: int, k: int, rng: np.random.Generator) -> list[int]:
    """n images over k cameras, at least one each."""
    return [1 + int(x) for x in rng.multinomial(n - k, np.full(k, 1.0 / k))]


# ---- train / query / gallery formats (Market, Duke, CUHK03-NP, MSMT17) -----
def _plan_bbox(plan: Plan, sc: dict[str, Any], rng: np.random.Generator, env: _EnvSampler) -> None:
    spec = plan.spec
    C = len(spec.cameras)
    ntr, nte, ngo = sc["train_ids"], sc["test_ids"], sc.get("gallery_only_ids", 0)
    ids = [int(x) for x in rng.permutation(np.arange(1, ntr + nte + ngo + 1))]
    tr, te, go = sorted(ids[:ntr]), sorted(ids[ntr:ntr + nte]), sorted(ids[ntr + nte:])
    recs: list[tuple[str, int, int, Any, tuple, int]] = []  # split, pid, cam, visit, env, frame

    def visit_images(pid: int, cam: int, n: int, splits: list[str]) -> None:
        """n images of one visit; splits[i] for the i-th (the last entry repeats)."""
        v = env.visit(rng, cam)
        for i in range(n):
            e, frame = v.image(rng)
            recs.append((splits[min(i, len(splits) - 1)], pid, cam, v, e, frame))

    for pid, n in zip(tr, _split_even(sc["train_images"], ntr, rng)):
        k = max(2, min(C, n, int(rng.integers(2, C + 1))))
        for cam, m in zip(rng.choice(C, size=k, replace=False), _per_camera(n, k, rng)):
            visit_images(pid, int(cam), m, ["train"])
    g_rest = sc["gallery_images"] - sc.get("distractors", 0) - sc.get("gallery_only_images", 0)
    for pid, q, g in zip(te, _split_even(sc["query_images"], nte, rng), _split_even(g_rest, nte, rng)):
        # q query cameras (one query each); every query needs a gallery image in another camera:
        # either a camera without a query holds gallery images, or (q == k) every camera does
        if q < C:
            k = int(np.clip(rng.integers(2, C + 1), q + 1, min(C, q + g)))
            must = [0] * q + [1] * (k - q)
        else:
            k = C
            must = [1] * k
        cams = rng.choice(C, size=k, replace=False)
        extra = rng.multinomial(g - sum(must), np.full(k, 1.0 / k))
        for j, cam in enumerate(cams):
            n_gal = must[j] + int(extra[j])
            splits = (["query"] if j < q else []) + ["gallery"] * n_gal
            if splits:
                visit_images(pid, int(cam), len(splits), splits)
    for pid, n in zip(go, _split_even(sc.get("gallery_only_images", 0), max(ngo, 1), rng) if ngo else []):
        visit_images(pid, int(rng.integers(C)), n, ["gallery"])
    persons = {pid: pid for pid in ids}
    for k in range(sc.get("distractors", 0)):
        cam = int(rng.integers(C))
        v = env.visit(rng, cam)
        e, frame = v.image(rng)
        persons[-(k + 1)] = DISTRACTOR_PERSON0 + k
        recs.append(("gallery", -(k + 1), cam, v, e, frame))

    fmt = spec.format
    split_dir = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
    root = {"market1501": "market1501/Market-1501-v15.09.15", "dukemtmc": "dukemtmc-reid/DukeMTMC-reID",
            "cuhk03": "cuhk03-np/detected", "msmt17": "msmt17/MSMT17_V1"}[fmt]
    used: set[str] = set()
    counters: dict[tuple, int] = {}
    msmt_pid: dict[tuple[str, int], int] = {}
    msmt_next = {"train": 0, "test": 0}
    val = set()
    if fmt == "msmt17" and sc.get("val_images", 0):
        train_idx = [i for i, r in enumerate(recs) if r[0] == "train"]
        val = set(int(i) for i in rng.choice(train_idx, size=sc["val_images"], replace=False))
    for i, (split, pid, cam_idx, v, e, frame) in enumerate(recs):
        cam = spec.cameras[cam_idx].id
        file_pid = max(pid, 0)
        list_name = None
        if fmt == "market1501":
            bb = 1
            while True:
                name = f"{file_pid:04d}_c{cam}s{v.seq}_{frame:06d}_{bb:02d}.jpg"
                if f"{split}/{name}" not in used:
                    break
                bb += 1
            rel = f"{root}/{split_dir[split]}/{name}"
        elif fmt == "dukemtmc":
            while f"{split}/{file_pid}_{cam}_{frame}" in used:
                frame += 1
            name = f"{file_pid:04d}_c{cam}_f{frame:07d}.jpg"
            used.add(f"{split}/{file_pid}_{cam}_{frame}")
            rel = f"{root}/{split_dir[split]}/{name}"
        elif fmt == "cuhk03":
            n = counters.get((file_pid, cam), 0) + 1
            counters[(file_pid, cam)] = n
            rel = f"{root}/{split_dir[split]}/{file_pid:04d}_c{cam}_{n:02d}.png"
        else:  # msmt17: per-split ids from 0, one folder per id, the list files are authoritative
            part = "train" if split == "train" else "test"
            key = (part, pid)
            if key not in msmt_pid:
                msmt_pid[key] = msmt_next[part]
                msmt_next[part] += 1
            file_pid = msmt_pid[key]
            n = counters.get(key, 0)
            counters[key] = n + 1
            name = f"{file_pid:04d}_{n:03d}_{cam:02d}_{v.date}{_TOD[e[2]]}_{frame % 10000:04d}_{n % 2}.jpg"
            rel = f"{root}/{part}/{file_pid:04d}/{name}"
            list_name = ("list_val.txt" if i in val else "list_train.txt") if split == "train" else \
                f"list_{split}.txt"
        used.add(f"{split}/{rel.rsplit('/', 1)[-1]}")
        person = persons[pid]
        attrs = _person_attrs(plan, person)
        plan.jobs.append(Job(relpath=rel, split=split, pid=file_pid, cam=cam_idx, person=person, attrs=attrs,
                             env=e, seed=0, list_name=list_name))
    if fmt == "msmt17":
        for job in plan.jobs:
            part = "train" if job.split == "train" else "test"
            line = f"{job.relpath.split(f'/{part}/', 1)[1]} {job.pid}"
            plan.lists.setdefault(f"{root}/{job.list_name}", []).append(line)
        for name in ("list_train.txt", "list_val.txt", "list_query.txt", "list_gallery.txt"):
            plan.lists.setdefault(f"{root}/{name}", [])


# ---- PersonX: every id in several background subsets, one image per viewpoint ----
def _plan_personx(plan: Plan, sc: dict[str, Any], rng: np.random.Generator, env: _EnvSampler) -> None:
    spec = plan.spec
    C = len(spec.cameras)
    ntr, nte = sc["train_ids"], sc["test_ids"]
    ids = [int(x) for x in rng.permutation(np.arange(1, ntr + nte + 1))]
    test = set(ids[ntr:])
    for pid in sorted(ids):
        attrs = _person_attrs(plan, pid)
        cams = sorted(int(c) for c in rng.choice(C, size=sc["cameras_per_id"], replace=False))
        for j, cam_idx in enumerate(cams):
            cam = spec.cameras[cam_idx]
            v = env.visit(rng, cam_idx)
            p = env.p[(cam_idx, "viewpoint")] + 1e-9  # any viewpoint may fill up a small restriction
            vps = sorted(int(x) + 1 for x in rng.choice(36, size=sc["viewpoints_per_camera"], replace=False,
                                                         p=p / p.sum()))
            for k, vp in enumerate(vps):
                split = "train" if pid not in test else ("query" if k == 0 and j < len(cams) - 1 else "gallery")
                sub = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}[split]
                rel = f"personx/PersonX_v1/{cam.group}/{sub}/{pid:04d}_c{cam.id}s1_{vp:02d}.jpg"
                plan.jobs.append(Job(relpath=rel, split=split, pid=pid, cam=cam_idx, person=pid, attrs=attrs,
                                     env=(vp, *v.base[1:]), seed=0))


# ---- FineGPR: the attribute grid ---------------------------------------------
def _plan_grid(plan: Plan, sc: dict[str, Any], rng: np.random.Generator) -> None:
    spec = plan.spec
    n, m = sc["ids"], sc["cells_per_id"]
    # FineGPR's ids are not contiguous: leave a few numbers out
    pids = sorted(int(x) for x in rng.choice(np.arange(1, int(n * 1.05) + 2), size=n, replace=False))
    attrs = balanced_identity_attrs(spec.prior, n, rng)
    pr = {a: np.asarray(spec.prior[a]) for a in ENV_NAMES}
    full = m == 36 * 7 * 7
    for pid, a in zip(pids, attrs):
        plan.identities[pid] = a
        if full:
            cells = [(v, w, l) for v in range(1, 37) for w in range(1, 8) for l in range(1, 8)]
        else:
            cells = _grid_cells(m, pr, rng)
        scenes = systematic_codes(pr["scene"], len(cells), rng)
        for (v, w, l), p in zip(cells, scenes):
            rel = f"finegpr/FineGPR/{pid:04d}/{pid:04d}_c{v:02d}_w{w:02d}_l{l:02d}_p{int(p):02d}.jpg"
            plan.jobs.append(Job(relpath=rel, split="train", pid=pid, cam=0, person=pid, attrs=a,
                                 env=(v, w, l, int(p)), seed=0))


def _grid_cells(m: int, pr: dict[str, np.ndarray], rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """m distinct (viewpoint, weather, illumination) cells whose marginals follow the prior."""
    vs = systematic_codes(pr["viewpoint"], m, rng)
    ws = systematic_codes(pr["weather"], m, rng)
    ls = systematic_codes(pr["illumination"], m, rng)
    cells: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int, int]] = set()
    for v, w, l in zip(vs, ws, ls):
        cell = (int(v), int(w), int(l))
        tries = 0
        while cell in seen and tries < 200:  # a collision: move weather/illumination, keep the viewpoint
            cell = (int(v), int(rng.choice(7, p=pr["weather"])) + 1, int(rng.choice(7, p=pr["illumination"])) + 1)
            tries += 1
        while cell in seen:
            cell = (int(rng.integers(1, 37)), int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        seen.add(cell)
        cells.append(cell)
    return sorted(cells)


def systematic_codes(p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n codes (1-based) whose counts are within one of n*p (systematic sampling), in random order;
    every code with p > 0 appears when n allows it."""
    p = np.asarray(p, dtype=float) / np.sum(p)
    u = (rng.random() + np.arange(n)) / n
    codes = np.minimum(np.searchsorted(np.cumsum(p), u, side="right"), len(p) - 1) + 1
    nonzero = np.flatnonzero(p > 0) + 1
    if n >= len(nonzero):
        counts = np.bincount(codes, minlength=len(p) + 1)
        for c in nonzero:
            if counts[c] == 0:
                donor = int(np.argmax(counts))
                codes[np.flatnonzero(codes == donor)[0]] = c
                counts[donor] -= 1
                counts[c] += 1
    return rng.permutation(codes)


# ---- all-train formats (RandPerson, UnrealPerson, SyRI) -------------------
def _plan_train(plan: Plan, sc: dict[str, Any], rng: np.random.Generator, env: _EnvSampler) -> None:
    spec = plan.spec
    C = len(spec.cameras)
    n_ids = sc["train_ids"]
    fmt = spec.format
    for pid, n in zip(range(n_ids), _split_even(sc["train_images"], n_ids, rng)):
        person = pid + 1
        attrs = _person_attrs(plan, person)
        k = max(1, min(C, n, int(rng.integers(2, min(C, 8) + 1))))
        for cam_idx, m in zip(rng.choice(C, size=k, replace=False), _per_camera(n, k, rng)):
            cam = spec.cameras[int(cam_idx)]
            v = env.visit(rng, int(cam_idx))
            for _ in range(m):
                e, frame = v.image(rng)
                if fmt == "randperson":
                    rel = f"randperson/images/{pid:06d}_s{cam.group:02d}_c{cam.id:02d}_f{frame:06d}.jpg"
                elif fmt == "unreal":
                    rel = f"unreal/unreal_v{cam.group}.{spec.model_version}/images/{pid}_c{cam.id}_{frame:06d}.jpg"
                else:  # syri
                    rel = f"syri/{person}_{cam.id}_{frame}.jpg"
                plan.jobs.append(Job(relpath=rel, split="train", pid=person if fmt == "syri" else pid,
                                     cam=int(cam_idx), person=person, attrs=attrs, env=e, seed=0))


# ---- SOMAset: a few people, each in many outfits ------------------------------
def _plan_somaset(plan: Plan, sc: dict[str, Any], rng: np.random.Generator, env: _EnvSampler) -> None:
    spec = plan.spec
    C = len(spec.cameras)
    n_ids, outfits = sc["train_ids"], sc["outfits"]
    counts = _split_even(sc["train_images"], n_ids * outfits, rng)
    for pid in range(1, n_ids + 1):
        body = _person_attrs(plan, pid)
        for o in range(1, outfits + 1):
            # a new outfit: clothing attributes redrawn from the prior, the body kept
            orng = np.random.default_rng([plan.twin_seed, pid, 5, o])
            clothes = sample_identity_attrs(spec.prior, 1, orng)[0]
            attrs = {a: (clothes[a] if a in CLOTHING else body[a]) for a in ID_NAMES}
            for k in range(counts[(pid - 1) * outfits + (o - 1)]):
                cam_idx = int(rng.integers(C))
                e = tuple(env.code(rng, cam_idx, a) for a in ENV_NAMES)
                rel = f"somaset/soma/{pid:04d}/{o:02d}/{pid:04d}_{o:02d}_{spec.cameras[cam_idx].id:03d}_{k:04d}.jpg"
                plan.jobs.append(Job(relpath=rel, split="train", pid=pid, cam=cam_idx, person=pid, attrs=attrs,
                                     env=e, seed=0))  # type: ignore[arg-type]


# ---- bookkeeping -------------------------------------------------------------
def _assign_camids(plan: Plan) -> None:
    """The camera index each dataset's loader will report, so labels.csv agrees with the loaders."""
    spec, fmt = plan.spec, plan.spec.format
    if fmt == "finegpr":
        for j in plan.jobs:
            j.camid = j.env[0] - 1
        return
    if fmt in ("market1501", "dukemtmc", "cuhk03", "msmt17", "personx"):
        for j in plan.jobs:
            j.camid = spec.cameras[j.cam].id - 1
        return
    if fmt == "somaset":
        keys = {j: job.relpath.split("/")[3] for j, job in enumerate(plan.jobs)}
    elif fmt == "syri":
        keys = {j: spec.cameras[job.cam].id for j, job in enumerate(plan.jobs)}
    else:  # randperson (scene, camera), unreal (environment, camera)
        keys = {j: (spec.cameras[job.cam].group, spec.cameras[job.cam].id) for j, job in enumerate(plan.jobs)}
    dense = {k: i for i, k in enumerate(sorted(set(keys.values())))}
    for j, job in enumerate(plan.jobs):
        job.camid = dense[keys[j]]


def _check_unique(plan: Plan) -> None:
    seen: set[str] = set()
    for j in plan.jobs:
        if j.relpath in seen:
            raise RuntimeError(f"engine bug: two images planned at {j.relpath}")
        seen.add(j.relpath)


def _counts(plan: Plan) -> dict[str, dict[str, int]]:
    """Images and ids per split as the loaders count them (MSMT17's val list is not train)."""
    out: dict[str, dict[str, int]] = {}
    for split in ("train", "query", "gallery"):
        jobs = [j for j in plan.jobs if j.split == split and j.list_name != "list_val.txt"]
        if not jobs:
            continue
        if plan.spec.format == "unreal":
            ids = {(plan.spec.model_version, j.pid) for j in jobs}
        else:
            ids = {j.pid for j in jobs}
        out[split] = {"images": len(jobs), "ids": len(ids), "cameras": len({j.camid for j in jobs})}
    val = [j for j in plan.jobs if j.list_name == "list_val.txt"]
    if val:
        out["val"] = {"images": len(val), "ids": len({j.pid for j in val})}
    return out
