"""The run key: one digest of everything that changes a run's result, and the same in words.

Two runs with the same key are repeats of one experiment that differ only by
seed: the grid skips a (key, seed) that is done, the tables average seeds
within a key and never across keys. The inputs are normalised first, so that
settings a run does not use cannot split it (a plain `finegpr` run does not
depend on the AO or style settings, a `+st` run on the budget):

- the train spec (canonical text) and its stage options: the budget (+random,
  +ao), the style method and style bank (+st), the source sampling;
- every resolved profile field (less those of stages the spec does not run);
- the fingerprints of the source, of the test set AO/ST adapt to and of the
  style bank.

`variant_key` is the key without the target: a table row combines one run per
target (Table 2's FineGPR+AOST adapts to each test set in turn).

Pure and torch-free: the pipeline computes the key once per run, the grid and
a cluster's preflight can compute it for a cell without running anything.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from benchmark.profiles import NOT_SETTINGS, Profile, builtin, format_value

KEY_VERSION = 1
# profile fields that only a stage reads (the rest - training, evaluation, FID - every run reads)
STAGE_FIELDS = {"ao": ("ao_method", "ao_probe", "ao_target_images", "ao_vgg_weights", "ao_input",
                       "pso_particles", "pso_iters"),
                "st": ("style_size", "style_res_blocks", "style_epochs", "style_width", "style_max_images")}
BUDGET_STAGES = {"random", "ao"}
ADAPTING_STAGES = {"ao", "st"}
# represented by the stage options (the effective budget and style), not as profile fields
_AS_OPTIONS = ("ao_budget", "style")


@dataclass(frozen=True)
class RunKey:
    key: str  # every input
    variant_key: str  # every input but the target (what a table row groups by)
    variant: str  # the settings in words, against the named profile: "paper, epochs=60", "cpu, style spgan"
    settings_key: str = ""  # the training, evaluation and FID settings alone: rows ranked together share it
    adapted_to: str | None = None  # the test set AO/ST adapted to (None when no stage adapts)
    inputs: dict = field(default_factory=dict)  # what was digested (stored with the run)


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def key_inputs(spec: str, stages: tuple[str, ...] | list[str], profile: Profile, *, budget: int | None = None,
               style: str | None = None, style_bank: str | None = None, sample_ids: int | None = None,
               sample_per_id: int | None = None, target: str | None = None,
               fingerprints: Mapping[str, str] | None = None, source: str | None = None) -> dict:
    """The normalised inputs of a run key.

    `spec` is the canonical spec text and `stages` its stages; `budget` and
    `style` are the request's (None = the profile's); `style_bank` a bank's
    fingerprint (None = the target's train split); `fingerprints` maps dataset
    keys to fingerprints (the source's and the target's are used)."""
    stages = tuple(stages)
    fps = dict(fingerprints or {})
    used = set()
    for s in stages:
        used.update(STAGE_FIELDS.get(s, ()))
    skipped = {f for fs in STAGE_FIELDS.values() for f in fs} - used
    settings = {k: v for k, v in profile.settings().items() if k not in skipped and k not in _AS_OPTIONS}
    options: dict[str, Any] = {}
    if BUDGET_STAGES & set(stages):
        options["budget"] = int(budget or profile.ao_budget)
    if "st" in stages:
        options["style"] = style or profile.style
        options["style_bank"] = style_bank or "target"
    if sample_ids or sample_per_id:
        options["sample"] = [sample_ids or None, sample_per_id or None]
    src = source or spec.split("+", 1)[0]
    data = {"source": [src, fps.get(src)]}
    if ADAPTING_STAGES & set(stages):
        data["target"] = [target, fps.get(target) if target else None]
    return {"version": KEY_VERSION, "spec": spec, "options": options, "profile": settings, "data": data}


def describe_inputs(inputs: Mapping[str, Any], profile_name: str, base: str) -> str:
    """The variant in words against the named built-in profile: only what differs is said."""
    ref = builtin(base) if base in ("paper", "cpu", "smoke") else None
    parts: list[str] = []
    mine = inputs.get("profile", {})
    theirs = ref.settings() if ref else {}
    for k, v in mine.items():
        if k in NOT_SETTINGS:
            continue
        if ref is None or _norm(theirs.get(k)) != _norm(v):
            parts.append(f"{k}={format_value(v)}")
    opts = inputs.get("options", {})
    if "style" in opts and (ref is None or opts["style"] != ref.style):
        parts.append(f"style {opts['style']}")
    if opts.get("style_bank", "target") != "target":
        parts.append(f"style bank {str(opts['style_bank'])[:8]}")
    if "budget" in opts and (ref is None or opts["budget"] != ref.ao_budget):
        parts.append(f"budget {opts['budget']}")
    if "sample" in opts:
        ids, per = opts["sample"]
        parts.append(f"sample {ids or 'all'} ids x {per or 'all'}")
    head = base if profile_name == base or not profile_name else f"{profile_name} ({base or '?'})"
    return ", ".join([head, *parts])


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def settings_key(profile_settings: Mapping[str, Any]) -> str:
    """Digest of the settings every run reads (training, evaluation, FID), whatever its stages."""
    stage_only = {f for fs in STAGE_FIELDS.values() for f in fs} | set(_AS_OPTIONS) | set(NOT_SETTINGS)
    return _digest({k: _norm(v) for k, v in profile_settings.items() if k not in stage_only})


def make_key(inputs: dict, profile_name: str, base: str) -> RunKey:
    """The key, the variant key (target left out) and the words, from key_inputs' output."""
    data = inputs.get("data", {})
    without_target = {**inputs, "data": {k: v for k, v in data.items() if k != "target"}}
    return RunKey(key=_digest(inputs), variant_key=_digest(without_target),
                  variant=describe_inputs(inputs, profile_name, base),
                  settings_key=settings_key(inputs.get("profile", {})),
                  adapted_to=(data.get("target") or [None])[0], inputs=inputs)


def run_key(spec: str, stages, profile: Profile, **options: Any) -> RunKey:
    """key_inputs + make_key: the one call the pipeline, the grid and a preflight make."""
    return make_key(key_inputs(spec, stages, profile, **options), profile.name, profile.base)


def key_from_stored(train_spec: str, config: Mapping[str, Any] | None,
                    data_fingerprints: Mapping[str, str] | None) -> tuple[RunKey | None, str]:
    """The key of a run stored before run keys existed, from its config; (None, why) when it cannot be.

    Used by the DB migration and by `db rebuild` for old result.json files."""
    from benchmark.profiles import ProfileError

    config = dict(config or {})
    req = config.get("request") or {}
    if not config.get("profile"):
        return None, "no profile stored with the run"
    try:
        profile = Profile.from_dict(config["profile"])
    except (ProfileError, TypeError) as e:
        return None, f"its stored profile no longer loads ({e})"
    stages = _stages_of(train_spec)
    fps = dict(data_fingerprints or {})
    target = req.get("target")
    tests = req.get("tests") or []
    if ADAPTING_STAGES & set(stages):
        target = _canonical(target) if target else (_canonical(tests[0]) if tests else None)
        if not target or target not in fps:
            return None, "the fingerprint of the target it adapted to was not stored"
    bank = None
    if "st" in stages and req.get("style_bank"):
        return None, "its style bank's fingerprint was not stored"
    inputs = key_inputs(train_spec, stages, profile, budget=req.get("budget"), style=req.get("style"),
                        style_bank=bank, sample_ids=req.get("sample_ids"), sample_per_id=req.get("sample_per_id"),
                        target=target, fingerprints=fps)
    return make_key(inputs, profile.name, profile.base), ""


def settings_key_from_stored(config: Mapping[str, Any] | None) -> str | None:
    """The settings key of a stored run whose full key cannot be computed (its profile alone)."""
    from benchmark.profiles import ProfileError

    prof = (config or {}).get("profile")
    if not prof:
        return None
    try:
        return settings_key(Profile.from_dict(prof).settings())
    except (ProfileError, TypeError):
        return None


def _stages_of(spec: str) -> tuple[str, ...]:
    parts = spec.split("+")[1:]
    out: list[str] = []
    for p in parts:
        out += ["ao", "st"] if p == "aost" else [p]
    return tuple(out)


def _canonical(name: str) -> str:
    try:
        from benchmark.datasets import canonical_key

        return canonical_key(name)
    except (ImportError, KeyError, ValueError):
        return name
