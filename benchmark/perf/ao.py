"""`aostbench perf ao` and `aostbench perf ao-recovery`: the AO stage's time and its recovery of the target.

perf ao: one cold run of the AO stage (fresh feature cache) from sim-finegpr
to a target twin at a profile, timing each sub-stage (probe images, probe VGG
features, target VGG features, surrogate fits, PSO, selection), then a warm
run with another budget (the cached features are reused). The goal is the
whole cold stage under 5 minutes on a 2-core machine at the cpu profile.

perf ao-recovery: the AO methods side by side (`gatys`, the paper's; `people`,
benchmark.aost.people) on every target twin given, built-in or written from a
user's spec: per attribute TV(V*, the twin's true prior) / TV(uniform, prior)
(1.0 = no better than uniform), as min-max over the seeds, and wall time. The
prior is read only to score V*.

Twins are generated (demo scale) in a temporary folder unless --data-root
names a folder that has them (missing ones are generated there).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmark.profiles import AO_METHODS as AO_METHOD_NAMES, get_profile, run_threads, torch_threads

SOURCE = "sim-finegpr"
# the table's columns: single attributes, then groups (ratio of summed TVs)
COLUMNS = (("weather", "weather"), ("illumination", "illum."), ("scene", "scene"), ("viewpoint", "viewpoint"),
           ("upper_colour", "upper col."), ("lower_colour", "lower col."), ("other_id", "other id (11)"),
           ("all", "all (17)"))
NEAR_UNIFORM = 0.05  # TV(uniform, prior) below this: the ratio says nothing


def _split(text: str, kind):
    return [kind(x.strip()) for x in text.split(",") if x.strip()]


def _fmt_ratio(tv: float, tv_uniform: float) -> str:
    return "-" if tv_uniform < NEAR_UNIFORM else f"{tv / tv_uniform:.2f}"


def compare_recovery(targets, methods, seeds, profile_name: str = "cpu", *, data_root: Path | None = None,
                     cache: Path | None = None, device: str = "cpu", on_run=None) -> list[dict]:
    """measure_recovery for every target x method x seed; each method keeps its own feature cache.

    Every run dict carries its wall seconds and whether its features came from the cache ("warm").
    """
    import torch

    from benchmark.aost.recovery import measure_recovery

    base = get_profile(profile_name)
    runs = []
    with tempfile.TemporaryDirectory(prefix="aost-recovery-") as tmp:
        root = Path(data_root) if data_root is not None else Path(tmp) / "data"
        for name in targets:
            for s in seeds:
                for m in methods:
                    with torch_threads(run_threads(base, device)):  # as a run of the profile: its results are this one's
                        r = measure_recovery(name, base.with_(ao_method=m), data_root=root, seed=s, device=device,
                                             cache_root=Path(cache or tmp) / f"cache-{m}")
                        r["torch_threads"] = torch.get_num_threads()
                    r["method"] = m
                    r["warm"] = any(r.get("cached", {}).values())
                    runs.append(r)
                    if on_run is not None:
                        on_run(r)
    return runs


def group_ratio(attrs: dict, names) -> tuple[float, float]:
    """Summed TV(V*) and summed TV(uniform) over the named attributes."""
    names = [a for a in names if a in attrs]
    return sum(attrs[a]["tv"] for a in names), sum(attrs[a]["tv_uniform"] for a in names)


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (target, method): each column's ratio as min-max over the seeds, and the mean wall time."""
    from benchmark.attributes import ID_NAMES

    other = [a for a in ID_NAMES if a not in ("upper_colour", "lower_colour")]
    keys = list(dict.fromkeys((r["target"], r["method"]) for r in runs))
    rows = []
    for i, (target, method) in enumerate(keys):
        mine = [r for r in runs if (r["target"], r["method"]) == (target, method)]
        cells = []
        for key, _ in COLUMNS:
            pairs = []
            for r in mine:
                a = r["attributes"]
                names = other if key == "other_id" else list(a) if key == "all" else [key]
                pairs.append(group_ratio(a, names))
            if not pairs or min(u for _, u in pairs) < NEAR_UNIFORM:
                cells.append("-")
                continue
            ratios = [tv / u for tv, u in pairs]
            lo, hi = min(ratios), max(ratios)
            cells.append(f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}")
        seconds = sum(r["seconds"] for r in mine) / len(mine)
        cpu = [r["cpu_seconds"] for r in mine if r.get("cpu_seconds") is not None]
        last = i + 1 == len(keys) or keys[i + 1][0] != target
        text = f"{seconds:.0f}" + (f" ({sum(cpu) / len(cpu):.0f})" if cpu else "")
        rows.append({"target": target, "method": method, "cells": cells, "seconds": text, "last": last})
    return rows


def time_ao(target: str, profile_name: str = "cpu", *, seed: int = 0, data_root: Path | None = None,
            budget: int | None = None, device: str = "cpu", method: str | None = None) -> dict:
    """Cold then warm AO run; returns the per-sub-stage seconds of both and the machine's context."""
    import torch

    from benchmark.aost.ao import run_ao
    from benchmark.aost.recovery import ensure_twin, load_twin

    profile = get_profile(profile_name)
    if method:
        profile = profile.with_(ao_method=method)
    budget = budget or profile.ao_budget
    with tempfile.TemporaryDirectory(prefix="aost-perf-") as tmp:
        tmp_path = Path(tmp)
        root = Path(data_root) if data_root is not None else tmp_path / "data"
        t0 = time.perf_counter()
        for name in (SOURCE, target):
            if not (root / name / "twin.toml").is_file():
                ensure_twin(name, root)
        twins_seconds = time.perf_counter() - t0
        source_ds, target_ds = load_twin(SOURCE, root), load_twin(target, root)
        cache = tmp_path / "cache"
        with torch_threads(run_threads(profile, device)):  # the stage's time in a run of the profile
            cold = run_ao(source_ds, target_ds, profile, budget=budget, seed=seed, work_dir=tmp_path / "cold",
                          device=device, cache_root=cache)
            warm = run_ao(source_ds, target_ds, profile, budget=max(1, budget // 2), seed=seed,
                          work_dir=tmp_path / "warm", device=device, cache_root=cache)
            threads = torch.get_num_threads()
    return {
        "target": target, "profile": profile.name, "method": profile.ao_method, "budget": budget, "seed": seed,
        "cold": cold.costs, "warm": warm.costs, "warm_budget": max(1, budget // 2),
        "twin_generation_seconds": twins_seconds, "vgg_weights": cold.vgg_weights,
        "probe_images": cold.details["probe_images"], "target_images": cold.details["target_images"],
        "probe_images_seconds": cold.details.get("probe_images_seconds"),
        "surrogate_r2": cold.surrogate_r2, "surrogate_d2": cold.details["surrogate_cv_d2"],
        "cpus": os.cpu_count(), "torch_threads": threads, "load_average": os.getloadavg(),
    }


def register(perf_app) -> None:
    """Mount `aostbench perf ao` and `aostbench perf ao-recovery` on the perf sub-app."""
    import typer
    from rich.console import Console
    from rich.table import Table

    @perf_app.command("ao")
    def ao_cmd(
        target: str = typer.Option("sim-market1501", "--target", help="Target twin."),
        profile: str = typer.Option("cpu", "--profile", help="Profile (paper, cpu, smoke)."),
        budget: int = typer.Option(0, "--budget", help="Images to select (0: the profile's ao_budget)."),
        seed: int = typer.Option(0, "--seed"),
        data_root: Path = typer.Option(None, "--data-root", help="Folder with the twins (default: a temporary one)."),
        device: str = typer.Option("cpu", "--device"),
        method: str = typer.Option("", "--method", help=f"AO method ({', '.join(AO_METHOD_NAMES)}; default: the profile's)."),
    ) -> None:
        """Time each sub-stage of attribute optimisation (cold cache, then warm with another budget)."""
        console = Console()
        if method and method not in AO_METHOD_NAMES:
            raise typer.BadParameter(f"--method {method!r}: expected one of {', '.join(AO_METHOD_NAMES)}")
        r = time_ao(target, profile, seed=seed, data_root=data_root, budget=budget or None, device=device,
                    method=method or None)
        table = Table(title=f"AO {SOURCE} -> {target}, profile {r['profile']}, method {r['method']}, budget {r['budget']}")
        table.add_column("sub-stage")
        table.add_column("cold s", justify="right")
        table.add_column(f"warm s (budget {r['warm_budget']})", justify="right")
        labels = {"probe_images": "  probe images (render/read)", "probe": "probe images + VGG features",
                  "target": "target VGG features", "surrogate": "surrogate fits (XGBoost)",
                  "search": "PSO search", "people_classifier": "people: render + train classifiers",
                  "people_target": "people: classify target images", "selection": "selection (render/sample L*)",
                  "total": "total"}
        for key, label in labels.items():
            cold, warm = r["cold"].get(key), r["warm"].get(key)
            if key == "probe_images":
                cold, warm = r["probe_images_seconds"], None
            if key.startswith("people") and cold is None:
                continue  # not this method's sub-stage
            table.add_row(label, "-" if cold is None else f"{cold:.1f}", "-" if warm is None else f"{warm:.1f}")
        console.print(table)
        verdict = "[green]under[/]" if r["cold"]["total"] < 300 else "[red]over[/]"
        console.print(
            f"cold total {r['cold']['total']:.1f} s: {verdict} the 5-minute goal. VGG {r['vgg_weights']}, "
            f"{r['probe_images']} probe x {r['target_images']} target images, surrogate CV R^2 {r['surrogate_r2']:.3f} "
            f"(deviance explained {r['surrogate_d2']:.3f}). Twins generated in {r['twin_generation_seconds']:.1f} s "
            f"(not counted). {r['cpus']} CPUs, load average {r['load_average'][0]:.1f} (a shared machine adds time)."
        )

    @perf_app.command("ao-recovery")
    def recovery_cmd(
        targets: str = typer.Option("sim-market1501,sim-dukemtmc,sim-cuhk03", "--targets",
                                    help="Comma-separated target twins: built-in ones, or user twins under --data-root "
                                         "(written by `aostbench data make my.toml --root DIR`)."),
        methods: str = typer.Option(",".join(AO_METHOD_NAMES), "--methods", help="Comma-separated AO methods to compare."),
        profile: str = typer.Option("cpu", "--profile"),
        seeds: str = typer.Option("0", "--seeds", help="Comma-separated seeds."),
        data_root: Path = typer.Option(None, "--data-root", help="Folder with the twins (default: a temporary one)."),
        device: str = typer.Option("cpu", "--device"),
        json_out: Path = typer.Option(None, "--json", help="Also write every measurement to this JSON file."),
        cache: Path = typer.Option(None, "--cache", help="Keep features and classifiers here between invocations "
                                                         "(default: a temporary folder; wall times are then warm)."),
        per_attribute: bool = typer.Option(False, "--per-attribute", help="Also print every attribute of every run."),
    ) -> None:
        """Methods side by side: TV(V*, the twin's true prior) / TV(uniform, prior) per attribute, and wall time."""
        import json

        console = Console(width=max(Console().width, 140))
        try:
            names = _split(targets, str)
            method_list = _split(methods, str)
            seed_list = _split(seeds, int)
        except ValueError as exc:
            raise typer.BadParameter(f"--seeds: {exc}") from None
        bad = [m for m in method_list if m not in AO_METHOD_NAMES]
        if bad:
            raise typer.BadParameter(f"unknown AO method(s) {', '.join(bad)}; expected {', '.join(AO_METHOD_NAMES)}")
        from benchmark.datasets.records import DataError
        from benchmark.datasets.registry import UnknownDataset
        from benchmark.synth.spec import SpecError

        try:
            runs = compare_recovery(names, method_list, seed_list, profile, data_root=data_root, cache=cache,
                                    device=device, on_run=lambda r: console.print(
                                    f"  {r['target']} {r['method']} seed {r['seed']}: {r['seconds']:.0f} s wall, "
                                    f"{r['cpu_seconds']:.0f} s CPU"
                                    f"{' (features cached)' if r['warm'] else ''}", markup=False))
        except (SpecError, UnknownDataset, DataError) as exc:  # a target that is neither built in nor under --data-root
            raise typer.BadParameter(f"--targets: {exc}") from None
        if json_out is not None:
            json_out.write_text(json.dumps(runs, indent=1, default=str))
        if per_attribute:
            for r in runs:
                t = Table(title=f"{r['target']}, {r['method']}, seed {r['seed']}: TV(V*, prior) vs TV(uniform, prior)")
                for col in ("attribute", "V*", "uniform", "ratio"):
                    t.add_column(col, justify="left" if col == "attribute" else "right")
                for a, row in r["attributes"].items():
                    t.add_row(a, f"{row['tv']:.3f}", f"{row['tv_uniform']:.3f}", _fmt_ratio(row["tv"], row["tv_uniform"]))
                console.print(t)
        table = Table(title=f"AO recovery, profile {profile}, seeds {seeds}: TV(V*, true prior) / TV(uniform, true prior) "
                            "(1.0 = no better than uniform; '-' where the prior is near uniform)")
        table.add_column("target")
        table.add_column("method")
        for _, label in COLUMNS:
            table.add_column(label, justify="right")
        table.add_column("wall s (CPU s)", justify="right")
        for row in summarise(runs):
            table.add_row(row["target"], row["method"], *row["cells"], row["seconds"], end_section=row["last"])
        console.print(table)
        console.print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end (a shared machine adds "
                      "wall time; a method's first run per seed renders and fits what later targets reuse).",
                      markup=False)
