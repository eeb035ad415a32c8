"""Benchmarks and load tests; each prints its figures and writes them under reports/."""
