"""Go 9×9 against a real opponent: AlphaZero runs against GNU Go 3.8 over GTP.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/alphazero_gnugo.py RUN [RUN ...] [--games 40] [--levels 1 10]
    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/alphazero_gnugo.py --train 15 30 60 [--set KEY=VALUE ...]
    python benchmarks/alphazero_gnugo.py --train 60 --run-dir runs/go-curve              # a first sitting
    python benchmarks/alphazero_gnugo.py --train 120 --run-dir runs/go-curve --append     # a later one: resumed to 120 min
    python benchmarks/alphazero_gnugo.py --train 180 --run-dir runs/go-curve --append --set agent.actors=2   # on both cores
    python benchmarks/alphazero_gnugo.py --table                                          # the table and curve of the results again
    python benchmarks/alphazero_gnugo.py --resume --out FILE                              # finish a point a kill cut short

Each point (a RUN as given: a go9 run directory or a folder 'sandbox export' wrote; or, with
``--train``, the preset alphazero-go9 trained in segments, each resuming the run up to that many
minutes of ``max_minutes``, played at its latest checkpoint after each segment: the win rate
against training time) plays GNU Go at each ``--levels`` (0 to 10, 10 its full strength): ``--games``
games a level, colours alternating (the agent is Black in the even games), GNU Go's random seed set
to the game's number. GNU Go's seed alone seldom changes its moves, and the agent's search is
deterministic, so without more the 40 games of a cell were some 20 games played twice; the agent
draws its moves of a game's first ``--sample-moves`` plies (6) from its search (Go's Gumbel search
chooses under Gumbel noise: ``sandbox gtp --sample-moves``, seeded with the level), which makes the
games of a cell differ.

The agent is ``sandbox gtp RUN`` in a subprocess, GNU Go is ``gnugo --mode gtp --chinese-rules
--positional-superko --komi 7.5 --level L``; the referee (:func:`sandbox.agents.alphazero.gtp.play_game`)
passes each move to the other engine until two passes in a row, a resignation or ``--max-moves``,
and GNU Go's ``final_score`` decides (it judges dead stones; the sandbox's own counts the board as it
stands); the mean margin (the agent's points minus GNU Go's) says how far from a win a point is. A
move one engine refuses voids the game (counted apart). The table comes last; the figures go to
benchmarks/results/alphazero_gnugo.json (``--out``), rewritten after every game (a level cut short
is kept with ``"partial": true``, and ``--resume`` finishes it), and the win rate against training
minutes to alphazero_gnugo_curve.png beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sandbox
from sandbox.agents.alphazero.gtp import GTPClient, GTPError, gnugo_command, play_game, sandbox_gtp_command
from sandbox.errors import SandboxError

RESULTS_DIR = Path(__file__).resolve().parent / "results"


#: a cell resumed after k games seeds the agent's draws with level + RESEED * k: another stream than
#: the first sitting's (seeded with the level), so the resumed games do not replay its games
RESEED = 1000


def match(run: Path, level: int, args: argparse.Namespace, checkpoint: str, done: list[dict[str, Any]] | None = None,
          on_game: Any = None) -> dict[str, Any]:
    """``args.games`` games of the agent of ``run`` against GNU Go at ``level``, colours alternating.
    ``done``: the games of this cell an earlier sitting played (it goes on from the next one);
    ``on_game(cell)``: called with the cell so far (``"partial": true``) after every game."""
    games: list[dict[str, Any]] = list(done or [])
    with tempfile.TemporaryFile("w+") as log, \
            GTPClient(sandbox_gtp_command(run, args.simulations, quiet=False, checkpoint=checkpoint,
                                          sample_moves=args.sample_moves, seed=level + RESEED * len(games),
                                          symmetries=args.symmetries, play_out=args.play_out),
                       "sandbox", stderr=log) as agent, \
            GTPClient(gnugo_command(level, args.komi, binary=args.gnugo), "gnugo") as gnugo:
        for i in range(len(games), args.games):
            agent_black = i % 2 == 0
            black, white = (agent, gnugo) if agent_black else (gnugo, agent)
            t = time.time()
            gnugo.send(f"set_random_seed {i + 1}")
            try:
                game = play_game(black, white, scorer=gnugo, size=9, komi=args.komi, max_moves=args.max_moves)
            except GTPError as exc:  # a refused move: the game is void
                log.seek(0)
                tail = log.read().strip().splitlines()[-5:]
                game = {"winner": None, "result": "void", "moves": [], "end": "void", "error": str(exc), "agent_log": tail}
            mine = "B" if agent_black else "W"
            game = {"game": i, "agent": mine, "won": game["winner"] == mine, "lost": game["winner"] not in (mine, None),
                    "seconds": round(time.time() - t, 1), **{k: v for k, v in game.items() if k != "moves"},
                    "moves": len(game["moves"]), "record": " ".join(game["moves"])}
            games.append(game)
            print(f"  level {level} game {i + 1}/{args.games}: agent {'black' if agent_black else 'white'}, {game['result']} "
                  f"({game['end']}, {game['moves']} moves, {game['seconds']} s)", flush=True)
            if on_game is not None and len(games) < args.games:
                on_game({**summarize(level, games, args.komi), "partial": True})
    return summarize(level, games, args.komi)


def summarize(level: int, games: list[dict[str, Any]], komi: float) -> dict[str, Any]:
    """A cell's figures from its games (the played ones; void games counted apart)."""
    played = [g for g in games if g["end"] != "void"]
    win, loss = sum(g["won"] for g in played), sum(g["lost"] for g in played)

    def rate(colour: str) -> float | None:
        mine = [g for g in played if g["agent"] == colour]
        return round(sum(g["won"] for g in mine) / len(mine), 3) if mine else None

    for g in played:
        g["board_margin"] = board_margin(g, komi)
    return {"level": level, "games": len(played), "win": win, "loss": loss, "draw": len(played) - win - loss,
            "ahead_by_board": sum((g["board_margin"] or 0) > 0 for g in played),
            "void": len(games) - len(played), "win_rate": round(win / max(len(played), 1), 3),
            "win_rate_black": rate("B"), "win_rate_white": rate("W"),
            "mean_margin": mean_margin(played), "moves_per_game": round(sum(g["moves"] for g in played) / max(len(played), 1), 1),
            "seconds_per_game": round(sum(g["seconds"] for g in games) / max(len(games), 1), 1), "detail": games}


def margin(game: dict[str, Any]) -> float | None:
    """The agent's points minus GNU Go's in a scored game (``B+3.5`` with the agent White: -3.5);
    None for a resignation or a void game."""
    try:
        points = float(game["result"].split("+", 1)[1])
    except (AttributeError, IndexError, ValueError):
        return None
    return points if game["won"] else -points if game["lost"] else 0.0


def board_margin(game: dict[str, Any], komi: float, size: int = 9) -> float | None:
    """The agent's margin by the sandbox's own count of the game's last board as it stands
    (Tromp-Taylor, the rules it trains under: a dead stone left on the board counts as alive), from
    the game's record; None for a void game or a record the rules core does not follow."""
    import numpy as np

    from sandbox.agents.alphazero.gtp import vertex_to_action
    from sandbox.envs.games.go import Go

    moves = str(game.get("record") or "").split()
    if game.get("end") == "void" or game.get("agent") not in ("B", "W") or "record" not in game:  # no record kept: nothing to count
        return None
    go = Go(size, komi, max_moves=len(moves) + 1)
    state = go.initial(1)
    try:
        for vertex in moves:
            action = vertex_to_action(vertex, size)
            if not go.legal(state)[0, action]:
                return None
            state, _, _ = go.step(state, np.array([action]))
    except GTPError:
        return None
    black = float(go.score(state)[0])
    return black if game["agent"] == "B" else -black


def ahead_by_board(cell: dict[str, Any], komi: float) -> int:
    """The games of a cell where the agent leads by :func:`board_margin`: GNU Go's ``final_score``
    takes off the stones it judges dead, so a cell may be lost by GNU Go's count and led by the board's."""
    return sum((m or 0) > 0 for m in (board_margin(g, komi) for g in cell.get("detail", [])))


def mean_margin(games: list[dict[str, Any]]) -> float | None:
    """The mean of :func:`margin` over the scored games: how far from a win, when none is won."""
    margins = [m for m in map(margin, games) if m is not None]
    return round(sum(margins) / len(margins), 1) if margins else None


def describe(run: Path, checkpoint: str) -> dict[str, Any]:
    """The step and training minutes of the checkpoint a point plays (None for an exported folder)."""
    from sandbox.run import read_pointer

    if not (run / "checkpoints").is_dir():
        return {"run": str(run), "checkpoint": "exported", "step": None, "train_minutes": None}
    which = checkpoint if read_pointer(run, checkpoint) is not None else "latest"
    pointer = read_pointer(run, which) or {}
    stem = run / "checkpoints" / str(pointer.get("file"))
    doc = json.loads(stem.with_suffix(".json").read_text()) if pointer else {}
    seconds = doc.get("elapsed_seconds")
    return {"run": str(run), "checkpoint": which, "step": doc.get("step"),
            "train_minutes": None if seconds is None else round(seconds / 60.0, 2),
            "policy_head": policy_head_of(stem.with_suffix(".safetensors")) if pointer else None}


def policy_head_of(tensors: Path) -> str | None:
    """``conv`` or ``linear``: the policy head the checkpoint's network has (``agent.policy_head=auto``
    builds either), read from its tensors' names."""
    from safetensors import safe_open

    if not tensors.is_file():
        return None
    with safe_open(str(tensors), framework="pt") as f:
        names = list(f.keys())
    return "conv" if any(n.endswith("policy.local.weight") for n in names) else "linear"


def wilson(wins: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a win rate of ``wins`` in ``n`` games."""
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def draw_curve(result: dict[str, Any], path: Path) -> bool:
    """The win rate against training minutes, a line a GNU Go level with its 95% intervals, and
    beside it the mean margin, to ``path`` (PNG). False (nothing drawn) when no point has training
    minutes (exported folders)."""
    from matplotlib.figure import Figure

    points = sorted((p for p in result["points"] if p.get("train_minutes") is not None), key=lambda p: p["train_minutes"])
    if not points:
        return False
    fig = Figure(figsize=(11, 4.2))
    ax, ax_margin = fig.subplots(1, 2)
    span = max(p["train_minutes"] for p in points) or 1.0
    for i, level in enumerate(result["levels"]):
        dodge = (i - (len(result["levels"]) - 1) / 2) * 0.01 * span  # the levels' points side by side, not on top of each other
        xs, ys, lo, hi, margins = [], [], [], [], []
        for p in points:
            for c in p["levels"]:
                if c["level"] == level and c["games"]:
                    a, b = wilson(c["win"] + 0.5 * c["draw"], c["games"])
                    xs.append(p["train_minutes"] + dodge)
                    ys.append(c["win_rate"])
                    lo.append(c["win_rate"] - a)
                    hi.append(b - c["win_rate"])
                    if c.get("mean_margin") is not None:
                        margins.append((p["train_minutes"], c["mean_margin"]))
        if xs:
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=f"GNU Go level {level}")
        if margins:
            ax_margin.plot(*zip(*margins), marker="o", label=f"GNU Go level {level}")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel(f"win rate ({result['games_per_cell']} games, 95% interval)")
    ax.set_title(f"AlphaZero Go 9x9 against {result['opponent']}, komi {result['komi']:g}", fontsize=10)
    ax_margin.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax_margin.set_ylabel("mean margin, agent minus GNU Go (points)")
    ax_margin.set_title("how far from a win: GNU Go's final_score", fontsize=10)
    for a in (ax, ax_margin):
        a.set_xlim(left=0)
        a.set_xlabel("training minutes")
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    from sandbox.files import output_file_type
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", metavar="RUN", help="go9 run directories or exported folders, each a point")
    ap.add_argument("--train", type=float, nargs="+", metavar="MINUTES",
                    help="train the preset alphazero-go9 up to these max_minutes in turn, a point after each")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of the preset (with --train)")
    ap.add_argument("--run-dir", type=Path, metavar="DIR",
                    help="with --train: train this run folder, resuming it when it exists (a curve built over several sittings), "
                         "instead of a new runs/bench-alphazero-gnugo-<time>")
    ap.add_argument("--append", action="store_true",
                    help="keep the points already in --out (from earlier sittings) and add this sitting's after them")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 10], help="GNU Go levels, 0 to 10 (default 1 10)")
    ap.add_argument("--games", type=int, default=40, help="games a level and point, colours alternating (default 40)")
    ap.add_argument("--simulations", type=int, help="the agent's search simulations a move (default: the run's evaluation search)")
    ap.add_argument("--symmetries", type=int, metavar="N",
                    help="the agent averages its network over N of the board's 8 symmetries ('sandbox gtp --symmetries'; "
                         "default: the run's agent.eval_symmetries)")
    ap.add_argument("--play-out", action="store_true",
                    help="the agent plays on after GNU Go's pass until only its own eyes are left ('sandbox gtp --play-out'), "
                         "so that dead stones are off the board when GNU Go's final_score judges it")
    ap.add_argument("--sample-moves", type=int, default=6, metavar="N",
                    help="the agent draws each of a game's first N moves (either colour's) from its search rather than take its best "
                         "('sandbox gtp --sample-moves'), so that the games of a cell differ; 0: always its best move, "
                         "which repeats a game whenever GNU Go does (default 6: the agent's first 3 moves)")
    ap.add_argument("--checkpoint", choices=["best", "latest"], default="best", help="the checkpoint of each RUN (--train plays the latest)")
    ap.add_argument("--komi", type=float, default=7.5)
    ap.add_argument("--max-moves", type=int, default=324, help="a game still going after this many moves is scored as it stands")
    ap.add_argument("--gnugo", default="/usr/games/gnugo", help="the GNU Go program (3.8)")
    ap.add_argument("--out", type=output_file_type("--out", ".json"), default=Path("benchmarks/results/alphazero_gnugo.json"), help="the JSON written")
    ap.add_argument("--resume", action="store_true",
                    help="finish the last point of --out, which a sitting left unfinished (a kill, a session's end): its "
                         "levels not played yet, and a level cut short from its next game on (the agent's draws from another "
                         "seed, so that no game of the first sitting is replayed), with the settings it was started with")
    ap.add_argument("--table", action="store_true", help="play nothing: print the table of --out and draw its curve again")
    ap.add_argument("--levers", action="store_true",
                    help="play nothing: every results file's points side by side (the curve's, then each lever's: "
                         "training overrides, match-time simulations and symmetries), also to alphazero_gnugo_levers.json")
    args = ap.parse_args()
    if args.levers:
        levers_table()
        return
    if args.table:
        try:
            result = json.loads(args.out.read_text())
            result["points"]  # noqa: B018
        except (OSError, ValueError, KeyError, TypeError):
            sys.exit(f"error: --table reads a results file of this benchmark, and {args.out} is not one; give --out FILE.")
        print_table(result, args)
        return
    if args.resume:
        resume(args)
        return
    if not args.runs and not args.train:
        ap.error("give RUN directories or --train MINUTES ...")
    if args.run_dir is not None and not args.train:
        ap.error("--run-dir is the folder --train trains; give --train MINUTES ... with it")
    if args.sample_moves < 0:
        ap.error(f"--sample-moves takes how many of a game's first moves the agent draws from its search (0 or more), not {args.sample_moves}")
    if args.symmetries is not None and not 1 <= args.symmetries <= 8:
        ap.error(f"--symmetries takes how many of the board's 8 symmetries the agent averages its network over (1 to 8), not {args.symmetries}")
    if not Path(args.gnugo).exists():
        sys.exit(f"error: GNU Go is not installed at {args.gnugo} (apt-get install gnugo).")
    with GTPClient([args.gnugo, "--mode", "gtp"], "gnugo") as g:
        gnugo_version = g.send("version")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    earlier: list[dict[str, Any]] = []
    if args.append and args.out.is_file():
        try:
            earlier = json.loads(args.out.read_text())["points"]
        except (ValueError, KeyError, TypeError):
            sys.exit(f"error: --append keeps the points of {args.out}, which is not a results file of this benchmark; "
                     "give another --out or leave out --append.")
    result: dict[str, Any] = {"opponent": f"GNU Go {gnugo_version}", "rules": "chinese (area), positional superko", "komi": args.komi,
                              "levels": args.levels, "games_per_cell": args.games, "simulations": args.simulations,
                              "symmetries": args.symmetries, "play_out": args.play_out,
                              "sample_moves": args.sample_moves, "max_moves": args.max_moves, "points": list(earlier), "complete": False}

    def play_point(run: Path, checkpoint: str, label: str, overrides: list[str] | None = None) -> None:
        point = {"label": label, **describe(run, checkpoint), **({"set": overrides} if overrides else {}),
                 "simulations": args.simulations, "symmetries": args.symmetries, "play_out": args.play_out,
                 "sample_moves": args.sample_moves,  # null: the run's own
                 "levels": []}
        result["points"].append(point)
        play_levels(run, checkpoint, label, point, result, args)

    for run in args.runs:
        play_point(Path(run), args.checkpoint, Path(run).name)
    if args.train:
        out = args.run_dir or Path("runs") / f"bench-alphazero-gnugo-{time.strftime('%Y%m%d-%H%M%S')}"
        for minutes in args.train:
            try:
                if (out / "run.json").exists():  # an earlier sitting's run: resumed up to max_minutes of training in all,
                    # --set only with keys a resume may change (agent.actors=, agent.threads=, ...)
                    trained = sandbox.train(None, [f"out={out}", f"max_minutes={minutes}", *args.set], progress=False)
                else:
                    trained = sandbox.train("alphazero-go9", [f"max_minutes={minutes}", f"out={out}", "wandb.mode=disabled", *args.set],
                                            progress=False)
            except SandboxError as exc:
                sys.exit(f"error: {exc}")
            if trained.stop_reason in ("interrupted", "stopped"):  # short of its minutes: not the point its label would say
                done = describe(out, "latest").get("train_minutes")
                sys.exit(f"training stopped ({trained.stop_reason}) after {done} of {minutes:g} minutes, so no matches were "
                         f"played for it; the run keeps its checkpoint in {out}: the same command with --append resumes it.")
            play_point(out, "latest", f"{out.name} @ {minutes:g} min", args.set)
    result["complete"] = True
    args.out.write_text(json.dumps(result, indent=1))
    print_table(result, args)


def play_levels(run: Path, checkpoint: str, label: str, point: dict[str, Any], result: dict[str, Any], args: argparse.Namespace) -> None:
    """Play the point's levels not finished yet (a cut-short one from its next game), writing --out after every game."""
    for level in args.levels:
        cells = point["levels"]
        cell = next((c for c in cells if c["level"] == level), None)
        if cell is not None and not cell.get("partial"):
            continue
        print(f"{label}: GNU Go level {level}" + (f" (from game {len(cell['detail']) + 1})" if cell else ""), flush=True)
        if cell is None:
            cells.append(cell := {"level": level, "partial": True, "detail": []})
        position = cells.index(cell)

        def keep(so_far: dict[str, Any]) -> None:
            cells[position] = so_far
            args.out.write_text(json.dumps(result, indent=1))

        keep(match(run, level, args, checkpoint, done=cell["detail"], on_game=keep))


def resume(args: argparse.Namespace) -> None:
    """``--resume``: finish the last point of ``--out`` with the settings it was started with."""
    try:
        result = json.loads(args.out.read_text())
        point = result["points"][-1]
        run, checkpoint = Path(point["run"]), point["checkpoint"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        sys.exit(f"error: --resume finishes the last point of a results file of this benchmark, and {args.out} is not one; give --out FILE.")
    if result.get("complete"):
        sys.exit(f"error: {args.out} is complete: there is nothing to resume (leave out --resume to play a new point).")
    if not run.exists():
        sys.exit(f"error: the point to resume played {run}, which is not here any more; --resume needs the run it started with.")
    checkpoint = checkpoint if checkpoint in ("best", "latest") else "latest"  # an exported folder has one network
    now = describe(run, checkpoint).get("step")
    if now != point.get("step"):
        sys.exit(f"error: the point to resume played {run} at step {point.get('step')}, and its {checkpoint} checkpoint is now "
                 f"at step {now}; a point plays one network, so play the run anew as a new point instead.")
    for key in ("levels", "komi", "max_moves", "simulations", "symmetries", "play_out", "sample_moves"):
        setattr(args, key, result[key] if key in result else getattr(args, key))
    args.games = result.get("games_per_cell", args.games)
    play_levels(run, checkpoint, point["label"], point, result, args)
    result["complete"] = True
    args.out.write_text(json.dumps(result, indent=1))
    print_table(result, args)


def print_table(result: dict[str, Any], args: argparse.Namespace) -> None:
    """The table of every point and level (last), and the curve drawn beside ``args.out``."""
    print(f"\nAlphaZero Go 9x9 against {result['opponent']} (Chinese rules, komi {args.komi:g}, positional superko), "
          f"{result['games_per_cell']} games a cell, colours alternating, scored by GNU Go")
    print(f"{'point':<36}{'step':>10}{'train min':>10}{'level':>6}{'win':>5}{'loss':>5}{'void':>5}{'win rate':>9}"
          f"{'black':>7}{'white':>7}{'margin':>8}{'board+':>7}{'moves':>7}{'s/game':>8}")
    for p in result["points"]:
        for c in p["levels"]:
            fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
            board = c["ahead_by_board"] if "ahead_by_board" in c else ahead_by_board(c, result["komi"])  # earlier points: from their records
            level = f"{c['level']}{'*' if c.get('partial') else ''}"
            print(f"{p['label'][:35]:<36}{str(p['step']):>10}{str(p['train_minutes']):>10}{level:>6}{c['win']:>5}{c['loss']:>5}"
                  f"{c['void']:>5}{c['win_rate']:>9.2f}{fmt(c['win_rate_black']):>7}{fmt(c['win_rate_white']):>7}"
                  f"{str(c.get('mean_margin', '-')):>8}{board:>7}{c['moves_per_game']:>7}{c['seconds_per_game']:>8}")
    print("board+: games the agent leads by the sandbox's count of the last board as it stands (Tromp-Taylor: stones GNU Go "
          "judges dead count as alive)")
    if any(c.get("partial") for p in result["points"] for c in p["levels"]):
        print("*: a level cut short (its games so far); 'python benchmarks/alphazero_gnugo.py --resume --out FILE' finishes it")
    curve = args.out.with_name(args.out.stem + "_curve.png")
    files = ([args.out] if not args.table else []) + ([curve] if draw_curve(result, curve) else [])
    if files:
        print("wrote " + " and ".join(map(str, files)))


def head_of_point(point: dict[str, Any]) -> str:
    """The policy head a point's network had: recorded since ``policy_head=auto``; before, the
    preset's ``linear`` unless the run set ``agent.policy_head``."""
    if point.get("policy_head"):
        return str(point["policy_head"])
    for key in point.get("set") or []:
        if str(key).startswith("agent.policy_head="):
            return str(key).split("=", 1)[1]
    return "linear"


def levers_table() -> None:
    """Every point of every results file of this benchmark in one table: the curve's
    (alphazero_gnugo.json) first, then each lever's file, a row a point with what it changed
    (training overrides, match-time simulations, symmetries and --play-out) and its cells' wins and margins."""
    rows = []
    for path in sorted(RESULTS_DIR.glob("alphazero_gnugo*.json"), key=lambda p: (p.name != "alphazero_gnugo.json", p.name)):
        if path.name == "alphazero_gnugo_levers.json":
            continue
        try:
            result = json.loads(path.read_text())
            points = list(result["points"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for p in points:
            if not isinstance(p, dict):
                continue
            row = {"file": path.name, "label": p.get("label"), "set": p.get("set") or [], "step": p.get("step"),
                   "train_minutes": p.get("train_minutes"), "policy_head": head_of_point(p),
                   "simulations": p.get("simulations", result.get("simulations")), "symmetries": p.get("symmetries", result.get("symmetries")),
                   "play_out": bool(p.get("play_out", result.get("play_out"))), "levels": {}}
            for c in p.get("levels") or []:
                row["levels"][str(c.get("level"))] = {"win": c.get("win"), "games": c.get("games"), "mean_margin": c.get("mean_margin")}
            rows.append(row)
    (RESULTS_DIR / "alphazero_gnugo_levers.json").write_text(json.dumps({"target": "50% against GNU Go level 10", "points": rows}, indent=1))
    levels = sorted({int(k) for r in rows for k in r["levels"]})

    def cell(row: dict[str, Any], level: int) -> str:
        c = row["levels"].get(str(level))
        if c is None:
            return "-"
        margin = "-" if c["mean_margin"] is None else f"{c['mean_margin']:+.1f}"
        return f"{c['win']}/{c['games']} {margin}"

    print(f"{'results file':<44}{'changed':<34}{'head':<8}{'train min':>10}{'step':>10}" + "".join(f"{f'level {lv}: wins margin':>24}" for lv in levels))
    for row in rows:
        changed = " ".join([*row["set"], *([f"--simulations {row['simulations']}"] if row["simulations"] else []),
                            *([f"--symmetries {row['symmetries']}"] if row["symmetries"] else []),
                            *(["--play-out"] if row["play_out"] else [])]) or "-"
        minutes = "-" if row["train_minutes"] is None else f"{row['train_minutes']:.0f}"
        print(f"{row['file'][:43]:<44}{changed[:33]:<34}{row['policy_head']:<8}{minutes:>10}{str(row['step']):>10}" + "".join(f"{cell(row, lv):>24}" for lv in levels))


if __name__ == "__main__":
    main()
