"""aostbench: benchmark, toolkit and leaderboard for re-ID learned from synthetic data."""

__version__ = "0.1.0"
