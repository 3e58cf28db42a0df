"""Train specs: `BASE[+STAGE...]`, e.g. `finegpr+aost`, `sim-finegpr+random`, `submission:mine+ao`.

Stages, in the order they run:
  random  uniform sample of the budget (the paper's FineGPR+Random)
  ao      attribute optimisation: select the budget by the searched distribution V*
  st      style transfer of the training images to the target's style
  aost    shorthand for ao + st (the paper's method)
"""
from __future__ import annotations

from dataclasses import dataclass

STAGES = ("random", "ao", "st")
_EXPANSIONS = {"aost": ("ao", "st")}
# stages that need per-image attributes on the source
NEEDS_ATTRIBUTES = {"ao"}


class SpecError(ValueError):
    """An unknown or impossible train spec; the message lists what is available."""


@dataclass(frozen=True)
class TrainSpec:
    base: str  # canonical dataset key or "submission:NAME"
    stages: tuple[str, ...]

    @property
    def text(self) -> str:
        parts = [self.base, *self.stages]
        # write ao+st back as the paper's name
        s = "+".join(parts)
        return s.replace("+ao+st", "+aost")

    @property
    def is_submission(self) -> bool:
        return self.base.startswith("submission:")

    @property
    def submission_name(self) -> str | None:
        return self.base.split(":", 1)[1] if self.is_submission else None


def parse_spec(text: str, *, known_bases: list[str] | None = None) -> TrainSpec:
    """Parse and normalise a spec. Dataset aliases (market, duke, ...) become canonical keys."""
    from benchmark.datasets import canonical_key, dataset_keys

    raw = text.strip()
    if not raw:
        raise SpecError("empty train spec; expected BASE[+STAGE...], e.g. sim-finegpr+aost")
    base_text, *stage_texts = [p.strip().lower() for p in raw.split("+")]
    if base_text.startswith("submission:"):
        name = raw.split("+")[0].strip().split(":", 1)[1]
        if not name:
            raise SpecError(f"train spec {text!r}: `submission:` needs a name, e.g. submission:mydata")
        base = f"submission:{name}"
    else:
        try:
            base = canonical_key(base_text)
        except KeyError:
            bases = known_bases or dataset_keys()
            raise SpecError(
                f"unknown dataset {base_text!r} in train spec {text!r}. Available: "
                f"{', '.join(bases)}, submission:NAME. Stages: +random, +ao, +st, +aost."
            ) from None
    stages: list[str] = []
    for s in stage_texts:
        expanded = _EXPANSIONS.get(s, (s,))
        for e in expanded:
            if e not in STAGES:
                raise SpecError(
                    f"unknown stage {s!r} in train spec {text!r}; available stages: +random, +ao, +st, +aost"
                )
            if e in stages:
                raise SpecError(f"stage {e!r} appears twice in train spec {text!r}")
            stages.append(e)
    if "random" in stages and "ao" in stages:
        raise SpecError(f"train spec {text!r}: +random and +ao both choose the images; use one of them")
    stages.sort(key=STAGES.index)
    return TrainSpec(base=base, stages=tuple(stages))
