"""Benchmarks: each script runs a measurement, prints a table last and writes its figures to
``benchmarks/results/*.json``. Run them from the repository root, one at a time."""

import os

#: torch threads of the generative benchmarks. One by default: the two cores are shared with other
#: work, and two OpenMP threads on one free core spin-wait for each other (10x slower here).
#: BENCH_THREADS=2 on an idle machine.
THREADS = int(os.environ.get("BENCH_THREADS", "1"))
