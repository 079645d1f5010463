"""DDPM on scikit-learn's 8×8 digits: train for a time budget, then measure the domain FID (beside
its floor F) of 1000-step DDPM sampling, and of DDIM at 20 and 50 steps and DPM-Solver++ at 10, 20
and 50, with the sampling time of each. Every FID is the mean of --draws draws (5): draw i samples
with seed 1 + i and compares with split i of the real digits into halves, the same draws for every
sampler, so their ratios are paired.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_ddpm_digits.py --backbone cnn --minutes 15
    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_ddpm_digits.py --backbone transformer --minutes 15

(presets ddpm-digits and ddpm-dit-digits; BENCH_THREADS=2 when nothing else runs.)

Targets: UNet FID ≤ 1.5 F, transformer FID ≤ 2.5 F (issue 15: ≤ 1.2 F and ≤ 1.5 F); DDIM /
DPM-Solver++ at 20–50 steps within 1.25× of the 1000-step DDPM FID and at least 20× faster (issue 15:
DPM-Solver++ in 10 steps within 1.1×). Writes
benchmarks/results/generative_ddpm_{unet,dit}_digits.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import DRAWS, THREADS, fid_row  # noqa: E402

BACKBONES = {
    "cnn": ("ddpm-digits", [], "unet"),
    "transformer": ("ddpm-dit-digits", [], "dit"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backbone", choices=list(BACKBONES), default="cnn")
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--n", type=int, default=500, help="samples per FID (and size of each real half)")
    ap.add_argument("--out", default=None, help="run directory (default runs/bench-ddpm-<backbone>-digits)")
    ap.add_argument("--skip-train", action="store_true", help="measure an existing run at --out")
    ap.add_argument("--draws", type=int, default=DRAWS, help=f"FID draws per sampler (default {DRAWS})")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(THREADS)

    import sandbox

    preset, extra, tag = BACKBONES[args.backbone]
    out = Path(args.out or ROOT / "runs" / f"bench-ddpm-{tag}-digits")
    if not args.skip_train:
        if out.exists():
            import shutil

            shutil.rmtree(out)
        sandbox.train(preset, [*extra, f"max_minutes={args.minutes}", f"out={out}", "wandb.mode=disabled"])
    model = sandbox.load(out, which="latest")
    steps = json.loads((out / "run.json").read_text()).get("step")
    rows = []
    from sandbox.tracking import image_grid, write_png

    for sampler, k in (("ddpm", 1000), ("ddim", 50), ("ddim", 20), ("dpm", 50), ("dpm", 20), ("dpm", 10)):
        rows.append({"sampler": sampler, "steps": k, **fid_row(model, args.n, args.draws, sampler=sampler, steps=k)})
        write_png(out / "media" / f"bench-{sampler}-{k}.png", image_grid(model.sample(64, seed=1, sampler=sampler, steps=k)))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    F = base["fid_floor"]
    target = 1.5 if args.backbone == "cnn" else 2.5
    for r in rows:
        r["fid_over_floor"] = r["fid"] / F
        r["fid_over_ddpm1000"] = r["fid"] / base["fid"]
        r["speedup_vs_ddpm1000"] = base["seconds"] / r["seconds"]
    result = {
        "benchmark": f"ddpm-{tag}-digits", "backbone": args.backbone, "minutes": args.minutes, "train_steps": steps,
        "run_dir": str(out), "cpu_threads": torch.get_num_threads(), "load_avg_at_end": os.getloadavg()[0],
        "fid_target": f"FID <= {target} F", "fid_pass": base["fid"] <= target * F, "rows": rows,
        "fast_samplers_pass": {f"{r['sampler']}-{r['steps']}": bool(r["fid_over_ddpm1000"] <= 1.25 and r["speedup_vs_ddpm1000"] >= 20) for r in rows[1:]},
        "draws": args.draws, "n": args.n,
        "issue15": {"fid_target": "FID <= 1.2 F" if args.backbone == "cnn" else "FID <= 1.5 F",
                    "fid_pass": base["fid"] <= (1.2 if args.backbone == "cnn" else 1.5) * F,
                    "dpm10_within_1.1x": bool(rows[-1]["fid_over_ddpm1000"] <= 1.1)},
    }
    res = ROOT / "benchmarks" / "results" / f"generative_ddpm_{tag}_digits.json"
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps(result, indent=1))
    print(f"\nDDPM ({tag}) on digits 8×8, {args.minutes} min, {steps} steps; FID over n={base['fid_n']} samples, mean of "
          f"{args.draws} draws; floor F = {F:.3f} ± {base.get('fid_floor_std', 0):.3f}")
    print(f"{'sampler':8} {'steps':>5} {'FID':>8} {'± std':>6} {'FID/F':>7} {'÷DDPM':>7} {'prec':>5} {'rec':>5} {'sec':>8} {'speedup':>8}")
    for r in rows:
        print(f"{r['sampler']:8} {r['steps']:>5} {r['fid']:8.3f} {r.get('fid_std', 0):6.3f} {r['fid_over_floor']:7.2f} {r['fid_over_ddpm1000']:7.2f} "
              f"{r['precision']:5.2f} {r['recall']:5.2f} {r['seconds']:8.1f} {r['speedup_vs_ddpm1000']:8.1f}")
    print(f"target FID <= {target} F: {'PASS' if result['fid_pass'] else 'MISS'} ({base['fid'] / F:.2f} F); "
          + ", ".join(f"{k}: {'PASS' if v else 'MISS'}" for k, v in result["fast_samplers_pass"].items()))
    i15 = result["issue15"]
    print(f"issue 15: {i15['fid_target']}: {'PASS' if i15['fid_pass'] else 'MISS'}; DPM-Solver++ 10 steps within 1.1x of DDPM 1000: "
          f"{'PASS' if i15['dpm10_within_1.1x'] else 'MISS'} ({rows[-1]['fid_over_ddpm1000']:.2f}x)")


if __name__ == "__main__":
    main()
