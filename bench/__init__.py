"""Benchmarks of the sync against both emulators: API cost, rate-limit use, latency and scale.

Run ``python -m bench`` from the repository root (``--quick`` for a small run that only proves
the benchmark still works). Results are printed as a table and written to ``bench/results/``.
"""
