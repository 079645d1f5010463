"""Every GPU path of the sandbox in one script, in at most 10 minutes on one GPU:

1. device selection: ``device=auto`` picks cuda (and the runs below put memory on it);
2. PPO on Pong from pixels (the ``ppo-pong`` preset) for a few minutes: env steps per second;
3. the digits UNet DDPM (``ddpm-digits``) for a few minutes with bf16 autocast (``model.amp=auto``
   is bf16 on CUDA): images per second, then ``sandbox eval --json``: FID against its floor;
4. bf16 autocast against fp32: the same DDPM for a short while with ``model.amp=no``;
5. AlphaZero self-play on Connect Four (``alphazero-connect4``): search simulations per second
   (the network evaluated in batches of the games played in lockstep);
6. a two-trial sweep (``sandbox sweep ... --gpus-per-trial 1``) on Ray Tune, when Ray is installed.

    python benchmarks/gpu.py            # on a GPU machine: about 10 minutes, writes benchmarks/results/gpu.json
    python benchmarks/gpu.py --cpu      # shortened (tiny budgets, under 2 minutes): benchmarks/results/gpu_cpu.json

Without a GPU the shortened CPU run is chosen by itself, and it writes gpu_cpu.json, never
gpu.json, so that it cannot overwrite GPU figures; its figures only show that every path still
runs (tests/test_benchmarks_gpu.py runs it). Everything goes through the public face:
``sandbox.train``, the runs' metrics.jsonl, and ``sandbox eval`` / ``sandbox sweep`` as commands.
Prints a table last.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: budgets of the two modes: minutes of each timed part on a GPU; steps (and sizes) on the CPU
GPU = {"ppo_minutes": 2.5, "ddpm_minutes": 2.5, "fp32_minutes": 0.75, "az_minutes": 1.0, "eval_n": 1000, "sweep_steps": 300}
CPU = {"ppo_steps": 512, "ppo_n_steps": 32, "ddpm_steps": 6, "az_steps": 64, "eval_n": 64, "eval_steps": 4, "sweep_steps": 20}


def sandbox_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sandbox", *args]


def run_metrics(run_dir: Path) -> list[dict[str, Any]]:
    from sandbox.tracking import read_metrics

    return list(read_metrics(run_dir))


def cuda_memory_mb() -> float:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else 0.0


def part_device(cpu: bool) -> dict[str, Any]:
    """What ``device=auto`` resolves to here, and the GPU."""
    import torch

    from sandbox.device import resolve_device

    picked = str(resolve_device("auto"))
    row: dict[str, Any] = {"part": "device", "auto": picked, "torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        row.update(gpu=torch.cuda.get_device_name(0), bf16_supported=torch.cuda.is_bf16_supported())
    row["ok"] = picked.startswith("cuda") if not cpu else True
    row["figure"] = f"device=auto -> {picked}" + (f" ({row['gpu']})" if "gpu" in row else "")
    return row


def part_ppo(runs: Path, cpu: bool, b: dict[str, Any]) -> dict[str, Any]:
    """PPO on Pong (ppo-pong): env steps per second (the agent's own logged rate, median)."""
    import sandbox

    budget = [f"steps={b['ppo_steps']}", f"agent.n_steps={b['ppo_n_steps']}", "agent.torch_threads=1", "max_minutes=null"] if cpu else [f"max_minutes={b['ppo_minutes']}"]
    t = time.time()
    run = sandbox.train("ppo-pong", [*budget, f"out={runs / 'ppo-pong'}", "device=auto", "agent.eval_every=0", "wandb.mode=disabled"],
                        progress=False)
    seconds = time.time() - t
    rates = [r["time/steps_per_second"] for r in run_metrics(run.dir) if "time/steps_per_second" in r]
    rate = statistics.median(rates) if rates else run.step / seconds
    return {"part": "ppo-pong", "steps": run.step, "seconds": round(seconds, 1), "steps_per_s": round(rate, 1),
            "cuda_max_memory_mb": cuda_memory_mb(), "figure": f"{rate:,.0f} env steps/s", "ok": run.step > 0}


def ddpm_rate(run_dir: Path, batch: int) -> float:
    """Images per second between the second logged loss and the last (start-up left out)."""
    rows = [(r["step"], r["time"]) for r in run_metrics(run_dir) if "train/loss" in r]
    if len(rows) < 3:
        rows = rows[:1] + rows[-1:]
    (s0, t0), (s1, t1) = rows[1 if len(rows) > 2 else 0], rows[-1]
    return (s1 - s0) * batch / max(t1 - t0, 1e-9)


def part_ddpm(runs: Path, cpu: bool, b: dict[str, Any], amp: str, name: str) -> tuple[dict[str, Any], Path]:
    """The digits UNet DDPM with ``model.amp=amp``: images per second."""
    import sandbox

    if cpu:
        budget = [f"steps={b['ddpm_steps']}", "max_minutes=null", "model.batch=8", "model.grid=4", "model.threads=1",
                  "model.export_pipeline=false"]
    else:
        budget = [f"max_minutes={b['ddpm_minutes'] if amp == 'auto' else b['fp32_minutes']}"]
    t = time.time()
    run = sandbox.train("ddpm-digits", [*budget, f"out={runs / name}", "device=auto", f"model.amp={amp}", "model.log_every=2" if cpu else "model.log_every=50",
                                        "model.sample_every=0", "model.eval_every=0", "wandb.mode=disabled"], progress=False)
    seconds = time.time() - t
    batch = run.config.plugin.config.batch
    rate = ddpm_rate(run.dir, batch)
    import torch

    precision = "bf16 autocast" if amp == "bf16" or (amp == "auto" and torch.cuda.is_available()) else "fp32"
    return ({"part": name, "amp": amp, "precision": precision, "steps": run.step, "batch": batch, "seconds": round(seconds, 1),
             "images_per_s": round(rate, 1), "cuda_max_memory_mb": cuda_memory_mb(), "figure": f"{rate:,.0f} img/s ({precision})",
             "ok": run.step > 0}, run.dir)


def part_fid(run_dir: Path, b: dict[str, Any]) -> dict[str, Any]:
    """``sandbox eval RUN --json`` on the DDPM run."""
    t = time.time()
    fast = ["--steps", str(b["eval_steps"])] if "eval_steps" in b else []
    r = subprocess.run(sandbox_cmd("eval", str(run_dir), "--json", "--n", str(b["eval_n"]), *fast, "--no-progress"),
                       cwd=ROOT, capture_output=True, text=True)
    seconds = time.time() - t
    if r.returncode != 0:
        return {"part": "ddpm-fid", "ok": False, "error": r.stderr.strip().splitlines()[-1:] or ["failed"], "figure": "failed"}
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    return {"part": "ddpm-fid", "n": b["eval_n"], "seconds": round(seconds, 1), "fid": doc["fid"], "fid_floor": doc["fid_floor"],
            "precision": doc.get("precision"), "recall": doc.get("recall"),
            "figure": f"FID {doc['fid']:.2f} (floor {doc['fid_floor']:.2f}, n={b['eval_n']})", "ok": True}


def part_alphazero(runs: Path, cpu: bool, b: dict[str, Any]) -> dict[str, Any]:
    """AlphaZero self-play on Connect Four: simulations per second (median of the logged windows)."""
    import sandbox

    if cpu:
        budget = [f"steps={b['az_steps']}", "max_minutes=null", "agent.games=8", "agent.simulations=16", "agent.eval_simulations=16",
                  "agent.log_every=32"]
    else:
        budget = [f"max_minutes={b['az_minutes']}", "agent.log_every=1600"]
    t = time.time()
    run = sandbox.train("alphazero-connect4", [*budget, f"out={runs / 'alphazero-connect4'}", "device=auto", "agent.eval_every=0", "agent.actors=0",
                                               "agent.eval_games=2", "agent.eval_opponents=[random]", "wandb.mode=disabled"], progress=False)
    seconds = time.time() - t
    rates = [r["time/simulations_per_second"] for r in run_metrics(run.dir) if "time/simulations_per_second" in r]
    rate = statistics.median(rates) if rates else 0.0
    return {"part": "alphazero-connect4", "moves": run.step, "seconds": round(seconds, 1), "sims_per_s": round(rate, 1),
            "cuda_max_memory_mb": cuda_memory_mb(), "figure": f"{rate:,.0f} simulations/s", "ok": bool(rates)}


def part_sweep(runs: Path, cpu: bool, b: dict[str, Any]) -> dict[str, Any]:
    """``sandbox sweep ddpm-2d model.lr=1e-3,3e-3 --gpus-per-trial 1`` (0 on the CPU): two trials."""
    if importlib.util.find_spec("ray") is None:
        return {"part": "sweep", "ok": None, "skipped": "Ray is not installed (pip install -e '.[scale]')", "figure": "skipped: no Ray"}
    out = runs / "sweep"
    gpus = "0" if cpu else "1"
    t = time.time()
    r = subprocess.run(sandbox_cmd("sweep", "ddpm-2d", f"steps={b['sweep_steps']}", "max_minutes=null", "device=auto",
                                   f"model.eval_every={b['sweep_steps']}", "model.eval_n=64", "model.sample_every=0", "wandb.mode=disabled",
                                   "model.lr=1e-3,3e-3", "--gpus-per-trial", gpus, "--cpus-per-trial", "1", "--out", str(out)),
                       cwd=ROOT, capture_output=True, text=True)
    seconds = time.time() - t
    if r.returncode != 0:
        return {"part": "sweep", "ok": False, "error": r.stderr.strip().splitlines()[-1:] or ["failed"], "figure": "failed"}
    doc = json.loads((out / "sweep.json").read_text())
    statuses = [t["status"] for t in doc["trials"]]
    return {"part": "sweep", "gpus_per_trial": float(gpus), "trials": len(statuses), "statuses": statuses, "seconds": round(seconds, 1),
            "figure": f"{len(statuses)} trials {', '.join(statuses)} in {seconds:.0f} s", "ok": statuses == ["finished"] * 2}


def main() -> None:
    from sandbox.files import output_file_type
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", action="store_true", help="the shortened CPU run (chosen by itself where there is no GPU)")
    ap.add_argument("--out", type=output_file_type("--out", ".json"), default=None, help="the results file (default benchmarks/results/gpu.json, gpu_cpu.json for --cpu)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "bench-gpu"), help="folder of the runs (emptied first)")
    ap.add_argument("--skip", default="", help="parts to leave out, comma-separated: ppo, ddpm, fp32, az, sweep")
    args = ap.parse_args()
    import torch

    cpu = args.cpu or not torch.cuda.is_available()
    if cpu and not args.cpu:
        print("no CUDA GPU here: the shortened CPU run (tiny budgets; figures only show that each path runs)", file=sys.stderr)
    b = CPU if cpu else GPU
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / ("gpu_cpu.json" if cpu else "gpu.json")
    if out.name == "gpu.json" and cpu:
        raise SystemExit("the CPU run writes gpu_cpu.json, not gpu.json (GPU figures); choose another --out.")
    runs = Path(args.runs)
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    skip = {s for s in args.skip.split(",") if s}
    os.environ.setdefault("WANDB_SILENT", "true")
    t0 = time.time()
    rows = [part_device(cpu)]
    print(rows[-1]["figure"], flush=True)

    def add(row: dict[str, Any]) -> None:
        rows.append(row)
        print(f"{row['part']}: {row['figure']}", flush=True)

    if "ppo" not in skip:
        add(part_ppo(runs, cpu, b))
    if "ddpm" not in skip:
        row, run_dir = part_ddpm(runs, cpu, b, "auto", "ddpm-digits")
        add(row)
        add(part_fid(run_dir, b))
    if "fp32" not in skip and not cpu:  # on the CPU the DDPM run above is already fp32
        add(part_ddpm(runs, cpu, b, "no", "ddpm-fp32")[0])
    if "az" not in skip:
        add(part_alphazero(runs, cpu, b))
    if "sweep" not in skip:
        add(part_sweep(runs, cpu, b))
    bf16 = next((r for r in rows if r["part"] == "ddpm-digits"), None)
    fp32 = next((r for r in rows if r["part"] == "ddpm-fp32"), None)
    if bf16 and fp32 and fp32["images_per_s"]:
        rows.append({"part": "bf16-speedup", "ratio": round(bf16["images_per_s"] / fp32["images_per_s"], 2),
                     "figure": f"bf16 autocast {bf16['images_per_s'] / fp32['images_per_s']:.2f}x fp32 (DDPM img/s)", "ok": True})
    total = time.time() - t0
    result = {"benchmark": "gpu paths", "mode": "cpu (shortened)" if cpu else "gpu", "budgets": b, "total_seconds": round(total, 1),
              "rows": rows, "ok": all(r.get("ok") is not False for r in rows)}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\n{'part':<20} {'ok':<5} figure")
    for r in rows:
        ok = "skip" if r.get("ok") is None else ("yes" if r["ok"] else "NO")
        print(f"{r['part']:<20} {ok:<5} {r['figure']}")
    print(f"{'mode':<20} {'':<5} {result['mode']}, {total:.0f} s in all; {out}")
    if not result["ok"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
