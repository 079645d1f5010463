"""Benchmarks: each script runs a measurement, prints a table last and writes its figures to
``benchmarks/results/*.json``. Run them from the repository root, one at a time."""

import os

#: torch threads of the generative benchmarks. One by default: the two cores are shared with other
#: work, and two OpenMP threads on one free core spin-wait for each other (10x slower here).
#: BENCH_THREADS=2 on an idle machine.
THREADS = int(os.environ.get("BENCH_THREADS", "1"))

#: FID draws of the digits benchmarks: each draw samples anew (seed 1 + i) and compares with split i
#: of the real digits into halves, whose own FID is that draw's floor. One draw of 500 digits moves
#: the FID by a third of the floor either way, so every figure is the mean of DRAWS draws.
DRAWS = 5


def lever_suffix(overrides: list[str]) -> str:
    """``agent.bf16=true`` -> ``_bf16-true``: the results' file name part for a run's overrides."""
    suffix = ""
    for override in overrides:
        key, _, value = override.partition("=")
        name = f"{key.split('.')[-1]}-{value}" if value else key
        suffix += "_" + "".join(c if c.isalnum() or c in "-." else "-" for c in name)
    return suffix


def fid_row(model, n: int, draws: int = DRAWS, **options) -> dict:
    """The FID of ``model`` (sampled with ``options``) over ``draws`` draws of ``n`` samples: means,
    spreads, and the seconds one draw took (sampling and features)."""
    import time

    t0 = time.time()
    m = model.evaluate(n=n, draws=draws, **options)
    keys = ("fid", "fid_std", "fid_floor", "fid_floor_std", "precision", "recall", "fid_n", "fid_classifier_accuracy", "draws")
    row = {key: m[key] for key in keys if key in m}
    row.setdefault("draws", 1)
    row["seconds"] = round((time.time() - t0) / draws, 2)
    return row
