"""`sandbox demo` as a newcomer runs it: the total time on this machine, each demo run's steps and
seconds, every file it lists (there, and not empty), and how good its digit grid is:

- **readable**: the share of the grid's 80 digits (8 per class, each asked for by its label, guided
  as the demo guides them) that the FID's classifier (98% on held-out real digits) reads as the
  digit asked for;
- **FID** of the same recipe in quantity (500 samples, labels drawn uniformly, the demo's guidance
  and sampler), and of the run's plain sampling, beside the floor F, each the mean of 5 draws.

    python benchmarks/demo.py [--out DIR]

Target (issue 10): about five minutes on two CPU cores, digits clearly readable. Prints a table last
and writes benchmarks/results/demo.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import DRAWS, fid_row  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "demo.json"


def listed_files(stdout: str) -> list[Path]:
    """The files under the demo's closing 'Look at:' line."""
    lines = stdout.splitlines()
    if "Look at:" not in lines:
        return []
    return [Path(line.strip()) for line in lines[lines.index("Look at:") + 1:] if line.strip()]


def grid_readability(model) -> dict:
    """The demo's grid made again (the same seeds, labels, guidance and sampler) and read by the
    FID classifier: the share of digits read as the label they were asked for, per class too."""
    import torch

    from sandbox.generative.metrics import feature_net

    net, info = feature_net(model.data, progress=False)
    per_class = []
    for k in range(int(model.num_classes)):
        x = model.sample(8, seed=k, label=k, guidance=model.DEMO_GUIDANCE, **model.quick_sample_options())
        with torch.no_grad():
            per_class.append(float((net(x).argmax(1) == k).float().mean()))
    return {"readable": sum(per_class) / len(per_class), "readable_per_class": per_class,
            "classifier_held_out_accuracy": info.get("held_out_accuracy")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="the demo's folder (default: a new temporary folder)")
    p.add_argument("--n", type=int, default=500, help="samples per FID draw")
    args = p.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-demo-")) / "demo"
    env = {**os.environ, "WANDB_SILENT": "true"}
    load_before = os.getloadavg()[0]
    t0 = time.time()
    done = subprocess.run([sys.executable, "-m", "sandbox", "demo", "--out", str(out)], capture_output=True, text=True, env=env)
    total = time.time() - t0
    if done.returncode != 0:
        raise SystemExit(f"sandbox demo failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    files = listed_files(done.stdout)
    runs = []
    for run_dir in sorted(p for p in out.iterdir() if (p / "run.json").is_file()):
        info = json.loads((run_dir / "run.json").read_text())
        runs.append({"run": run_dir.name, "step": info.get("step"), "seconds": round(info.get("elapsed_seconds") or 0, 1)})

    import torch

    import sandbox

    torch.manual_seed(0)
    digits = sandbox.load(out / "demo-digits")
    grid = grid_readability(digits)
    guided = fid_row(digits, args.n, DRAWS, guidance=digits.DEMO_GUIDANCE, **{k: v for k, v in digits.quick_sample_options().items() if k != "progress"})
    plain = fid_row(digits, args.n, DRAWS)
    result = {
        "benchmark": "demo", "command": f"sandbox demo --out {out}", "total_seconds": round(total, 1), "runs": runs,
        "files": [{"path": str(f), "exists": f.is_file(), "bytes": f.stat().st_size if f.is_file() else 0} for f in files],
        "wandb_lines": [line.strip() for line in done.stdout.splitlines() if "W&B ran offline" in line],
        "digits_grid": grid, "digits_fid_demo_recipe": guided, "digits_fid_plain": plain,
        "load_avg_before": load_before, "load_avg_after": os.getloadavg()[0], "cpus": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))

    print(f"\nsandbox demo: {total:.0f} s in all on {os.cpu_count()} CPUs (load average {load_before:.2f} before, "
          f"{result['load_avg_after']:.2f} after); target about 300 s")
    print(f"{'run':<16} {'steps':>6} {'seconds':>8}")
    for r in runs:
        print(f"{r['run']:<16} {r['step']:>6} {r['seconds']:>8.1f}")
    print(f"files listed: {len(files)}, all there and not empty: {all(f['exists'] and f['bytes'] > 0 for f in result['files'])}")
    print(f"W&B offline lines: {len(result['wandb_lines'])}")
    print(f"digit grid read as the digit asked for: {grid['readable']:.0%} (per class "
          + " ".join(f"{v:.0%}" for v in grid["readable_per_class"]) + ")")
    for name, row in (("demo recipe (guided)", guided), ("plain sampling", plain)):
        print(f"FID {name:<21} {row['fid']:.3f} ± {row.get('fid_std', 0):.3f}, floor {row['fid_floor']:.3f}: "
              f"{row['fid'] / row['fid_floor']:.2f} F (n {row['fid_n']}, {row['draws']} draws)")


if __name__ == "__main__":
    main()
