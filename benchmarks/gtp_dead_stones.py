"""Dead stones at the end of real games: the network's ownership head (``sandbox gtp``'s
``final_status_list dead``) against GNU Go 3.8's judgement.

    python benchmarks/gtp_dead_stones.py --run runs/go-curve-conv
    python benchmarks/gtp_dead_stones.py --run runs/go-curve-conv --games benchmarks/results/alphazero_gnugo.json --limit 40

The positions are the last ones of the games in an ``alphazero_gnugo.py`` results file (``--games``;
its games that ended with two passes, each record once), replayed move by move into the run's GTP
engine and into GNU Go (Chinese rules, positional superko, komi 7.5, level 10). Each then lists the
dead stones. Figures: the positions where the two lists are the same; of the stones GNU Go calls
dead, the share the head calls dead too (recall), and of those the head calls dead, the share GNU Go
agrees with (precision); and the winner by area with each one's dead stones taken off, against the
winner of GNU Go's ``final_score``, beside the winner by the board as it stands (what ``final_score``
of ``sandbox gtp`` counts). The table comes last; the figures go to
benchmarks/results/gtp_dead_stones.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from sandbox.agents.alphazero.gtp import GTPClient, GTPEngine, GTPError, gnugo_command, load_go_agent, vertex_to_action
from sandbox.errors import SandboxError

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def final_records(games_file: Path) -> list[str]:
    """The move records of the games of an alphazero_gnugo results file that ended with two passes, each once."""
    try:
        points = json.loads(games_file.read_text())["points"]
        games = [g for p in points for cell in p["levels"] for g in cell.get("detail", [])]
    except (OSError, ValueError, KeyError, TypeError):
        sys.exit(f"error: {games_file} is not a results file of benchmarks/alphazero_gnugo.py; give one with --games.")
    seen: dict[str, None] = {}
    for g in games:
        if g.get("end") == "passes" and isinstance(g.get("record"), str):
            seen.setdefault(g["record"], None)
    return list(seen)


def stones(listing: str, size: int) -> set[int]:
    """The points of a ``final_status_list`` answer (vertices, a group a line)."""
    return {vertex_to_action(v, size) for v in listing.split()}


def winner(engine: GTPEngine, dead: set[int]) -> str:
    """``B``, ``W`` or ``0``: area with komi on the engine's board with ``dead`` taken off."""
    state = engine.state.copy()
    state[list(dead)] = 0
    score = float(engine.game.score(state[None])[0])
    return "0" if score == 0 else "B" if score > 0 else "W"


def judge(engine: GTPEngine, gnugo: GTPClient, record: str) -> dict[str, Any]:
    """One final position: both lists of dead stones and the three winners."""
    engine.command("clear_board", [])
    gnugo.send(f"boardsize {engine.size}")  # GNU Go starts on 19×19
    gnugo.send("clear_board")
    gnugo.send(f"komi {engine.komi:g}")
    for i, vertex in enumerate(record.split()):
        colour = "bw"[i % 2]
        engine.command("play", [colour, vertex])
        gnugo.send(f"play {colour} {vertex}")
    size = engine.size
    head, theirs = stones(engine.final_status("dead"), size), stones(gnugo.send("final_status_list dead"), size)
    score = gnugo.send("final_score")
    return {"moves": len(record.split()), "gnugo_dead": len(theirs), "head_dead": len(head), "both_dead": len(head & theirs),
            "same": head == theirs, "gnugo_winner": score[:1] if score[:1] in ("B", "W") else "0",
            "winner_board": winner(engine, set()), "winner_head": winner(engine, head), "winner_gnugo_dead": winner(engine, theirs),
            "gnugo_score": score}


def main(argv: list[str] | None = None) -> None:
    from sandbox.files import output_file_type
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a go9 run directory (its network judges the stones), with the ownership head")
    ap.add_argument("--checkpoint", choices=("best", "latest"), default="latest")
    ap.add_argument("--games", type=Path, default=RESULTS_DIR / "alphazero_gnugo_conv-curve.json",
                    help="an alphazero_gnugo.py results file whose games' last positions are judged")
    ap.add_argument("--limit", type=int, default=0, help="judge only the first N positions (0: all)")
    ap.add_argument("--gnugo", default="/usr/games/gnugo", help="the GNU Go program (3.8)")
    ap.add_argument("--out", type=output_file_type("--out", ".json"), default=RESULTS_DIR / "gtp_dead_stones.json")
    args = ap.parse_args(argv)
    if args.limit < 0:
        sys.exit(f"error: --limit is a number of positions, 0 (all) or more, not {args.limit}.")
    if not Path(args.gnugo).exists():
        sys.exit(f"error: GNU Go is not at {args.gnugo}; install it (apt-get install gnugo) or give --gnugo.")
    records = final_records(args.games)
    records = records[: args.limit] if args.limit else records
    if not records:
        sys.exit(f"error: {args.games} holds no game that ended with two passes; give another --games.")
    try:
        agent = load_go_agent(args.run, args.checkpoint)
        engine = GTPEngine(agent)
    except SandboxError as exc:
        sys.exit(f"error: {exc}")
    if "final_status_list" not in engine.commands:
        sys.exit(f"error: the network of {args.run} has no ownership head (agent.ownership=0), so it lists no dead stones; "
                 "give a run trained with agent.ownership > 0, as the go9 preset is.")
    from tqdm.auto import tqdm

    from sandbox.run import read_pointer

    detail = []
    t = time.time()
    with GTPClient(gnugo_command(10, engine.komi, binary=args.gnugo), "gnugo") as gnugo:
        for i, record in enumerate(tqdm(records, desc="final positions", unit="pos", file=sys.stderr)):
            try:
                detail.append(judge(engine, gnugo, record))
            except GTPError as exc:  # a record one engine refuses: left out, said
                print(f"position {i}: left out ({exc})", file=sys.stderr)
    n = len(detail)
    gnugo_dead, head_dead, both = (sum(d[k] for d in detail) for k in ("gnugo_dead", "head_dead", "both_dead"))
    scored = [d for d in detail if d["gnugo_winner"] != "0"]
    result = {
        "run": args.run, "checkpoint": args.checkpoint, "step": (read_pointer(Path(args.run), args.checkpoint) or {}).get("step"), "games_file": str(args.games),
        "positions": n, "seconds": round(time.time() - t, 1),
        "same_list": sum(d["same"] for d in detail),
        "gnugo_dead_stones": gnugo_dead, "head_dead_stones": head_dead, "both_dead_stones": both,
        "recall": round(both / gnugo_dead, 3) if gnugo_dead else None,
        "precision": round(both / head_dead, 3) if head_dead else None,
        "scored_positions": len(scored),
        "winner_as_gnugo": {k: sum(d[k] == d["gnugo_winner"] for d in scored) for k in ("winner_board", "winner_head", "winner_gnugo_dead")},
        "detail": detail,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"\nDead stones at the end of {n} games ({args.games.name}): the ownership head of {args.run} "
          f"({args.checkpoint}) against GNU Go 3.8")
    rows = [("positions with the same dead stones", f"{result['same_list']}/{n}"),
            ("GNU Go's dead stones the head finds (recall)", f"{both}/{gnugo_dead}"),
            ("the head's dead stones GNU Go agrees on (precision)", f"{both}/{head_dead}"),
            ("winner as GNU Go's final_score: board as it stands", f"{result['winner_as_gnugo']['winner_board']}/{len(scored)}"),
            ("... the head's dead stones taken off", f"{result['winner_as_gnugo']['winner_head']}/{len(scored)}"),
            ("... GNU Go's dead stones taken off", f"{result['winner_as_gnugo']['winner_gnugo_dead']}/{len(scored)}")]
    for label, value in rows:
        print(f"  {label:<54}{value:>10}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
