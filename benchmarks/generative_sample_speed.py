"""How long `sandbox sample RUN --n 64 --out grid.png` takes end to end, as a user runs it: a whole
process (start-up, loading the run, sampling with the default sampler, writing the PNG), on a digits
UNet made with the defaults of `sandbox train model=ddpm data=digits backbone=cnn`.

    flock /tmp/sandbox-bench.lock python benchmarks/generative_sample_speed.py [--train-steps 300] [--repeats 3]
    python benchmarks/generative_sample_speed.py --run runs/NAME          # time an existing run instead
    python benchmarks/generative_sample_speed.py --baseline --eval        # also --sampler ddpm, and sandbox eval

The run is trained once for ``--train-steps`` steps (sampling speed does not depend on how well it
learned) into runs/bench-sample-speed, or ``--run`` names one to reuse. The sample command runs
``--repeats`` times; its median is compared with the target, 30 s on two cores. ``--baseline`` also
times the old default, ancestral DDPM over all 1000 steps (minutes); ``--eval`` times
`sandbox eval RUN --json` (after one untimed eval that trains the FID classifier if it is not cached).
Torch threads are the command's own defaults, as for a user; timings move with the machine's load,
which is recorded. Prints a table last and writes benchmarks/results/generative_sample_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 30.0


def sandbox_cmd() -> list[str]:
    exe = shutil.which("sandbox") or str(Path(sys.executable).with_name("sandbox"))
    return [exe] if Path(exe).exists() else [sys.executable, "-m", "sandbox"]


def timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """Seconds that ``sandbox ARGV`` takes as a whole process, and its result (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_PLUGINS"}
    t = time.perf_counter()
    out = subprocess.run([*sandbox_cmd(), *argv], capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"sandbox {' '.join(argv)} failed: {out.stderr.strip()[-500:]}")
    return seconds, out


def train_run(run_dir: Path, steps: int) -> float:
    """Train the digits UNet with the command's defaults for ``steps`` steps; seconds taken."""
    shutil.rmtree(run_dir, ignore_errors=True)
    seconds, _ = timed(["train", "model=ddpm", "data=digits", "backbone=cnn", f"steps={steps}", f"out={run_dir}",
                        "wandb.mode=disabled", "--no-progress"])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="an existing DDPM run to time (default: train one)")
    parser.add_argument("--train-steps", type=int, default=300, help="steps of the run trained when --run is not given")
    parser.add_argument("--n", type=int, default=64, help="samples per command (default 64)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also time --sampler ddpm (all T steps; minutes)")
    parser.add_argument("--eval", action="store_true", help="also time 'sandbox eval RUN --json'")
    args = parser.parse_args()

    train_seconds = None
    run_dir = args.run.resolve() if args.run is not None else None
    if run_dir is None:
        run_dir = ROOT / "runs" / "bench-sample-speed"
        print(f"training {run_dir} for {args.train_steps} steps ...", flush=True)
        train_seconds = train_run(run_dir, args.train_steps)
    import yaml

    model_cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())["model"]
    grid = ROOT / "runs" / "bench-sample-speed-grid.png"
    commands = {f"sample --n {args.n} (default)": ["sample", str(run_dir), "--n", str(args.n), "--out", str(grid)]}
    if args.baseline:
        commands[f"sample --n {args.n} --sampler ddpm"] = [*commands[f"sample --n {args.n} (default)"], "--sampler", "ddpm"]
    load_start = os.getloadavg()[0]
    rows = []
    for label, argv in commands.items():
        repeats = args.repeats if "ddpm" not in argv else 1
        seconds = []
        for _ in range(repeats):
            s, _ = timed(argv)
            seconds.append(round(s, 2))
            print(f"{label}: {s:.1f} s", flush=True)
        rows.append({"command": label, "seconds": seconds, "median_s": statistics.median(seconds), "max_s": max(seconds)})
    if args.eval:
        timed(["eval", str(run_dir), "--json"])  # trains and caches the FID classifier on first use
        s, out = timed(["eval", str(run_dir), "--json"])
        print(f"eval --json: {s:.1f} s", flush=True)
        rows.append({"command": "eval --json", "seconds": [round(s, 2)], "median_s": s, "max_s": s, "result": json.loads(out.stdout)})
    for r in rows:
        r["target_s"] = TARGET_S if r["command"].endswith("(default)") else None
        r["pass"] = None if r["target_s"] is None else r["median_s"] <= TARGET_S
    result = {
        "benchmark": "generative_sample_speed", "run_dir": str(run_dir), "train_steps": args.train_steps if args.run is None else None,
        "train_seconds": train_seconds, "run_sampler": model_cfg.get("sampler"), "run_steps": model_cfg.get("steps"),
        "timesteps": model_cfg.get("timesteps"), "n": args.n, "cpus": os.cpu_count(),
        "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg()[0], "rows": rows,
    }
    res = ROOT / "benchmarks" / "results" / "generative_sample_speed.json"
    res.parent.mkdir(exist_ok=True)
    res.write_text(json.dumps(result, indent=1))
    print(f"\nrun {run_dir} (sampler {model_cfg.get('sampler')}, {model_cfg.get('steps')} steps; load {load_start:.1f} -> {os.getloadavg()[0]:.1f})")
    print(f"{'command':34} {'median s':>9} {'max s':>7} {'target':>7}  pass")
    for r in rows:
        target = f"{r['target_s']:7.0f}" if r["target_s"] is not None else f"{'-':>7}"
        verdict = "-" if r["pass"] is None else ("yes" if r["pass"] else "NO")
        print(f"{r['command']:34} {r['median_s']:9.2f} {r['max_s']:7.2f} {target}  {verdict}")


if __name__ == "__main__":
    main()
