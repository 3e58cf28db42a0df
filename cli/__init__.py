"""The `aostbench` command line: thin Typer commands over `benchmark/`."""
