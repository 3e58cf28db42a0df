"""`aostbench leaderboard`: serve the Streamlit leaderboard over the results DB (read-only)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from cli.common import console, fail, friendly_errors

APP_SCRIPT = Path(__file__).resolve().parent.parent / "leaderboard_app" / "app.py"


def streamlit_command(port: int, host: str, app: Path = APP_SCRIPT) -> list[str]:
    """`python -m streamlit run app.py` headless on host:port, without usage statistics or the deploy menu."""
    return [sys.executable, "-m", "streamlit", "run", str(app),
            "--server.headless", "true", "--server.port", str(port), "--server.address", host,
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"]


def app_environment(db: Optional[Path], runs: Optional[Path]) -> dict[str, str]:
    """The current environment with AOSTBENCH_DB / AOSTBENCH_RUNS set to absolute paths when given."""
    env = dict(os.environ)
    if db is not None:
        env["AOSTBENCH_DB"] = str(db.expanduser().resolve())
    if runs is not None:
        env["AOSTBENCH_RUNS"] = str(runs.expanduser().resolve())
    return env


@friendly_errors
def leaderboard(
    db: Optional[Path] = typer.Option(None, "--db", help="Results DB (default: $AOSTBENCH_DB or "
                                      "./results/aostbench.duckdb). Opened read-only."),
    port: int = typer.Option(8501, "--port", "-p", min=1, max=65535, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (0.0.0.0 serves every interface)."),
    runs: Optional[Path] = typer.Option(None, "--runs", help="Run artefacts folder (logs, stage images; default: "
                                        "$AOSTBENCH_RUNS or runs/ next to the DB)."),
) -> None:
    """Serve the leaderboard: Tables 2-3, FID and attribute figures, runs, submissions, downloads.

    Example: aostbench leaderboard --db results/aostbench.duckdb --port 8501
    """
    if not APP_SCRIPT.is_file():
        raise fail(f"the leaderboard app is missing: expected {APP_SCRIPT}")
    env = app_environment(db, runs)
    shown = env.get("AOSTBENCH_DB") or "./results/aostbench.duckdb"
    console.print(f"serving the leaderboard for {shown} at http://{host}:{port} (Ctrl-C stops it)", highlight=False)
    try:
        code = subprocess.call(streamlit_command(port, host), env=env)
    except KeyboardInterrupt:
        code = 0
    if code not in (0, -2, 130):  # Ctrl-C is a normal way to stop a server
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("leaderboard")(leaderboard)
