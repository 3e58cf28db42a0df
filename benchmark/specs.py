"""Train specs: `BASE[+STAGE...]`, e.g. `finegpr+aost`, `sim-finegpr+random`, `submission:mine+ao`.

The stages and their shorthands come from the Stage registry (benchmark.stages:
random, ao, st; aost = ao + st); dataset names from benchmark.names. One
parser serves `run` (strict: the base must be a known dataset) and the store's
queries (lenient: any base, aliases expanded), so every spelling `run`
accepts finds the same rows (`sim-finegpr+ao+st` = `sim-finegpr+aost`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from benchmark import stages as stage_registry
from benchmark.names import SUBMISSION_PREFIX, alias_key


class SpecError(ValueError):
    """An unknown or impossible train spec; the message lists what is available."""


@dataclass(frozen=True)
class TrainSpec:
    base: str  # canonical dataset key or "submission:NAME"
    stages: tuple[str, ...]  # stage names in run order (shorthands expanded)

    @property
    def text(self) -> str:
        """The canonical spelling, shorthands written back (`+ao+st` -> `+aost`)."""
        return "+".join([self.base, *stage_registry.compact(self.stages)])

    @property
    def is_submission(self) -> bool:
        return self.base.startswith(SUBMISSION_PREFIX)

    @property
    def submission_name(self) -> str | None:
        return self.base.split(":", 1)[1] if self.is_submission else None

    def stage_objects(self) -> list[stage_registry.Stage]:
        return [stage_registry.get_stage(s) for s in self.stages]

    @property
    def adapts_to_target(self) -> bool:
        return any(s.adapts_to_target for s in self.stage_objects())

    @property
    def uses_budget(self) -> bool:
        return any(s.uses_budget for s in self.stage_objects())

    @property
    def needs_attributes(self) -> bool:
        return any(s.needs_attributes for s in self.stage_objects())


def parse_spec(text: str, *, known_bases: list[str] | None = None,
               dataset: Callable[[str], str] | None = None) -> TrainSpec:
    """Parse and normalise a spec. `dataset` maps the base name to its canonical key (default: the
    registry's, which refuses unknown names; the store passes `names.alias_key`, which does not)."""
    raw = text.strip()
    if not raw:
        raise SpecError("empty train spec; expected BASE[+STAGE...], e.g. sim-finegpr+aost")
    base_raw, *stage_texts = [p.strip() for p in raw.split("+")]
    if base_raw.lower().startswith(SUBMISSION_PREFIX):
        name = base_raw.split(":", 1)[1]
        if not name:
            raise SpecError(f"train spec {text!r}: `submission:` needs a name, e.g. submission:mydata")
        base = f"{SUBMISSION_PREFIX}{name}"
    else:
        resolve = dataset or _registry_key
        try:
            base = resolve(base_raw)
        except KeyError as exc:
            listed = str(exc).split(". ", 1)[-1]  # the vocabulary's "Available: ..." part
            extra = f"Available: {', '.join(known_bases)}, submission:NAME" if known_bases else listed
            raise SpecError(f"unknown dataset {base_raw!r} in train spec {text!r}. {extra}. "
                            f"Stages: {stage_registry.spelled()}.") from None
    stages: list[str] = []
    for s in (t.lower() for t in stage_texts if t):
        try:
            expanded = stage_registry.expand(s)
        except KeyError:
            raise SpecError(f"unknown stage {s!r} in train spec {text!r}; available stages: "
                            f"{stage_registry.spelled()}") from None
        for e in expanded:
            if e in stages:
                raise SpecError(f"stage {e!r} appears twice in train spec {text!r}")
            stages.append(e)
    choosers = [s for s in stages if stage_registry.get_stage(s).uses_budget]
    if len(choosers) > 1:
        raise SpecError(f"train spec {text!r}: {' and '.join('+' + c for c in choosers)} both choose the images; "
                        f"use one of them")
    stages.sort(key=stage_registry.order_key)
    return TrainSpec(base=base, stages=tuple(stages))


def canonical_spec(text: str) -> str:
    """The stored spelling of a spec, without checking the base exists (the store's reading)."""
    return parse_spec(text, dataset=alias_key).text


def _registry_key(name: str) -> str:
    from benchmark.datasets import canonical_key

    return canonical_key(name)
