"""Entry point of the `aostbench` console script.

Each subcommand lives in its own small module under cli/ and is registered here.
"""
from __future__ import annotations

import importlib
import os

# OpenMP threads that spin while waiting collapse torch's CPU speed when another
# process shares the cores (measured: 231 -> 7-10 img/s); passive waiting keeps it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import typer  # noqa: E402

app = typer.Typer(
    name="aostbench",
    help=(
        "Benchmark person re-ID learned from synthetic data: reproduce FineGPR/AOST "
        "(\"Less is More\"), run the baselines, score submissions, serve the leaderboard.\n\n"
        "Example: aostbench run --train sim-finegpr+aost --test sim-market"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    if debug:
        os.environ["AOSTBENCH_DEBUG"] = "1"
    # the folders, resolved once from the environment and defaults; a command's flags narrow them
    from benchmark import paths

    token = paths.install(paths.Paths.resolve())
    ctx.call_on_close(lambda: _restore(paths, token))


def _restore(paths, token) -> None:
    try:
        paths.uninstall(token)
    except ValueError:  # closed from another context: nothing of ours to restore there
        pass


# (module, how it is mounted): a module exposes either `app` (a group) or `register(app)`.
_COMMANDS = [
    "cli.data",
    "cli.perf",
    "cli.run",
    "cli.results",
    "cli.runs",
    "cli.db",
    "cli.grid",
    "cli.demo",
    "cli.submit",
    "cli.leaderboard",
    "cli.profiles",
    "cli.weights",
]

for _name in _COMMANDS:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as _e:  # a command not written yet
        if _e.name != _name:
            raise
        continue
    _mod.register(app)


def main() -> None:
    import sys

    # the error hint says "run with --debug": accept it after the command too (`aostbench run ... --debug`)
    args = sys.argv[1:]
    cut = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:cut]:
        os.environ["AOSTBENCH_DEBUG"] = "1"
        args = [a for a in args[:cut] if a != "--debug"] + args[cut:]
    app(args=args)


if __name__ == "__main__":
    main()
