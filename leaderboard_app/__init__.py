"""The aostbench leaderboard: a Streamlit app over the results store (read-only).

Start it with `aostbench leaderboard [--db PATH]` or
`streamlit run leaderboard_app/app.py -- --db PATH`. Every number it shows
comes from a query in `benchmark.store` (queries.py, app_queries.py).
"""
