"""`sandbox gtp RUN`: a scripted GTP exchange through a subprocess, refusals in one sentence, and
real games against GNU Go (skipped, with the reason, where GNU Go is not installed)."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sandbox
from sandbox.agents.alphazero.gtp import (Clock, GTPClient, GTPEngine, GTPError, action_to_vertex, gnugo_command,
                                          handicap_vertices, play_game, sandbox_gtp_command, vertex_to_action)

GNUGO = "/usr/games/gnugo"
needs_gnugo = pytest.mark.skipif(not Path(GNUGO).exists(), reason=f"GNU Go is not installed at {GNUGO} (apt-get install gnugo)")

TINY = ["agent=alphazero", "backbone=mlp", "backbone.hidden=[16]", "agent.simulations=4", "agent.games=4",
        "agent.batch_size=8", "agent.min_buffer=8", "agent.eval_games=1", "agent.eval_opponents=[random]",
        "agent.eval_simulations=4", "agent.log_seconds=0", "wandb.mode=disabled", "steps=8", "agent.actors=0"]


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


def test_fixed_handicap_takes_the_star_points_of_the_specification() -> None:
    corners = ["G7", "C3", "C7", "G3"]  # upper right, lower left, upper left, lower right
    expected = {2: corners[:2], 3: corners[:3], 4: corners, 5: [*corners, "E5"], 6: [*corners, "C5", "G5"],
                7: [*corners, "C5", "G5", "E5"], 8: [*corners, "C5", "G5", "E7", "E3"],
                9: [*corners, "C5", "G5", "E7", "E3", "E5"]}
    for stones, points in expected.items():
        assert sorted(handicap_vertices(9, stones)) == sorted(points)
    assert sorted(handicap_vertices(19, 4)) == ["D16", "D4", "Q16", "Q4"] and sorted(handicap_vertices(13, 2)) == ["D4", "K10"]
    for size, stones in ((9, 1), (9, 10), (7, 5), (10, 5), (5, 2)):
        with pytest.raises(GTPError, match="invalid number of stones"):
            handicap_vertices(size, stones)


@needs_gnugo
def test_fixed_handicap_points_are_the_ones_gnu_go_answers() -> None:
    """GNU Go is GTP's reference engine: every size it plays (up to 19) and every number of stones."""
    for size in range(5, 20):
        script = "".join(f"boardsize {size}\nclear_board\nfixed_handicap {n}\n" for n in range(0, 11)) + "quit\n"
        out = subprocess.run([GNUGO, "--mode", "gtp"], input=script, capture_output=True, text=True, timeout=60).stdout
        replies = answers(out)[2::3]  # the fixed_handicap answers
        for n, reply in zip(range(0, 11), replies):
            if reply.startswith("= "):
                assert sorted(handicap_vertices(size, n)) == sorted(reply[2:].split()), (size, n)
            else:
                with pytest.raises(GTPError):
                    handicap_vertices(size, n)


def test_handicap_stones_then_white_moves_and_undo_keeps_them(go_run: Path) -> None:
    engine = GTPEngine(sandbox.load(go_run), simulations=4)
    script = "\n".join(["fixed_handicap 3", "fixed_handicap 2", "genmove w", "undo", "undo", "showboard", "final_score",
                        "clear_board", "place_free_handicap 12", "clear_board", "set_free_handicap A1 B2 J9", "genmove b",
                        "clear_board", "play b E5", "set_free_handicap A1 B2", "clear_board",
                        "set_free_handicap A1", "set_free_handicap A1 A1", "set_free_handicap A1 pass", "set_free_handicap A1 Z9",
                        "fixed_handicap two", "fixed_handicap 1", "place_free_handicap 1", "known_command set_free_handicap", "quit"]) + "\n"
    out = io.StringIO()
    engine.run(io.StringIO(script), out)
    got = answers(out.getvalue())
    assert got[0] == "= G7 C3 C7" and got[1] == "? board not empty"  # black's stones; then the board is not empty
    white = got[2][2:]
    assert white not in ("G7", "C3", "C7") and got[3:5] == ["= ", "? cannot undo"]  # white moved first; undo takes back its move only
    rows = got[5].split("\n")
    assert rows[-1].startswith("white to play")
    assert rows[4].split()[1:10] == list("..X...X..") and rows[8].split()[1:10] == list("..X......")  # rows 7 and 3
    assert got[6] == "= B+73.5"  # three black stones alone: the whole board black's, less komi 7.5
    assert got[8] == "= G7 C3 C7 G3 C5 G5 E7 E3 E5"  # asked for 12: the engine places the 9 fixed points
    assert got[10] == "= A1 B2 J9" and got[11].startswith("= ") and got[11][2:] not in ("A1", "B2", "J9")  # black may move after a set-up too
    assert got[13:15] == ["= ", "? board not empty"]
    assert got[16:20] == ["? bad vertex list"] * 4
    assert got[20:23] == ["? invalid number of stones"] * 3 and got[23] == "= true"


def test_final_status_list_reads_the_ownership_head(tmp_path: Path) -> None:
    run = sandbox.train(None, [*TINY, "env=go9", "agent.ownership=1", f"out={tmp_path / 'own'}"], progress=False).dir
    agent = sandbox.load(run)
    engine = GTPEngine(agent, simulations=2, symmetries=8)
    assert engine.command("known_command", ["final_status_list"]) == "true"
    for move in ("b E5", "w D5", "b J1", "w A9"):
        engine.command("play", move.split())
    black = engine.ownership()
    assert black.shape == (81,) and np.all((black > 0) & (black < 1))  # the real head, untrained: probabilities
    groups = [g for status in ("alive", "dead") for g in engine.final_status(status).split("\n") if g]
    assert sorted(groups) == ["A9", "D5", "E5", "J1"]  # each group has one status

    class StonesInAtariAreDead(torch.nn.Module):  # a head whose judgement is known: a stone with one liberty is dead
        ownership = True

        def heads(self, x):
            own, opp = x[:, 0] - 2 * x[:, 5], x[:, 1] - 2 * x[:, 8]  # planes 5 and 8: the mover's and the other's stones in atari
            return None, None, 12.0 * (own - opp).flatten(1)

    net = agent.net
    agent.net = StonesInAtariAreDead()
    try:
        engine = GTPEngine(agent, simulations=2, symmetries=8)  # turned 8 ways and back: each stone's point again
        for move in ("b E4", "b E6", "b D5", "w E5", "w H8", "b J9"):  # white E5 keeps one liberty, F5
            engine.command("play", move.split())
        for moves in range(2):  # white to move, then black: the same judgement from either side
            black = engine.ownership().reshape(9, 9)
            assert black[4, 4] > 0.99 and black[1, 7] < 0.01 and black[3, 4] > 0.99 and black[0, 8] > 0.99  # E5, H8, E6, J9
            assert engine.command("final_status_list", ["dead"]) == "E5"
            assert engine.command("final_status_list", ["ALIVE"]) == "J9\nE6\nD5\nE4\nH8"
            assert engine.command("final_status_list", ["seki"]) == ""
            engine.command("play", ["w", "pass"])

        class Sure(torch.nn.Module):  # every stone's point its own colour's, with one probability
            ownership = True

            def __init__(self, probability: float) -> None:
                super().__init__()
                self.logit = float(np.log(probability / (1 - probability)))

            def heads(self, x):
                return None, None, self.logit * (x[:, 0] - x[:, 1]).flatten(1)

        for probability, dead in ((0.8, "J9\nE6\nD5\nE4\nH8\nE5"), (0.95, "")):  # alive takes 0.9 (GTPEngine.ALIVE)
            agent.net = Sure(probability)  # the engine's agent: its next question reads this head
            assert engine.command("final_status_list", ["dead"]) == dead
    finally:
        agent.net = net
    for bad in (["dying"], [], ["dead", "alive"]):
        with pytest.raises(GTPError, match="invalid status"):
            engine.command("final_status_list", bad)


def test_final_status_list_is_unknown_without_an_ownership_head(tmp_path: Path) -> None:
    run = sandbox.train(None, [*TINY, "env=go9", "agent.ownership=0", f"out={tmp_path / 'no-own'}"], progress=False).dir
    engine = GTPEngine(sandbox.load(run), simulations=2)
    assert engine.command("known_command", ["final_status_list"]) == "false"
    assert "final_status_list" not in engine.command("list_commands", []).split("\n")
    with pytest.raises(GTPError, match="unknown command"):
        engine.command("final_status_list", ["dead"])


def test_the_clock_shares_main_time_over_the_moves_left_then_byo_yomi_by_its_stones() -> None:
    assert Clock.from_settings(["0", "5", "0"]) is None  # GTP's "no time limits"
    for bad in (["10"], ["10", "0"], ["a", "0", "0"], ["-1", "0", "0"], ["1.5", "0", "0"], ["1", "2", "3", "4"]):
        with pytest.raises(GTPError, match="syntax error"):
            Clock.from_settings(bad)
    absolute = Clock.from_settings(["100", "0", "0"])  # sudden death: 100 s for the game
    margin = Clock.SAFETY, Clock.MARGIN
    assert absolute.budget(0, 81) == pytest.approx(margin[0] * 100 / 40.5 - margin[1])  # half the empty points to go
    assert absolute.budget(0, 4) == pytest.approx(margin[0] * 100 / Clock.MOVES_AT_LEAST - margin[1])
    absolute.spend(0, 30.0)
    assert absolute.left == {0: [70.0, 0], 1: [100.0, 0]}  # each colour's own time
    absolute.spend(0, 80.0)
    assert absolute.left[0] == [-10.0, 0] and absolute.budget(0, 81) == 0.0  # out of time: no time to spend
    canadian = Clock.from_settings(["10", "30", "5"])  # 10 s main, then 5 moves in each 30 s
    assert canadian.budget(1, 81) == pytest.approx(margin[0] * 6 - margin[1])  # never less than byo-yomi's pace
    canadian.spend(1, 12.0)  # main time runs out 2 s into the move: the first period starts 2 s short
    assert canadian.left[1] == [28.0, 5] and canadian.budget(1, 81) == pytest.approx(margin[0] * 28 / 5 - margin[1])
    for _ in range(5):
        canadian.spend(1, 1.0)
    assert canadian.left[1] == [30.0, 5]  # its 5 stones played in time: a new period, in full
    canadian.set_left(["w", "7", "2"])  # the controller's word is the clock's
    assert canadian.left[1] == [7.0, 2] and canadian.budget(1, 81) == pytest.approx(margin[0] * 3.5 - margin[1])
    for bad in (["x", "7", "2"], ["w", "7"], ["w", "-7", "2"], ["w", "seven", "2"]):
        with pytest.raises(GTPError, match="syntax error|invalid color"):
            canadian.set_left(bad)
    assert Clock.from_settings(["0", "60", "10"]).left == {0: [60.0, 10], 1: [60.0, 10]}  # byo-yomi from the start


def test_genmove_searches_as_much_as_the_clock_allows(go_run: Path) -> None:
    logs: list[str] = []
    engine = GTPEngine(sandbox.load(go_run), simulations=48, log=logs.append)
    script = "\n".join(["genmove b", "time_settings 600 0 0", "genmove w", "genmove b", "time_left w 0 0", "genmove w",
                        "time_settings 0 1 0", "genmove b", "time_settings x", "time_left b 1", "time_left z 1 0",
                        "time_settings 1 0 0", "clear_board", "time_left b 5 1", "quit"]) + "\n"
    out = io.StringIO()
    engine.run(io.StringIO(script), out)
    got = answers(out.getvalue())
    assert all(a.startswith("= ") for a in got[:8]) and got[8:11] == ["? syntax error", "? syntax error", "? invalid color"]
    sims = [int(line.split(", ")[1].split()[0]) for line in logs]
    assert sims[0] == 48  # no clock: the whole search
    assert sims[1] == GTPEngine.CALIBRATION  # a clock, and the search's speed not measured yet: a small search first
    assert sims[2] == 48  # 600 s for the game: time enough for the whole search
    assert sims[3] == 1  # white's clock says no time is left: the smallest search
    assert sims[4] == 48 and "s left" not in logs[4]  # "no time limits" again
    assert engine.clock.left[0] == [5.0, 1]  # clear_board set the 1-second game's clock afresh, then black's report


def test_numbers_are_ascii_digits_and_others_are_errors_not_crashes(go_run: Path) -> None:
    """``str.isdigit`` takes ``²`` (and ``int`` then refuses it): every number GTP reads is ASCII digits."""
    engine = GTPEngine(sandbox.load(go_run), simulations=2)
    script = "\n".join(["boardsize \u00b2", "1\u00b2 name", "play b A\u00b2", "fixed_handicap \u00b2", "time_settings \u00b2 0 0",
                        "time_settings 1 0 0", "time_left b \u00b9 0", "7 boardsize 9", "quit"]) + "\n"
    out = io.StringIO()
    engine.run(io.StringIO(script), out)
    assert answers(out.getvalue()) == ["? boardsize not an integer", "? unknown command", "? invalid coordinate",
                                       "? invalid number of stones", "? syntax error", "= ", "? syntax error", "=7 ", "= "]
    big = "9" * 5000  # more digits than Python's int() reads
    engine = GTPEngine(sandbox.load(go_run), simulations=2)
    got = [engine.answer(line) for line in (f"boardsize {big}", f"fixed_handicap {big}", f"play b A{big}", f"time_settings {big} 0 0",
                                             f"time_left w {big} 0", "boardsize 009", "play b C03")]
    assert got == ["? unacceptable size\n\n", "? invalid number of stones\n\n", "? invalid coordinate\n\n"] + ["= \n\n"] * 4
    assert engine.clock.left[1] == [1e9, 0] and engine.state[(9 - 3) * 9 + 2] == 1  # C3: row 3 from the bottom, black


def test_play_out_passes_only_when_nothing_but_eyes_is_left(go_run: Path) -> None:
    agent = sandbox.load(go_run)
    every = [action_to_vertex(a, 9) for a in range(81)]

    def after_white_passes(empty: list[str], play_out: bool) -> str:
        engine = GTPEngine(agent, simulations=8, play_out=play_out)
        assert engine.command("set_free_handicap", [v for v in every if v not in empty]).count(" ") == 80 - len(empty)
        engine.command("play", ["w", "pass"])  # black to move, on a board all black's: passing now wins
        return engine.command("genmove", ["b"])

    for play_out in (False, True):  # two true eyes and nothing else: a pass, either way
        assert after_white_passes(["A1", "C1"], play_out) == "pass"
    for trial in range(3):  # B1 and C1 empty side by side are no eyes: with --play-out black fills one before it passes
        assert after_white_passes(["A1", "B1", "C1"], True) in ("B1", "C1")
    engine = GTPEngine(agent, simulations=8)  # KGS's clean-up phase plays out whatever the engine's setting
    engine.command("set_free_handicap", [v for v in every if v not in ("A1", "B1", "C1")])
    engine.command("play", ["w", "pass"])
    assert engine.command("kgs-genmove_cleanup", ["b"]) in ("B1", "C1") and not engine.play_out
    assert engine.command("genmove", ["w"]) == "pass"  # white has no legal move but the pass
    assert "--play-out" in sandbox_gtp_command("runs/go9", play_out=True) and "--play-out" not in sandbox_gtp_command("runs/go9")


@pytest.mark.parametrize("gumbel", [True, False], ids=["gumbel", "puct"])
def test_sample_moves_draws_the_opening_and_then_plays_the_search_s_best(go_run: Path, gumbel: bool) -> None:
    agent = sandbox.load(go_run)
    assert agent.eval_cfg.gumbel  # Go's tuned search; the PUCT case turns it off
    agent.eval_cfg = dataclasses.replace(agent.eval_cfg, gumbel=gumbel)

    def opening(seed: int, sample_moves: int) -> list[str]:
        engine = GTPEngine(agent, simulations=16, seed=seed, sample_moves=sample_moves)
        return [engine.command("genmove", [colour]) for colour in "bwb"]

    greedy = [opening(seed, 0) for seed in range(6)]
    assert all(moves == greedy[0] for moves in greedy)  # no sampling: one game, whatever the seed
    sampled = [opening(seed, 2) for seed in range(6)]
    assert len({tuple(moves[:2]) for moves in sampled}) > 1  # the first two moves drawn: games differ
    assert sampled[0] == opening(0, 2)  # ... the same for the same seed
    engine = GTPEngine(agent, simulations=16, seed=0, sample_moves=2)  # one engine, game after game (as a match plays)
    games = []
    for _ in range(6):
        engine.command("clear_board", [])
        games.append(tuple(engine.command("genmove", [colour]) for colour in "bw"))
    assert len(set(games)) > 1
    for moves in sampled:  # the third move is the search's best again, as a greedy engine finds it
        engine = GTPEngine(agent, simulations=16)
        engine.command("play", ["b", moves[0]])
        engine.command("play", ["w", moves[1]])
        assert engine.command("genmove", ["b"]) == moves[2]
    with pytest.raises(sandbox.SandboxError, match="N ≥ 0"):
        GTPEngine(agent, sample_moves=-1)


def test_symmetries_average_the_network_over_the_turned_boards(go_run: Path) -> None:
    agent = sandbox.load(go_run)
    assert agent.cfg.eval_symmetries == 1  # the run's own: the board as it is
    game = agent.game
    states = game.initial(1)
    for action in (3, 40, 12):
        states, _, _ = game.step(states, np.array([action]))
    legal = game.legal(states)
    plain = GTPEngine(agent, simulations=4).evaluate(states, legal)
    eight = GTPEngine(sandbox.load(go_run), simulations=4, symmetries=8)
    assert eight.symmetries == 8
    priors, value = eight.evaluate(states, legal)
    # by hand: the network on each of the 8 turned boards, its policy turned back, the means
    x = game.encode(states)
    turned = []
    for k in range(8):
        turned.append(game.symmetry(x, legal, k)[0] if k else x)
    with torch.no_grad():
        logits, values = agent.net(torch.from_numpy(np.concatenate(turned)))
    logits, values = logits.numpy(), values.numpy().reshape(-1)
    mean = np.zeros_like(priors)
    for k in range(8):
        lk = logits[k:k + 1] if not k else game.symmetry(x[:0], logits[k:k + 1], game.inverse_symmetry(k))[1]
        lk = np.where(legal, lk, -np.inf)
        e = np.exp(lk - lk.max(1, keepdims=True))
        mean += e / e.sum(1, keepdims=True) / 8
    assert np.allclose(priors, mean, atol=1e-5) and np.isclose(value[0], values.mean(), atol=1e-5)
    assert not np.allclose(priors, plain[0], atol=1e-4)  # the untrained network is not symmetric: averaging changes it
    done = gtp([str(go_run), "--simulations", "3", "--symmetries", "8", "--checkpoint", "latest"], "genmove b\nquit\n")
    assert done.returncode == 0 and "averaged over 8 board symmetries" in done.stderr
    assert answers(done.stdout)[0].startswith("= ")


def test_runs_that_are_not_go_agents_are_one_sentence(tmp_path: Path) -> None:
    ttt = sandbox.train(None, [*TINY, "env=tictactoe", f"out={tmp_path / 'ttt'}"], progress=False).dir
    for args, words in (([str(ttt)], "alphazero agent run on tictactoe"), ([str(tmp_path / "missing")], "no run directory"),
                        ([str(ttt), "--simulations", "x"], "invalid int value"),
                        ([str(ttt), "--sample-moves", "-1"], "--sample-moves takes how many"),
                        ([str(ttt), "--symmetries", "9"], "--symmetries takes how many of the board's 8 symmetries"),
                        ([str(ttt), "--symmetries", "0"], "(1 to 8), not 0"),
                        ([str(ttt), "--seed", "one"], "invalid int value")):
        done = gtp(args, "genmove b\nquit\n")
        assert done.returncode == 2 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], done.stderr


def test_gtp_help_explains() -> None:
    done = subprocess.run([sys.executable, "-m", "sandbox.cli", "gtp", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for words in ("Go Text Protocol", "GoGui", "Sabaki", "--simulations", "--symmetries", "--checkpoint", "--quiet", "--sample-moves", "genmove", "positional superko", "stderr"):
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


# -- GNU Go as an opponent of the sandbox's matches (gnugo:L) ---------------------------------------
def gnugo_children() -> list[int]:
    """Process ids of GNU Go processes this test process started."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,comm=", "-e"], capture_output=True, text=True).stdout.split("\n")
    return [int(p[0]) for p in (line.split() for line in out) if len(p) == 3 and int(p[1]) == __import__("os").getpid() and "gnugo" in p[2]]


@needs_gnugo
def test_gnugo_opponent_beats_random_on_the_sandboxs_rules_and_its_processes_end_with_the_match() -> None:
    """GNU Go at level 0 against uniformly random moves, colours alternating, scored by the
    sandbox's Tromp-Taylor count: it captures the random stones before it passes, so it wins
    every game; its processes are gone when the match is over."""
    from sandbox.agents.alphazero.opponents import opponent, play_match
    from sandbox.envs.games import get_game

    game = get_game("go9")
    gnugo = opponent(game, "gnugo:0")
    r = play_match(game, opponent(game, "random", seed=3), gnugo, 4)
    assert r["games"] == 4 and r["loss"] == 4, r
    assert gnugo.engines == [] and gnugo_children() == []


@needs_gnugo
def test_gnugo_opponent_takes_up_a_position_it_never_saw() -> None:
    """A slot handed a position its engine did not see played (here: 12 random moves in): the
    stones are set up on a cleared board and GNU Go answers with a legal move; one move later it
    follows the game move by move again."""
    from sandbox.agents.alphazero.opponents import opponent
    from sandbox.envs.games import get_game

    game = get_game("go9")
    rng = np.random.default_rng(0)
    state = game.initial(1)
    for _ in range(12):
        state, _, _ = game.step(state, np.array([rng.choice(np.flatnonzero(game.search_moves(state)[0]))]))
    gnugo = opponent(game, "gnugo:0")
    gnugo.start(1)
    try:
        a = gnugo.moves(state, np.array([0]))
        assert game.legal(state)[0, a[0]]
        state, _, _ = game.step(state, a)
        reply = int(rng.choice(np.flatnonzero(game.search_moves(state)[0])))
        state, _, _ = game.step(state, np.array([reply]))
        b = gnugo.moves(state, np.array([0]))
        assert game.legal(state)[0, b[0]]
        state, _, _ = game.step(state, b)
        assert np.array_equal(gnugo.known[0], state[0])  # followed move by move, not set up again
        ours = ["".join(".XO"[v] for v in row) for row in state[0, :81].reshape(9, 9)]
        assert board_rows(gnugo.engines[0].send("showboard")) == ours  # stone for stone
    finally:
        gnugo.finish()


@pytest.mark.parametrize("spec, words", [("gnugo:11", "0 to 10"), ("gnugo:x", "0 to 10"), ("gnugo:", "0 to 10"),
                                         ("gnugo:\u00b2", "0 to 10"), ("gnu:1", "gnugo:L")])
def test_bad_gnugo_opponents_are_one_sentence(spec: str, words: str) -> None:
    from sandbox.agents.alphazero.opponents import opponent
    from sandbox.envs.games import get_game
    from sandbox.errors import ConfigError

    with pytest.raises(ConfigError, match=words) as info:
        opponent(get_game("go9"), spec)
    assert "\n" not in str(info.value)


def test_gnugo_plays_go_only_and_says_how_to_install_it(monkeypatch) -> None:
    from sandbox.agents.alphazero import opponents
    from sandbox.envs.games import get_game
    from sandbox.errors import ConfigError

    with pytest.raises(ConfigError, match="plays Go, not connect_four"):
        opponents.opponent(get_game("connect_four"), "gnugo:1")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(opponents.os, "access", lambda *a, **k: False)  # as on a machine without Debian's /usr/games/gnugo
    with pytest.raises(ConfigError, match="apt-get install gnugo"):
        opponents.opponent(get_game("go9"), "gnugo:1")


@needs_gnugo
def test_a_go_run_evaluates_against_gnugo_during_training_and_from_eval(go_run: Path, tmp_path: Path) -> None:
    run = sandbox.train(None, [*TINY, "env=go9", "agent.eval_opponents=[gnugo:0]", "agent.eval_games=2", f"out={tmp_path / 'r'}"],
                        progress=False)
    rows = [__import__("json").loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("eval/win_rate/gnugo:0") == 0.0 for r in rows), rows[-1]
    out = subprocess.run([sys.executable, "-m", "sandbox.cli", "eval", str(go_run), "--opponent", "gnugo:0", "--games", "2", "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    r = __import__("json").loads(out.stdout)
    assert r["games"] == 2 and r["win"] + r["draw"] + r["loss"] == 2 and r["opponent"] == "gnugo:0"
