"""The result format that outlives the code: one `runs/<id>/result.json` per run.

`RunResult` holds everything the store keeps about a run (metadata, config,
metrics per test set, FID, attribute distributions, costs, surrogate fit,
status). The DuckDB file is a cache of these files: `rebuild_from_runs`
recreates it from them. Percentages are stored as the paper prints them
(0-100); times are ISO 8601 in UTC.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import stat
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
RESULT_FILE = "result.json"
STATUSES = ("running", "completed", "failed")
DIST_SOURCES = ("target-true", "selected", "full")


def utc_now() -> str:
    """Now, as an ISO 8601 UTC string with microseconds (sortable as text)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | datetime | None) -> datetime | None:
    """ISO 8601 text (or a datetime) -> naive UTC datetime, as the DB stores it."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


def format_time(value: datetime | None) -> str | None:
    """Naive UTC datetime (from the DB) -> the ISO text RunResult uses."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id() -> str:
    """A run id that sorts by start time and is unique across concurrent processes.

    `20250314-153012-482913-a1b2c3`: UTC time to the microsecond + 24 random bits.
    """
    now = datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{now.microsecond:06d}-{secrets.token_hex(3)}"


def _finite_or_none(x: Any, what: str) -> float | None:
    if x is None:
        return None
    v = float(x)
    if math.isnan(v):
        return None
    if math.isinf(v):
        raise ValueError(f"{what} is infinite")
    return v


@dataclass
class Metrics:
    """Re-ID scores on one test set, in percent (0-100) as the paper prints them."""

    r1: float
    r5: float | None
    map: float
    r10: float | None = None
    minp: float | None = None
    num_query: int | None = None
    num_gallery: int | None = None
    eval_seconds: float | None = None

    def validate(self, where: str) -> None:
        for name in ("r1", "map"):
            if _finite_or_none(getattr(self, name), f"{where}.{name}") is None:
                raise ValueError(f"{where}.{name} is missing or NaN; R1 and mAP are required")
        for name in ("r1", "r5", "r10", "map", "minp"):
            v = _finite_or_none(getattr(self, name), f"{where}.{name}")
            if v is not None and not 0.0 <= v <= 100.0:
                raise ValueError(f"{where}.{name} = {v} is not a percentage in 0..100")


@dataclass
class FidRow:
    """FID of the training images at one pipeline stage against one target's images."""

    stage: str  # e.g. "full", "random", "ao", "aost"
    target: str  # canonical test-set key
    value: float
    weights: str  # "official" or a fallback such as "random" (marked in the app)
    dims: int = 2048
    n: int | None = None  # training-side images used
    n_target: int | None = None
    style_method: str = ""  # "spgan" / "cyclegan" / "color" / "dat" where the stage styled images


@dataclass
class AttributeDist:
    """A distribution over one attribute's 1-based codes: probs[k-1] = p(code k)."""

    attribute: str
    source: str  # "target-true" (a twin's prior), "selected" (V*), "full" (the source data)
    probs: list[float]
    target: str = ""  # the test set it was optimised for / belongs to, where relevant

    def validate(self, where: str) -> None:
        if self.source not in DIST_SOURCES:
            raise ValueError(f"{where}: source {self.source!r} is not one of {', '.join(DIST_SOURCES)}")
        if not self.probs:
            raise ValueError(f"{where}: empty distribution for {self.attribute!r}")
        if any((not math.isfinite(float(p))) or float(p) < 0 for p in self.probs):
            raise ValueError(f"{where}: probabilities for {self.attribute!r} must be finite and >= 0")
        total = sum(float(p) for p in self.probs)
        if abs(total - 1.0) > 1e-3:
            raise ValueError(f"{where}: probabilities for {self.attribute!r} sum to {total:.4f}, expected 1")


@dataclass
class Cost:
    """What one stage cost: wall time and images processed."""

    stage: str  # e.g. "sample", "distances", "surrogate", "search", "style", "train", "evaluate", "fid"
    wall_seconds: float
    images: int | None = None
    device: str = ""


@dataclass
class SurrogateFit:
    """How well the attributes->distance surrogate predicts (cross-validated R^2)."""

    target: str
    r2_cv: float
    n_probe: int
    r2_train: float | None = None
    model: str = "xgboost"
    params: dict = field(default_factory=dict)


@dataclass
class RunResult:
    """Everything about one run; serialised to runs/<id>/result.json.

    The comparability settings (arch, pretrained, height, width, fid_weights)
    decide which rows the leaderboard may rank together; `with_profile` fills
    them from a Profile.
    """

    id: str
    train_spec: str
    profile: str
    seed: int
    status: str = "running"
    error: str | None = None
    test_sets: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    # provenance
    code_version: str | None = None
    dirty: bool | None = None
    library_versions: dict = field(default_factory=dict)
    device: str = "cpu"
    nproc: int = 1
    data_fingerprints: dict = field(default_factory=dict)
    started_at: str = field(default_factory=utc_now)
    ended_at: str | None = None
    # training data and cost
    train_images: int | None = None
    train_ids: int | None = None
    budget: int | None = None
    wall_seconds: float | None = None
    # comparability settings
    arch: str | None = None
    pretrained: bool | None = None
    height: int | None = None
    width: int | None = None
    fid_weights: str | None = None
    # what the result depends on (benchmark.runkey): runs of one key differ only by seed
    run_key: str | None = None
    variant_key: str | None = None  # the key without the target (a table row's group)
    variant: str | None = None  # the settings in words, e.g. "paper, epochs=60"
    settings_key: str | None = None  # training/evaluation/FID settings alone (rows ranked together share it)
    adapted_to: str | None = None  # the test set AO/ST adapted to
    run_key_note: str | None = None  # why an older run has no key
    # results
    metrics: dict[str, Metrics] = field(default_factory=dict)
    fid: list[FidRow] = field(default_factory=list)
    attribute_dists: list[AttributeDist] = field(default_factory=list)
    costs: list[Cost] = field(default_factory=list)
    surrogate: list[SurrogateFit] = field(default_factory=list)
    # weights files loaded, recorded where used: part, file, sha256, checksum, tensors, label[, from_cache]
    weights: list[dict] = field(default_factory=list)
    # the process that owns a running run (set by Store.start_run)
    owner_host: str | None = None
    owner_pid: int | None = None
    owner_start: int | None = None
    notes: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def new(cls, train_spec: str, profile: Any, seed: int, test_sets: list[str] | tuple[str, ...] = (),
            **kwargs: Any) -> "RunResult":
        """A fresh run with a new id; `profile` is a Profile (settings copied) or its name."""
        name = profile if isinstance(profile, str) else profile.name
        run = cls(id=kwargs.pop("id", None) or new_run_id(), train_spec=train_spec, profile=name,
                  seed=int(seed), test_sets=list(test_sets), **kwargs)
        if not isinstance(profile, str):
            run.with_profile(profile)
        return run

    def with_profile(self, profile: Any) -> "RunResult":
        """Copy a Profile's comparability settings (and the whole profile into config['profile'])."""
        self.profile = profile.name
        self.arch, self.pretrained = profile.arch, bool(profile.pretrained)
        self.height, self.width = int(profile.height), int(profile.width)
        self.fid_weights = profile.fid_weights
        self.config.setdefault("profile", profile.to_dict() if hasattr(profile, "to_dict") else asdict(profile))
        return self

    def record_weights(self, use: dict | None) -> None:
        """Add (or replace, by part) a weights file the run loaded (benchmark.weights.use_record)."""
        if use:
            self.weights[:] = [w for w in self.weights if w.get("part") != use.get("part")] + [dict(use)]

    # -- checks -------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ValueError naming the field when the result cannot be stored as is."""
        self._coerce()
        where = f"run {self.id!r}"
        if not self.id or any(c in self.id for c in "/\\\0") or self.id in (".", ".."):
            raise ValueError(f"{where}: the id must be a non-empty name without path separators")
        if not self.train_spec:
            raise ValueError(f"{where}: train_spec is empty")
        if self.status not in STATUSES:
            raise ValueError(f"{where}: status {self.status!r} is not one of {', '.join(STATUSES)}")
        if not isinstance(self.seed, bool) and hasattr(self.seed, "__index__"):
            self.seed = int(self.seed)  # numpy integers
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"{where}: seed must be an int, got {self.seed!r}")
        for test, m in self.metrics.items():
            if not isinstance(m, Metrics):
                raise ValueError(f"{where}: metrics[{test!r}] must be a Metrics, got {type(m).__name__}")
            m.validate(f"{where}.metrics[{test!r}]")
        for i, d in enumerate(self.attribute_dists):
            d.validate(f"{where}.attribute_dists[{i}]")
        for r in self.fid:
            if _finite_or_none(r.value, f"{where}.fid value") is None:
                raise ValueError(f"{where}: FID value for stage {r.stage!r} / {r.target!r} is missing or NaN")
        if self.format_version > FORMAT_VERSION:
            raise ValueError(f"{where}: result format {self.format_version} is newer than this aostbench "
                             f"({FORMAT_VERSION}); update aostbench to read it")

    def _coerce(self) -> None:
        """Accept plain dicts where the row dataclasses are expected (callers build them either way)."""
        self.metrics = {str(t): _build(Metrics, m) for t, m in self.metrics.items()}
        self.fid = [_build(FidRow, r) for r in self.fid]
        self.attribute_dists = [_build(AttributeDist, r) for r in self.attribute_dists]
        self.costs = [_build(Cost, r) for r in self.costs]
        self.surrogate = [_build(SurrogateFit, r) for r in self.surrogate]

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-ready dict (NaN becomes null)."""
        return _clean(asdict(self))

    def to_json(self) -> str:
        # default=str: an odd object in config must not lose a finished run at the last step
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, allow_nan=False, default=str)

    @classmethod
    def from_dict(cls, data: dict) -> "RunResult":
        """Inverse of to_dict; unknown keys (from a newer minor writer) are ignored."""
        if not isinstance(data, dict):
            raise ValueError(f"a run result must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        missing = [k for k in ("id", "train_spec", "profile", "seed") if k not in data]
        if missing:
            raise ValueError(f"run result lacks required field(s): {', '.join(missing)}")
        d = {k: v for k, v in data.items() if k in known}
        d["metrics"] = {str(t): _build(Metrics, m) for t, m in (d.get("metrics") or {}).items()}
        d["fid"] = [_build(FidRow, r) for r in d.get("fid") or []]
        d["attribute_dists"] = [_build(AttributeDist, r) for r in d.get("attribute_dists") or []]
        d["costs"] = [_build(Cost, r) for r in d.get("costs") or []]
        d["surrogate"] = [_build(SurrogateFit, r) for r in d.get("surrogate") or []]
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "RunResult":
        """Read a result.json; a clear ValueError names the file when it is not one."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except (OSError, ValueError, TypeError, RecursionError) as e:
            raise ValueError(f"{p}: not a readable aostbench result.json ({e})") from e

    def path_in(self, runs_dir: str | Path) -> Path:
        return Path(runs_dir) / self.id / RESULT_FILE

    def save(self, runs_dir: str | Path) -> Path:
        """Write runs_dir/<id>/result.json atomically (a reader never sees half a file)."""
        self.validate()
        path = self.path_in(runs_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".result-", suffix=".json.tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(self.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path


def _build(cls: type, value: Any) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"expected an object for {cls.__name__}, got {value!r}")
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in value.items() if k in known})


def _clean(x: Any) -> Any:
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (set, frozenset)):
        return sorted((_clean(v) for v in x), key=str)
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "tolist") and callable(x.tolist) and getattr(x, "ndim", 0) > 0:  # numpy arrays
        return _clean(x.tolist())
    if hasattr(x, "item") and callable(x.item) and not isinstance(x, (str, bytes)):  # numpy scalars
        try:
            return _clean(x.item())
        except (TypeError, ValueError):
            return x
    return x


# -- reading an artefact that may be damaged or hostile ------------------------------------------------
MAX_RESULT_BYTES = 64 * 1024 * 1024  # a result.json is a few KB; anything this big is not one
MAX_JSON_DEPTH = 64  # our files nest 4 levels; Python's json would recurse 100,000 levels and crash

INT32 = (-(2 ** 31), 2 ** 31 - 1)  # DuckDB INTEGER
INT64 = (-(2 ** 63), 2 ** 63 - 1)  # DuckDB BIGINT


class BadArtefact(ValueError):
    """A result.json that cannot be restored as it is; the message is one line naming the file."""

    def __init__(self, path: str | Path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{path}: {reason}")


# field -> kind; kinds: str, int32, int64, num (finite), bool, dict, strs (list of str), time (ISO 8601), rows
_RUN_FIELDS = {
    "id": "str", "train_spec": "str", "profile": "str", "seed": "int32", "status": "str", "error": "str?",
    "test_sets": "strs", "config": "dict", "code_version": "str?", "dirty": "bool?", "library_versions": "dict",
    "device": "str", "nproc": "int32", "data_fingerprints": "dict", "started_at": "time", "ended_at": "time?",
    "train_images": "int64?", "train_ids": "int32?", "budget": "int64?", "wall_seconds": "num?", "arch": "str?",
    "pretrained": "bool?", "height": "int32?", "width": "int32?", "fid_weights": "str?", "metrics": "dict",
    "fid": "list", "attribute_dists": "list", "costs": "list", "surrogate": "list", "owner_host": "str?",
    "owner_pid": "int32?", "owner_start": "int64?", "notes": "dict", "format_version": "int32",
}
_ROW_FIELDS = {
    Metrics: {"r1": "num", "r5": "num?", "map": "num", "r10": "num?", "minp": "num?", "num_query": "int32?",
              "num_gallery": "int32?", "eval_seconds": "num?"},
    FidRow: {"stage": "str", "target": "str", "value": "num", "weights": "str", "dims": "int32", "n": "int32?",
             "n_target": "int32?", "style_method": "str"},
    AttributeDist: {"attribute": "str", "source": "str", "probs": "nums", "target": "str"},
    Cost: {"stage": "str", "wall_seconds": "num", "images": "int64?", "device": "str"},
    SurrogateFit: {"target": "str", "r2_cv": "num", "n_probe": "int32", "r2_train": "num?", "model": "str",
                   "params": "dict"},
}
_REQUIRED = {RunResult: ("id", "train_spec", "profile", "seed"),
             Metrics: ("r1", "r5", "map"), FidRow: ("stage", "target", "value", "weights"),
             AttributeDist: ("attribute", "source", "probs"), Cost: ("stage", "wall_seconds"),
             SurrogateFit: ("target", "r2_cv", "n_probe")}


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text, without parsing it (brackets inside strings ignored)."""
    import re

    import numpy as np

    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    b = np.frombuffer(bare.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    step = (np.isin(b, (ord("["), ord("{")))).astype(np.int32) - np.isin(b, (ord("]"), ord("}"))).astype(np.int32)
    return int(np.cumsum(step).max()) if len(step) else 0


def _kind_problem(value: Any, kind: str) -> str | None:
    """Why `value` is not of `kind` (None when it is)."""
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    if kind == "str":
        if not isinstance(value, str):
            return f"expected text, got {_shape(value)}"
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            return "holds a lone surrogate (not UTF-8 text)"
        return None
    if kind in ("int32", "int64"):
        lo, hi = INT32 if kind == "int32" else INT64
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected a whole number, got {_shape(value)}"
        return None if lo <= value <= hi else f"{value} is outside {lo}..{hi}"
    if kind == "num":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {_shape(value)}"
        return None if math.isfinite(float(value)) else f"{value} is not a finite number"
    if kind == "bool":
        return None if isinstance(value, bool) else f"expected true or false, got {_shape(value)}"
    if kind == "dict":
        return None if isinstance(value, dict) else f"expected an object, got {_shape(value)}"
    if kind == "list":
        return None if isinstance(value, list) else f"expected a list, got {_shape(value)}"
    if kind in ("strs", "nums"):
        if not isinstance(value, list):
            return f"expected a list, got {_shape(value)}"
        for i, v in enumerate(value):
            why = _kind_problem(v, kind[:-1])
            if why:
                return f"item {i}: {why}"
        return None
    if kind == "time":
        if not isinstance(value, str):
            return f"expected an ISO 8601 time, got {_shape(value)}"
        try:
            parse_time(value)
        except (ValueError, OverflowError):
            return f"{_shape(value)} is not an ISO 8601 time"
        return None
    raise AssertionError(kind)


def _shape(value: Any) -> str:
    """A short, safe description of a value for a message (never the whole of a hostile value)."""
    if isinstance(value, (dict, list)):
        return f"a {'list' if isinstance(value, list) else 'object'} of {len(value)}"
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_fields(data: dict, spec: dict[str, str], required: tuple[str, ...], where: str) -> None:
    at = f"{where}: " if where else ""
    for name in required:
        if name not in data:
            raise ValueError(f"{at}lacks the required field {name!r}")
    for name, kind in spec.items():
        if name in data:
            why = _kind_problem(data[name], kind)
            if why:
                raise ValueError(f"{where}.{name}: {why}" if where else f"{name}: {why}")


def check_result_dict(data: Any) -> None:
    """ValueError naming the field when a parsed result.json does not have the types the store needs."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {_shape(data)}")
    _check_fields(data, _RUN_FIELDS, _REQUIRED[RunResult], "")
    for test, m in (data.get("metrics") or {}).items():
        if _kind_problem(test, "str") or not isinstance(m, dict):
            raise ValueError(f"metrics[{_shape(test)}]: expected an object keyed by a test set name")
        _check_fields(m, _ROW_FIELDS[Metrics], _REQUIRED[Metrics], f"metrics[{_shape(test)}]")
    for key, cls in (("fid", FidRow), ("attribute_dists", AttributeDist), ("costs", Cost), ("surrogate", SurrogateFit)):
        for i, row in enumerate(data.get(key) or []):
            if not isinstance(row, dict):
                raise ValueError(f"{key}[{i}]: expected an object, got {_shape(row)}")
            _check_fields(row, _ROW_FIELDS[cls], _REQUIRED[cls], f"{key}[{i}]")


def read_result(path: str | Path, folder_must_match: bool = True) -> RunResult:
    """One runs/<id>/result.json, checked to the last field, or BadArtefact(path, reason) saying why not.

    Bounded: at most MAX_RESULT_BYTES, nesting at most MAX_JSON_DEPTH, every field of the type (and
    range) the DB column holds, times ISO 8601, the id equal to its folder's name. The one function
    that decides whether an artefact can be restored (db rebuild, db check, db ingest)."""
    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):  # a fifo would block, /dev/zero never end
            raise BadArtefact(p, "not a regular file")
        if st.st_size > MAX_RESULT_BYTES:
            raise BadArtefact(p, f"{st.st_size:,} bytes, more than a result.json can be ({MAX_RESULT_BYTES:,})")
        with open(p, "rb") as f:
            raw = f.read(MAX_RESULT_BYTES + 1)
        if len(raw) > MAX_RESULT_BYTES:
            raise BadArtefact(p, f"more than a result.json can be ({MAX_RESULT_BYTES:,} bytes)")
    except OSError as e:
        raise BadArtefact(p, f"cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadArtefact(p, f"not UTF-8 text (byte {e.start})") from None
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise BadArtefact(p, f"JSON nested {depth:,} levels deep, more than {MAX_JSON_DEPTH}")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        where = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        raise BadArtefact(p, f"not valid JSON{where}") from None
    try:
        check_result_dict(data)
        result = RunResult.from_dict(data)
        result.validate()
    except (ValueError, TypeError) as e:
        raise BadArtefact(p, str(e).replace("\n", " ")) from None
    if folder_must_match and result.id != p.parent.name:
        raise BadArtefact(p, f"holds run id {result.id!r} but lives in folder {p.parent.name!r}")
    return result
