"""How long `sandbox --help` and `sandbox list` take as whole processes (target: under 1.5 s each).

    python benchmarks/core_startup.py [--repeats 10]

Prints a table last and writes benchmarks/results/core_startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 1.5
COMMANDS = {"sandbox --help": ["--help"], "sandbox list": ["list"], "sandbox list --json": ["list", "--json"]}


def time_command(argv: list[str], repeats: int) -> list[float]:
    exe = shutil.which("sandbox") or str(Path(sys.executable).with_name("sandbox"))
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_PLUGINS"}
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = subprocess.run([exe, *argv], capture_output=True, env=env)
        times.append(time.perf_counter() - t)
        if out.returncode != 0:
            raise SystemExit(f"{exe} {' '.join(argv)} failed: {out.stderr.decode()[:300]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    time_command(["--help"], 1)  # warm the file cache
    results = {}
    for label, argv in COMMANDS.items():
        t = time_command(argv, args.repeats)
        results[label] = {"median_s": statistics.median(t), "max_s": max(t), "repeats": len(t), "target_s": TARGET_S,
                          "pass": max(t) < TARGET_S}
    out = Path(__file__).parent / "results" / "core_startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"benchmark": "core_startup", "cpus": os.cpu_count(), "results": results}, indent=1))
    print(f"{'command':22} {'median s':>9} {'max s':>7} {'target':>7}  pass")
    for label, r in results.items():
        print(f"{label:22} {r['median_s']:9.3f} {r['max_s']:7.3f} {TARGET_S:7.1f}  {'yes' if r['pass'] else 'NO'}")


if __name__ == "__main__":
    main()
