"""`+ao`: attribute optimisation (placeholder until benchmark.aost.ao lands)."""
