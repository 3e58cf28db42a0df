"""`aostbench runs list|show`: what ran, with status, provenance, settings and costs."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from benchmark.text_safety import for_terminal as term
from cli.common import err_console, fail, friendly_errors, out_console

runs_app = typer.Typer(
    help="Runs in the results DB: status, provenance, settings, metrics, costs.\n\n"
         "Examples:\n\n  aostbench runs list --status failed\n\n  aostbench runs show 20250314-1530",
    no_args_is_help=True,
)

_DB_HELP = "Results DB (default: $AOSTBENCH_DB or ./results/aostbench.duckdb)."
_STATUS_STYLE = {"completed": "green", "running": "yellow", "failed": "red"}


def _out() -> Console:
    return out_console(220)


def _v(value: object) -> str:
    return "–" if value is None else str(value)


def _short(text: object, n: int = 60) -> str:
    s = "" if text is None else str(text).replace("\n", " ")
    return term(s if len(s) <= n else s[: n - 1] + "…")


@runs_app.command("list")
@friendly_errors
def list_cmd(
    status: Optional[str] = typer.Option(None, "--status", help="running | completed | failed"),
    train: Optional[str] = typer.Option(None, "--train", help="Only this train spec, e.g. sim-finegpr+aost."),
    profile: Optional[str] = typer.Option(None, "--profile", help="Only this profile."),
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many, newest first (0 = all)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | csv | json"),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """List runs, newest first (runs whose process died are marked failed first).

    Example: aostbench runs list --status completed --profile smoke
    """
    from benchmark.store import StoreEmpty, queries

    if status is not None and status not in ("running", "completed", "failed"):
        raise fail(f"--status must be running, completed or failed, got {status!r}")
    if fmt not in ("text", "csv", "json"):
        raise fail(f"--format must be text, csv or json, got {fmt!r}")
    try:
        from benchmark.store import mark_stale_runs

        for rid in mark_stale_runs(db):  # maintenance, said: the read below never writes
            err_console.print(f"marked run {term(rid)} failed: its process is gone", highlight=False)
        df = queries.runs_df(db, status=status, train_spec=train, profile=profile, limit=limit or None)
    except StoreEmpty as e:
        err_console.print(f"[yellow]{term(e)}[/]", highlight=False, soft_wrap=True)
        return
    if fmt == "csv":
        from benchmark.text_safety import printable
        safe = df.apply(lambda col: col.map(lambda v: printable(v) if isinstance(v, str) else v))
        sys.stdout.write(safe.to_csv(index=False, lineterminator="\n"))
        return
    if fmt == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso", indent=2) + "\n")
        return
    if df.empty:
        err_console.print("no runs match.")
        return
    t = Table(title=f"{len(df)} run(s)")
    for col in ("id", "status", "train spec", "variant", "seed", "tests", "settings", "started (UTC)", "wall",
                "error"):
        t.add_column(col, overflow="fold" if col == "id" else "ellipsis")
    from benchmark.store.tables import human_seconds
    for r in df.itertuples(index=False):
        t.add_row(term(r.id), _status(r.status), term(r.train_spec),
                  term(r.variant if isinstance(r.variant, str) and r.variant else r.profile), term(r.seed),
                  term(",".join(map(str, r.test_sets))), term(r.settings), term(str(r.started_at)[:19]),
                  human_seconds(r.wall_seconds), _short(r.error, 40))
    _out().print(t)


@runs_app.command("show")
@friendly_errors
def show_cmd(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of one."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Everything stored about one run: provenance, config, metrics, FID, costs, surrogate, V*.

    Example: aostbench runs show 20250314-153012
    """
    from benchmark.store import queries
    from benchmark.store.tables import human_seconds

    d = queries.run_detail(run_id, db)
    if fmt == "json":
        sys.stdout.write(json.dumps(d, indent=2, default=str) + "\n")
        return
    if fmt != "text":
        raise fail(f"--format must be text or json, got {fmt!r}")
    r = d["run"]
    out = _out()
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    for label, value in (
        ("id", r["id"]), ("status", None),
        ("error", r["error"]), ("train spec", f"{r['train_spec']} ({r['train_kind']})"),
        ("profile / seed", f"{r['profile']} / {r['seed']}"), ("settings", r["settings"]),
        ("variant", r.get("variant")),
        ("run key", r.get("run_key") or (f"none ({r['run_key_note']})" if r.get("run_key_note") else None)),
        ("test sets", ", ".join(r["test_sets"])),
        ("train images / ids", f"{_v(r['train_images'])} / {_v(r['train_ids'])}"),
        ("budget", r["budget"]), ("started / ended (UTC)", f"{r['started_at']} / {r['ended_at']}"),
        ("wall time", human_seconds(r["wall_seconds"])), ("device / nproc", f"{r['device']} / {r['nproc']}"),
        ("code version", f"{_v(r['code_version'])}{' (dirty)' if r['dirty'] else ''}"),
        ("owner", f"{r['owner_host']} pid {r['owner_pid']}"),
        ("libraries", ", ".join(f"{k} {v}" for k, v in sorted(r["library_versions"].items()))),
        ("data fingerprints", ", ".join(f"{k}={str(v)[:12]}" for k, v in sorted(r["data_fingerprints"].items()))),
    ):
        if label == "status":
            info.add_row(label, _status(r["status"]))
        elif value not in (None, "", "– / –", "–"):
            info.add_row(label, term(value))
    out.print(info)
    _rows_table(out, "metrics (%)", d["metrics"], ("test_set", "r1", "r5", "r10", "map", "minp", "num_query",
                                              "num_gallery"))
    _rows_table(out, "FID", d["fid"], ("stage", "target", "style_method", "value", "weights", "dims", "n"))
    _rows_table(out, "costs", d["costs"], ("stage", "wall_seconds", "images", "device"))
    _rows_table(out, "surrogate", d["surrogate"], ("target", "r2_cv", "r2_train", "n_probe", "model"))
    _rows_table(out, "weights loaded", d.get("weights_used", []), ("part", "file", "sha256", "checksum", "tensors",
                                                                   "label", "from_cache"))
    if d["attribute_dist"]:
        sources = sorted({(a["source"], a["target"]) for a in d["attribute_dist"]})
        attrs = len({a["attribute"] for a in d["attribute_dist"]})
        out.print(f"attribute distributions: {attrs} attributes; sources: "
                  + term(", ".join(f"{s}{' → ' + t if t else ''}" for s, t in sources))
                  + " (the leaderboard's Attributes page draws them)")
    if r["config"]:
        out.print("[bold]config[/]")
        from benchmark.text_safety import inert_tree
        out.print(term(json.dumps(inert_tree(r["config"]), indent=2, default=str, ensure_ascii=False),
                       keep="\n"), highlight=False)


def _rows_table(out: Console, title: str, rows: list[dict], cols: tuple[str, ...]) -> None:
    if not rows:
        return
    t = Table(title=title, title_justify="left")
    for c in cols:
        t.add_column(c, justify="right" if isinstance(rows[0].get(c), (int, float)) else "left")
    for row in rows:
        t.add_row(*("–" if row.get(c) is None else (f"{row[c]:.2f}" if isinstance(row[c], float) else term(row[c]))
                    for c in cols))
    out.print(t)


def _status(status: object) -> str:
    style = _STATUS_STYLE.get(str(status))
    return f"[{style}]{term(status)}[/]" if style else term(status)


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs")
