"""`aostbench results`: the paper's Tables 2-3 from the results DB, ours beside the paper's rows."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from benchmark.text_safety import for_terminal, printable
from cli.common import console, err_console, fail, friendly_errors

_EPILOG = (
    "Examples:\n\n"
    "  aostbench results\n\n"
    "  aostbench results --table 3 --test sim-market\n\n"
    "  aostbench results --table 2 --format latex > table2.tex\n\n"
    "  aostbench results --table 3 --format json --profile smoke\n\n"
    "Ours are mean±std over seeds (n seeds) beside the paper's rows, with the difference (Δ). "
    "csv and json carry every number (R1, R5, R10, mAP, mINP with std, n, paper value, difference, rank)."
)


def parse_test_sets(text: Optional[str], db: Optional[Path] = None) -> list[str] | None:
    """`market,sim-duke` -> canonical keys; an unknown name is an error listing the known ones.

    Your datasets count as known when registered under the data root or when the DB holds runs on them
    (the DB may outlive a registration)."""
    if not text:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    from benchmark.datasets import UnknownDataset, canonical_key
    from benchmark.names import alias_key

    out = []
    for n in names:
        try:
            out.append(canonical_key(n))
        except UnknownDataset:
            if alias_key(n) not in _stored_datasets(db):
                raise
            out.append(alias_key(n))
    return out


def _stored_datasets(db: Optional[Path]) -> set[str]:
    from benchmark.store import StoreEmpty, queries

    try:
        return set(queries.datasets_df(db)["key"])
    except StoreEmpty:
        return set()


@friendly_errors
def results(
    table: int = typer.Option(2, "--table", "-t", help="2 = training sets compared; 3 = FineGPR ablation "
                              "(FineGPR, +Random, +AO, +AOST with images and cost)."),
    test: Optional[str] = typer.Option(None, "--test", help="Test sets, comma-separated; short names work "
                                       "(market, duke, sim-market). Default: those our runs were tested on."),
    profile: Optional[str] = typer.Option(None, "--profile", help="Only our runs of this profile (paper|cpu|smoke)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only our rows of these data kinds, comma-separated: "
                                       "real, synthetic, procedural, submission."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | md | csv | latex | json"),
    metrics: str = typer.Option("r1,r5,map", "--metrics", help="Shown in text/md/latex: any of r1,r5,r10,map,minp "
                                "or 'all'."),
    no_paper: bool = typer.Option(False, "--no-paper", help="Leave out the paper's reference rows."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    db: Optional[Path] = typer.Option(None, "--db", help="Results DB (default: $AOSTBENCH_DB or "
                                      "./results/aostbench.duckdb)."),
) -> None:
    """Results tables in the paper's shape: our runs beside the paper's numbers."""
    from benchmark.store import StoreEmpty, queries, tables

    if table not in (2, 3):
        raise fail(f"--table must be 2 or 3 (the paper's results tables), got {table}")
    if fmt not in tables.FORMATS:
        raise fail(f"--format must be one of {', '.join(tables.FORMATS)}, got {fmt!r}")
    shown = tables.parse_metrics(metrics)
    tests = parse_test_sets(test, db)
    kinds = [k.strip() for k in kind.split(",") if k.strip()] if kind else None
    try:
        df = queries.table_rows(table, tests, profile, db, kinds=kinds, include_paper=not no_paper)
        if not (df["source"] == "ours").any():
            err_console.print("[dim]No runs of ours match these filters yet; `aostbench runs list` shows what "
                              "exists.[/]")
    except StoreEmpty as e:
        err_console.print(f"[yellow]{for_terminal(e)}[/]", highlight=False, soft_wrap=True)
        if no_paper:
            return
        err_console.print("[dim]Showing the paper's rows only.[/]")
        df = queries.paper_table(table, tests)
    if fmt == "text" and output is None:
        out = console if sys.stdout.isatty() else Console(width=250)  # piped: do not squeeze to 80 columns
        out.print(tables.to_rich(df, shown))
        return
    text = printable(tables.render(df, fmt, shown), keep="\n\t")  # a stranger's train spec holds no escapes
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    app.command("results", epilog=_EPILOG)(results)
