"""`aostbench run`: one train spec against one or more test sets, stored in DuckDB."""
from __future__ import annotations

from typing import List, Optional

import typer

from cli.common import PROFILE_HELP, SET_HELP, console, enable_debug, friendly_errors, say

_HELP = """Train on SPEC, evaluate on every --test set, store the run.

SPEC is BASE[+STAGE...]: finegpr, finegpr+random, finegpr+ao, finegpr+aost,
randperson, somaset, syri, unreal, personx, market1501 (supervised), submission:NAME,
and their procedural twins (sim-finegpr+aost, ...).

Examples:

  aostbench run --train sim-finegpr+aost --test sim-market --profile cpu

  aostbench run --train finegpr+aost --test market,duke,cuhk03 --profile paper

  aostbench run --train sim-finegpr --test sim-market --profile cpu --set epochs=40 --set lr_steps=30

  aostbench run --resume 20261126-140000-123456-abcdef
"""


def register(app: typer.Typer) -> None:
    @app.command("run", help=_HELP)
    @friendly_errors
    def run_cmd(
        train: Optional[str] = typer.Option(None, "--train", help="Train spec, e.g. sim-finegpr+aost."),
        test: Optional[str] = typer.Option(None, "--test", help="Test set(s), comma-separated: market, duke, sim-market..."),
        profile: str = typer.Option("auto", "--profile", help=PROFILE_HELP + " Default auto: paper for real data "
                                    "on a GPU, else cpu; the run says which and why."),
        sets: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
        seed: int = typer.Option(0, "--seed"),
        budget: Optional[int] = typer.Option(None, "--budget", help="Images for +random/+ao (default: the profile's)."),
        target: Optional[str] = typer.Option(None, "--target", help="What AO/ST adapt to: a test set (default: the first), a registered dataset, or a folder of "
                                              "unlabeled target images (any tree of .jpg/.png)."),
        style: Optional[str] = typer.Option(None, "--style", help="Style transfer for +st: spgan | cyclegan | color | dat."),
        style_bank: Optional[str] = typer.Option(None, "--style-bank", help="Folder of target-style images (like MSCO)."),
        data_root: Optional[str] = typer.Option(None, "--data-root", help="Datasets folder (default ./data or $AOSTBENCH_DATA)."),
        db: Optional[str] = typer.Option(None, "--db", help="Results DB (default ./results/aostbench.duckdb or $AOSTBENCH_DB)."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
        nproc: int = typer.Option(1, "--nproc", help="Processes for training/features (torchrun, DDP)."),
        resume: Optional[str] = typer.Option(None, "--resume", help="Continue a failed or interrupted run by id."),
        no_fid: bool = typer.Option(False, "--no-fid", help="Skip FID."),
        debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors (as `aostbench --debug`)."),
    ) -> None:
        from benchmark.pipeline import RunRequest, run
        from benchmark.profiles import load_profile, parse_sets

        if debug:
            enable_debug()

        overrides = parse_sets(sets)
        if resume and overrides:
            raise typer.BadParameter("--set cannot change a resumed run; it continues with its own settings")
        if not resume:
            load_profile("cpu" if profile == "auto" else profile, overrides)  # a bad key or value stops here, before any work
        if not resume and (not train or not test):
            raise typer.BadParameter("--train and --test are required (or --resume RUN_ID)")
        req = RunRequest(
            train=train or "", tests=[t for t in (test or "").split(",") if t.strip()], profile=profile, seed=seed,
            budget=budget, target=target, style=style, style_bank=style_bank, data_root=data_root, db=db,
            device=device, nproc=nproc, resume=resume, fid=not no_fid, profile_overrides=overrides,
        )
        result = run(req, log=say)  # interrupts: exit 130/143
        console.print(f"[green]stored[/] run {result.id}; see `aostbench results` or `aostbench runs show {result.id}`")
