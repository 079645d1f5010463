"""Data-parallel DDPM training on the CPU: images per second of `sandbox train ddpm-digits` in two
processes under `accelerate launch` (gloo, gradients averaged every step) against one process,
each process with one torch thread.

    flock /tmp/sandbox-bench.lock python benchmarks/generative_accelerate.py [--steps 60 --warmup 10]

Both runs take the same per-process batch (model.batch), so the two processes train on twice the
images per step (the effective batch). The rate is read from the run's metrics.jsonl between the
step after ``--warmup`` and the last step (the steady state, without start-up, checkpoints and
the closing grid): images per second = steps × model.batch × processes / seconds. With two cores
and nothing else running, the ideal is 2×; the all-reduce of the UNet's gradients and the machine's
other work take their share. Writes benchmarks/results/generative_accelerate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(processes: int, steps: int, batch: int, out: Path) -> float:
    """Run `sandbox train ddpm-digits` in ``processes`` processes; returns the seconds it took."""
    shutil.rmtree(out, ignore_errors=True)
    args = ["-m", "sandbox", "train", "ddpm-digits", f"steps={steps}", f"out={out}", "device=cpu", "max_minutes=null",
            f"model.batch={batch}", "model.threads=1", "model.log_every=1", "model.sample_every=0", "model.eval_every=0",
            "model.grid=4", "model.export_pipeline=false", "wandb.mode=disabled", "--no-progress"]
    if processes == 1:
        cmd = [sys.executable, *args]
    else:  # accelerate 1.x starts several CPU processes through torchrun only with --multi_gpu (--cpu alone starts one)
        cmd = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()), *args]
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}")
    return time.perf_counter() - t


def rate(out: Path, warmup: int, steps: int, batch: int, processes: int) -> float:
    """Images per second between step ``warmup`` and the last step, from metrics.jsonl."""
    rows = {}
    for line in (out / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "train/loss" in row:
            rows[row["step"]] = row["time"]
    return (steps - warmup) * batch * processes / (rows[steps] - rows[warmup])


def main() -> None:
    from sandbox.files import output_file_type
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60, help="training steps of each run")
    ap.add_argument("--warmup", type=int, default=10, help="steps left out of the rate")
    ap.add_argument("--batch", type=int, default=64, help="model.batch (per process)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", type=output_file_type("--out", ".json"), default=str(ROOT / "benchmarks" / "results" / "generative_accelerate.json"))
    args = ap.parse_args()
    if not 0 < args.warmup < args.steps:
        raise SystemExit("--warmup must be positive and below --steps.")
    rows = []
    for n in (1, args.processes):
        out = ROOT / "runs" / f"bench-accelerate-{n}"
        seconds = train(n, args.steps, args.batch, out)
        rows.append({"processes": n, "effective_batch": args.batch * n, "images_per_s": rate(out, args.warmup, args.steps, args.batch, n),
                     "wall_seconds": round(seconds, 1)})
        shutil.rmtree(out, ignore_errors=True)
        print(f"{n} process(es): {rows[-1]['images_per_s']:.1f} img/s", flush=True)
    speedup = rows[1]["images_per_s"] / rows[0]["images_per_s"]
    result = {"benchmark": "ddpm-digits data-parallel on the CPU", "launcher": "accelerate launch --multi_gpu (torchrun, gloo)",
              "batch_per_process": args.batch, "steps": args.steps, "warmup": args.warmup, "torch_threads_per_process": 1,
              "runs": rows, "speedup": speedup, "cpu_count": os.cpu_count(), "load_avg_at_end": os.getloadavg()[0]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"\n{'processes':>9} {'effective batch':>15} {'img/s':>8} {'wall s':>7}")
    for r in rows:
        print(f"{r['processes']:>9} {r['effective_batch']:>15} {r['images_per_s']:>8.1f} {r['wall_seconds']:>7.1f}")
    print(f"speed-up of {args.processes} processes: {speedup:.2f}x (ideal {args.processes}x on {args.processes} free cores)")


if __name__ == "__main__":
    main()
