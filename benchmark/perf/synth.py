"""`aostbench perf synth`: how fast the procedural engine renders person crops.

There is no external reference implementation of the engine, so the rate is
compared with the goal instead: 500 crops/s at 128x64 on a 2-core machine.
Both wall-clock and CPU-time rates are printed: on a shared machine the wall
rate drops with other processes' load, the CPU-time rate does not (much).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import typer

GOAL_PER_S = 500.0  # crops/s at 128x64 (issue 2)
# a typical target-camera style, so the timing includes the camera pass
STYLE = {"blur": 0.6, "noise": 3.0, "downscale": 0.75, "cast": [1.04, 1.0, 0.94], "jpeg": 0}


@dataclass(frozen=True)
class RenderRate:
    size: tuple[int, int]
    crops: int
    wall_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.crops / self.wall_s

    @property
    def per_cpu_s(self) -> float:
        return self.crops / self.cpu_s


def measure_render_rate(size: tuple[int, int] = (128, 64), n: int = 1000, seed: int = 0,
                        styled: bool = True) -> RenderRate:
    """Render n crops over varied identities and environments; time them (after one warm-up crop per scene)."""
    import numpy as np

    from benchmark.synth import render_image, sample_identity_attrs

    rng = np.random.default_rng(seed)
    people = sample_identity_attrs({}, 64, rng)
    style = STYLE if styled else None
    envs = [dict(viewpoint=1 + (k * 7) % 36, weather=1 + k % 7, illumination=1 + (k // 7) % 7, scene=1 + k % 9)
            for k in range(n)]
    for s in range(1, 10):  # backgrounds are built once per scene and size: keep that out of the timing
        render_image(people[0], dict(viewpoint=1, weather=1, illumination=1, scene=s), 0, size=size,
                     camera_style=style)
    t, c = time.perf_counter(), time.process_time()
    for k, env in enumerate(envs):
        render_image(people[k % 64], env, k % 64, size=size, seed=k, camera_style=style)
    return RenderRate(size=size, crops=n, wall_s=time.perf_counter() - t, cpu_s=time.process_time() - c)


def register(perf_app: typer.Typer) -> None:
    @perf_app.command("synth")
    def synth(
        n: int = typer.Option(1000, "--n", help="Crops to render at 128x64."),
        n_hi: int = typer.Option(100, "--n-hi", help="Crops to render at 480x200 (FineGPR-like)."),
        clean: bool = typer.Option(False, "--clean", help="No camera style (the source look)."),
    ) -> None:
        """Time the procedural engine: crops/s at 128x64 and 480x200 against the 500/s goal."""
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        typer.echo(f"engine render rate ({'clean' if clean else 'with a camera style'}); "
                   f"{os.cpu_count()} CPUs, load average {load:.1f} (a shared machine lowers the wall rate)")
        typer.echo(f"{'size':>9} {'crops':>6} {'wall s':>7} {'crops/s':>8} {'per CPU-s':>10} {'goal':>6} {'ratio':>6}")
        for size, count in (((128, 64), n), ((480, 200), n_hi)):
            if count <= 0:
                continue
            r = measure_render_rate(size, count, styled=not clean)
            goal = f"{GOAL_PER_S:.0f}" if size == (128, 64) else "-"
            ratio = f"{r.per_s / GOAL_PER_S:.2f}x" if size == (128, 64) else "-"
            typer.echo(f"{size[0]:>4}x{size[1]:<4} {r.crops:>6} {r.wall_s:>7.2f} {r.per_s:>8.0f} "
                       f"{r.per_cpu_s:>10.0f} {goal:>6} {ratio:>6}")
        typer.echo("goal: >= 500 crops/s at 128x64 (issue 2); no external reference implementation exists")
