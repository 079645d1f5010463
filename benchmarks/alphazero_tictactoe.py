"""Tic-tac-toe: AlphaZero trained with max_minutes=5 against perfect play, over every line.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/alphazero_tictactoe.py [--minutes 5]

Trains the preset alphazero-tictactoe, then plays the final network (its evaluation search,
deterministic) against perfect play as first and as second player, following every optimal reply
perfect play has. The ask: no lost line. Also 100 games against random and against mcts:1000.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sandbox
from sandbox.agents.alphazero.opponents import against_every_perfect_line, opponent, play_match


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opponents", nargs="*", default=["random", "mcts:1000"])
    args = ap.parse_args()
    out = Path("runs") / f"bench-alphazero-tictactoe-{time.strftime('%Y%m%d-%H%M%S')}"
    t0 = time.time()
    run = sandbox.train("alphazero-tictactoe", [f"max_minutes={args.minutes}", f"out={out}", f"seed={args.seed}", "wandb.mode=disabled"], progress=False)
    train_s = time.time() - t0
    agent = sandbox.load(run.dir, which="latest")
    game = agent.game
    lines = against_every_perfect_line(game, lambda s: agent.think(s)[0])
    vs = {}
    for spec in args.opponents:
        vs[spec] = play_match(game, agent.player("agent"), opponent(game, spec, seed=1), 100)
    result = {"minutes": args.minutes, "train_seconds": round(train_s, 1), "self_play_moves": run.step,
              "eval_simulations": agent.eval_sims, "perfect_lines": lines, "vs": vs, "run": str(run.dir),
              "passed": lines["first"]["loss"] == 0 and lines["second"]["loss"] == 0}
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/alphazero_tictactoe.json").write_text(json.dumps(result, indent=1))
    print(f"\nAlphaZero tic-tac-toe, trained {args.minutes} min ({run.step} self-play moves), {agent.eval_sims} simulations a move")
    print(f"{'opponent':<28}{'lines/games':>12}{'win':>6}{'draw':>6}{'loss':>6}")
    for side in ("first", "second"):
        c = lines[side]
        print(f"{'perfect, agent ' + side:<28}{c['lines']:>12}{c['win']:>6}{c['draw']:>6}{c['loss']:>6}")
    for spec, r in vs.items():
        print(f"{spec:<28}{r['games']:>12}{r['win']:>6}{r['draw']:>6}{r['loss']:>6}")
    print(f"no lost line against perfect play: {'PASS' if result['passed'] else 'MISS'}")


if __name__ == "__main__":
    main()
