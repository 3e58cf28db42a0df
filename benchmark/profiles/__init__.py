"""Run profiles: typed settings read from TOML files, with overrides.

The built-in profiles (`paper`, `cpu`, `smoke`) are the TOML files beside this
module. A user profile is a TOML file that names a base and changes fields:

    base = "cpu"            # a built-in name, or another file (relative to this one)
    name = "cpu-long"       # optional; default: the file's stem
    epochs = 60
    lr_steps = [40]

`--set KEY=VALUE` changes any field on the command line. Every value is typed
and checked here, before any work: an unknown key lists the valid ones, a
wrong type or an impossible value (negative epochs, an architecture torchreid
does not have, an lr step beyond the epochs) is a one-line ProfileError.

A profile is recorded in full with every run (`to_dict`), and the run key
(benchmark.runkey) digests every field but `name` and `base`.
No heavy imports here: the CLI resolves profiles before it imports torch.
"""
from __future__ import annotations

import ast
import contextlib
import difflib
import functools
import importlib.util
import math
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

BUILTIN = ("paper", "cpu", "smoke")
_HERE = Path(__file__).resolve().parent

# the closed choices of a few fields (one home each; helpers add names here)
# how AO sees the target: "gatys" the paper's VGG style/content distance (Gatys et al.); "people" keeps its
# environment and estimates viewpoint and clothing with source-trained classifiers (benchmark.aost.people)
AO_METHODS = ("gatys", "people")
AO_VGG_WEIGHTS = ("imagenet", "random")
DIST_METRICS = ("euclidean", "cosine")
FID_WEIGHTS = ("official", "random")
FID_DIMS = (64, 192, 768, 2048)  # pytorch-fid's InceptionV3.BLOCK_INDEX_BY_DIM (torch-free copy)
NOT_SETTINGS = ("name", "base")  # labels, not settings: left out of comparisons and run keys
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ProfileError(ValueError):
    """A profile that cannot be used as given; the message names the key and what was expected."""


def _f(doc: str, default: Any = MISSING) -> Any:
    return field(default=default, metadata={"doc": doc}) if default is not MISSING else field(metadata={"doc": doc})


@dataclass(frozen=True)
class Profile:
    name: str = _f("the profile's name, stored with each run")
    # re-ID training (the paper's baseline: softmax CE, no bells and whistles)
    arch: str = _f("torchreid model name (torchreid's model factory)")
    pretrained: bool = _f("start from ImageNet weights (read from disk, never downloaded)")
    height: int = _f("input height in pixels")
    width: int = _f("input width in pixels")
    flip: float = _f("random horizontal flip probability in training (0..1)")
    batch_size: int = _f("global training batch (split over DDP processes)")
    lr: float = _f("Adam learning rate")
    lr_steps: tuple[int, ...] = _f("epochs after which the lr is divided by 10 (each < epochs)")
    epochs: int = _f("training epochs")
    weight_decay: float = _f("Adam weight decay", 5e-4)
    crop_pad: int = _f("training: zero-pad by this many pixels, then crop back at a random offset (0 = off)", 0)
    label_smooth: float = _f("label smoothing of the softmax loss (0 = the paper's plain CE)", 0.0)
    # evaluation
    dist_metric: str = _f("query-gallery distance: " + " | ".join(DIST_METRICS), "euclidean")
    normalize_features: bool = _f("L2-normalise features before ranking", False)
    flip_test: bool = _f("average features of each test image and its mirror", False)
    # attribute optimisation
    ao_method: str = _f("AO distance method: " + " | ".join(AO_METHODS), "gatys")
    ao_budget: int = _f("images selected by +random / +ao (the paper: 124,200)", 124_200)
    ao_probe: int = _f("probe images whose distance to the target trains the surrogate", 4_000)
    ao_target_images: int = _f("unlabeled target images the distances compare against", 500)
    ao_vgg_weights: str = _f("VGG-19 weights for AO distances: imagenet | random (seeded)", "imagenet")
    ao_input: tuple[int, int] = _f("AO's VGG input size [height, width]", (256, 128))
    pso_particles: int = _f("PSO swarm size", 40)
    pso_iters: int = _f("PSO iterations", 100)
    # style transfer
    style: str = _f("style transfer method for +st: spgan | cyclegan | color | dat", "spgan")
    style_size: tuple[int, int] = _f("style transfer image size [height, width]", (256, 128))
    style_res_blocks: int = _f("residual blocks of the GAN generator", 9)
    style_epochs: int = _f("GAN training epochs", 5)
    style_width: int = _f("GAN base channel width (the published nets: 64)", 64)
    style_max_images: int = _f("at most this many source images fit a GAN (0 = all)", 0)
    # FID
    fid_weights: str = _f("FID Inception weights: official (the file is required) | random (the official file when "
                           "present, else a seeded random net; the run records which was loaded)", "official")
    fid_dims: int = _f("FID feature block: " + " | ".join(map(str, FID_DIMS)), 2048)
    fid_max_images: int = _f("at most this many images per side of an FID", 5_000)
    threads: int = _f("torch CPU threads of a run (0 = torch's default, one per core); CPU results repeat at a "
                      "fixed count only", 0)
    base: str = _f("the built-in profile this one derives from (itself for a built-in)", "")

    def __post_init__(self) -> None:
        for f in fields(self):  # TOML and JSON give lists; the dataclass keeps tuples (hashable, frozen)
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        if not self.base:
            object.__setattr__(self, "base", self.name if self.name in BUILTIN else "")
        check(self)

    def to_dict(self) -> dict:
        """Every field, JSON-ready (tuples as lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    def settings(self) -> dict:
        """The fields that change a result (all but name and base)."""
        return {k: v for k, v in self.to_dict().items() if k not in NOT_SETTINGS}

    def with_(self, **changes) -> "Profile":
        """A copy with typed changes (checked). Inherited lr steps at or beyond new epochs are dropped."""
        return apply(self, changes)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Profile":
        """From `to_dict` output, including what older versions stored (their untyped `extra`)."""
        d = dict(d)
        legacy = d.pop("extra", None) or {}
        for k in ("style_width", "style_max_images", "label_smooth"):
            if k in legacy and k not in d:
                d[k] = legacy[k]
        if d.get("style_max_images") is None:
            d.pop("style_max_images", None)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


FIELDS: dict[str, Any] = {f.name: f for f in fields(Profile)}
SETTING_KEYS = tuple(k for k in FIELDS if k not in NOT_SETTINGS)


def field_doc(key: str) -> str:
    return FIELDS[key].metadata.get("doc", "")


# -- types ----------------------------------------------------------------------------------------

def _kind(key: str) -> str:
    return str(FIELDS[key].type).replace(" ", "")


def _unknown(key: str, where: str) -> ProfileError:
    near = difflib.get_close_matches(key, SETTING_KEYS, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return ProfileError(f"{where}: unknown setting {key!r}{hint}; valid keys: {', '.join(SETTING_KEYS)}")


def coerce(key: str, value: Any, where: str = "") -> Any:
    """A value of the field's type from TOML / JSON (typed) or the command line (text)."""
    where = where or key
    if key not in FIELDS:
        raise _unknown(key, where)
    kind = _kind(key)
    text = isinstance(value, str)

    def bad(expected: str) -> ProfileError:
        return ProfileError(f"{where}: expected {expected} for {key!r}, got {value!r}")

    if kind == "str":
        if not text or not value.strip():
            raise bad("a non-empty string")
        return value.strip()
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if text and value.strip().lower() in ("true", "yes", "1", "on"):
            return True
        if text and value.strip().lower() in ("false", "no", "0", "off"):
            return False
        raise bad("true or false")
    if kind == "int":
        return _int(value, bad("an integer"))
    if kind == "float":
        if isinstance(value, bool):
            raise bad("a number")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise bad("a number") from None
        if not math.isfinite(v):
            raise bad("a finite number")
        return v
    if kind.startswith("tuple[int"):
        items = value
        if text:
            s = value.strip().strip("[]()").strip()
            items = [p for p in s.replace(",", " ").split()] if s else []
        if not isinstance(items, (list, tuple)):
            raise bad("a list of integers, e.g. 40,70")
        pair = kind == "tuple[int,int]"
        expected = "two integers HEIGHT,WIDTH, e.g. 64,32" if pair else "a list of integers, e.g. 40,70"
        out = tuple(_int(v, bad(expected)) for v in items)
        if pair and len(out) != 2:
            raise bad(expected)
        return out
    raise ProfileError(f"{where}: {key!r} has no parser for type {kind}")  # pragma: no cover - a new field's type


def _int(value: Any, err: ProfileError) -> int:
    if isinstance(value, bool):
        raise err
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip().replace("_", ""))
        except ValueError:
            pass
    raise err


# -- checks ---------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def torchreid_archs() -> tuple[str, ...] | None:
    """torchreid's model names, read from its source without importing it (no torch at CLI time).

    None when torchreid is not installed or its layout is unknown (building the model then says)."""
    try:
        spec = importlib.util.find_spec("torchreid")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for rel in ("reid/models/__init__.py", "models/__init__.py"):  # PyPI 0.2.5 / deep-person-reid
            p = Path(root) / rel
            if not p.is_file():
                continue
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                        and any(isinstance(t, ast.Name) and t.id.endswith("model_factory") for t in node.targets)):
                    return tuple(k.value for k in node.value.keys if isinstance(k, ast.Constant))
    return None


def _style_methods() -> tuple[str, ...]:
    from benchmark.aost.style.api import STYLE_METHODS  # torch-free

    return STYLE_METHODS


def check(p: Profile) -> None:
    """Raise ProfileError naming the first impossible value."""
    who = f"profile {p.name!r}"

    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            raise ProfileError(f"{who}: {key} = {getattr(p, key)!r} is impossible; expected {expected}")

    def choice(key: str, choices: Iterable[str]) -> None:
        choices = tuple(choices)
        need(getattr(p, key) in choices, key, "one of " + ", ".join(choices))

    for f in fields(p):  # the right type first (a direct Profile(...) call is not coerced)
        v = getattr(p, f.name)
        if f.name == "base" and v == "":
            continue
        if coerce(f.name, v, who) != v:
            raise ProfileError(f"{who}: {f.name} = {v!r} is not a {_kind(f.name)}")
    if not _NAME.fullmatch(p.name):  # shown in every table and file name: a plain word
        raise ProfileError(f"profile name {p.name!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    archs = torchreid_archs()
    if archs is not None:
        choice("arch", archs)
    for key in ("height", "width"):
        need(getattr(p, key) >= 8, key, "at least 8 pixels")
    need(0.0 <= p.flip <= 1.0, "flip", "a probability in 0..1")
    need(0 <= p.crop_pad < min(p.height, p.width), "crop_pad", "0 (off) or pixels fewer than the input's side")
    need(p.batch_size >= 2, "batch_size", "at least 2 (BatchNorm trains on 2+ images)")
    need(p.lr > 0, "lr", "a positive learning rate")
    need(p.epochs >= 1, "epochs", "at least 1")
    need(p.weight_decay >= 0, "weight_decay", ">= 0")
    need(0.0 <= p.label_smooth < 1.0, "label_smooth", "a value in [0, 1)")
    need(all(s >= 1 for s in p.lr_steps) and list(p.lr_steps) == sorted(set(p.lr_steps)), "lr_steps",
         "increasing epochs >= 1")
    if p.lr_steps and p.lr_steps[-1] >= p.epochs:
        raise ProfileError(f"{who}: lr step {p.lr_steps[-1]} is beyond the {p.epochs} epochs (lr_steps = "
                           f"{list(p.lr_steps)}); a step must be < epochs")
    choice("dist_metric", DIST_METRICS)
    choice("ao_method", AO_METHODS)
    choice("ao_vgg_weights", AO_VGG_WEIGHTS)
    for key in ("ao_budget", "ao_target_images", "pso_iters", "style_epochs", "style_width"):
        need(getattr(p, key) >= 1, key, "at least 1")
    need(p.ao_probe >= 2, "ao_probe", "at least 2 (the surrogate needs data)")
    need(p.pso_particles >= 2, "pso_particles", "at least 2")
    need(p.style_res_blocks >= 0, "style_res_blocks", ">= 0")
    need(p.style_max_images >= 0, "style_max_images", ">= 0 (0 = all)")
    for key in ("ao_input", "style_size"):
        need(min(getattr(p, key)) >= 8, key, "HEIGHT,WIDTH of at least 8 pixels each")
    choice("style", _style_methods())
    choice("fid_weights", FID_WEIGHTS)
    need(p.fid_dims in FID_DIMS, "fid_dims", "one of " + ", ".join(map(str, FID_DIMS)))
    need(p.fid_max_images >= 2, "fid_max_images", "at least 2")
    need(p.threads >= 0, "threads", ">= 0 (0 = torch's default)")


# -- building -------------------------------------------------------------------------------------

def apply(base: Profile, changes: Mapping[str, Any], where: str = "") -> Profile:
    """`base` with typed changes. lr steps inherited from `base` that no longer fire (at or beyond a
    new epochs) are dropped, so the stored profile is the schedule that ran; steps set here must fit."""
    typed = {}
    for k, v in changes.items():
        if k not in FIELDS:
            raise _unknown(k, where or "profile")
        typed[k] = coerce(k, v, where or k)
    if "epochs" in typed and "lr_steps" not in typed:
        typed["lr_steps"] = tuple(s for s in base.lr_steps if s < typed["epochs"])
    try:
        return replace(base, **typed)
    except ProfileError as e:
        raise ProfileError(f"{where}: {e}" if where and not str(e).startswith(where) else str(e)) from None


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ProfileError(f"profile file {path}: cannot be read ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ProfileError(f"profile file {path}: not valid TOML ({e})") from None


@functools.lru_cache(maxsize=None)
def builtin(name: str) -> Profile:
    """A built-in profile from its TOML file (every field listed there)."""
    if name not in BUILTIN:
        raise ProfileError(f"unknown profile {name!r}; available: {', '.join(BUILTIN)}, or a path to a .toml file")
    path = _HERE / f"{name}.toml"
    data = _read_toml(path)
    missing = [k for k in FIELDS if k not in data and k != "base"]
    if missing:
        raise ProfileError(f"{path}: a built-in profile lists every field; missing {', '.join(missing)}")
    extra = set(data) - set(FIELDS)
    if extra:
        raise _unknown(sorted(extra)[0], str(path))
    return Profile(**{k: coerce(k, v, f"{path}: {k}") for k, v in data.items()})


def is_profile_file(ref: str) -> bool:
    return ref not in BUILTIN and (ref.endswith(".toml") or "/" in ref or Path(ref).is_file())


def _from_file(path: Path, seen: tuple[Path, ...] = ()) -> Profile:
    path = path.expanduser().resolve()
    if path in seen:
        raise ProfileError(f"profile file {path}: its bases form a cycle")
    if not path.is_file():
        raise ProfileError(f"profile file {path} does not exist; --profile takes {', '.join(BUILTIN)} "
                           "or a path to a .toml file")
    data = _read_toml(path)
    where = f"profile file {path}"
    base_ref = data.pop("base", None)
    if not isinstance(base_ref, str) or not base_ref:
        raise ProfileError(f"{where}: name a base profile, e.g. base = \"cpu\" (one of {', '.join(BUILTIN)} "
                           "or another .toml file)")
    name = data.pop("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise ProfileError(f"{where}: name must be a non-empty string")
    if name in BUILTIN:
        raise ProfileError(f"{where}: name {name!r} is a built-in profile's; give yours another name")
    if is_profile_file(base_ref):
        parent = _from_file(path.parent / base_ref, seen + (path,))
    else:
        parent = builtin(base_ref)
    prof = apply(parent, data, where)
    return replace(prof, name=name.strip(), base=parent.base)


def parse_sets(items: Iterable[str] | None) -> dict[str, str]:
    """`--set KEY=VALUE` options -> {key: text}; malformed or unknown keys are a ProfileError."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ProfileError(f"--set {item!r}: expected KEY=VALUE, e.g. --set epochs=60")
        if key not in FIELDS or key in NOT_SETTINGS:
            raise _unknown(key, f"--set {item}")
        out[key] = value
    return out


def load_profile(ref: str | Profile, overrides: Mapping[str, Any] | Iterable[str] | None = None) -> Profile:
    """A built-in name or a user TOML path, then overrides ({key: value} or ["KEY=VALUE", ...])."""
    if isinstance(ref, Profile):
        prof = ref
    elif not isinstance(ref, str) or not ref.strip():
        raise ProfileError(f"--profile {ref!r}: expected {', '.join(BUILTIN)} or a path to a .toml file")
    elif is_profile_file(ref.strip()):
        prof = _from_file(Path(ref.strip()))
    else:
        prof = builtin(ref.strip())
    if overrides:
        if not isinstance(overrides, Mapping):
            overrides = parse_sets(overrides)
        bad = [k for k in overrides if k in NOT_SETTINGS]
        if bad:
            raise _unknown(bad[0], "--set")
        prof = apply(prof, overrides, "--set")
    return prof


def run_threads(profile: Profile, device: str = "cpu") -> int:
    """The torch CPU threads a run of the profile uses on `device` (0: torch's default; a GPU run's are left
    alone). A CPU result repeats at a fixed count only."""
    return profile.threads if str(device).startswith("cpu") else 0


@contextlib.contextmanager
def torch_threads(count: int):
    """The block runs at `count` torch CPU threads (0: unchanged); the count before is restored after."""
    if not count:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def get_profile(name: str) -> Profile:
    """A built-in profile by name, or a user TOML by path (kept for older callers)."""
    return load_profile(name)


def differences(p: Profile) -> dict[str, Any]:
    """The settings in which `p` differs from its built-in base (empty for a built-in as shipped)."""
    ref = builtin(p.base) if p.base in BUILTIN else None
    if ref is None:
        return p.settings()
    mine, theirs = p.settings(), ref.settings()
    return {k: v for k, v in mine.items() if theirs.get(k) != v}


def format_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v) if v else "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def describe(p: Profile) -> str:
    """In words: "paper", "paper, epochs=60", "my-exp (cpu, lr=0.001)"."""
    diff = ", ".join(f"{k}={format_value(v)}" for k, v in differences(p).items())
    base = p.base or "?"
    head = base if p.name == base else f"{p.name} ({base}"
    if p.name == base:
        return f"{head}, {diff}" if diff else head
    return f"{head}, {diff})" if diff else f"{head})"


def to_toml(p: Profile) -> str:
    """The resolved profile as TOML (a user can save it and name it as a base)."""
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"# profile {p.name!r}, resolved; saved as a file it is a user profile of the same settings",
             f"base = {val(p.base or p.name)}"]
    for k, v in p.settings().items():
        lines.append(f"{k} = {val(v)}  # {field_doc(k)}")
    return "\n".join(lines) + "\n"


def __getattr__(name: str) -> Any:
    """PAPER, CPU, SMOKE and PROFILES, read from their files on first use (importing stays cheap)."""
    if name in ("PAPER", "CPU", "SMOKE"):
        return builtin(name.lower())
    if name == "PROFILES":
        return {n: builtin(n) for n in BUILTIN}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
