"""GAN and VAE on scikit-learn's 8×8 digits, 5 minutes each: domain FID beside its floor F, and the
VAE's held-out ELBO. Each FID is the mean of --draws draws (5) at n = 500, as in the other digits benchmarks.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_gan_vae_digits.py

Targets: GAN FID ≤ 2.5 F, VAE FID ≤ 4 F. Writes benchmarks/results/generative_gan_vae_digits.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import DRAWS, THREADS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--only", choices=["gan", "vae"], default=None)
    ap.add_argument("--draws", type=int, default=DRAWS, help=f"FID draws, each with new samples and a new split of the real digits (default {DRAWS})")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    import sandbox
    from sandbox.tracking import image_grid, write_png

    rows = []
    for model, target in (("gan", 2.5), ("vae", 4.0)):
        if args.only and model != args.only:
            continue
        out = ROOT / "runs" / f"bench-{model}-digits"
        shutil.rmtree(out, ignore_errors=True)
        run = sandbox.train(f"{model}-digits", [f"max_minutes={args.minutes}", f"out={out}", "wandb.mode=disabled"])
        m = sandbox.load(out, which="latest")
        t0 = time.time()
        metrics = m.evaluate(n=args.n, draws=args.draws)
        write_png(out / "media" / "bench-samples.png", image_grid(m.sample(64, seed=0)))
        row = {"model": model, "minutes": args.minutes, "train_steps": run.step, "eval_seconds": round(time.time() - t0, 1),
               **metrics, "fid_over_floor": metrics["fid"] / metrics["fid_floor"], "target": f"FID <= {target} F",
               "pass": metrics["fid"] <= target * metrics["fid_floor"], "run_dir": str(out)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    res = ROOT / "benchmarks" / "results" / "generative_gan_vae_digits.json"
    old = json.loads(res.read_text()) if res.exists() and args.only else {"rows": []}
    keep = [r for r in old.get("rows", []) if r["model"] not in {r2["model"] for r2 in rows}]
    result = {"benchmark": "gan-vae-digits", "load_avg_at_end": os.getloadavg()[0], "rows": keep + rows}
    res.write_text(json.dumps(result, indent=1))
    print(f"\n{'model':6} {'steps':>6} {'FID':>8} {'F':>6} {'FID/F':>6} {'prec':>5} {'rec':>5} {'ELBO nats':>10} {'bits/dim':>8}  target")
    for r in result["rows"]:
        elbo = f"{r['elbo_nats']:10.1f} {r['bits_per_dim']:8.3f}" if "elbo_nats" in r else f"{'-':>10} {'-':>8}"
        print(f"{r['model']:6} {r['train_steps']:>6} {r['fid']:8.3f} {r['fid_floor']:6.3f} {r['fid_over_floor']:6.2f} "
              f"{r['precision']:5.2f} {r['recall']:5.2f} {elbo}  {r['target']}: {'PASS' if r['pass'] else 'MISS'}")


if __name__ == "__main__":
    main()
