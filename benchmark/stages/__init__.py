"""The stages of a train spec (`+random`, `+ao`, `+st`) and their shorthands (`+aost`): one registry.

Each Stage object says what the stage is: whether it needs per-image
attributes, adapts to a target, spends the image budget, which checks run
before any work, how its FID rows and the app label it. Specs, the pipeline,
the grid, the store, the CLI and the app read these objects, never stage-name
strings. Adding a stage is adding one `register(Stage(...))` call.

This module stays light (no torch, no store): a stage's code is imported only
when it runs (`Stage.runner`, "module:function"). The StageContext a stage
works on lives in `benchmark.stages.context`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


class PreflightError(ValueError):
    """A stage cannot run with these settings; raised before any work."""


@dataclass(frozen=True)
class Stage:
    name: str  # as written in a train spec after '+'
    display: str  # as the paper prints it ("AO")
    runner: str  # "module:function" taking a StageContext
    needs_attributes: bool = False  # the source's images must carry attributes
    adapts_to_target: bool = False  # reads the target (its unlabeled train split): one grid cell per test set
    uses_budget: bool = False  # chooses `budget` images from the source
    restyles: bool = False  # changes how the images look (its output folder holds translated images)
    ablation_only: bool = False  # a spec ending with it is an ablation row (Table 3), not a Table 2 row
    preflight: tuple[Callable[[Any, Any], None], ...] = ()  # (profile, request) -> None or PreflightError

    @property
    def fid_label(self) -> str:
        return self.name

    def run(self, ctx) -> None:
        module, fn = self.runner.split(":")
        getattr(importlib.import_module(module), fn)(ctx)

    def check(self, profile, request) -> None:
        for check in self.preflight:
            check(profile, request)


@dataclass(frozen=True)
class Shorthand:
    """A name for a sequence of stages (`aost` = ao + st); specs are written back with it."""

    name: str
    parts: tuple[str, ...]
    display: str

    @property
    def fid_label(self) -> str:
        return self.name


_STAGES: dict[str, Stage] = {}  # in run order
_SHORTHANDS: dict[str, Shorthand] = {}
FULL = "full"  # the FID label of a spec without stages: the whole source


def register(item: Stage | Shorthand) -> Stage | Shorthand:
    """Add a stage (run order = registration order) or a shorthand; a name already taken is refused."""
    if item.name in _STAGES or item.name in _SHORTHANDS or item.name == FULL:
        raise ValueError(f"stage name {item.name!r} is already registered")
    if isinstance(item, Shorthand):
        missing = [p for p in item.parts if p not in _STAGES]
        if missing:
            raise ValueError(f"shorthand {item.name!r} names unknown stage(s) {', '.join(missing)}")
        _SHORTHANDS[item.name] = item
    else:
        _STAGES[item.name] = item
    return item


def stage_names() -> list[str]:
    return list(_STAGES)


def shorthands() -> dict[str, Shorthand]:
    return dict(_SHORTHANDS)


def get_stage(name: str) -> Stage:
    try:
        return _STAGES[name]
    except KeyError:
        raise KeyError(f"no stage {name!r}; registered: {', '.join(_STAGES)}") from None


def expand(name: str) -> tuple[str, ...]:
    """A stage or shorthand name -> the stage names it stands for; KeyError when it is neither."""
    if name in _STAGES:
        return (name,)
    if name in _SHORTHANDS:
        return _SHORTHANDS[name].parts
    raise KeyError(name)


def spelled() -> str:
    """Every name a spec may use after '+', for messages: "+random, +ao, +st, +aost"."""
    return ", ".join("+" + n for n in (*_STAGES, *_SHORTHANDS))


def order_key(name: str) -> int:
    return list(_STAGES).index(name)


def compact(stages: tuple[str, ...] | list[str]) -> list[str]:
    """Stage names with every shorthand's run written as the shorthand (ao, st -> aost)."""
    out = list(stages)
    for sh in _SHORTHANDS.values():
        n = len(sh.parts)
        for i in range(len(out) - n + 1):
            if tuple(out[i:i + n]) == sh.parts:
                out[i:i + n] = [sh.name]
                break
    return out


def fid_label(done: tuple[str, ...] | list[str]) -> str:
    """The FID label of the images after the stages `done` ran: the last one, or the shorthand they end with."""
    if not done:
        return FULL
    for sh in _SHORTHANDS.values():
        if tuple(done[-len(sh.parts):]) == sh.parts:
            return sh.name
    return done[-1]


def fid_labels() -> list[str]:
    """Every FID label in the order the app shows them: full, each stage, then the shorthands."""
    return [FULL, *_STAGES, *_SHORTHANDS]


def label_display(label: str) -> str:
    """`ao` -> "AO", `aost` -> "AOST", `full` -> "full"; unknown labels (old runs) unchanged."""
    if label in _STAGES:
        return _STAGES[label].display
    if label in _SHORTHANDS:
        return _SHORTHANDS[label].display
    return label


def restyling_labels() -> set[str]:
    """Stage folders / FID labels whose images were restyled (the app shows them as 'after')."""
    out = {s.name for s in _STAGES.values() if s.restyles}
    out |= {sh.name for sh in _SHORTHANDS.values() if any(_STAGES[p].restyles for p in sh.parts)}
    return out


# -- preflight checks: cheap, before any work; heavy imports stay inside ---------------------------

def _style_method_known(profile, request) -> None:
    style = getattr(request, "style", None)
    if style:
        from benchmark.aost.style import STYLE_METHODS

        if style not in STYLE_METHODS:
            raise PreflightError(f"unknown style method {style!r} (--style); available: {', '.join(STYLE_METHODS)}")


def _vgg_weights_present(profile, request) -> None:
    if profile.ao_vgg_weights == "imagenet":
        from benchmark.aost.distances import require_vgg_weights

        require_vgg_weights()


register(Stage("random", "Random", "benchmark.stages.random_stage:random_stage",
               uses_budget=True, ablation_only=True))
register(Stage("ao", "AO", "benchmark.stages.ao_stage:ao_stage", needs_attributes=True, adapts_to_target=True,
               uses_budget=True, ablation_only=True, preflight=(_vgg_weights_present,)))
register(Stage("st", "ST", "benchmark.stages.style_stage:style_stage", adapts_to_target=True, restyles=True,
               preflight=(_style_method_known,)))
register(Shorthand("aost", ("ao", "st"), "AOST"))


def __getattr__(name: str):
    # the context and the resume helpers moved to benchmark.stages.context; old imports keep working
    if name in ("StageContext", "save_records", "load_records", "done_marker", "save_done", "load_done"):
        from benchmark.stages import context

        return getattr(context, name)
    raise AttributeError(f"module 'benchmark.stages' has no attribute {name!r}")
