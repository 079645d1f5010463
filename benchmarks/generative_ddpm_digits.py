"""DDPM on scikit-learn's 8×8 digits: train for a time budget, then measure the domain FID (beside
its floor F) of 1000-step DDPM sampling, and of DDIM and DPM-Solver++ at 20 and 50 steps, with the
sampling time of each.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_ddpm_digits.py --backbone cnn --minutes 15
    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_ddpm_digits.py --backbone transformer --minutes 15

(presets ddpm-digits and ddpm-dit-digits; BENCH_THREADS=2 when nothing else runs.)

Targets: UNet FID ≤ 1.5 F, transformer FID ≤ 2.5 F; DDIM / DPM-Solver++ at 20–50 steps within 1.25×
of the 1000-step DDPM FID and at least 20× faster. Writes
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
from benchmarks import THREADS  # noqa: E402

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
    for sampler, k in (("ddpm", 1000), ("ddim", 50), ("ddim", 30), ("ddim", 20), ("dpm", 50), ("dpm", 30), ("dpm", 20)):
        torch.manual_seed(0)
        t0 = time.time()
        samples = model.sample(args.n, seed=1, sampler=sampler, steps=k)
        seconds = time.time() - t0
        from sandbox.generative.metrics import image_metrics

        m = image_metrics(model.data, samples)
        rows.append({"sampler": sampler, "steps": k, "seconds": round(seconds, 2), **{key: m[key] for key in ("fid", "fid_floor", "precision", "recall", "fid_n", "fid_classifier_accuracy")}})
        from sandbox.tracking import image_grid, write_png

        write_png(out / "media" / f"bench-{sampler}-{k}.png", image_grid(samples[:64]))
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
    }
    res = ROOT / "benchmarks" / "results" / f"generative_ddpm_{tag}_digits.json"
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps(result, indent=1))
    print(f"\nDDPM ({tag}) on digits 8×8, {args.minutes} min, {steps} steps; FID over n={base['fid_n']} samples; floor F = {F:.3f}")
    print(f"{'sampler':8} {'steps':>5} {'FID':>8} {'FID/F':>7} {'÷DDPM':>7} {'prec':>5} {'rec':>5} {'sec':>8} {'speedup':>8}")
    for r in rows:
        print(f"{r['sampler']:8} {r['steps']:>5} {r['fid']:8.3f} {r['fid_over_floor']:7.2f} {r['fid_over_ddpm1000']:7.2f} "
              f"{r['precision']:5.2f} {r['recall']:5.2f} {r['seconds']:8.1f} {r['speedup_vs_ddpm1000']:8.1f}")
    print(f"target FID <= {target} F: {'PASS' if result['fid_pass'] else 'MISS'} ({base['fid'] / F:.2f} F); "
          + ", ".join(f"{k}: {'PASS' if v else 'MISS'}" for k, v in result["fast_samplers_pass"].items()))


if __name__ == "__main__":
    main()
