"""Benchmarks: our engine side by side with other durable queues (`make bench`, `python -m benchmarks`).

Figures live here, never in timed tests. See benchmarks/README.md.
"""
