"""Twin specs: small TOML files that describe a procedural dataset.

A spec names the real dataset whose on-disk format it copies (`format`), the
TRUE attribute prior (probabilities per code for each of the 17 attributes),
the cameras with their styles, the crop size and the counts per scale. The
built-in specs live in benchmark/synth/twins/<name>.toml; a user writes their
own and passes its path. See twins/README.md for the schema.
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from benchmark.attributes import ALL_ATTRIBUTES, BY_NAME
from benchmark.names import alias_key
from benchmark.synth.camera import STYLE_KEYS, validate_style

TWINS_DIR = Path(__file__).with_name("twins")
TWIN_NAME = re.compile(r"^sim-[a-z0-9](?:[a-z0-9_-]{0,58}[a-z0-9])?$")  # a twin's folder: never a real dataset's

# format -> the planner family and the count keys a scale may (must) give
FORMATS: dict[str, str] = {
    "market1501": "bbox", "dukemtmc": "bbox", "cuhk03": "bbox", "msmt17": "bbox",
    "personx": "personx", "finegpr": "grid",
    "randperson": "train", "unreal": "train", "syri": "train", "somaset": "somaset",
}
SCALE_KEYS: dict[str, dict[str, bool]] = {  # key -> required
    "bbox": {"train_ids": True, "train_images": True, "test_ids": True, "query_images": True,
             "gallery_images": True, "distractors": False, "gallery_only_ids": False,
             "gallery_only_images": False, "val_images": False, "size": False},
    "personx": {"train_ids": True, "test_ids": True, "cameras_per_id": True, "viewpoints_per_camera": True,
                "size": False},
    "grid": {"ids": True, "cells_per_id": True, "size": False},
    "train": {"train_ids": True, "train_images": True, "size": False},
    "somaset": {"train_ids": True, "outfits": True, "train_images": True, "size": False},
}
# camera id range as the format's file names allow it
CAMERA_IDS: dict[str, tuple[int, int]] = {
    "market1501": (1, 6), "dukemtmc": (1, 8), "cuhk03": (1, 2), "msmt17": (1, 15), "personx": (1, 9),
    "randperson": (0, 99), "unreal": (1, 999), "syri": (0, 99999), "somaset": (0, 999), "finegpr": (0, 999),
}
TOP_KEYS = ("name", "format", "description", "seed", "size", "prior", "camera_defaults", "cameras", "camera_gen",
            "scales", "model_version", "generated", "counts")
_CAMERA_KEYS = ("id", "group", "scenes", "viewpoints", "weathers", "illuminations", "style")
_RESTRICT = {"scenes": "scene", "viewpoints": "viewpoint", "weathers": "weather", "illuminations": "illumination"}
_GEN_KEYS = ("count", "groups", "first_id", "scenes", "scenes_per_camera", "illuminations_per_camera",
             "viewpoint_span", *STYLE_KEYS)


class SpecError(ValueError):
    """A twin spec that cannot be used; the message names the file and what was expected."""


@dataclass(frozen=True)
class CameraSpec:
    id: int  # the camera number written in file names
    group: int  # unreal environment / randperson scene / personx subset folder
    restrict: dict[str, tuple[int, ...]]  # env attribute -> allowed codes (absent = all)
    style: dict[str, Any]  # validated, complete style (benchmark.synth.camera.STYLE_KEYS)

    def env_prior(self, prior: Mapping[str, list[float]], attr: str) -> np.ndarray:
        """The twin's prior of an env attribute restricted to this camera (uniform over the allowed codes
        when the prior gives them no mass)."""
        p = np.asarray(prior[attr], dtype=float)
        allowed = self.restrict.get(attr)
        if allowed:
            mask = np.zeros_like(p)
            mask[[c - 1 for c in allowed]] = 1.0
            q = p * mask
            p = q if q.sum() > 0 else mask
        return p / p.sum()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "group": self.group}
        for key, attr in _RESTRICT.items():
            if attr in self.restrict:
                d[key] = list(self.restrict[attr])
        d["style"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.style.items()}
        return d


@dataclass
class TwinSpec:
    """A procedural twin: what it mimics, its true attribute prior, cameras, sizes and counts per scale."""

    name: str
    format: str  # the real dataset key whose on-disk format the twin uses
    description: str
    seed: int
    size: tuple[int, int]  # (height, width)
    prior: dict[str, list[float]]  # all 17 attributes, probabilities per code 1..n
    cameras: list[CameraSpec]
    scales: dict[str, dict[str, Any]]
    model_version: int = 1  # unreal only: the Y of unreal_vX.Y
    path: Path | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> str:
        return FORMATS[self.format]

    def scale(self, name: str) -> dict[str, Any]:
        """The counts of one scale (with `size` resolved); SpecError naming the scales there are."""
        if name not in self.scales:
            raise SpecError(f"{self._where()}: twin {self.name!r} has no scale {name!r}; "
                            f"it has: {', '.join(self.scales)}")
        out = dict(self.scales[name])
        out["size"] = tuple(out.get("size", self.size))
        return out

    def _where(self) -> str:
        return str(self.path) if self.path else f"twin {self.name}"

    def to_dict(self) -> dict[str, Any]:
        """The spec as TOML-ready data (what twin.toml stores; load_twin_spec reads it back)."""
        d: dict[str, Any] = {"name": self.name, "format": self.format, "description": self.description,
                             "seed": self.seed, "size": list(self.size)}
        if self.format == "unreal":
            d["model_version"] = self.model_version
        d["prior"] = {k: [round(float(v), 6) for v in vals] for k, vals in self.prior.items()}
        d["cameras"] = [c.to_dict() for c in self.cameras]
        d["scales"] = {k: {kk: (list(vv) if isinstance(vv, tuple) else vv) for kk, vv in v.items()}
                       for k, v in self.scales.items()}
        return d


def twin_names() -> list[str]:
    """Names of the built-in twins (benchmark/synth/twins/*.toml)."""
    return sorted(p.stem for p in TWINS_DIR.glob("*.toml"))


def load_twin_spec(name_or_path: str | Path | TwinSpec) -> TwinSpec:
    """A built-in twin by name (short names like sim-market work) or a spec from a TOML file path."""
    if isinstance(name_or_path, TwinSpec):
        return name_or_path
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.endswith(".toml") or path.is_file() or ("/" in text and not text.startswith("sim-")):
        if not path.is_file():
            raise SpecError(f"twin spec file {path} does not exist")
        return parse_spec_file(path)
    name = alias_key(text)  # sim-market -> sim-market1501 (benchmark.names)
    builtin = TWINS_DIR / f"{name}.toml"
    if not builtin.is_file():
        raise SpecError(f"unknown twin {text!r}; built-in twins: {', '.join(twin_names())} "
                        f"(or pass the path of your own .toml spec)")
    return parse_spec_file(builtin)


def parse_spec_file(path: Path) -> TwinSpec:
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    return parse_spec(raw, str(path), path)


def parse_spec(raw: Mapping[str, Any], where: str = "twin spec", path: Path | None = None) -> TwinSpec:
    """Validate a spec mapping; every problem is a SpecError naming `where` and what was expected."""
    unknown = [k for k in raw if k not in TOP_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of: {', '.join(TOP_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not TWIN_NAME.fullmatch(name):
        raise SpecError(f"{where}: `name` must be \"sim-\" followed by lower-case letters, digits, '-' or '_' "
                        f"(at most 64 characters, like \"sim-mycity\"; the prefix keeps a twin from ever taking "
                        f"a real dataset's folder), got {name!r}")
    fmt = raw.get("format")
    if fmt not in FORMATS:
        raise SpecError(f"{where}: `format` must be one of {', '.join(FORMATS)} (the real dataset whose "
                        f"on-disk layout the twin copies), got {fmt!r}")
    seed = raw.get("seed", 0)
    if not _is_int(seed) or seed < 0:
        raise SpecError(f"{where}: `seed` must be a non-negative integer, got {seed!r}")
    size = _size(raw.get("size", [128, 64]), f"{where}: size")
    prior = _prior(raw.get("prior", {}), where)
    cameras = _cameras(raw, fmt, prior, seed, where)
    scales = _scales(raw.get("scales"), fmt, len(cameras), where)
    mv = raw.get("model_version", 1)
    if not _is_int(mv) or mv < 0:
        raise SpecError(f"{where}: `model_version` must be a non-negative integer, got {mv!r}")
    return TwinSpec(name=name, format=fmt, description=str(raw.get("description", "")), seed=int(seed),
                    size=size, prior=prior, cameras=cameras, scales=scales, model_version=int(mv), path=path,
                    raw=dict(raw))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _size(v: Any, where: str) -> tuple[int, int]:
    if (not isinstance(v, list) or len(v) != 2 or not all(_is_int(x) for x in v)
            or not (16 <= v[0] <= 2048 and 8 <= v[1] <= 2048)):
        raise SpecError(f"{where} must be [height, width] in pixels (16..2048 x 8..2048), got {v!r}")
    return int(v[0]), int(v[1])


def _prior(table: Any, where: str) -> dict[str, list[float]]:
    if not isinstance(table, dict):
        raise SpecError(f"{where}: [prior] must be a table of attribute = probabilities")
    unknown = [k for k in table if k not in BY_NAME]
    if unknown:
        raise SpecError(f"{where}: [prior] has unknown attribute(s) {', '.join(unknown)}; "
                        f"expected some of: {', '.join(BY_NAME)}")
    out: dict[str, list[float]] = {}
    for attr in ALL_ATTRIBUTES:
        v = table.get(attr.name, "uniform")
        here = f"{where}: prior.{attr.name}"
        if v == "uniform":
            p = np.ones(attr.n)
        elif isinstance(v, list):
            if len(v) != attr.n or not all(_is_num(x) for x in v):
                raise SpecError(f"{here} must list {attr.n} numbers, one per code 1..{attr.n} "
                                f"({_names(attr)}), got {len(v) if isinstance(v, list) else v!r} values")
            p = np.asarray(v, dtype=float)
        elif isinstance(v, dict):
            p = np.zeros(attr.n)
            for key, w in v.items():
                try:
                    code = int(key) if str(key).isdigit() else attr.code(str(key))
                    attr.value(code)
                except ValueError:
                    raise SpecError(f"{here}: unknown value {key!r}; expected a code 1..{attr.n} "
                                    f"or one of {_names(attr)}") from None
                if not _is_num(w):
                    raise SpecError(f"{here}.{key} must be a number, got {w!r}")
                p[code - 1] = float(w)
        else:
            raise SpecError(f"{here} must be a list of {attr.n} numbers, a table value = weight, "
                            f"or \"uniform\"; got {v!r}")
        if np.any(p < 0) or p.sum() <= 0:
            raise SpecError(f"{here} needs non-negative weights with a positive sum, got {list(p)}")
        out[attr.name] = [float(x) for x in p / p.sum()]
    return out


def _names(attr) -> str:
    vals = attr.values if attr.n <= 9 else (*attr.values[:3], "...")
    return ", ".join(vals)


def _codes(v: Any, attr_name: str, where: str) -> tuple[int, ...]:
    attr = BY_NAME[attr_name]
    if not isinstance(v, list) or not v or not all(_is_int(x) and 1 <= x <= attr.n for x in v):
        raise SpecError(f"{where} must be a non-empty list of {attr_name} codes 1..{attr.n}, got {v!r}")
    return tuple(sorted(set(int(x) for x in v)))


def _cameras(raw: Mapping[str, Any], fmt: str, prior, seed: int, where: str) -> list[CameraSpec]:
    defaults = raw.get("camera_defaults", {})
    if not isinstance(defaults, dict):
        raise SpecError(f"{where}: [camera_defaults] must be a table of style keys")
    try:
        validate_style(defaults, f"{where}: camera_defaults")
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    has_list, has_gen = "cameras" in raw, "camera_gen" in raw
    if has_list and has_gen:
        raise SpecError(f"{where}: give either [[cameras]] or [camera_gen], not both")
    if has_gen:
        cams = _generate_cameras(raw["camera_gen"], prior, seed, f"{where}: camera_gen", defaults)
    elif has_list:
        items = raw["cameras"]
        if not isinstance(items, list) or not items or not all(isinstance(c, dict) for c in items):
            raise SpecError(f"{where}: [[cameras]] must be a non-empty array of tables")
        cams = [_camera(c, k, f"{where}: cameras[{k}]", defaults) for k, c in enumerate(items)]
    else:
        cams = [CameraSpec(id=1, group=1, restrict={}, style=validate_style(defaults))]
    lo, hi = CAMERA_IDS[fmt]
    seen = set()
    for k, c in enumerate(cams):
        if not lo <= c.id <= hi:
            raise SpecError(f"{where}: camera id {c.id} cannot be written in {fmt} names (expected {lo}..{hi})")
        if (c.group, c.id) in seen:
            raise SpecError(f"{where}: camera (group {c.group}, id {c.id}) appears twice")
        seen.add((c.group, c.id))
    if fmt == "personx" and not all(1 <= c.group <= 9 for c in cams):
        raise SpecError(f"{where}: personx cameras need group 1..9 (the PersonX_v1/<group>/ subset folder)")
    return cams


def _camera(c: Mapping[str, Any], k: int, where: str, defaults: Mapping[str, Any]) -> CameraSpec:
    unknown = [key for key in c if key not in _CAMERA_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of: {', '.join(_CAMERA_KEYS)}")
    cid = c.get("id", k + 1)
    group = c.get("group", 1)
    if not _is_int(cid) or cid < 0 or not _is_int(group) or group < 0:
        raise SpecError(f"{where}: `id` and `group` must be non-negative integers, got {cid!r}, {group!r}")
    restrict = {attr: _codes(c[key], attr, f"{where}.{key}") for key, attr in _RESTRICT.items() if key in c}
    style = c.get("style", {})
    if not isinstance(style, dict):
        raise SpecError(f"{where}.style must be a table, got {style!r}")
    try:
        st = validate_style({**defaults, **style}, f"{where}.style")
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    return CameraSpec(id=int(cid), group=int(group), restrict=restrict, style=st)


def _range(g: Mapping[str, Any], key: str, default, where: str) -> tuple[float, float]:
    v = g.get(key, default)
    if _is_num(v):
        return float(v), float(v)
    if isinstance(v, list) and len(v) == 2 and all(_is_num(x) for x in v) and v[0] <= v[1]:
        return float(v[0]), float(v[1])
    raise SpecError(f"{where}.{key} must be a number or a [low, high] range, got {v!r}")


def _generate_cameras(g: Any, prior, seed: int, where: str, defaults: Mapping[str, Any]) -> list[CameraSpec]:
    """Many cameras from ranges (SOMAset's 250, SyRI's 140 light maps, Unreal's 34), drawn from the seed."""
    if not isinstance(g, dict):
        raise SpecError(f"{where} must be a table")
    unknown = [k for k in g if k not in _GEN_KEYS]
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of: {', '.join(_GEN_KEYS)}")
    count, groups, first = g.get("count"), g.get("groups", 1), g.get("first_id", 1)
    if not _is_int(count) or not 1 <= count <= 100000:
        raise SpecError(f"{where}.count must be an integer 1..100000, got {count!r}")
    if not _is_int(groups) or not 1 <= groups <= count or not _is_int(first) or first < 0:
        raise SpecError(f"{where}: groups must be 1..count and first_id >= 0, got {groups!r}, {first!r}")
    scene_pool = _codes(g["scenes"], "scene", f"{where}.scenes") if "scenes" in g else tuple(
        k + 1 for k, p in enumerate(prior["scene"]) if p > 0)
    per_cam = g.get("scenes_per_camera", 1)
    illum_per = g.get("illuminations_per_camera", 0)
    span = g.get("viewpoint_span", 36)
    for key, v, lo, hi in (("scenes_per_camera", per_cam, 1, 9), ("illuminations_per_camera", illum_per, 0, 7),
                           ("viewpoint_span", span, 1, 36)):
        if not _is_int(v) or not lo <= v <= hi:
            raise SpecError(f"{where}.{key} must be an integer {lo}..{hi}, got {v!r}")
    rng = np.random.default_rng([int(seed), 0xCA3])
    ranges = {k: _range(g, k, None, where) for k in STYLE_KEYS if k in g and k != "view"}
    cams = []
    in_group: dict[int, int] = {}
    for k in range(count):
        grp = 1 + (k * groups) // count
        idx = in_group.get(grp, 0)
        in_group[grp] = idx + 1
        restrict: dict[str, tuple[int, ...]] = {}
        pick = rng.choice(len(scene_pool), size=min(per_cam, len(scene_pool)), replace=False)
        restrict["scene"] = tuple(sorted(scene_pool[i] for i in pick))
        if illum_per:
            restrict["illumination"] = tuple(sorted(int(x) + 1 for x in rng.choice(7, size=illum_per,
                                                                                     replace=False)))
        if span < 36:  # a camera sees people walk one way: a band of viewpoints
            start = int(rng.integers(36))
            restrict["viewpoint"] = tuple(sorted(((start + i) % 36) + 1 for i in range(span)))
        style: dict[str, Any] = dict(defaults)
        for key, (lo, hi) in ranges.items():
            if key == "cast":
                style["cast"] = [round(float(1.0 + rng.uniform(-hi, hi)), 4) for _ in range(3)]
            elif key in ("jpeg", "backdrop"):
                style[key] = int(round(rng.uniform(lo, hi)))
            else:
                style[key] = round(float(rng.uniform(lo, hi)), 4)
        style["view"] = round(float(rng.uniform(0.0, 1.0)), 4)
        try:
            st = validate_style(style, f"{where} (camera {k})")
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        # ids restart in every group: a camera is the (group, id) pair (RandPerson, UnrealPerson)
        cams.append(CameraSpec(id=int(first) + idx, group=grp, restrict=restrict, style=st))
    return cams


def _scales(table: Any, fmt: str, n_cams: int, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(table, dict) or not table:
        raise SpecError(f"{where}: [scales.<name>] tables are required (e.g. [scales.demo], [scales.full])")
    keys = SCALE_KEYS[FORMATS[fmt]]
    out: dict[str, dict[str, Any]] = {}
    for sname, counts in table.items():
        here = f"{where}: scales.{sname}"
        if not isinstance(counts, dict):
            raise SpecError(f"{here} must be a table of counts")
        unknown = [k for k in counts if k not in keys]
        if unknown:
            raise SpecError(f"{here}: unknown key(s) {', '.join(unknown)} for format {fmt}; "
                            f"expected: {', '.join(keys)}")
        missing = [k for k, req in keys.items() if req and k not in counts]
        if missing:
            raise SpecError(f"{here}: missing {', '.join(missing)} (format {fmt} needs: "
                            f"{', '.join(k for k, r in keys.items() if r)})")
        sc: dict[str, Any] = {}
        for k, v in counts.items():
            if k == "size":
                sc[k] = _size(v, f"{here}.size")
            elif not _is_int(v) or v < 0:
                raise SpecError(f"{here}.{k} must be a non-negative integer, got {v!r}")
            else:
                sc[k] = int(v)
        _check_counts(sc, FORMATS[fmt], n_cams, here)
        out[str(sname)] = sc
    return out


def _check_counts(sc: dict[str, Any], kind: str, n_cams: int, here: str) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise SpecError(f"{here}: {msg}")

    if kind == "bbox":
        need(sc["train_ids"] >= 1 and sc["test_ids"] >= 1, "train_ids and test_ids must be >= 1")
        need(n_cams >= 2, "a train/query/gallery twin needs at least 2 cameras")
        need(sc["train_images"] >= 2 * sc["train_ids"], "train_images must be >= 2 x train_ids "
             "(every id is seen by at least two cameras)")
        need(sc["query_images"] >= sc["test_ids"], "query_images must be >= test_ids (one query per test id)")
        nte = sc["test_ids"]
        need(sc["query_images"] <= nte * n_cams,
             f"query_images must be <= test_ids x cameras = {nte * n_cams} (at most one query per id and camera)")
        go_ids, go_imgs = sc.get("gallery_only_ids", 0), sc.get("gallery_only_images", 0)
        need((go_ids == 0) == (go_imgs == 0) and go_imgs >= go_ids,
             "gallery_only_ids and gallery_only_images go together (images >= ids)")
        rest = sc["gallery_images"] - sc.get("distractors", 0) - go_imgs
        need(rest >= nte, "gallery_images - distractors - gallery_only_images must be >= test_ids "
             "(every query needs a gallery match)")
        if sc["query_images"] > nte * (n_cams - 1):  # some ids have a query in every camera
            need(rest >= nte * n_cams, f"with a query in every camera, each test id needs a gallery image in "
                 f"every camera: gallery_images - distractors - gallery_only_images >= {nte * n_cams}")
        need(sc.get("val_images", 0) < sc["train_images"], "val_images must be < train_images")
    elif kind == "personx":
        need(sc["train_ids"] >= 1, "train_ids must be >= 1")
        need(2 <= sc["cameras_per_id"] <= n_cams, f"cameras_per_id must be 2..{n_cams} (the cameras listed)")
        need(1 <= sc["viewpoints_per_camera"] <= 36, "viewpoints_per_camera must be 1..36")
    elif kind == "grid":
        need(sc["ids"] >= 1, "ids must be >= 1")
        need(1 <= sc["cells_per_id"] <= 36 * 7 * 7, "cells_per_id must be 1..1764 (36 viewpoints x 7 x 7)")
    else:
        need(sc["train_ids"] >= 1, "train_ids must be >= 1")
        need(sc["train_images"] >= sc["train_ids"], "train_images must be >= train_ids")
        if kind == "somaset":
            need(sc["outfits"] >= 1, "outfits must be >= 1")
            need(sc["train_images"] >= sc["train_ids"] * sc["outfits"], "train_images must be >= ids x outfits")


# ---- a minimal TOML writer (tomllib reads only) -------------------------------
def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML text for nested dicts/lists of str, int, float, bool (arrays of tables supported)."""
    lines: list[str] = []
    _emit(data, [], lines)
    return "\n".join(lines).strip() + "\n"


def _emit(d: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in d.items() if not _is_table(v) and not _is_table_array(v)}
    tables = {k: v for k, v in d.items() if _is_table(v)}
    arrays = {k: v for k, v in d.items() if _is_table_array(v)}
    if path and (scalars or not (tables or arrays)):
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables.items():
        _emit(v, path + [k], lines)
    for k, items in arrays.items():
        for item in items:
            lines.append("")
            lines.append(f"[[{'.'.join(_key(p) for p in path + [k])}]]")
            sub_scalars = {kk: vv for kk, vv in item.items() if not _is_table(vv)}
            for kk, vv in sub_scalars.items():
                lines.append(f"{_key(kk)} = {_value(vv)}")
            for kk, vv in item.items():
                if _is_table(vv):
                    lines.append(f"{_key(kk)} = {_inline(vv)}")


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else '"' + k.replace('"', '\\"') + '"'


def _inline(d: Mapping[str, Any]) -> str:
    return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in d.items()) + " }"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return _inline(v)
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
