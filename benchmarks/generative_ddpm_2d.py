"""DDPM with the MLP denoiser on each 2-D toy set (moons, swiss roll, ring of Gaussians): a picture
of samples (red) over held-out data (grey), and the sliced Wasserstein distance and MMD² of 2000
samples (1000-step DDPM sampling) beside their floors (the same distance between two real sets).

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_ddpm_2d.py

Writes benchmarks/results/generative_ddpm_2d.json and generative_ddpm_2d_<set>.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import THREADS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=1.5)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    import numpy as np

    import sandbox
    from sandbox.generative.base import scatter_picture
    from sandbox.generative.metrics import point_metrics
    from sandbox.tracking import write_png

    rows = []
    for name in ("moons", "swiss_roll", "ring"):
        out = ROOT / "runs" / f"bench-ddpm-2d-{name}"
        shutil.rmtree(out, ignore_errors=True)
        run = sandbox.train("ddpm-2d", [f"data={name}", f"max_minutes={args.minutes}", f"out={out}", "wandb.mode=disabled"])
        m = sandbox.load(out, which="latest")
        s = m.sample(2000, seed=1, sampler="ddpm")
        metrics = point_metrics(m.data, s)
        pic = ROOT / "benchmarks" / "results" / f"generative_ddpm_2d_{name}.png"
        write_png(pic, scatter_picture(m.data.x_test.numpy(), np.asarray(s)))
        rows.append({"data": name, "train_steps": run.step, **metrics, "picture": str(pic.relative_to(ROOT))})
        print(json.dumps(rows[-1]), flush=True)
    res = ROOT / "benchmarks" / "results" / "generative_ddpm_2d.json"
    res.write_text(json.dumps({"benchmark": "ddpm-mlp-2d", "sampler": "ddpm-1000", "rows": rows}, indent=1))
    print(f"\n{'data':11} {'steps':>6} {'SWD':>7} {'SWD floor':>9} {'MMD²':>9} {'MMD² floor':>10}  picture")
    for r in rows:
        print(f"{r['data']:11} {r['train_steps']:>6} {r['sliced_wasserstein']:7.4f} {r['sliced_wasserstein_floor']:9.4f} "
              f"{r['mmd']:9.5f} {r['mmd_floor']:10.5f}  {r['picture']}")


if __name__ == "__main__":
    main()
