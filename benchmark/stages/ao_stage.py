"""`+ao`: attribute optimisation (the paper's Stage I) as a pipeline stage.

Calls benchmark.aost.ao.run_ao, stores V* beside the source's own distribution
(and, for a procedural target, the target's true prior - read only to report
recovery, never to optimise), the surrogate's fit and the costs per sub-stage.
For Fig. 8 it also registers the whole source and a uniform sample of the same
budget as FID sets.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from benchmark.stages import FULL, fid_label, get_stage
from benchmark.stages.context import StageContext, load_done, load_records, save_done, save_records
from benchmark.stages.random_stage import uniform_sample
from benchmark.store import AttributeDist, Cost, SurrogateFit


def _dists(source: str, dist: dict[str, list[float]], target: str) -> list[AttributeDist]:
    out = []
    for attr, probs in dist.items():
        total = float(sum(probs))
        if total > 0:
            out.append(AttributeDist(attr, source, [float(p) / total for p in probs], target))
    return out


def ao_stage(ctx: StageContext) -> None:
    from benchmark.aost.ao import run_ao

    if ctx.target is None:
        raise ValueError("+ao needs a target test set (--test or --target)")
    full = ctx.records
    # Fig. 8 compares the selection with the whole source and with a uniform sample of the same budget
    ctx.fid_sets[FULL] = (full, "")
    ctx.fid_sets[get_stage("random").fid_label] = (uniform_sample(full, ctx.budget, ctx.seed), "")
    done = load_done(ctx, "ao")
    if done:  # a resumed run: reuse the selection and what was stored about it
        ctx.records = load_records(Path(done["records"]))
        ctx.result.attribute_dists[:] = [AttributeDist(**d) for d in done["dists"]]
        ctx.result.surrogate[:] = [SurrogateFit(**s) for s in done["surrogate"]]
        ctx.result.costs.extend(Cost(**c) for c in done["costs"])
        ctx.result.record_weights(done.get("weights_use"))
        ctx.fid_sets[fid_label([*ctx.stages_done, "ao"])] = (ctx.records, "")
        return

    res = run_ao(ctx.source, ctx.target, ctx.profile, budget=ctx.budget, seed=ctx.seed,
                 work_dir=ctx.stage_dir("ao"), device=ctx.device)
    tkey = ctx.target.key
    dists = _dists("selected", res.v_star, tkey) + _dists("full", res.source_dist, tkey)
    prior = (ctx.target.meta.get("twin") or {}).get("prior") or {}
    dists += _dists("target-true", {a: p for a, p in prior.items() if a in res.v_star}, tkey)
    surrogate = [SurrogateFit(tkey, float(res.surrogate_r2), int(ctx.profile.ao_probe),
                              params={"vgg_weights": res.vgg_weights})]
    costs = [Cost(f"ao_{k}", float(v), None, ctx.device) for k, v in res.costs.items() if k != "total"]
    ctx.records = list(res.records)
    ctx.result.attribute_dists.extend(dists)
    ctx.result.surrogate.extend(surrogate)
    ctx.result.costs.extend(costs)
    ctx.result.notes["ao"] = {"vgg_weights": res.vgg_weights, "details": res.details}
    if prior:  # a twin target (built-in or yours): how far V* landed from the true prior, beside uniform's distance
        from benchmark.aost.recovery import recovery_table

        table = recovery_table(res.v_star, prior)
        ctx.result.notes["ao"]["recovery"] = {k: v for k, v in table.items() if k.startswith("mean_tv")}
    ctx.result.record_weights(res.details.get("weights_use"))
    ctx.fid_sets[fid_label([*ctx.stages_done, "ao"])] = (ctx.records, "")
    save_records(ctx.stage_dir("ao") / "records.json", ctx.records)
    save_done(ctx, "ao", {"records": str(ctx.stage_dir("ao") / "records.json"),
                          "dists": [asdict(d) for d in dists], "surrogate": [asdict(s) for s in surrogate],
                          "costs": [asdict(c) for c in costs], "weights_use": res.details.get("weights_use")})
