"""Pong from pixels on the CPU: the learning curve of a PPO run (preset ``ppo-pong``) given
``--minutes`` of wall time (``max_minutes``), then a recorded full episode of the trained agent.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/agents_pong_learning.py --minutes 60 [--out runs/pong-ppo]

An existing ``--out`` run is resumed until its training time reaches ``--minutes`` in all.
After training, ``sandbox eval RUN --episodes 10`` measures the run's best checkpoint as the issue
asks (the mean true score over 10 episodes; the in-training evaluations play 4).

Writes the run to ``--out``, the curve to benchmarks/results/agents_pong_curve.png, the video to
``<out>/pong.mp4`` (``sandbox play RUN --record``), and the figures to
benchmarks/results/agents_pong_learning.json; prints a table last. A run with overrides (a lever
measured on its own, e.g. ``agent.bf16=true``) writes to ``agents_pong_learning_<key>-<value>.json``
and ``agents_pong_curve_<key>-<value>.png`` instead (``_bf16-true``), so that each lever keeps its own figures.

    python benchmarks/agents_pong_learning.py --levers

plays nothing: the table of every lever's figures side by side (each ``agents_pong_learning*.json``),
also written to benchmarks/results/agents_pong_levers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
from benchmarks import lever_suffix  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--out", default=str(ROOT / "runs" / "pong-ppo"))
    p.add_argument("--eval-every", type=int, default=100_000)
    p.add_argument("--skip-train", action="store_true", help="only evaluate, record and plot an existing run")
    p.add_argument("--levers", action="store_true", help="train nothing: the table of every lever's results side by side")
    p.add_argument("overrides", nargs="*", help="extra key=value settings for the run (e.g. agent.torch_threads=1)")
    args = p.parse_args()
    if args.levers:
        levers_table()
        return
    suffix = lever_suffix(args.overrides)
    results, curve = RESULTS_DIR / f"agents_pong_learning{suffix}.json", RESULTS_DIR / f"agents_pong_curve{suffix}.png"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "WANDB_SILENT": "true"}
    out = Path(args.out)
    t0 = time.time()
    if not args.skip_train:
        if (out / "run.json").exists():  # an earlier, shorter run: resume it to --minutes of training in all
            cmd = ["train", f"out={out}", f"max_minutes={args.minutes}", "--no-progress"]
        else:
            cmd = ["train", "ppo-pong", f"max_minutes={args.minutes}", f"out={out}", f"agent.eval_every={args.eval_every}",
                   "wandb.mode=disabled", *args.overrides, "--no-progress"]
        train = subprocess.Popen([sys.executable, "-m", "sandbox", *cmd], cwd=ROOT, env=env)
        try:
            code = train.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the training too: let it write its checkpoint
            code = train.wait()
        if code == 130:
            sys.exit(f"training stopped by Ctrl-C, so nothing was evaluated or written to benchmarks/results; the run keeps "
                     f"its checkpoint in {out}: the same command resumes it.")
        if code != 0:
            sys.exit(f"error: the training ended with exit status {code} (its message is above); nothing was written to "
                     "benchmarks/results.")
    train_s = time.time() - t0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    episodes = [(r["step"], r["rollout/episodic_return"], r["time"]) for r in rows if "rollout/episodic_return" in r]
    evals = [(r["step"], r["eval/mean_return"], r["time"]) for r in rows if "eval/mean_return" in r]
    sps = [r["time/steps_per_second"] for r in rows if "time/steps_per_second" in r]
    steps = max(r["step"] for r in rows)
    if args.skip_train:  # the training time the run logged
        train_s = max((r.get("time", 0.0) for r in rows), default=0.0)

    def window(k: int, at: int) -> float | None:
        vals = [e[1] for e in episodes[max(0, at - k) : at]] if episodes else []
        return sum(vals) / len(vals) if vals else None

    t_eval = time.time()
    ev = subprocess.run([sys.executable, "-m", "sandbox", "eval", str(out), "--episodes", "10", "--json"],
                        cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    final_eval = json.loads(ev.stdout.strip().splitlines()[-1])
    eval_s = time.time() - t_eval
    video = out / "pong.mp4"
    t1 = time.time()
    subprocess.run([sys.executable, "-m", "sandbox", "play", str(out), "--record", str(video)], cwd=ROOT, env=env, check=True)
    record_s = time.time() - t1
    frame_png = out / "pong-frame.png"
    import imageio.v3 as iio

    frames = iio.imread(video, index=None)
    iio.imwrite(frame_png, frames[len(frames) // 2])
    subprocess.run([sys.executable, "-m", "sandbox", "compare", str(out), "--out", str(curve),
                    "--metric", "rollout/episodic_return", "--metric", "eval/mean_return"], cwd=ROOT, env=env, check=True)
    result = {
        "preset": "ppo-pong", "overrides": args.overrides, "minutes_asked": args.minutes, "train_wall_seconds": round(train_s, 1), "env_steps": steps,
        "mean_steps_per_second": sum(sps) / len(sps) if sps else None, "episodes": len(episodes),
        "first_10_episodes_mean": (sum(e[1] for e in episodes[:10]) / min(10, len(episodes))) if episodes else None,
        "last_10_episodes_mean": window(10, len(episodes)), "evaluations": evals,
        "best_eval": max((e[1] for e in evals), default=None),
        "final_eval_10_episodes": final_eval, "final_eval_seconds": round(eval_s, 1), "target": 18.0,
        "passed": final_eval.get("mean_return", -99) >= 18.0, "video": str(video), "video_frames": int(len(frames)),
        "record_seconds": round(record_s, 1), "curve": str(curve.relative_to(ROOT)), "frame_png": str(frame_png),
        "curve_points": [(s, r) for s, r, _ in episodes[:: max(1, len(episodes) // 200)]],
    }
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=1))
    print(f"\nPPO on Pong (CPU, {os.cpu_count()} cores), max_minutes={args.minutes:g}")
    print(f"{'env steps':<28} {steps}")
    print(f"{'training wall time (s)':<28} {train_s:.0f}")
    print(f"{'mean steps/s':<28} {result['mean_steps_per_second']:.0f}" if sps else "")
    print(f"{'episodes finished':<28} {len(episodes)}")
    print(f"{'first 10 episodes mean':<28} {result['first_10_episodes_mean']}")
    print(f"{'last 10 episodes mean':<28} {result['last_10_episodes_mean']}")
    print(f"{'evaluations (step, mean)':<28} {[(s, round(m, 1)) for s, m, _ in evals]}")
    print(f"{'recorded episode':<28} {video} ({len(frames)} frames)")
    mean = final_eval.get("mean_return")
    print(f"{'best checkpoint, 10 episodes':<28} {mean} (target >= 18: {'PASS' if result['passed'] else 'MISS'})")


def levers_table() -> None:
    """Every lever's hour side by side, from the results each run wrote (the preset's own first)."""
    rows = []
    for path in sorted(RESULTS_DIR.glob("agents_pong_learning*.json")):
        try:
            r = json.loads(path.read_text())
            r["env_steps"]  # noqa: B018
        except (OSError, ValueError, KeyError, TypeError):
            continue
        final = r.get("final_eval_10_episodes") or {}
        rows.append({"file": path.name, "overrides": r.get("overrides") or [], "minutes": r.get("minutes_asked"),
                     "env_steps": r["env_steps"], "steps_per_second": r.get("mean_steps_per_second"),
                     "best_in_training_eval": r.get("best_eval"), "last_10_training_episodes": r.get("last_10_episodes_mean"),
                     "best_checkpoint_10_episodes": final.get("mean_return"), "std_10_episodes": final.get("std_return"),
                     "passed": final.get("mean_return") is not None and final["mean_return"] >= 18.0})
    rows.sort(key=lambda row: (bool(row["overrides"]), row["file"]))
    (RESULTS_DIR / "agents_pong_levers.json").write_text(json.dumps({"target": 18.0, "levers": rows}, indent=1))

    def num(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    print(f"{'lever (overrides of ppo-pong)':<34} {'min':>4} {'env steps':>10} {'steps/s':>8} {'best eval':>9} "
          f"{'last 10 train':>13} {'10-episode score':>16}")
    for row in rows:
        final = "-" if row["best_checkpoint_10_episodes"] is None else \
            f"{row['best_checkpoint_10_episodes']:.1f} ± {num(row['std_10_episodes'], '.1f')}"
        print(f"{' '.join(row['overrides']) or '(the preset as it was then)':<34} {num(row['minutes'], '.0f'):>4} {row['env_steps']:>10} "
              f"{num(row['steps_per_second'], '.0f'):>8} {num(row['best_in_training_eval'], '.1f'):>9} "
              f"{num(row['last_10_training_episodes'], '.1f'):>13} {final:>16}")


if __name__ == "__main__":
    main()
