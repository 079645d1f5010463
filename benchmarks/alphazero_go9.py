"""Go 9×9: AlphaZero's training curve, win rate against pure MCTS over training time.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/alphazero_go9.py [--segments 3 6 9] [--mcts 16]

Trains the preset alphazero-go9 in segments (each resumes the run with a larger max_minutes), and
after each segment plays ``--games`` games against pure MCTS with ``--mcts`` random-rollout
simulations a move, first move alternating; the matches are outside the training clock.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sandbox
from sandbox.agents.alphazero.opponents import opponent, play_match


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--segments", type=float, nargs="+", default=[3.0, 6.0, 9.0])
    ap.add_argument("--mcts", type=int, default=16)
    ap.add_argument("--games", type=int, default=8)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the preset")
    args = ap.parse_args()
    out = Path("runs") / f"bench-alphazero-go9-{time.strftime('%Y%m%d-%H%M%S')}"
    curve = []

    def match(minutes: float) -> None:
        agent = sandbox.load(out, which="latest")
        t = time.time()
        r = play_match(agent.game, agent.player("agent"), opponent(agent.game, f"mcts:{args.mcts}", seed=1), args.games)
        curve.append({"train_minutes": minutes, **r, "match_seconds": round(time.time() - t, 1)})
        print(f"  after {minutes} min: {r}", flush=True)
        Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
        partial = {"opponent": f"mcts:{args.mcts}", "games_per_point": args.games, "curve": curve, "run": str(out), "complete": False}
        Path("benchmarks/results/alphazero_go9.json").write_text(json.dumps(partial, indent=1))

    sandbox.train("alphazero-go9", ["max_minutes=0.05", f"out={out}", "wandb.mode=disabled", *args.set], progress=False)
    match(0.05)
    steps = 0
    for minutes in args.segments:
        run = sandbox.train("alphazero-go9", [f"max_minutes={minutes}", f"out={out}", "wandb.mode=disabled", *args.set], progress=False)
        steps = run.step
        match(minutes)
    result = {"opponent": f"mcts:{args.mcts}", "games_per_point": args.games, "self_play_moves": steps, "curve": curve, "run": str(out), "complete": True}
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/alphazero_go9.json").write_text(json.dumps(result, indent=1))
    print(f"\nAlphaZero Go 9x9 (Gumbel search), against pure MCTS with {args.mcts} rollouts a move, {args.games} games a point")
    print(f"{'training minutes':>18}{'win':>6}{'draw':>6}{'loss':>6}{'win rate':>10}")
    for c in curve:
        print(f"{c['train_minutes']:>18}{c['win']:>6}{c['draw']:>6}{c['loss']:>6}{c['win_rate']:>10.2f}")


if __name__ == "__main__":
    main()
