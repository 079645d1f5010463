"""Connect Four: AlphaZero trained with max_minutes=60, then measured two ways (issue 15):

1. **The match.** 100 games against pure MCTS with 1000 random-rollout simulations a move, first
   move alternating. The ask: at least 99 won.
2. **End-game mistakes.** At least 500 positions with 8 to 14 empty cells, none over, no two alike
   (a position and its mirror image count once), drawn from real games: the match's own, then, until
   there are enough, the agent's self-play games and its games against the same pure MCTS, both
   with a few opening moves drawn from the search's visit counts so that games differ. Each
   position and each of its moves is solved by ``benchmarks/connect4_solver.py``; the agent is
   asked for its move through its public ``act()`` on the PettingZoo observation (deterministic,
   as a user calls it), and the move is a mistake when its outcome (win, draw, loss) is worse
   than the position's. The ask: at most 2% mistakes.

Beside the asks, two reports say where games are lost: each lost match game solved back to 28
empty cells (``--solve-lost``), naming the agent's move that turned a win or draw into the loss,
and the agent's mistakes on the match's own positions with 15 to 22 empty cells (``--mid-game``).

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/alphazero_connect4.py [--minutes 60] [KEY=VALUE ...]
    python benchmarks/alphazero_connect4.py --run runs/NAME [--games 100] [--positions 500] [--simulations N] [--symmetries 2] [--out FILE.json]

Prints a table last and writes ``benchmarks/results/alphazero_connect4.json`` (or ``--out``). A run with
overrides of the preset (a lever, e.g. ``agent.actors=2``) writes ``alphazero_connect4_actors-2.json``
instead, so that each lever keeps its own figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sandbox  # noqa: E402
from benchmarks import lever_suffix  # noqa: E402
from benchmarks.connect4_solver import Position, Solver  # noqa: E402
from sandbox.agents.alphazero.opponents import Player, opponent, play_match  # noqa: E402
from sandbox.tracking import read_metrics  # noqa: E402

#: the end game: positions with this many empty cells (both ends included)
EMPTIES = (8, 14)
OUTCOME = {1: "win", 0: "draw", -1: "loss"}


class Recorder(Player):
    """A match player that plays as ``inner`` does and keeps every position it is asked to move in
    (and, given ``games``, each game's moves: ``games[slot]`` lists ``(name, state, column)``)."""

    def __init__(self, inner: Player, seen: list[np.ndarray], games: dict[int, list[tuple[str, np.ndarray, int]]] | None = None) -> None:
        self.inner, self.seen, self.name, self.games = inner, seen, inner.name, games

    def start(self, n_games: int) -> None:
        self.inner.start(n_games)

    def finish(self) -> None:
        self.inner.finish()

    def moves(self, states: np.ndarray, slots: np.ndarray) -> np.ndarray:
        self.seen.extend(s.copy() for s in states)
        actions = self.inner.moves(states, slots)
        if self.games is not None:
            for state, slot, action in zip(states, slots, actions):
                self.games.setdefault(int(slot), []).append((self.name, state.copy(), int(action)))
        return actions


def mirrored(state: np.ndarray) -> np.ndarray:
    """The state with its columns in the other order (the same position seen in a mirror)."""
    out = state.copy()
    out[:42] = state[:42].reshape(6, 7)[:, ::-1].reshape(-1)
    return out


def add_end_game(states: list[np.ndarray], into: dict[int, tuple[np.ndarray, str]], source: str, empties: tuple[int, int] = EMPTIES) -> None:
    """Add the positions of ``states`` with 8 to 14 empty cells (``empties``) to ``into`` with their
    ``source`` (keyed by the smaller of the position's and its mirror image's solver key: new ones only)."""
    for s in states:
        if not empties[0] <= 42 - int(np.count_nonzero(s[:42])) <= empties[1]:
            continue
        key = min(Position.from_state(s).key(), Position.from_state(mirrored(s)).key())
        into.setdefault(key, (s, source))


def match(agent: Any, mcts: int, games: int, seen: list[np.ndarray], log: dict[int, list[tuple[str, np.ndarray, int]]] | None = None) -> dict[str, Any]:
    """(a) ``games`` of the agent against pure MCTS with ``mcts`` rollouts a move, first move
    alternating; every position of them is kept in ``seen`` (and each game's moves in ``log``)."""
    a = Recorder(agent.player("agent"), seen, log)
    b = Recorder(opponent(agent.game, f"mcts:{mcts}", seed=1), seen, log)
    return play_match(agent.game, a, b, games)


def losing_moves(log: dict[int, list[tuple[str, np.ndarray, int]]], solver: Solver, max_empty: int = 28) -> list[dict[str, Any]]:
    """The games of ``log`` that the agent lost (the opponent's last move won), each with the move
    that lost it: walking back from the end over the agent's positions with at most ``max_empty``
    empty cells (deeper ones take the solver minutes), the last move that turned a won or drawn
    position into a lost one. ``ply`` is None when every such position was lost already (the game
    was lost earlier, or was never anything else)."""
    lost = []
    for slot, moves in sorted(log.items()):
        who, state, col = moves[-1]
        if who == "agent" or not Position.from_state(state).is_winning_move(col):
            continue
        first = (np.count_nonzero(moves[0][1][:42]) % 2 == 0) == (moves[0][0] == "agent")  # the first player moves on even stone counts
        entry: dict[str, Any] = {"game": slot, "agent_moved": "first" if first else "second", "moves": "".join(str(c + 1) for _, _, c in moves),
                                 "ply": None}
        for i in range(len(moves) - 1, -1, -1):
            who, state, col = moves[i]
            empty = 42 - int(np.count_nonzero(state[:42]))
            if empty > max_empty:
                break
            if who != "agent":
                continue
            solved = solver.solve(Position.from_state(state))
            if solved.value >= 0 and solved.moves[col] < 0:
                entry.update(ply=i + 1, empty=empty, position=OUTCOME[solved.value], played=col + 1, best=[c + 1 for c in solved.best])
                break
        lost.append(entry)
    return lost


def round_positions(agent: Any, kind: str, opening: int, games: int, mcts: int, seeds: tuple[int, int]) -> list[np.ndarray]:
    """Every position of ``games`` games of ``agent`` against itself (``kind`` "self-play") or pure
    MCTS with ``mcts`` simulations, each side opening with ``opening`` plies drawn from its visit
    counts; ``seeds``: the agent's and its opponent's."""
    seen: list[np.ndarray] = []
    a = Recorder(agent.player("agent", random_opening=opening, seed=seeds[0]), seen)
    if kind == "self-play":
        b = Recorder(agent.player("agent'", random_opening=opening, seed=seeds[1]), seen)
    else:
        b = Recorder(opponent(agent.game, f"mcts:{mcts}", seed=seeds[1]), seen)
    play_match(agent.game, a, b, games)
    return seen


def gather(agent: Any, n: int, mcts: int, games: int, match_states: list[np.ndarray], seed: int = 0, rounds: int = 20) -> tuple[list[np.ndarray], dict[str, int]]:
    """At least ``n`` end-game positions (if ``rounds`` of extra games find them): the match's, then
    rounds of ``games`` self-play games and ``games`` against pure MCTS, with random openings."""
    from tqdm.auto import tqdm

    found: dict[int, tuple[np.ndarray, str]] = {}
    add_end_game(match_states, found, f"match vs mcts:{mcts}")
    bar = tqdm(total=n, initial=min(len(found), n), desc="end-game positions", unit="pos", file=sys.stderr)
    for r in range(rounds):
        if len(found) >= n:
            break
        opening = 4 + 2 * (r % 3)  # 4, 6 or 8 plies drawn from the visit counts
        for kind in ("self-play", f"vs mcts:{mcts}"):
            seen = round_positions(agent, kind, opening, games, mcts,
                                   (seed + 2 * r, seed + 2 * r + 1 if kind == "self-play" else seed + 100 + r))
            before = len(found)
            add_end_game(seen, found, f"{kind}, random opening")
            bar.update(min(len(found), n) - min(before, n))
            if len(found) >= n:
                break
    bar.close()
    kept = list(found.values())
    if len(kept) > n:
        pick = np.random.default_rng(seed).choice(len(kept), n, replace=False)
        kept = [kept[i] for i in sorted(pick)]
    sources: dict[str, int] = {}
    for _, source in kept:
        sources[source] = sources.get(source, 0) + 1
    return [s for s, _ in kept], sources


def judge(agent: Any, states: list[np.ndarray], solver: Solver, empties: tuple[int, int] = EMPTIES) -> dict[str, Any]:
    """(b) The agent's move in each position (``act()`` on the observation of the player to move)
    against the solved value of every move: the mistakes, overall, where it mattered (positions
    whose moves do not all keep the value), by empty cells and by the position's value."""
    from tqdm.auto import tqdm

    game = agent.game
    rows = []
    for s in tqdm(states, desc="judging moves", unit="pos", file=sys.stderr):
        pos = Position.from_state(s)
        sol = solver.solve(pos)
        mover = int(s[42])
        obs = game.observation(s, mover, to_move=True)
        assert np.array_equal(game.from_observation(obs["observation"]), s[:43]), "the observation does not describe the position"
        move = int(agent.act(obs, deterministic=True))
        rows.append({"empties": 42 - pos.moves, "value": sol.value, "move": move, "move_value": sol.moves[move],
                     "decisive": len(set(sol.moves.values())) > 1, "mistake": sol.moves[move] < sol.value,
                     "state": [int(v) for v in s], "board": str(pos).splitlines(), "values": {str(c): v for c, v in sol.moves.items()}})
    n = len(rows)
    mistakes = [r for r in rows if r["mistake"]]
    decisive = [r for r in rows if r["decisive"]]

    def rate(sel: list[dict[str, Any]]) -> dict[str, Any]:
        m = sum(r["mistake"] for r in sel)
        return {"positions": len(sel), "mistakes": m, "rate": m / max(len(sel), 1)}

    return {
        "positions": n, "mistakes": len(mistakes), "mistake_rate": len(mistakes) / max(n, 1),
        "decisive": rate(decisive),
        "by_empties": {str(e): rate([r for r in rows if r["empties"] == e]) for e in range(empties[0], empties[1] + 1)},
        "by_value": {OUTCOME[v]: rate([r for r in rows if r["value"] == v]) for v in (1, 0, -1)},
        "mistaken_positions": [{k: r[k] for k in ("board", "state", "empties", "value", "move", "move_value", "values")} for r in mistakes],
    }


def empty_range(text: str) -> tuple[int, int] | None:
    """``--mid-game``'s LO-HI (or 0: none)."""
    if text.strip() == "0":
        return None
    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO-HI (e.g. 15-22) or 0") from None
    if not 1 <= lo <= hi <= 41:
        raise argparse.ArgumentTypeError(f"{text!r} must be two counts of empty cells with 1 <= LO <= HI <= 41")
    return lo, hi


def main() -> None:
    from sandbox.files import output_file_type
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--games", type=int, default=100, help="games of the match")
    ap.add_argument("--mcts", type=int, default=1000, help="random-rollout simulations a move of pure MCTS")
    ap.add_argument("--positions", type=int, default=500, help="end-game positions to judge (0: none)")
    ap.add_argument("--extra-games", type=int, default=100, help="games of each round that gathers more end-game positions")
    ap.add_argument("--solve-lost", type=int, default=28, metavar="EMPTY",
                    help="solve each lost match game back to positions with this many empty cells, to find the move that lost it")
    ap.add_argument("--mid-game", type=empty_range, default=(15, 22), metavar="LO-HI",
                    help="also judge the agent's moves in the match's positions with LO to HI empty cells (0: not)")
    ap.add_argument("--mid-positions", type=int, default=500, help="at most this many mid-game positions")
    ap.add_argument("--run", help="evaluate this finished run instead of training one")
    ap.add_argument("--which", default="latest", choices=["latest", "best"], help="the run's checkpoint to evaluate")
    ap.add_argument("--simulations", type=int, help="the agent's search a move in the match and the end games (default: the run's agent.eval_simulations)")
    ap.add_argument("--symmetries", type=int, choices=(1, 2), help="average the network over this many board symmetries when it plays: 1 or 2 "
                                                   "(default: the run's agent.eval_symmetries)")
    ap.add_argument("--out", type=output_file_type("--out", ".json"), help="the JSON written (default: benchmarks/results/alphazero_connect4.json, with the overrides in its name)")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings of the run over the preset's (e.g. agent.actors=2)")
    args = ap.parse_args()
    if args.run and args.overrides:
        ap.error("overrides set up a new run; --run evaluates a finished one as it was trained")
    bad = [o for o in args.overrides if "=" not in o]
    if bad:
        ap.error(f"{bad[0]!r} is not KEY=VALUE; give settings of the run like agent.actors=2")
    if args.out is None:
        args.out = f"benchmarks/results/alphazero_connect4{lever_suffix(args.overrides)}.json"
    t0 = time.time()
    if args.run:
        run_dir = Path(args.run)
    else:
        out = Path("runs") / f"bench-alphazero-connect4-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = sandbox.train("alphazero-connect4", [f"max_minutes={args.minutes}", f"out={out}", "wandb.mode=disabled", *args.overrides], progress=False).dir
    train_s = time.time() - t0
    agent = sandbox.load(run_dir, which=args.which)
    if args.simulations:
        agent.set_eval_simulations(args.simulations)
    if args.symmetries:
        agent.set_eval_symmetries(args.symmetries)

    # (a) the match
    t1 = time.time()
    match_states: list[np.ndarray] = []
    log: dict[int, list[tuple[str, np.ndarray, int]]] = {}
    r = match(agent, args.mcts, args.games, match_states, log)
    eval_s = time.time() - t1
    lost = losing_moves(log, Solver(), args.solve_lost)
    mid: dict[str, Any] | None = None
    if args.mid_game:
        t = time.time()
        found: dict[int, tuple[np.ndarray, str]] = {}
        add_end_game(match_states, found, "match", args.mid_game)
        mid = judge(agent, [s for s, _ in found.values()][:args.mid_positions], Solver(), args.mid_game)
        mid["seconds"] = round(time.time() - t, 1)

    # (b) the end-game mistakes
    t2 = time.time()
    mistakes: dict[str, Any] | None = None
    if args.positions:
        states, sources = gather(agent, args.positions, args.mcts, args.extra_games, match_states)
        gather_s = time.time() - t2
        solver = Solver()
        mistakes = {"sources": sources, "gather_seconds": round(gather_s, 1), **judge(agent, states, solver)}
        mistakes["judge_seconds"] = round(time.time() - t2 - gather_s, 1)
        mistakes["solver_nodes"] = solver.nodes

    curve = [{"step": m["step"], "minutes": round(m.get("time", 0) / 60, 2), **{k.removeprefix("eval/"): v for k, v in m.items() if k.startswith(("eval/win_rate/", "eval/elo"))}}
             for m in read_metrics(run_dir) if "eval/elo" in m]
    won_ask = r["win"] >= int(np.ceil(0.99 * r["games"]))
    mistakes_ask = mistakes is not None and mistakes["positions"] >= 500 and mistakes["mistake_rate"] <= 0.02
    result = {"minutes": agent.config.max_minutes if args.run else args.minutes, "train_seconds": round(train_s, 1), "eval_seconds": round(eval_s, 1),
              "overrides": args.overrides, "eval_simulations": agent.eval_sims, "eval_symmetries": agent.cfg.eval_symmetries, "checkpoint": args.which, "opponent": f"mcts:{args.mcts}", **r,
              "mistakes": mistakes, "lost_games": lost, "mid_game_mistakes": mid, "curve": curve, "run": str(run_dir),
              "ask": "at least 99 of 100 games won against mcts:1000, and at most 2% mistakes on at least 500 end-game positions",
              "passed_match": won_ask, "passed_mistakes": mistakes_ask, "passed": won_ask and mistakes_ask}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))

    print("\nTraining curve (evaluations during training):")
    for c in curve:
        print("  " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.items()))
    minutes = agent.config.max_minutes if args.run else args.minutes
    print(f"\nAlphaZero Connect Four ({run_dir}), trained {minutes} min, {args.which} checkpoint, {agent.eval_sims} simulations a move"
          f"{f', the network averaged over {agent.cfg.eval_symmetries} board symmetries' if agent.cfg.eval_symmetries > 1 else ''}")
    print(f"{'opponent':<14}{'games':>7}{'win':>6}{'draw':>6}{'loss':>6}{'win rate':>10}")
    print(f"{'mcts:' + str(args.mcts):<14}{r['games']:>7}{r['win']:>6}{r['draw']:>6}{r['loss']:>6}{r['win_rate']:>10.2f}")
    first = r["win_as_first"] + r["draw_as_first"] + r["loss_as_first"]
    print(f"{'  moving 1st':<14}{first:>7}{r['win_as_first']:>6}{r['draw_as_first']:>6}{r['loss_as_first']:>6}"
          f"{r['win_as_first'] / max(first, 1):>10.2f}")
    second = (r["win"] - r["win_as_first"], r["draw"] - r["draw_as_first"], r["loss"] - r["loss_as_first"])
    print(f"{'  moving 2nd':<14}{r['games'] - first:>7}{second[0]:>6}{second[1]:>6}{second[2]:>6}"
          f"{second[0] / max(r['games'] - first, 1):>10.2f}")
    if mid is not None:
        print(f"\nMid-game mistakes ({mid['positions']} positions of the match with {args.mid_game[0]} to {args.mid_game[1]} empty cells; "
              f"not an ask of the issue): {mid['mistakes']} ({100 * mid['mistake_rate']:.1f}%), "
              f"{mid['decisive']['mistakes']} of {mid['decisive']['positions']} where it matters")
    if lost:
        print(f"\nLost games, solved back to {args.solve_lost} empty cells: the agent's move that lost each")
        for g in lost:
            where = (f"ply {g['ply']} ({g['empty']} empty cells): from a {g['position']} it played column {g['played']}, "
                     f"best {', '.join(map(str, g['best']))}") if g["ply"] else f"lost before {args.solve_lost} empty cells"
            print(f"  game {g['game']} (agent moving {g['agent_moved']}): {where}")
    if mistakes is not None:
        print(f"\nEnd-game mistakes ({', '.join(f'{k}: {v}' for k, v in mistakes['sources'].items())})")
        print(f"{'positions':<22}{'count':>7}{'mistakes':>10}{'rate':>8}")
        table = [("all", {"positions": mistakes["positions"], "mistakes": mistakes["mistakes"], "rate": mistakes["mistake_rate"]}),
                 ("where it matters", mistakes["decisive"]),
                 *((f"position a {k}", v) for k, v in mistakes["by_value"].items()),
                 *((f"{e} empty cells", v) for e, v in mistakes["by_empties"].items())]
        for name, v in table:
            print(f"{name:<22}{v['positions']:>7}{v['mistakes']:>10}{v['rate']:>8.3f}")
    print(f"\nat least 99 of 100 won: {'PASS' if won_ask else 'MISS'} ({r['win']} of {r['games']})")
    if mistakes is not None:
        print(f"at most 2% mistakes on >= 500 end-game positions: {'PASS' if mistakes_ask else 'MISS'} "
              f"({mistakes['mistakes']} of {mistakes['positions']}, {100 * mistakes['mistake_rate']:.1f}%)")


if __name__ == "__main__":
    main()
