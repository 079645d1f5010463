"""Pong throughput: env steps per second of the whole PPO training loop (CNN backbone), the
sandbox's pipeline (ale-py's C++ vector env as an SB3 VecEnv) against SB3's own
``make_atari_env`` + ``VecFrameStack`` pipeline, with the same network (Nature-DQN CNN, 512
features, shared by policy and value), the same hyperparameters (the ``ppo-pong`` preset: 8 envs
× 128 steps, 4 epochs of 256-sample minibatches) and the same env settings (sticky actions 0.25,
frame skip 4, 84×84 gray, 4-frame stack, no-op reset). Each side runs in its own process (so
peak memory is its own), alternating, ``--reps`` times. The figure is the training loop's steps
per second (rollouts and PPO updates, after two warm-up iterations); steps per second counted
from process start (imports, envs, model, loop) are shown beside it. The sandbox runs twice: with
``agent.bf16=false`` (float32 throughout) and ``agent.bf16=true`` (the CNN learns under bfloat16
autocast). The preset's own value is ``auto``: bfloat16 on CPUs with AMX or AVX512-BF16 and on GPUs
with bfloat16, float32 elsewhere; the table says which of the two rows the preset is here.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/agents_pong_throughput.py [--steps 16384] [--reps 2]

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

# Both sides time the training loop the same way: SB3's PPO.train is wrapped so that
# the end of every iteration (one rollout of 8 × 128 steps, then the PPO update) is stamped. The
# loop's steps per second run from the end of iteration WARMUP to the end of the last one, which
# leaves out imports, building the envs and the model, and the first iterations' warm-up; the whole
# process time (start to the last iteration) is reported beside it.
TIMING = r'''
import json, resource, sys, time
T_START = time.perf_counter()
from stable_baselines3 import PPO as _PPO
STAMPS = []
_train = _PPO.train
def _stamped(self):
    _train(self)
    STAMPS.append((time.perf_counter(), int(self.num_timesteps)))
_PPO.train = _stamped
def report(warmup=2):
    (t0, s0), (t1, s1) = STAMPS[warmup - 1], STAMPS[-1]
    print(json.dumps({"steps": s1, "loop_steps": s1 - s0, "loop_seconds": t1 - t0, "process_seconds": t1 - T_START,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''

SANDBOX_SIDE = TIMING + r'''
import sandbox
steps, out = int(sys.argv[1]), sys.argv[2]
run = sandbox.train("ppo-pong", [f"steps={steps}", f"out={out}", "agent.eval_every=0", "wandb.mode=disabled", *sys.argv[3:]], progress=False)
report()
'''

SB3_SIDE = TIMING + r'''
import gymnasium, ale_py, torch
gymnasium.register_envs(ale_py)
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack
steps = int(sys.argv[1])
lin = lambda v: (lambda progress: progress * v)
env = make_atari_env("ALE/Pong-v5", n_envs=8, seed=0, env_kwargs={"frameskip": 1, "repeat_action_probability": 0.25},
                     wrapper_kwargs={"terminal_on_life_loss": False})
env = VecFrameStack(env, n_stack=4)
model = PPO("CnnPolicy", env, n_steps=128, batch_size=256, n_epochs=4, gamma=0.99, gae_lambda=0.95,
            learning_rate=lin(2.5e-4), clip_range=lin(0.1), ent_coef=0.01, vf_coef=0.5, seed=0, device="cpu")
from stable_baselines3.common.logger import Logger
model.set_logger(Logger(None, []))  # no SB3-<date> folder in the temporary folder
model.learn(total_timesteps=steps)
report()
'''


def side(script: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{script.name} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["steps_per_second"] = row["loop_steps"] / row["loop_seconds"]
    row["process_steps_per_second"] = row["steps"] / row["process_seconds"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=16384)
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()
    os.environ.update({"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    tmp = Path(tempfile.mkdtemp(prefix="bench-pong-"))
    (tmp / "ours.py").write_text(SANDBOX_SIDE)
    (tmp / "sb3.py").write_text(SB3_SIDE)
    rows: dict[str, list[dict]] = {"sandbox": [], "sandbox-bf16": [], "sb3": []}
    for rep in range(args.reps):
        order = ["sandbox", "sandbox-bf16", "sb3"] if rep % 2 == 0 else ["sb3", "sandbox-bf16", "sandbox"]
        for name in order:
            if name == "sb3":
                row = side(tmp / "sb3.py", str(args.steps))
            else:
                row = side(tmp / "ours.py", str(args.steps), str(tmp / f"run-{name}-{rep}"), "agent.bf16=" + str(name.endswith("bf16")).lower())
            rows[name].append(row)
            print(f"rep {rep} {name}: {row['steps_per_second']:.0f} steps/s, peak {row['peak_rss_mb']:.0f} MB", flush=True)
    med = {k: statistics.median(r["steps_per_second"] for r in v) for k, v in rows.items()}
    med_process = {k: statistics.median(r["process_steps_per_second"] for r in v) for k, v in rows.items()}
    mem = {k: max(r["peak_rss_mb"] for r in v) for k, v in rows.items()}
    from sandbox.device import bf16_is_fast

    import torch

    preset_bf16 = bf16_is_fast(torch.device("cpu"))  # agent.bf16=auto, on this CPU
    ratio = med["sandbox"] / med["sb3"]
    bf16_ratio = med["sandbox-bf16"] / med["sb3"]
    result = {"steps": args.steps, "reps": args.reps, "runs": rows, "median_steps_per_second": med, "peak_rss_mb": mem,
              "ratio": round(ratio, 3), "bf16_ratio": round(bf16_ratio, 3), "median_process_steps_per_second": med_process,
              "process_ratio": round(med_process["sandbox"] / med_process["sb3"], 3), "target_ratio": 2.0, "cpus": os.cpu_count(),
              "load_avg_after": os.getloadavg()[0], "preset_learns_in_bf16": preset_bf16}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(f"\nPPO + CNN on Pong, {args.steps} env steps per run (median of {args.reps}), {os.cpu_count()} cores")
    print(f"{'pipeline':<58} {'loop steps/s':>12} {'process steps/s':>15} {'peak MB':>8}")
    mark = {True: " (the preset here)", False: ""}
    print(f"{'sandbox (ale-py C++ vector env), float32' + mark[not preset_bf16]:<58} {med['sandbox']:>12.0f} {med_process['sandbox']:>15.0f} {mem['sandbox']:>8.0f}")
    print(f"{'sandbox, agent.bf16=true' + mark[preset_bf16]:<58} {med['sandbox-bf16']:>12.0f} {med_process['sandbox-bf16']:>15.0f} {mem['sandbox-bf16']:>8.0f}")
    print(f"{'SB3 make_atari_env + VecFrameStack':<58} {med['sb3']:>12.0f} {med_process['sb3']:>15.0f} {mem['sb3']:>8.0f}")
    preset_ratio = bf16_ratio if preset_bf16 else ratio
    print(f"training-loop ratio float32 {ratio:.2f}, bf16 {bf16_ratio:.2f}; the preset's {preset_ratio:.2f} (target ≥ 2.0): {'PASS' if preset_ratio >= 2.0 else 'MISS'}; "
          f"whole-process ratio {result['process_ratio']:.2f}; load average after {result['load_avg_after']:.2f}")


if __name__ == "__main__":
    main()
