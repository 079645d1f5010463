"""Search speed: simulations per second of the batched search with the network, 64 games in
lockstep, against the same search run one game at a time (the ask: a ratio of at least 5 on CPU).

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/alphazero_search_speed.py

The networks are the presets' (untrained; speed does not depend on the weights), torch on one
thread as the agent runs it. The positions are 64 openings of 4 random moves; every search starts
from a fresh root.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sandbox.agents.alphazero.search import Trees, capacity_for
from sandbox.config import resolve

PRESETS = {"tictactoe": "alphazero-tictactoe", "connect_four": "alphazero-connect4", "go9": "alphazero-go9"}


def openings(game, n: int, plies: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = game.initial(n)
    for _ in range(plies):
        legal = game.legal(s)
        if game.num_actions > game.cells:
            legal[:, game.cells:] = False  # no pass in the openings
        s, _, _ = game.step(s, np.argmax(rng.random(legal.shape) * legal, 1))
    return s


def measure(agent, states: np.ndarray, lockstep: int, sims: int, budget_s: float) -> float:
    """Simulations per second searching ``states`` ``lockstep`` at a time (for about budget_s)."""
    game = agent.game
    cfg = agent.search_cfg.__class__(**{**vars(agent.search_cfg), "simulations": sims, "gumbel": False})
    trees = Trees(game, lockstep, capacity_for(sims, False), cfg)
    evaluate = agent.evaluator()
    done, t0 = 0, time.time()
    i = 0
    while time.time() - t0 < budget_s or done == 0:
        batch = states[(np.arange(lockstep) + i) % len(states)]
        idx = np.arange(lockstep)
        trees.set_roots(idx, batch)
        trees.search(idx, evaluate)
        done += lockstep * sims
        i += lockstep
    return done / (time.time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0, help="time each way of searching is measured, per game")
    args = ap.parse_args()
    rows = []
    for name, preset in PRESETS.items():
        cfg = resolve(preset, ["wandb.mode=disabled"])
        from sandbox.agents.alphazero.agent import AlphaZero

        agent = AlphaZero(AlphaZero.complete_config(cfg))
        states = openings(agent.game, 64, 4, seed=0)
        sims = 64
        batched = measure(agent, states, 64, sims, budget_s=args.seconds)
        single = measure(agent, states, 1, sims, budget_s=args.seconds)
        rows.append({"game": name, "simulations": sims, "lockstep_64_sims_per_s": round(batched, 1),
                     "one_at_a_time_sims_per_s": round(single, 1), "ratio": round(batched / single, 2)})
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    Path("benchmarks/results/alphazero_search_speed.json").write_text(json.dumps({"rows": rows, "ask": "ratio >= 5 on CPU"}, indent=1))
    print(f"\n{'game':<14}{'64 in lockstep (sims/s)':>26}{'one at a time (sims/s)':>26}{'ratio':>8}")
    for r in rows:
        print(f"{r['game']:<14}{r['lockstep_64_sims_per_s']:>26.0f}{r['one_at_a_time_sims_per_s']:>26.0f}{r['ratio']:>8.1f}")


if __name__ == "__main__":
    main()
