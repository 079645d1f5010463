"""Playout cap randomization (``agent.fast_simulations``): self-play games, moves and recorded
positions per second with and without it, the same preset otherwise, on this machine's cores.

    flock /tmp/sandbox-bench.lock python benchmarks/alphazero_playout_cap.py [--game go9] [--steps 30000] [--fast 8] [--share 0.25]

Each way trains the game's preset (its actors, search, network and ``train_ratio``: training
included, as a run does it) for ``--steps`` self-play moves, evaluating only at the start and the
end; the speeds are read from the run's own ``metrics.jsonl`` between its first and last logged
self-play rows (:func:`alphazero_actors.throughput`). What it says: how many more games (results
for the value head) an hour the cap buys, and how many fewer positions (policy targets, each a
full search's) it records. Whether that plays stronger is for ``benchmarks/alphazero_gnugo.py
--set agent.fast_simulations=N``. Not a quiet-machine figure when anything else runs. Writes
benchmarks/results/alphazero_playout_cap_<game>.json; prints a table last.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import sandbox  # noqa: E402
from benchmarks.alphazero_actors import PRESETS, speed_arguments, speed_overrides, throughput  # noqa: E402


def main() -> None:
    ap = speed_arguments(__doc__, "go9", 30_000)
    ap.add_argument("--fast", type=int, default=8, help="agent.fast_simulations of the capped way")
    ap.add_argument("--share", type=float, default=0.25, help="agent.full_search_share of the capped way")
    args = ap.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    common = speed_overrides(args)
    ways = [("every move in full", []),
            (f"cap {args.fast}, {args.share:g} full", [f"agent.fast_simulations={args.fast}", f"agent.full_search_share={args.share}"])]
    rows = []
    for name, overrides in ways:
        out = ROOT / "runs" / f"bench-alphazero-playout-cap-{args.game}-{len(rows)}-{stamp}"
        t0 = time.time()
        run = sandbox.train(PRESETS[args.game], [*common, *overrides, f"out={out}"], progress=False)
        cfg = run.config.plugin.config
        rows.append({"way": name, "set": overrides, **throughput(run.dir), "wall_seconds": round(time.time() - t0, 1),
                     "simulations": cfg.simulations, "fast_simulations": cfg.fast_simulations,
                     "full_search_share": cfg.full_search_share, "run": str(run.dir)})
    base = rows[0]
    for r in rows:
        r["games_ratio"] = round(r["games_per_s"] / base["games_per_s"], 2) if base["games_per_s"] else None
        if base.get("positions_per_s"):
            r["positions_ratio"] = round(r.get("positions_per_s", 0.0) / base["positions_per_s"], 2)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {"game": args.game, "steps": args.steps, "rows": rows, "load_average_after": load,
              "ask": "more self-play games a second with the cap (the lever's strength is measured against GNU Go)"}
    path = ROOT / "benchmarks" / "results" / f"alphazero_playout_cap_{args.game}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"\n{args.game}, {args.steps} self-play moves each way ({base['simulations']} simulations a full search); "
          f"load average after: {load:.2f}" if load is not None else "")
    print(f"{'way':<24}{'games/s':>9}{'moves/s':>9}{'positions/s':>13}{'games ratio':>13}{'positions ratio':>17}")
    for r in rows:
        print(f"{r['way']:<24}{r['games_per_s']:>9.2f}{r['moves_per_s']:>9.0f}{r.get('positions_per_s', float('nan')):>13.1f}"
              f"{r['games_ratio'] or float('nan'):>13.2f}{r.get('positions_ratio', float('nan')):>17.2f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
