"""Sweep throughput: 8 PPO CartPole trials of 1 CPU each as one `sandbox sweep` on a local Ray of two
cores, against the same 8 runs one after another as `sandbox train` commands. Target: the ratio of
total env steps per second (sweep / one after another) >= 1.8. Also Ray's start-up cost: the same
measurement with runs of a handful of steps, where start-up is all there is.

    python benchmarks/core_sweep_throughput.py [--steps 30000] [--trials 8] [--cpus 2]

Both sides are the commands as a user types them, timed as processes from start to exit (Ray's own
start and stop included on the sweep's side; each `sandbox train`'s imports on the other). Run it on
a quiet machine: the load average is written beside the figures. Prints a table last and writes
benchmarks/results/core_sweep_throughput.json.
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
RESULTS = ROOT / "benchmarks" / "results" / "core_sweep_throughput.json"
TARGET = 1.8


def common(steps: int) -> list[str]:
    """PPO on CartPole with the tuned values, evaluated once at the end (a short evaluation, no video, no W&B)."""
    return ["agent=ppo", "env=CartPole-v1", f"steps={steps}", f"agent.eval_every={steps}", "agent.eval_episodes=5",
            "agent.eval_video=false", "wandb.mode=disabled"]


def timed(command: list[str], cwd: Path) -> float:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed ({done.returncode}): {done.stderr.strip().splitlines()[-3:]}")
    return seconds


def sweep_seconds(steps: int, trials: int, cpus: int, where: Path) -> float:
    seeds = ",".join(str(s) for s in range(trials))
    return timed([sys.executable, "-m", "sandbox", "sweep", *common(steps), f"seed={seeds}", "--cpus-per-trial", "1", "--cpus", str(cpus),
                  "--out", str(where), "--no-progress"], where.parent)


def serial_seconds(steps: int, trials: int, where: Path) -> float:
    where.mkdir(parents=True)
    return sum(timed([sys.executable, "-m", "sandbox", "train", *common(steps), f"seed={s}", f"out={where / f's{s}'}", "--no-progress"],
                     where) for s in range(trials))


def steps_done(folder: Path) -> int:
    return sum(json.loads(p.read_text()).get("step", 0) for p in folder.rglob("run.json"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30_000, help="env steps of each run (default 30000)")
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the sweep's local Ray (default 2)")
    p.add_argument("--startup-steps", type=int, default=256, help="steps of the runs that measure start-up (default 256)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    load_before = os.getloadavg()[0]
    rows = []
    for label, steps in (("training", args.steps), ("start-up", args.startup_steps)):
        serial = serial_seconds(steps, args.trials, tmp / f"serial-{label}")
        swept = sweep_seconds(steps, args.trials, args.cpus, tmp / f"sweep-{label}")
        done_serial, done_sweep = steps_done(tmp / f"serial-{label}"), steps_done(tmp / f"sweep-{label}")
        rows.append({"runs": label, "steps_per_run": steps, "trials": args.trials, "serial_seconds": round(serial, 1),
                     "sweep_seconds": round(swept, 1), "serial_steps_per_s": round(done_serial / serial, 1),
                     "sweep_steps_per_s": round(done_sweep / swept, 1), "ratio": round((done_sweep / swept) / (done_serial / serial), 3),
                     "serial_seconds_per_run": round(serial / args.trials, 2), "sweep_seconds_per_trial_slot": round(swept * args.cpus / args.trials, 2)})
    main_row, startup = rows
    results = {"benchmark": "core-sweep-throughput", "target_ratio": TARGET, "cpus": args.cpus, "cores": os.cpu_count(),
               "load_avg_before": load_before, "load_avg_after": os.getloadavg()[0], "rows": rows,
               "ray_startup_seconds_per_trial": round(startup["sweep_seconds_per_trial_slot"] - startup["serial_seconds_per_run"], 2),
               "pass": main_row["ratio"] >= TARGET}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))

    print(f"\n{args.trials} PPO CartPole runs: one sandbox sweep ({args.cpus} CPUs, 1 per trial) against {args.trials} sandbox train "
          f"one after another (load average {load_before:.2f} before, {results['load_avg_after']:.2f} after)")
    print(f"{'runs':<10} {'steps/run':>9} {'serial s':>9} {'sweep s':>8} {'serial steps/s':>15} {'sweep steps/s':>14} {'ratio':>6}")
    for r in rows:
        print(f"{r['runs']:<10} {r['steps_per_run']:>9} {r['serial_seconds']:>9.1f} {r['sweep_seconds']:>8.1f} {r['serial_steps_per_s']:>15.1f} "
              f"{r['sweep_steps_per_s']:>14.1f} {r['ratio']:>6.2f}")
    print(f"Ray's start-up cost per trial (a trial slot's share of the start-up sweep, less one 'sandbox train' of it): "
          f"{results['ray_startup_seconds_per_trial']:.2f} s")
    print(f"ratio {main_row['ratio']:.2f} against the target {TARGET}: {'PASS' if results['pass'] else 'MISS'}")


if __name__ == "__main__":
    main()
