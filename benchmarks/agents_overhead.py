"""Overhead of the sandbox around stable-baselines3: ``sandbox train agent=ppo env=CartPole-v1
steps=100000`` against SB3's PPO used directly with the same hyperparameters, network and steps.

Both are timed as whole processes (start to exit), alternating, ``--reps`` times each; the sandbox
side is the command as a user types it (its defaults: evaluations every 25k steps, a gameplay video
at the last, checkpoints, metrics.jsonl; W&B ``auto``, which is offline here), with
``wandb.mode=disabled``, and with evaluations off too (``agent.eval_every=0``: the framework alone). Afterwards (untimed) each trained policy is evaluated on 20
episodes, to show both solved it.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/agents_overhead.py [--reps 2]

Prints a table last and writes benchmarks/results/agents_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "agents_overhead.json"

# SB3 used directly: the same hyperparameters as the ppo agent's defaults (the RL Zoo's CartPole
# values) and the same network (separate 64-64 ReLU MLPs for policy and value, one torch thread).
PLAIN_SB3 = r'''
import sys, torch
torch.set_num_threads(1)
from torch import nn
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
lin = lambda v: (lambda progress: progress * v)
env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, n_epochs=20, gamma=0.98, gae_lambda=0.8,
            learning_rate=lin(1e-3), clip_range=lin(0.2), ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5,
            policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=nn.ReLU), seed=0, device="cpu")
from stable_baselines3.common.logger import Logger
model.set_logger(Logger(None, []))  # no SB3-<date> folder in the temporary folder
model.learn(total_timesteps=100_000)
from safetensors.torch import save_file
save_file({k: v.contiguous() for k, v in model.policy.state_dict().items()}, sys.argv[1])
'''

EVAL_SB3 = r'''
import json, sys, torch
from torch import nn
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
env = make_vec_env("CartPole-v1", n_envs=1, seed=777)
model = PPO("MlpPolicy", env, policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=nn.ReLU), device="cpu")
from safetensors.torch import load_file
model.policy.load_state_dict(load_file(sys.argv[1]))
mean, std = evaluate_policy(model, env, n_eval_episodes=20, deterministic=True)
print(json.dumps({"mean_return": float(mean), "std_return": float(std), "episodes": 20}))
'''


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    (tmp / "plain.py").write_text(PLAIN_SB3)
    (tmp / "eval.py").write_text(EVAL_SB3)
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "WANDB_SILENT": "true"}
    os.environ.update(env)
    sandbox_cmd = [sys.executable, "-m", "sandbox", "train", "agent=ppo", "env=CartPole-v1", "steps=100000", "--no-progress"]
    times: dict[str, list[float]] = {"sandbox": [], "sandbox_wandb_disabled": [], "sandbox_no_eval": [], "sb3": []}
    evals: dict[str, list[dict]] = {k: [] for k in times}
    for rep in range(args.reps):
        runs = {
            "sb3": [sys.executable, str(tmp / "plain.py"), str(tmp / f"sb3-{rep}.safetensors")],
            "sandbox": [*sandbox_cmd, f"out={tmp / f'sandbox-{rep}'}"],
            "sandbox_wandb_disabled": [*sandbox_cmd, f"out={tmp / f'sandbox-nowandb-{rep}'}", "wandb.mode=disabled"],
            "sandbox_no_eval": [*sandbox_cmd, f"out={tmp / f'sandbox-noeval-{rep}'}", "wandb.mode=disabled", "agent.eval_every=0"],
        }
        order = list(runs) if rep % 2 == 0 else list(reversed(runs))
        for name in order:
            dt = timed(runs[name], ROOT)
            times[name].append(round(dt, 2))
            print(f"rep {rep} {name}: {dt:.1f} s", flush=True)
        for name, out in (("sandbox", f"sandbox-{rep}"), ("sandbox_wandb_disabled", f"sandbox-nowandb-{rep}"),
                          ("sandbox_no_eval", f"sandbox-noeval-{rep}")):
            res = subprocess.run([sys.executable, "-m", "sandbox", "eval", str(tmp / out), "--episodes", "20", "--json"],
                                 cwd=ROOT, capture_output=True, text=True)
            evals[name].append(json.loads(res.stdout.strip().splitlines()[-1]))
        res = subprocess.run([sys.executable, str(tmp / "eval.py"), str(tmp / f"sb3-{rep}.safetensors")], cwd=ROOT, capture_output=True, text=True)
        evals["sb3"].append(json.loads(res.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "command": " ".join(sandbox_cmd[2:]), "reps": args.reps, "seconds": times, "median_seconds": med,
        "ratio_sandbox_vs_sb3": round(med["sandbox"] / med["sb3"], 3),
        "ratio_sandbox_wandb_disabled_vs_sb3": round(med["sandbox_wandb_disabled"] / med["sb3"], 3),
        "ratio_sandbox_no_eval_vs_sb3": round(med["sandbox_no_eval"] / med["sb3"], 3),
        "eval_20_episodes": evals, "target_ratio": 1.05,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print("\nPPO CartPole-v1, 100k steps, whole processes (median of", args.reps, "alternating runs)")
    print(f"{'variant':<34} {'seconds':>8} {'ratio':>6} {'eval means (20 ep)':>20}")
    for k in times:
        ratio = med[k] / med["sb3"]
        means = ",".join(f"{e['mean_return']:.0f}" for e in evals[k])
        print(f"{k:<34} {med[k]:>8.1f} {ratio:>6.3f} {means:>20}")
    print(f"target: ratio ≤ 1.05 -> sandbox (W&B auto/offline): {'PASS' if result['ratio_sandbox_vs_sb3'] <= 1.05 else 'MISS'}, "
          f"W&B disabled: {'PASS' if result['ratio_sandbox_wandb_disabled_vs_sb3'] <= 1.05 else 'MISS'}, "
          f"no evaluation (eval_every=0, W&B disabled): {'PASS' if result['ratio_sandbox_no_eval_vs_sb3'] <= 1.05 else 'MISS'}")


if __name__ == "__main__":
    main()
