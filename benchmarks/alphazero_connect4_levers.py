"""Connect Four: rank the ways of playing a trained network on one fixed set of solved positions.

A match of 100 games against pure MCTS ends 98 or 100 on chance alone, and the games a trained agent
loses are lost in the middle game, by one move that turns a won position into a lost one. So this
benchmark counts those moves directly, many of them, with every setting judged on the same positions:

1. **Positions.** Rounds of games of the run's agent (its network and evaluation search), against
   itself and against pure MCTS with 1000 random-rollout simulations a move, each with a few opening
   moves drawn from the search's visit counts so that games differ. Every position with 16 to 22
   empty cells (``--empties``) is kept once (a position and its mirror image count once).
2. **Solving.** Each position and each of its moves is solved by ``benchmarks/connect4_solver.py``;
   only the decisive ones are kept: those where some moves keep the position's value and some do
   not (elsewhere no move can be a mistake).
3. **Settings.** For each setting (``--setting NAME:KEY=VALUE,...``; keys ``simulations``,
   ``symmetries``, ``solver``, ``c_puct``), the agent's search chooses a move in every position,
   all positions searched in lockstep; a mistake is a move whose solved value is worse than the
   position's.

    python benchmarks/alphazero_connect4_levers.py --run runs/NAME [--rounds 6] [--setting 256:simulations=256 ...]

The positions and their solutions are kept in ``--cache`` (an ``.npz`` of integers, read back
without pickle) so that later settings are judged on the same positions. Prints a table last and
writes ``benchmarks/results/alphazero_connect4_levers.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sandbox  # noqa: E402
from benchmarks.alphazero_connect4 import add_end_game, empty_range, round_positions  # noqa: E402
from benchmarks.connect4_solver import Position, Solver  # noqa: E402
from sandbox.agents.alphazero.search import Trees, capacity_for, pick  # noqa: E402

#: the settings judged when none is given: the search's size, the mirror image, the solver
DEFAULT_SETTINGS = ["prior:simulations=1", "256:simulations=256", "256+solver:simulations=256,solver=true",
                    "256+mirror:simulations=256,symmetries=2", "800:simulations=800", "800+mirror:simulations=800,symmetries=2",
                    "2000:simulations=2000"]
KEYS = {"simulations": int, "symmetries": int, "solver": lambda v: {"true": True, "false": False}[v.lower()], "c_puct": float}
KINDS = {"simulations": "a whole number", "symmetries": "a whole number", "solver": "true or false", "c_puct": "a number"}


def parse_setting(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:KEY=VALUE,...`` -> (name, {key: value}); a bad one stops the benchmark with one sentence."""
    name, _, rest = text.partition(":")
    out: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in KEYS:
            raise SystemExit(f"error: setting {text!r} has {key!r}; its keys are {', '.join(KEYS)}.")
        try:
            out[key] = KEYS[key](value)
        except (KeyError, ValueError):
            raise SystemExit(f"error: setting {text!r} gives {key}={value!r}; {key} is {KINDS[key]}.")
    if not name or "simulations" not in out or out["simulations"] < 1:
        raise SystemExit(f"error: setting {text!r} needs a name and simulations=N of at least 1, as in 800+mirror:simulations=800,symmetries=2.")
    return name, out


def gather(agent: Any, rounds: int, games: int, mcts: int, empties: tuple[int, int]) -> list[np.ndarray]:
    """The positions with ``empties`` empty cells of ``rounds`` × (``games`` self-play games and
    ``games`` against pure MCTS), random openings of 4, 6 or 8 plies; one of each position."""
    from tqdm.auto import tqdm

    found: dict[int, tuple[np.ndarray, str]] = {}
    for r in tqdm(range(rounds), desc="rounds of games", unit="round", file=sys.stderr):
        opening = 4 + 2 * (r % 3)
        for kind in ("self-play", "mcts"):
            seen = round_positions(agent, kind, opening, games, mcts, (1000 + r, 2000 + r if kind == "self-play" else 3000 + r))
            add_end_game(seen, found, kind, empties)
    return [s for s, _ in found.values()]


def solve_decisive(states: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decisive positions among ``states``: (states (N, S), values (N,) for the player to move,
    move values (N, 7), -2 where a column is full)."""
    from tqdm.auto import tqdm

    solver = Solver()
    keep, values, moves = [], [], []
    for s in tqdm(states, desc="solving", unit="pos", file=sys.stderr):
        sol = solver.solve(Position.from_state(s))
        if len(set(sol.moves.values())) > 1:
            keep.append(s)
            values.append(sol.value)
            moves.append([sol.moves.get(c, -2) for c in range(7)])
    return np.array(keep, np.int16).reshape(-1, states[0].shape[0] if states else 0), np.array(values, np.int8), np.array(moves, np.int8).reshape(-1, 7)


def judge(agent: Any, states: np.ndarray, values: np.ndarray, moves: np.ndarray, setting: dict[str, Any], batch: int = 256) -> dict[str, Any]:
    """The moves ``agent`` chooses under ``setting`` in every position (searched in lockstep, no
    noise): the mistakes, overall and by empty cells, and the seconds it took."""
    cfg = dataclasses.replace(agent.eval_cfg, simulations=setting["simulations"], solver=setting.get("solver", False),
                              **({"c_puct": setting["c_puct"]} if "c_puct" in setting else {}))
    symmetries = setting.get("symmetries", 1)
    if not 1 <= symmetries <= agent.game.num_symmetries:
        raise SystemExit(f"error: symmetries={symmetries}; Connect Four has 1 or 2.")
    evaluate = agent.evaluator(symmetries=symmetries)
    t = time.time()
    chosen = []
    for i in range(0, len(states), batch):
        part = states[i:i + batch]
        trees = Trees(agent.game, len(part), capacity_for(cfg.simulations, False), cfg, seed=0)
        idx = np.arange(len(part))
        trees.set_roots(idx, part)
        chosen.append(pick(trees.search(idx, evaluate), 0.0))
    move = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    mistake = moves[np.arange(len(move)), move] < values
    empty = 42 - np.count_nonzero(states[:, :42], 1)
    return {"positions": int(len(move)), "mistakes": int(mistake.sum()), "rate": float(mistake.mean()) if len(move) else 0.0,
            "by_empties": {str(e): int(mistake[empty == e].sum()) for e in sorted(set(empty.tolist()))},
            "seconds": round(time.time() - t, 1)}


def main() -> None:
    from sandbox.files import output_file_type
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="the trained Connect Four run to judge")
    ap.add_argument("--which", choices=("latest", "best"), default="latest", help="the run's checkpoint")
    ap.add_argument("--rounds", type=int, default=6, help="rounds of games (each: --games self-play games and --games against MCTS)")
    ap.add_argument("--games", type=int, default=100, help="games of each kind a round")
    ap.add_argument("--mcts", type=int, default=1000, help="random-rollout simulations a move of the pure-MCTS opponent")
    ap.add_argument("--empties", type=empty_range, default="16-22", help="the positions kept: LO-HI empty cells")
    ap.add_argument("--setting", action="append", metavar="NAME:KEY=VALUE,...",
                    help=f"a way of playing to judge (repeat; default: {' '.join(DEFAULT_SETTINGS)})")
    ap.add_argument("--cache", help="the positions and their solutions: read when the file exists, else written "
                                    "(default: benchmarks/results/alphazero_connect4_levers_positions.npz)")
    ap.add_argument("--out", type=output_file_type("--out", ".json"), default=str(ROOT / "benchmarks" / "results" / "alphazero_connect4_levers.json"), help="the JSON written")
    args = ap.parse_args()
    settings = [parse_setting(s) for s in (args.setting or DEFAULT_SETTINGS)]
    empties = args.empties
    if empties is None or args.rounds < 1 or args.games < 1:
        raise SystemExit("error: --empties needs LO-HI empty cells, and --rounds and --games at least 1.")
    cache = Path(args.cache or ROOT / "benchmarks" / "results" / "alphazero_connect4_levers_positions.npz")
    agent = sandbox.load(args.run, which=args.which)
    if agent.game.name != "connect_four":
        raise SystemExit(f"error: {args.run} plays {agent.game.name}; this benchmark judges Connect Four runs.")
    t0 = time.time()
    if cache.exists():
        with np.load(cache, allow_pickle=False) as f:
            states, values, moves = f["states"], f["values"], f["moves"]
        source = f"read from {cache}"
    else:
        states, values, moves = solve_decisive(gather(agent, args.rounds, args.games, args.mcts, empties))
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, states=states, values=values, moves=moves)
        source = f"{args.rounds} rounds of {args.games} self-play games and {args.games} against mcts:{args.mcts}, written to {cache}"
    prepare_s = time.time() - t0
    rows = {name: judge(agent, states, values, moves, setting) for name, setting in settings}
    result = {"run": str(args.run), "checkpoint": args.which, "positions": int(len(states)), "source": source,
              "empties": list(empties), "prepare_seconds": round(prepare_s, 1),
              "settings": {name: {**setting, **rows[name]} for name, setting in settings}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"\nConnect Four, {args.run} ({args.which}): moves chosen in {len(states)} decisive positions with "
          f"{empties[0]} to {empties[1]} empty cells ({source})")
    print(f"{'setting':<16}{'simulations':>12}{'symmetries':>11}{'solver':>8}{'mistakes':>10}{'rate':>8}{'seconds':>9}")
    for name, setting in settings:
        r = rows[name]
        print(f"{name:<16}{setting['simulations']:>12}{setting.get('symmetries', 1):>11}{str(setting.get('solver', False)).lower():>8}"
              f"{r['mistakes']:>10}{100 * r['rate']:>7.2f}%{r['seconds']:>9}")


if __name__ == "__main__":
    main()
