"""Pong throughput: env steps per second of the whole PPO training loop (CNN backbone), the
sandbox's pipeline (ale-py's C++ vector env as an SB3 VecEnv) against SB3's own
``make_atari_env`` + ``VecFrameStack`` pipeline, with the same network (Nature-DQN CNN, 512
features, shared by policy and value), the same hyperparameters (the ``ppo-pong`` preset: 8 envs
× 128 steps, 4 epochs of 256-sample minibatches) and the same env settings (sticky actions 0.25,
frame skip 4, 84×84 gray, 4-frame stack, no-op reset). Each side runs in its own process (so
peak memory is its own), alternating, ``--reps`` times; timing covers building the envs and the
model and the whole training loop.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/agents_pong_throughput.py [--steps 8192] [--reps 2]

Prints a table last and writes benchmarks/results/agents_pong_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "agents_pong_throughput.json"

SANDBOX_SIDE = r'''
import json, resource, sys, time
import sandbox
steps, out = int(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
run = sandbox.train("ppo-pong", [f"steps={steps}", f"out={out}", "agent.eval_every=0", "wandb.mode=disabled"], progress=False)
dt = time.perf_counter() - t0
print(json.dumps({"steps": run.step, "seconds": dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

SB3_SIDE = r'''
import json, resource, sys, time
import gymnasium, ale_py, torch
gymnasium.register_envs(ale_py)
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack
steps = int(sys.argv[1])
lin = lambda v: (lambda progress: progress * v)
t0 = time.perf_counter()
env = make_atari_env("ALE/Pong-v5", n_envs=8, seed=0, env_kwargs={"frameskip": 1, "repeat_action_probability": 0.25},
                     wrapper_kwargs={"terminal_on_life_loss": False})
env = VecFrameStack(env, n_stack=4)
model = PPO("CnnPolicy", env, n_steps=128, batch_size=256, n_epochs=4, gamma=0.99, gae_lambda=0.95,
            learning_rate=lin(2.5e-4), clip_range=lin(0.1), ent_coef=0.01, vf_coef=0.5, seed=0, device="cpu")
model.learn(total_timesteps=steps)
dt = time.perf_counter() - t0
print(json.dumps({"steps": model.num_timesteps, "seconds": dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def side(script: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{script.name} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["steps_per_second"] = row["steps"] / row["seconds"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8192)
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()
    os.environ.update({"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    tmp = Path(tempfile.mkdtemp(prefix="bench-pong-"))
    (tmp / "ours.py").write_text(SANDBOX_SIDE)
    (tmp / "sb3.py").write_text(SB3_SIDE)
    rows: dict[str, list[dict]] = {"sandbox": [], "sb3": []}
    for rep in range(args.reps):
        order = ["sandbox", "sb3"] if rep % 2 == 0 else ["sb3", "sandbox"]
        for name in order:
            row = side(tmp / "ours.py", str(args.steps), str(tmp / f"run-{rep}")) if name == "sandbox" else side(tmp / "sb3.py", str(args.steps))
            rows[name].append(row)
            print(f"rep {rep} {name}: {row['steps_per_second']:.0f} steps/s, peak {row['peak_rss_mb']:.0f} MB", flush=True)
    med = {k: statistics.median(r["steps_per_second"] for r in v) for k, v in rows.items()}
    mem = {k: max(r["peak_rss_mb"] for r in v) for k, v in rows.items()}
    ratio = med["sandbox"] / med["sb3"]
    result = {"steps": args.steps, "reps": args.reps, "runs": rows, "median_steps_per_second": med, "peak_rss_mb": mem,
              "ratio": round(ratio, 3), "target_ratio": 1.5, "cpus": os.cpu_count()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(f"\nPPO + CNN on Pong, {args.steps} env steps per run, whole training loop, {os.cpu_count()} cores")
    print(f"{'pipeline':<44} {'steps/s':>8} {'peak MB':>8}")
    print(f"{'sandbox (ale-py C++ vector env as SB3 VecEnv)':<44} {med['sandbox']:>8.0f} {mem['sandbox']:>8.0f}")
    print(f"{'SB3 make_atari_env + VecFrameStack':<44} {med['sb3']:>8.0f} {mem['sb3']:>8.0f}")
    print(f"ratio {ratio:.2f} (target ≥ 1.5): {'PASS' if ratio >= 1.5 else 'MISS'}")


if __name__ == "__main__":
    main()
