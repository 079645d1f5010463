"""Plain names reach the presets' quality on digits: each run is the `sandbox train` command a user
types, with no preset (only `out=`), then `sandbox eval RUN --json` with its defaults (DPM-Solver++
in 20 steps for DDPM, the run's best checkpoint), measured twice: with `--n 500 --draws 5`, the FID
protocol of every other digits benchmark (500 samples against 500 real images, floor F of two real
halves of 500, each figure the mean of 5 draws with new samples and a new split), which the targets
below were set against, and with eval's default n (half the data set, 898), where the floor is
smaller and every ratio larger.

    python benchmarks/generative_digits_plain.py [--only ddpm-cnn,gan] [--jobs 1]
    python benchmarks/generative_digits_plain.py --only ddpm-cnn --out DIR --skip-train   # measure DIR/ddpm-cnn again

Targets (issue 10):
    sandbox train model=ddpm data=digits backbone=cnn max_minutes=15          FID <= 1.5 F
    sandbox train model=ddpm data=digits backbone=transformer max_minutes=15  FID <= 2.5 F
    sandbox train model=gan data=digits max_minutes=5                         FID <= 2.5 F
    sandbox train model=vae data=digits max_minutes=5                         FID <= 4 F

With --jobs 2 two runs share the machine side by side, each process on one torch thread
(OMP_NUM_THREADS=1: two processes of two threads on two cores spin-wait for each other); the
figure is a quality, so this only costs each run steps. Prints a table last and writes
benchmarks/results/generative_digits_plain.json (rows of runs not made this time are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import DRAWS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "generative_digits_plain.json"

#: name -> (the keys a user types, target in units of the FID floor)
RUNS = {
    "ddpm-cnn": (["model=ddpm", "data=digits", "backbone=cnn", "max_minutes=15"], 1.5),
    "ddpm-transformer": (["model=ddpm", "data=digits", "backbone=transformer", "max_minutes=15"], 2.5),
    "gan": (["model=gan", "data=digits", "max_minutes=5"], 2.5),
    "vae": (["model=vae", "data=digits", "max_minutes=5"], 4.0),
}
#: samples (and real images on each side) of the FID the targets are judged at, as in the other digits benchmarks
PROTOCOL_N = 500


def sandbox_command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"sandbox {' '.join(args)} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return done


def measure(name: str, out: Path, threads: int | None, skip_train: bool = False) -> dict:
    keys, target = RUNS[name]
    env = {**os.environ, "WANDB_SILENT": "true"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    t0 = time.time()
    if not skip_train:
        sandbox_command(["train", *keys, f"out={out}", "--no-progress"], env)
    train_seconds = time.time() - t0 if not skip_train else json.loads((out / "run.json").read_text()).get("elapsed_seconds")
    draws = ["--draws", str(DRAWS)]
    t0 = time.time()
    evaluated = sandbox_command(["eval", str(out), "--json", "--no-progress", "--n", str(PROTOCOL_N), *draws], env)
    eval_seconds = time.time() - t0
    metrics = json.loads(evaluated.stdout.strip().splitlines()[-1])
    default = json.loads(sandbox_command(["eval", str(out), "--json", "--no-progress", *draws], env).stdout.strip().splitlines()[-1])
    run_info = json.loads((out / "run.json").read_text())
    head = (out / "config.yaml").read_text().splitlines()[:1]  # the tuned values' line (not printed under --no-progress)
    tuned = head[0].lstrip("# ") if head and "tuned values" in head[0] else ""
    fid, floor = metrics["fid"], metrics["fid_floor"]
    return {"run": name, "command": "sandbox train " + " ".join(keys), "tuned": tuned, "steps_trained": run_info.get("step"),
            "train_seconds": round(train_seconds, 1), "eval_seconds": round(eval_seconds, 1), "fid": fid, "fid_floor": floor,
            "fid_over_floor": fid / floor, "fid_std": metrics.get("fid_std"), "fid_floor_std": metrics.get("fid_floor_std"),
            "draws": metrics.get("draws", 1), "precision": metrics.get("precision"), "recall": metrics.get("recall"),
            "fid_n": metrics.get("fid_n"), "target": f"FID <= {target:g} F", "pass": fid <= target * floor,
            "default_n": default.get("fid_n"), "default_n_fid": default["fid"], "default_n_fid_floor": default["fid_floor"],
            "default_n_fid_over_floor": default["fid"] / default["fid_floor"],
            "torch_threads": threads or "default", "run_dir": str(out)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    p.add_argument("--jobs", type=int, default=1, help="runs side by side (each then on one torch thread)")
    p.add_argument("--out", default=None, help="folder for the run directories (default: a new temporary folder)")
    p.add_argument("--skip-train", action="store_true", help="measure the runs already in --out again")
    args = p.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise SystemExit(f"error: unknown run {unknown[0]!r}; choose from {', '.join(RUNS)}.")
    tmp = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-digits-plain-"))
    tmp.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    threads = 1 if args.jobs > 1 else None
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda n: measure(n, tmp / n, threads, args.skip_train), names))
    if RESULTS.exists():  # rows of the runs not made this time stay as they were measured
        kept = [r for r in json.loads(RESULTS.read_text()).get("rows", []) if r["run"] not in names]
        rows = sorted(kept + rows, key=lambda r: list(RUNS).index(r["run"]) if r["run"] in RUNS else 9)
    results = {"benchmark": "generative-digits-plain-names", "jobs": args.jobs, "load_avg_before": load_before,
               "load_avg_after": os.getloadavg()[0], "rows": rows, "all_pass": all(r["pass"] for r in rows)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))

    print(f"\nDigits 8x8 from plain names (no preset), 'sandbox eval' defaults; FID beside its floor F at n = {PROTOCOL_N}"
          " (and at eval's default n)")
    print(f"{'run':<17} {'steps':>6} {'train s':>8} {'FID':>8} {'F':>7} {'FID/F':>6} {'prec':>5} {'rec':>5}  {'target':<13} {'result':<6} "
          f"{'n':>4} {'FID/F':>6}")
    for r in rows:
        print(f"{r['run']:<17} {r['steps_trained']:>6} {r['train_seconds']:>8.0f} {r['fid']:8.3f} {r['fid_floor']:7.3f} "
              f"{r['fid_over_floor']:6.2f} {r['precision'] or 0:5.2f} {r['recall'] or 0:5.2f}  {r['target']:<13} "
              f"{'PASS' if r['pass'] else 'MISS':<6} {r.get('default_n') or '-':>4} {r.get('default_n_fid_over_floor') or float('nan'):6.2f}")
    print(f"jobs {args.jobs}; load average {load_before:.2f} before, {results['load_avg_after']:.2f} after")


if __name__ == "__main__":
    main()
