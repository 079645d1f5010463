"""`sandbox gtp RUN`: a scripted GTP exchange through a subprocess, refusals in one sentence, and
real games against GNU Go (skipped, with the reason, where GNU Go is not installed)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sandbox
from sandbox.agents.alphazero.gtp import (GTPClient, GTPEngine, GTPError, action_to_vertex, gnugo_command, play_game,
                                          sandbox_gtp_command, vertex_to_action)

GNUGO = "/usr/games/gnugo"
needs_gnugo = pytest.mark.skipif(not Path(GNUGO).exists(), reason=f"GNU Go is not installed at {GNUGO} (apt-get install gnugo)")

TINY = ["agent=alphazero", "backbone=mlp", "backbone.hidden=[16]", "agent.simulations=4", "agent.games=4",
        "agent.batch_size=8", "agent.min_buffer=8", "agent.eval_games=1", "agent.eval_opponents=[random]",
        "agent.eval_simulations=4", "agent.log_seconds=0", "wandb.mode=disabled", "steps=8"]


@pytest.fixture(scope="module")
def go_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gtp") / "go9"
    return sandbox.train(None, [*TINY, "env=go9", f"out={out}"], progress=False).dir


def gtp(args: list[str], script: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox.cli", "gtp", *args], input=script, capture_output=True,
                          text=True, timeout=timeout)


def answers(stdout: str) -> list[str]:
    """The answers of a GTP session: each ends with a blank line, and none holds one."""
    assert stdout.endswith("\n\n")
    return stdout[:-2].split("\n\n")


def test_vertices_skip_the_letter_i_and_count_rows_from_the_bottom() -> None:
    assert vertex_to_action("A9", 9) == 0 and vertex_to_action("J1", 9) == 80 and vertex_to_action("h8", 9) == 16
    assert vertex_to_action("PASS", 9) == 81 and action_to_vertex(81, 9) == "pass"
    for size in (9, 19):
        for a in range(size * size + 1):
            assert vertex_to_action(action_to_vertex(a, size), size) == a
    for bad in ("I5", "K1", "A10", "A0", "5A", "", "D"):
        with pytest.raises(GTPError, match="invalid coordinate"):
            vertex_to_action(bad, 9)


def test_a_scripted_gtp_session(go_run: Path) -> None:
    script = "\n".join([
        "protocol_version",
        "1 name",
        "2 version",
        "known_command genmove",
        "known_command fly",
        "boardsize 19",          # the run's board is 9x9
        "boardsize 9",
        "komi 6.5",
        "  # a comment line, and a tab below",
        "play\tB D5",
        "play w D5",            # taken
        "play x E5",            # no such colour
        "play w I5",            # GTP has no column I
        "3 genmove w",
        "showboard",
        "4 undo",
        "undo",
        "undo",                 # nothing left
        "play b C3",
        "play w pass",
        "final_score",
        "frobnicate",
        "list_commands",
        "quit",
        "genmove b",            # after quit: never answered
    ]) + "\n"
    done = gtp([str(go_run), "--simulations", "4", "--quiet"], script)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and done.stderr == ""  # --quiet: nothing at all
    got = answers(done.stdout)
    assert got[:8] == ["= 2", "=1 sandbox-alphazero", f"=2 {sandbox.__version__}", "= true", "= false",
                       "? unacceptable size", "= ", "= "]
    assert got[8:12] == ["= ", "? illegal move", "? invalid color", "? invalid coordinate"]
    move = got[12]
    assert move.startswith("=3 ")
    vertex = move[3:]
    action = vertex_to_action(vertex, 9)  # a vertex on the board (or pass), not D5
    assert action != vertex_to_action("D5", 9)
    board = got[13].split("\n")
    assert board[0] == "= " and board[1].split() == list("ABCDEFGHJ") and board[6].split() == ["5", ".", ".", ".", "X", ".", ".", ".", ".", ".", "5"]
    if vertex != "pass":
        row = board[2 + action // 9].split()
        assert row[1 + action % 9] == "O"
    assert "white" not in board[-1] and "komi 6.5" in board[-1]  # black to play after white's move
    assert got[14:17] == ["=4 ", "= ", "? cannot undo"]
    assert got[17:19] == ["= ", "= "]
    # black C3 alone on the board: black's area is every point, less komi 6.5
    assert got[19] == "= B+74.5"
    assert got[20] == "? unknown command"
    listed = got[21][2:].split("\n")
    for name in ("protocol_version", "name", "version", "known_command", "list_commands", "boardsize", "komi",
                 "clear_board", "play", "genmove", "undo", "showboard", "final_score", "quit"):
        assert name in listed
    assert got[22] == "= " and len(got) == 23


def test_the_log_goes_to_stderr_and_stdout_keeps_only_answers(go_run: Path) -> None:
    done = gtp([str(go_run), "--simulations", "3", "--checkpoint", "latest"], "genmove b\ngenmove w\n")  # the input ends without quit
    assert done.returncode == 0
    got = answers(done.stdout)
    assert len(got) == 2 and all(a.startswith("= ") for a in got)
    lines = done.stderr.strip().splitlines()
    assert "waiting for GTP commands" in lines[0]
    assert [l.split(":")[0] for l in lines[1:]] == ["genmove b", "genmove w"] and "3 simulations" in lines[1]


def test_a_failing_command_is_an_answer_and_its_traceback_goes_to_stderr(go_run: Path, capsys) -> None:
    agent = sandbox.load(go_run)
    engine = GTPEngine(agent, simulations=2)

    def broken(colour: int) -> tuple[int, float]:
        raise RuntimeError("the search broke\nsecond line")

    engine.think = broken  # type: ignore[method-assign]
    out = io.StringIO()
    engine.run(io.StringIO("7 genmove b\nplay b A1\nshowboard\nquit\n"), out)
    got = answers(out.getvalue())
    assert got[0] == "?7 internal error: the search broke" and got[1] == "= " and "X . . " in got[2] and got[3] == "= "
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" in captured.err and "RuntimeError" in captured.err


def test_runs_that_are_not_go_agents_are_one_sentence(tmp_path: Path) -> None:
    ttt = sandbox.train(None, [*TINY, "env=tictactoe", f"out={tmp_path / 'ttt'}"], progress=False).dir
    for args, words in (([str(ttt)], "alphazero agent run on tictactoe"), ([str(tmp_path / "missing")], "no run directory"),
                        ([str(ttt), "--simulations", "x"], "invalid int value")):
        done = gtp(args, "genmove b\nquit\n")
        assert done.returncode == 2 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr


def test_gtp_help_explains() -> None:
    done = subprocess.run([sys.executable, "-m", "sandbox.cli", "gtp", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for words in ("Go Text Protocol", "GoGui", "Sabaki", "--simulations", "--checkpoint", "--quiet", "genmove", "positional superko", "stderr"):
        assert words in done.stdout


# -- real games against GNU Go -------------------------------------------------------------------------
def board_rows(showboard: str, size: int = 9) -> list[str]:
    """The rows of a showboard drawing, top first, as strings of '.', 'X' and 'O'."""
    rows = [line.split() for line in showboard.splitlines()]
    return ["".join(t[1:size + 1]).replace("+", ".") for t in rows if t and t[0].isdigit()]


@needs_gnugo
def test_a_game_against_gnu_go(go_run: Path, tmp_path: Path) -> None:
    """A referee plays the tiny agent (black) against GNU Go at level 1 (white), Chinese rules,
    komi 7.5: every move one engine makes the other accepts, until two passes, a resignation or
    200 moves; GNU Go scores the game."""
    with open(tmp_path / "sandbox.log", "w") as log, \
            GTPClient(sandbox_gtp_command(go_run, simulations=4), "sandbox", stderr=log, timeout=60) as ours, \
            GTPClient([GNUGO, "--mode", "gtp", "--chinese-rules", "--positional-superko", "--komi", "7.5", "--level", "1"],
                      "gnugo", timeout=60) as gnugo:
        for engine in (ours, gnugo):
            assert engine.send("protocol_version") == "2"
            engine.send("boardsize 9")
            engine.send("clear_board")
            engine.send("komi 7.5")
        colour, passes, moves, resigned = "b", 0, [], None
        while len(moves) < 200 and passes < 2:
            mover, other = (ours, gnugo) if colour == "b" else (gnugo, ours)
            vertex = mover.send(f"genmove {colour}").lower()
            if vertex == "resign":
                resigned = colour
                break
            if vertex != "pass":
                vertex_to_action(vertex, 9)  # a vertex on the board
            other.send(f"play {colour} {vertex}")  # a refusal raises GTPError: the test fails
            moves.append(vertex)
            passes = passes + 1 if vertex == "pass" else 0
            colour = "w" if colour == "b" else "b"
        # both boards agree, stone for stone (GNU Go draws star points as +)
        rows = board_rows(ours.send("showboard"))
        assert len(rows) == 9 and rows == board_rows(gnugo.send("showboard"))
        score = gnugo.send("final_score")
        ours_score = ours.send("final_score")
        print(f"{len(moves)} moves, {resigned or 'no'} resignation, GNU Go scores {score}, the sandbox {ours_score}:", *rows, sep="\n")
    assert resigned is not None or len(moves) >= 20
    assert score == "0" or (score[:2] in ("B+", "W+") and float(score[2:]) >= 0)
    assert ours_score == "0" or ours_score[:2] in ("B+", "W+")
    assert "Traceback" not in (tmp_path / "sandbox.log").read_text()


@needs_gnugo
def test_the_referee_of_the_benchmark_plays_gnu_go_against_itself() -> None:
    with GTPClient(gnugo_command(level=1, seed=1), "gnugo-black") as black, GTPClient(gnugo_command(level=1, seed=2), "gnugo-white") as white:
        game = play_game(black, white, scorer=white)
    assert game["end"] in ("passes", "resign") and game["winner"] in ("B", "W", None)
    assert game["result"] == "0" or game["result"][:2] in ("B+", "W+")
    assert len(game["moves"]) > 10 and np.all([m == "pass" or vertex_to_action(m, 9) >= 0 for m in game["moves"]])
