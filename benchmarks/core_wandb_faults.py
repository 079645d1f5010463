"""Training time with W&B disabled, offline, stopped, killed and unreachable: W&B must never slow
training down (target: every case within 1.3x of disabled).

    flock /tmp/sandbox-bench.lock python benchmarks/core_wandb_faults.py [--steps 50000] [--repeats 3]
    python benchmarks/core_wandb_faults.py --steps 5000 --repeats 1      # a small, quick look

Each case is `sandbox train agent=reinforce env=CartPole-v1 backbone=mlp` (one row per episode, so
W&B gets many rows) as a whole process, as a user runs it:

- ``disabled``: wandb.mode=disabled;
- ``offline``: wandb.mode=offline, W&B healthy;
- ``stopped``: offline, its process stopped with SIGSTOP as soon as the run has logged a row (the
  trainer's buffer fills and rows are dropped from W&B; closing waits SANDBOX_WANDB_CLOSE_SECONDS,
  set to 5 s here, then stops it);
- ``killed``: offline, its process killed with SIGKILL at the first row;
- ``unreachable``: wandb.mode=online with WANDB_BASE_URL at a closed local port and a fake key.

``train_s`` is the run's own clock at its last metrics row (training, without start-up or close);
``wall_s`` the whole process. The median over ``--repeats`` is compared with disabled. Timings move
with the machine's load (recorded). Prints a table last and writes
benchmarks/results/core_wandb_faults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.3
CASES = ["disabled", "offline", "stopped", "killed", "unreachable"]


def children(pid: int) -> list[tuple[int, str]]:
    """The (pid, command line) of the processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if ppid == pid:
            out.append((int(entry.name), cmdline))
    return out


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rows(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def one(case: str, steps: int, where: Path) -> dict:
    """Run one case; its seconds, rows and what it said about W&B."""
    run_dir = where / f"{case}-{time.time_ns()}"
    mode = {"disabled": "disabled", "unreachable": "online"}.get(case, "offline")
    env = {**os.environ, "WANDB_SILENT": "true", "SANDBOX_WANDB_CLOSE_SECONDS": "5"}
    if case == "unreachable":
        env.update(WANDB_BASE_URL=f"http://127.0.0.1:{closed_port()}", WANDB_API_KEY="x" * 40, HOME=str(where))
    argv = [sys.executable, "-m", "sandbox", "train", "agent=reinforce", "env=CartPole-v1", "backbone=mlp",
            f"steps={steps}", "seed=0", "agent.eval_every=0", "agent.eval_video=false", f"wandb.mode={mode}",
            f"out={run_dir}", "--no-progress"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if case in ("stopped", "killed"):
        sig = signal.SIGSTOP if case == "stopped" else signal.SIGKILL
        while proc.poll() is None:
            workers = [p for p, cmd in children(proc.pid) if "sandbox.wandb_worker" in cmd]
            if workers and rows(run_dir):
                os.kill(workers[0], sig)
                break
            time.sleep(0.02)
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{case} failed ({proc.returncode}):\n{stderr}")
    logged = rows(run_dir)
    missed = next((line for line in stderr.splitlines() if line.startswith("W&B missed ")), "")
    return {"case": case, "train_s": logged[-1]["time"], "wall_s": round(wall, 2), "rows": len(logged),
            "wandb_missed": int(re.search(r"missed (?:at least )?(\d+)", missed).group(1)) if missed else 0,  # type: ignore[union-attr]
            "traceback": "Traceback" in stderr,
            "wandb_lines": [line for line in stderr.splitlines() if "W&B" in line]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    cases = args.cases.split(",")
    results: dict[str, list[dict]] = {c: [] for c in cases}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="wandb-faults-") as tmp:
        for _ in range(args.repeats):
            for case in cases:  # interleaved, so that load drifts hit every case alike
                results[case].append(one(case, args.steps, Path(tmp)))
    summary = []
    base = statistics.median(r["train_s"] for r in results["disabled"]) if "disabled" in results else None
    for case in cases:
        train = statistics.median(r["train_s"] for r in results[case])
        summary.append({"case": case, "train_s": round(train, 2),
                        "wall_s": round(statistics.median(r["wall_s"] for r in results[case]), 2),
                        "vs_disabled": round(train / base, 3) if base else None,
                        "wandb_missed": max(r["wandb_missed"] for r in results[case]),
                        "rows": results[case][0]["rows"],
                        "traceback": any(r["traceback"] for r in results[case])})
    out = {"steps": args.steps, "repeats": args.repeats, "target_vs_disabled": TARGET, "cpus": os.cpu_count(),
           "load_before": load_before, "load_after": os.getloadavg(), "summary": summary, "runs": results}
    path = ROOT / "benchmarks" / "results" / "core_wandb_faults.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"reinforce CartPole-v1, {args.steps} steps, median of {args.repeats}; load {load_before[0]:.2f} -> "
          f"{out['load_after'][0]:.2f}; wrote {path.relative_to(ROOT)}")
    print(f"{'case':<12} {'train s':>8} {'x disabled':>10} {'wall s':>7} {'rows':>6} {'W&B missed':>10} {'ok':>4}")
    for s in summary:
        ok = "yes" if (s["vs_disabled"] or 0) <= TARGET and not s["traceback"] else "NO"
        ratio = f"{s['vs_disabled']:.2f}" if s["vs_disabled"] is not None else "-"
        print(f"{s['case']:<12} {s['train_s']:>8.2f} {ratio:>10} {s['wall_s']:>7.2f} {s['rows']:>6} "
              f"{s['wandb_missed']:>10} {ok:>4}")


if __name__ == "__main__":
    main()
