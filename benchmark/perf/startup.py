"""`aostbench perf cli`: how long a command that needs no model takes to start.

The reference is a bare interpreter (`python -c pass`) timed in the same run,
turn about with the commands, so a shared machine's load shifts both alike.
Each command also reports which heavy libraries its process imported (read
from the process itself, not assumed): a light command imports none.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

GOAL_S = 0.5  # `aostbench --help` (issue 19)
HEAVY = ("torch", "torchvision", "torchreid", "xgboost", "pyswarms")
COMMANDS = (("--help",), ("results", "--help"), ("runs", "list"), ("data", "list"))

# Runs the CLI in-process, then prints which heavy top-level packages ended up imported.
_PROBE = (
    "import sys, json\n"
    "import cli.main\n"
    "try:\n"
    "    cli.main.app(sys.argv[1:], standalone_mode=False)\n"
    "except SystemExit:\n"
    "    pass\n"
    "except Exception:\n"
    "    pass\n"
    "sys.stderr.write(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(%r))))\n" % (HEAVY,)
)


@dataclass(frozen=True)
class Startup:
    args: tuple[str, ...]
    median_s: float
    reference_median_s: float
    heavy_imported: tuple[str, ...]

    @property
    def extra_s(self) -> float:
        return self.median_s - self.reference_median_s


def _once(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def heavy_imports(args: tuple[str, ...]) -> tuple[str, ...]:
    """The heavy packages a process running `aostbench ARGS` imported."""
    p = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=False)
    try:
        return tuple(json.loads(p.stderr.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        raise RuntimeError(f"the probe of `aostbench {' '.join(args)}` failed: {p.stderr[-500:]}") from None


def measure(commands=COMMANDS, repeats: int = 7) -> list[Startup]:
    """Median wall time of each command's process vs `python -c pass`, taking turns."""
    ref = [sys.executable, "-c", "pass"]
    cli = [sys.executable, "-m", "cli.main"]
    ref_t: list[float] = []
    times: dict[tuple[str, ...], list[float]] = {c: [] for c in commands}
    _once(cli + ["--help"])  # warm the file cache: the first start reads every .pyc from disk
    for _ in range(repeats):
        ref_t.append(_once(ref))
        for c in commands:
            times[c].append(_once(cli + list(c)))
    ref_med = statistics.median(ref_t)
    return [Startup(c, statistics.median(times[c]), ref_med, heavy_imports(c)) for c in commands]


def register(perf_app) -> None:
    import typer

    @perf_app.command("cli")
    def cli_cmd(repeats: int = typer.Option(7, "--repeats", min=1, help="Starts of each command (median).")) -> None:
        """Start-up time of light commands (`aostbench --help`, ...) vs `python -c pass`, and heavy imports."""
        import os

        rows = measure(repeats=repeats)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        typer.echo(f"start-up, median of {repeats} runs each, turn about with `python -c pass` "
                   f"(reference {rows[0].reference_median_s:.3f} s); goal: `aostbench --help` < {GOAL_S} s; "
                   f"{os.cpu_count()} CPUs, load average {load:.1f} (a busy machine slows both alike)")
        typer.echo(f"{'command':<28} {'median s':>9} {'- python':>9} {'x python':>9}  heavy imports")
        for r in rows:
            ratio = r.median_s / r.reference_median_s if r.reference_median_s else float("nan")
            typer.echo(f"{'aostbench ' + ' '.join(r.args):<28} {r.median_s:>9.3f} {r.extra_s:>9.3f} "
                       f"{ratio:>8.1f}x  {', '.join(r.heavy_imported) or 'none'}")
        bad = [r for r in rows if r.heavy_imported]
        help_row = rows[0]
        verdict = "met" if help_row.median_s < GOAL_S else "NOT met"
        typer.echo(f"goal `aostbench --help` < {GOAL_S} s: {verdict} ({help_row.median_s:.3f} s)")
        if bad or help_row.median_s >= GOAL_S:
            raise typer.Exit(1)
