"""Flow matching on scikit-learn's 8×8 digits: train for a time budget, then measure the domain FID
(beside its floor F) by the number of sampling steps: Euler in 2, 4, 6, 10, 20 and 100 steps, Heun in
2, 3 and 5 (3, 5 and 9 network calls), with the sampling time of each. Every FID is the mean of
--draws draws (5): draw i samples with seed 1 + i and compares with split i of the real digits into
halves, the same draws for every row.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_flow_digits.py --minutes 15
    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_flow_digits.py --backbone transformer --minutes 15

(preset flow-digits for the UNet; the tuned values of generative/tuned/flow.yaml for the DiT, which
mirror DDPM's; BENCH_THREADS=2 when nothing else runs.)

Euler in 100 steps stands for the exact flow: the rows below it show what fewer steps cost. Beside
the table, the DDPM run of benchmarks/generative_ddpm_digits.py on the same network and budget
(DPM-Solver++ in 20 steps), when its results file is there. Writes
benchmarks/results/generative_flow_digits.json (generative_flow_dit_digits.json for the DiT).
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

#: backbone -> (preset or None, overrides, tag of the files, the DDPM results file to compare with)
BACKBONES = {
    "cnn": ("flow-digits", [], "", "generative_ddpm_unet_digits.json"),
    "transformer": (None, ["model=flow", "data=digits", "backbone=transformer", "steps=1000000", "seed=0"], "_dit",
                    "generative_ddpm_dit_digits.json"),
}
#: (sampler, steps) measured, the reference first
PLAN = [("euler", 100), ("euler", 20), ("euler", 10), ("euler", 6), ("euler", 4), ("euler", 2),
        ("heun", 5), ("heun", 3), ("heun", 2)]


def network_calls(sampler: str, steps: int) -> int:
    """Network evaluations per sample: one a step for Euler; two a step but the last for Heun."""
    return steps if sampler == "euler" else 2 * steps - 1


def ddpm_reference(name: str) -> dict | None:
    """DPM-Solver++ in 20 steps from the DDPM benchmark's results file, if it is there."""
    path = ROOT / "benchmarks" / "results" / name
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    for r in doc.get("rows", []):
        if (r.get("sampler"), r.get("steps")) == ("dpm", 20):
            return {"file": name, "minutes": doc.get("minutes"), "train_steps": doc.get("train_steps"), "sampler": "dpm", "steps": 20,
                    "fid": r["fid"], "fid_floor": r["fid_floor"], "fid_over_floor": r["fid"] / r["fid_floor"], "seconds": r["seconds"]}
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backbone", choices=list(BACKBONES), default="cnn")
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--n", type=int, default=500, help="samples per FID (and size of each real half)")
    ap.add_argument("--out", default=None, help="run directory (default runs/bench-flow[-dit]-digits)")
    ap.add_argument("--skip-train", action="store_true", help="measure an existing run at --out")
    ap.add_argument("--draws", type=int, default=DRAWS, help=f"FID draws per row (default {DRAWS})")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(THREADS)

    import sandbox
    from sandbox.tracking import image_grid, write_png

    preset, extra, tag, ddpm_file = BACKBONES[args.backbone]
    out = Path(args.out or ROOT / "runs" / f"bench-flow{tag.replace('_', '-')}-digits")
    if not args.skip_train:
        if out.exists():
            import shutil

            shutil.rmtree(out)
        sandbox.train(preset, [*extra, f"max_minutes={args.minutes}", f"out={out}", "wandb.mode=disabled"])
    model = sandbox.load(out, which="latest")
    steps = json.loads((out / "run.json").read_text()).get("step")
    rows = []
    for sampler, k in PLAN:
        rows.append({"sampler": sampler, "steps": k, "network_calls": network_calls(sampler, k),
                     **fid_row(model, args.n, args.draws, sampler=sampler, steps=k)})
        write_png(out / "media" / f"bench-{sampler}-{k}.png", image_grid(model.sample(64, seed=1, sampler=sampler, steps=k)))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    F = base["fid_floor"]
    for r in rows:
        r["fid_over_floor"] = r["fid"] / F
        r["fid_over_euler100"] = r["fid"] / base["fid"]
        r["speedup_vs_euler100"] = base["seconds"] / max(r["seconds"], 1e-9)
    reference = ddpm_reference(ddpm_file)
    result = {
        "benchmark": f"flow{tag.replace('_', '-')}-digits", "backbone": args.backbone, "minutes": args.minutes, "train_steps": steps,
        "run_dir": str(out), "cpu_threads": torch.get_num_threads(), "load_avg_at_end": os.getloadavg()[0], "n": args.n,
        "draws": args.draws, "rows": rows, "target": "FID <= 1.5 F in at most 10 steps",
        "pass": any(r["network_calls"] <= 10 and r["fid_over_floor"] <= 1.5 for r in rows), "ddpm_reference": reference,
    }
    res = ROOT / "benchmarks" / "results" / f"generative_flow{tag}_digits.json"
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps(result, indent=1))
    print(f"\nFlow matching ({args.backbone}) on digits 8×8, {args.minutes} min, {steps} steps; FID over n={base['fid_n']} samples, "
          f"mean of {args.draws} draws; floor F = {F:.3f} ± {base.get('fid_floor_std', 0):.3f}")
    print(f"{'sampler':8} {'steps':>5} {'calls':>5} {'FID':>8} {'± std':>6} {'FID/F':>7} {'÷E100':>7} {'prec':>5} {'rec':>5} {'sec':>8} {'speedup':>8}")
    for r in rows:
        print(f"{r['sampler']:8} {r['steps']:>5} {r['network_calls']:>5} {r['fid']:8.3f} {r.get('fid_std', 0):6.3f} {r['fid_over_floor']:7.2f} "
              f"{r['fid_over_euler100']:7.2f} "
              f"{r['precision']:5.2f} {r['recall']:5.2f} {r['seconds']:8.1f} {r['speedup_vs_euler100']:8.1f}")
    if reference is not None:
        print(f"DDPM on the same network ({reference['file']}, {reference['minutes']} min, another run and floor): "
              f"DPM-Solver++ 20 steps FID {reference['fid']:.3f} = {reference['fid_over_floor']:.2f} F in {reference['seconds']:.1f} s")
    print(f"target {result['target']}: {'PASS' if result['pass'] else 'MISS'}")


if __name__ == "__main__":
    main()
