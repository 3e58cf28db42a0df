"""`aostbench perf ...`: benchmarks that time ours against a reference in the same run.

Each benchmark lives in benchmark/perf/<name>.py and exposes `register(perf_app)`.
"""
from __future__ import annotations

import importlib

import typer

perf_app = typer.Typer(help="Benchmarks: ours vs the reference, measured in the same run.", no_args_is_help=True)

_BENCHES = ["benchmark.perf.synth", "benchmark.perf.eval", "benchmark.perf.ao", "benchmark.perf.style", "benchmark.perf.cuda",
            "benchmark.perf.grid"]


def register(app: typer.Typer) -> None:
    for name in _BENCHES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        mod.register(perf_app)
    app.add_typer(perf_app, name="perf")
