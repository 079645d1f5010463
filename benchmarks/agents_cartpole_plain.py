"""Plain names solve CartPole: `sandbox train agent=X env=CartPole-v1 seed=S` with no preset and no
other key (only `out=`), the full default budget (no stopping at the first success), then a
20-episode evaluation of the run's best checkpoint on fresh seeds. Target: every agent (ppo, dqn,
a2c, reinforce), seeds 0, 1, 2, at a mean >= 475.

    python benchmarks/agents_cartpole_plain.py [--only ppo,dqn] [--seeds 0,1,2] [--jobs 2]

Each run is the `sandbox` command as a user types it, in its own process (`--jobs` at a time: the
figure is a return, not a speed, so runs may share the cores). Prints a table last and writes
benchmarks/results/agents_cartpole_plain.json (rows of agents not run this time are kept).
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "agents_cartpole_plain.json"
TARGET = 475.0


def train(agent: str, seed: int, out: Path) -> dict:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    command = [sys.executable, "-m", "sandbox", "train", f"agent={agent}", "env=CartPole-v1", f"seed={seed}", f"out={out}"]
    t0 = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.time() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    tuned_line = next((line for line in done.stderr.splitlines() if "tuned values" in line), "")
    return {"agent": agent, "seed": seed, "command": "sandbox " + " ".join(command[3:]), "tuned": tuned_line, "train_seconds": round(seconds, 1)}


def evaluate(row: dict, out: Path) -> dict:
    import sandbox

    run_info = json.loads((out / "run.json").read_text())
    policy = sandbox.load(out)  # the best checkpoint
    final = policy.evaluate(episodes=20, seed=777_000 + row["seed"])
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if "eval/mean_return" in r]
    return {**row, "budget": policy.config.steps, "steps_trained": run_info.get("step"),
            "training_evals": [[r["step"], r["eval/mean_return"]] for r in evals],
            "eval_mean": final["mean_return"], "eval_std": final["std_return"], "episodes": 20,
            "pass": final["mean_return"] >= TARGET}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default="ppo,dqn,a2c,reinforce")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="bench-cartpole-plain-"))
    jobs = [(a, int(s)) for a in args.only.split(",") for s in args.seeds.split(",")]
    load_before = os.getloadavg()[0]
    with ThreadPoolExecutor(args.jobs) as pool:
        trained = list(pool.map(lambda job: train(job[0], job[1], tmp / f"{job[0]}-s{job[1]}"), jobs))
    rows = [evaluate(row, tmp / f"{row['agent']}-s{row['seed']}") for row in trained]
    if RESULTS.exists():  # rows of the agents and seeds not run this time stay as they were measured
        ran = {(r["agent"], r["seed"]) for r in rows}
        kept = [r for r in json.loads(RESULTS.read_text()).get("rows", []) if (r["agent"], r["seed"]) not in ran]
        rows = sorted(kept + rows, key=lambda r: (["ppo", "dqn", "a2c", "reinforce"].index(r["agent"]) if r["agent"] in ("ppo", "dqn", "a2c", "reinforce") else 9, r["seed"]))
    results = {"benchmark": "agents-cartpole-plain-names", "target": TARGET, "jobs": args.jobs,
               "load_avg_before": load_before, "load_avg_after": os.getloadavg()[0], "rows": rows,
               "all_pass": all(r["pass"] for r in rows)}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))

    print(f"\nCartPole-v1 from plain names, full default budget, 20-episode evaluation of the best checkpoint (target {TARGET:g})")
    print(f"{'agent':<10} {'seed':>4} {'budget':>8} {'best training eval (step)':>26} {'eval mean':>9} {'std':>6} {'train s':>8}  result")
    for r in rows:
        best = max(r["training_evals"], key=lambda e: e[1]) if r["training_evals"] else [None, float("nan")]
        print(f"{r['agent']:<10} {r['seed']:>4} {r['budget']:>8} {f'{best[1]:.1f} ({best[0]})':>26} {r['eval_mean']:>9.1f} "
              f"{r['eval_std']:>6.1f} {r['train_seconds']:>8}  {'PASS' if r['pass'] else 'MISS'}")


if __name__ == "__main__":
    main()
