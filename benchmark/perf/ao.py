"""`aostbench perf ao` and `aostbench perf ao-recovery`: the AO stage's time and its recovery of the target.

perf ao: one cold run of the AO stage (fresh feature cache) from sim-finegpr
to a target twin at a profile, timing each sub-stage (probe images, probe VGG
features, target VGG features, surrogate fits, PSO, selection), then a warm
run with another budget (the cached features are reused). The goal is the
whole cold stage under 5 minutes on a 2-core machine at the cpu profile.

perf ao-recovery: TV(V*, the twin's true prior) against TV(uniform, prior),
per attribute and averaged, for each target twin and seed.

Twins are generated (demo scale) in a temporary folder unless --data-root
names a folder that has them (missing ones are generated there).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmark.profiles import get_profile

SOURCE = "sim-finegpr"


def time_ao(target: str, profile_name: str = "cpu", *, seed: int = 0, data_root: Path | None = None,
            budget: int | None = None, device: str = "cpu") -> dict:
    """Cold then warm AO run; returns the per-sub-stage seconds of both and the machine's context."""
    from benchmark.aost.ao import run_ao
    from benchmark.aost.recovery import ensure_twin
    from benchmark.datasets import load_dataset

    profile = get_profile(profile_name)
    budget = budget or profile.ao_budget
    with tempfile.TemporaryDirectory(prefix="aost-perf-") as tmp:
        tmp_path = Path(tmp)
        root = Path(data_root) if data_root is not None else tmp_path / "data"
        t0 = time.perf_counter()
        for name in (SOURCE, target):
            ensure_twin(name, root)
        twins_seconds = time.perf_counter() - t0
        source_ds, target_ds = load_dataset(SOURCE, root), load_dataset(target, root)
        cache = tmp_path / "cache"
        cold = run_ao(source_ds, target_ds, profile, budget=budget, seed=seed, work_dir=tmp_path / "cold",
                      device=device, cache_root=cache)
        warm = run_ao(source_ds, target_ds, profile, budget=max(1, budget // 2), seed=seed, work_dir=tmp_path / "warm",
                      device=device, cache_root=cache)
    return {
        "target": target, "profile": profile.name, "budget": budget, "seed": seed,
        "cold": cold.costs, "warm": warm.costs, "warm_budget": max(1, budget // 2),
        "twin_generation_seconds": twins_seconds, "vgg_weights": cold.vgg_weights,
        "probe_images": cold.details["probe_images"], "target_images": cold.details["target_images"],
        "probe_images_seconds": cold.details.get("probe_images_seconds"),
        "surrogate_r2": cold.surrogate_r2, "surrogate_d2": cold.details["surrogate_cv_d2"],
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
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
    ) -> None:
        """Time each sub-stage of attribute optimisation (cold cache, then warm with another budget)."""
        console = Console()
        r = time_ao(target, profile, seed=seed, data_root=data_root, budget=budget or None, device=device)
        table = Table(title=f"AO {SOURCE} -> {target}, profile {r['profile']}, budget {r['budget']}")
        table.add_column("sub-stage")
        table.add_column("cold s", justify="right")
        table.add_column(f"warm s (budget {r['warm_budget']})", justify="right")
        labels = {"probe_images": "  probe images (render/read)", "probe": "probe images + VGG features",
                  "target": "target VGG features", "surrogate": "surrogate fits (XGBoost)",
                  "search": "PSO search", "selection": "selection (render/sample L*)", "total": "total"}
        for key, label in labels.items():
            cold, warm = r["cold"].get(key), r["warm"].get(key)
            if key == "probe_images":
                cold, warm = r["probe_images_seconds"], None
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
        targets: str = typer.Option("sim-market1501,sim-dukemtmc,sim-cuhk03", "--targets", help="Comma-separated target twins."),
        profile: str = typer.Option("cpu", "--profile"),
        seeds: str = typer.Option("0", "--seeds", help="Comma-separated seeds."),
        data_root: Path = typer.Option(None, "--data-root", help="Folder with the twins (default: a temporary one)."),
        device: str = typer.Option("cpu", "--device"),
    ) -> None:
        """TV between V* and each twin's true prior, against the uniform distribution's TV."""
        from benchmark.aost.recovery import measure_recovery

        console = Console()
        prof = get_profile(profile)
        with tempfile.TemporaryDirectory(prefix="aost-recovery-") as tmp:
            root = Path(data_root) if data_root is not None else Path(tmp) / "data"
            for name in [t.strip() for t in targets.split(",") if t.strip()]:
                for s in [int(x) for x in seeds.split(",") if x.strip()]:
                    r = measure_recovery(name, prof, data_root=root, seed=s, device=device, cache_root=Path(tmp) / "cache")
                    table = Table(title=f"{name}, seed {s}: TV(V*, true prior) vs TV(uniform, true prior)")
                    table.add_column("attribute")
                    table.add_column("V*", justify="right")
                    table.add_column("uniform", justify="right")
                    for a, row in r["attributes"].items():
                        table.add_row(a, f"{row['tv']:.3f}", f"{row['tv_uniform']:.3f}")
                    for group, label in (("", "mean (all)"), ("_env", "mean (env)"), ("_id", "mean (id)")):
                        table.add_row(label, f"{r['mean_tv' + group]:.3f}", f"{r['mean_tv' + group + '_uniform']:.3f}")
                    console.print(table)
                    console.print(f"VGG {r['vgg_weights']}, surrogate CV R^2 {r['surrogate_r2']:.3f}, {r['seconds']:.0f} s")
