"""Self-play on Ray actors: games per second with ``agent.actors=2`` against the single-process
loop (``actors=0``), same search settings, on this machine's two cores.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/alphazero_actors.py [--game tictactoe] [--steps 60000]

Each way trains the game's preset (its tuned search, network, ``train_ratio``: training included,
as a run does it) for ``--steps`` self-play moves, with evaluations only at the start and the end
(one game against random) so that they cost next to nothing. The speed is read from the run's own
``metrics.jsonl``, between its first and last logged self-play rows: finished games (and moves)
per second of the run's clock, so Ray's start and the actors' start-up (imports, first weights)
are left out, as are the two evaluations. The ask: two actors play more games per second than one
loop (a second self-play process is the lever on two cores; two side by side each kept about 80%
of one alone). Not a quiet-machine figure when anything else runs. Writes
benchmarks/results/alphazero_actors.json (tic-tac-toe) or alphazero_actors_<game>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import sandbox

PRESETS = {"tictactoe": "alphazero-tictactoe", "connect_four": "alphazero-connect4", "go9": "alphazero-go9"}


def throughput(run_dir: Path) -> dict[str, float]:
    """Games and moves per second between the first and the last self-play row of a run's metrics."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "rollout/games" in r and "time/moves_per_second" in r]
    if len(logged) < 2:
        raise SystemExit(f"{run_dir}: fewer than two self-play rows were logged; raise --steps or lower --log-every.")
    first, last = logged[0], logged[-1]
    seconds = last["time"] - first["time"]
    positions = ({"positions_per_s": round((last["rollout/positions"] - first["rollout/positions"]) / seconds, 1)}
                 if "rollout/positions" in first and "rollout/positions" in last else {})
    return {**positions, "games": last["rollout/games"] - first["rollout/games"], "moves": last["step"] - first["step"], "seconds": round(seconds, 2),
            "games_per_s": round((last["rollout/games"] - first["rollout/games"]) / seconds, 2),
            "moves_per_s": round((last["step"] - first["step"]) / seconds, 1),
            "lag_max": max((r.get("rollout/actor_lag_max", 0) for r in logged), default=0)}


def speed_arguments(doc: str | None, game: str, steps: int) -> argparse.ArgumentParser:
    """The options of a self-play speed benchmark (described by ``doc``): the game, the moves each
    way, the log rows' spacing, the seed."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--game", choices=list(PRESETS), default=game)
    ap.add_argument("--steps", type=int, default=steps, help="self-play moves each way")
    ap.add_argument("--log-every", type=int, default=2048, help="self-play moves between the rows the speed is read from")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def speed_overrides(args: argparse.Namespace) -> list[str]:
    """A run of ``--steps`` moves that evaluates only at its start and end (one game against random)."""
    return [f"steps={args.steps}", "max_minutes=null", "agent.eval_every=0", "agent.eval_games=1", "agent.eval_opponents=[random]",
            "agent.elo_snapshots=0", f"agent.log_every={args.log_every}", f"seed={args.seed}", "wandb.mode=disabled"]


def main() -> None:
    ap = speed_arguments(__doc__, "tictactoe", 60_000)
    ap.add_argument("--actors", type=int, default=2, help="actors of the Ray way")
    args = ap.parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    common = speed_overrides(args)
    rows = []
    for actors in (0, args.actors):
        out = Path("runs") / f"bench-alphazero-actors{actors}-{args.game}-{stamp}"
        t0 = time.time()
        run = sandbox.train(PRESETS[args.game], [*common, f"agent.actors={actors}", f"out={out}"], progress=False)
        cfg = run.config.plugin.config
        rows.append({"way": "single loop" if actors == 0 else f"{actors} Ray actors", "actors": actors, **throughput(run.dir),
                     "wall_seconds": round(time.time() - t0, 1), "games_in_lockstep": cfg.games, "simulations": cfg.simulations,
                     "train_ratio": cfg.train_ratio, "run": str(run.dir)})
    base = rows[0]["games_per_s"]
    for r in rows:
        r["ratio"] = round(r["games_per_s"] / base, 2) if base else None
    result = {"game": args.game, "steps": args.steps, "rows": rows,
              "ask": f"{args.actors} actors play more self-play games per second than the single loop on two cores",
              "passed": rows[-1]["ratio"] is not None and rows[-1]["ratio"] > 1.0}
    Path("benchmarks/results").mkdir(parents=True, exist_ok=True)
    name = "alphazero_actors.json" if args.game == "tictactoe" else f"alphazero_actors_{args.game}.json"
    Path("benchmarks/results", name).write_text(json.dumps(result, indent=1))
    print(f"\n{args.game}, {args.steps} self-play moves each way ({rows[0]['simulations']} simulations, "
          f"{rows[0]['games_in_lockstep']} games in lockstep per process, train_ratio {rows[0]['train_ratio']:g})")
    print(f"{'way':<16}{'games/s':>10}{'moves/s':>10}{'games':>8}{'seconds':>9}{'lag max':>9}{'ratio':>7}")
    for r in rows:
        print(f"{r['way']:<16}{r['games_per_s']:>10.1f}{r['moves_per_s']:>10.0f}{r['games']:>8}{r['seconds']:>9.1f}"
              f"{r['lag_max']:>9}{r['ratio']:>7.2f}")


if __name__ == "__main__":
    main()
