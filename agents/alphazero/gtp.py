"""An AlphaZero Go agent as a GTP engine, and a small GTP referee.

The Go Text Protocol (version 2, https://www.lysator.liu.se/~gunnar/gtp/) is how Go programs talk to
graphical boards (GoGui, Sabaki), to other programs (GNU Go) and to bot arenas: one command a line
on stdin, one answer on stdout, ``= result`` or ``? error``, each ended by a blank line. ``sandbox gtp
RUN`` (:func:`serve`) answers it with the run's network and its tree search, and the rest of the
sandbox plays Go against real opponents through :class:`GTPClient` and :func:`play_game`.

:class:`GTPEngine` holds one game: the position as a row of the rules core
(:class:`~sandbox.envs.games.go.Go`, with positional superko), the positions before each move for
``undo``, and the komi the controller set; handicap stones (``fixed_handicap``,
``place_free_handicap``, ``set_free_handicap``) are black stones set on the empty board, then White
moves. ``genmove`` searches the position afresh with the run's
evaluation search (``--simulations`` sets its size, or its most under a :class:`Clock` that
``time_settings`` sets) and plays the move it picks. Vertices are GTP's:
a column letter (A to T, no I) and a row number counted from the bottom, ``pass``, and ``resign``
(only with ``--resign``). Only stdout carries the protocol: every log line, warning and traceback goes
to stderr.
"""

from __future__ import annotations

import dataclasses
import queue
import subprocess
import sys
import threading
import time
import traceback
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

import numpy as np

from sandbox.agents.alphazero.search import Trees, capacity_for, pick
from sandbox.envs.games.go import Go
from sandbox.errors import SandboxError

#: GTP's column letters: the alphabet without I
LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"
COLOURS = {"b": 0, "black": 0, "w": 1, "white": 1}


class GTPError(Exception):
    """A command that fails: its message is the GTP error answer (``? message``)."""


def is_number(word: str) -> bool:
    """Whether ``word`` is a whole number of ASCII digits, as GTP's integers and ids are (``str.isdigit``
    also takes ``²`` and other digits that ``int`` refuses)."""
    return word.isascii() and word.isdigit()


#: GTP's integers are read up to this (a billion seconds, stones, rows): a larger one means as much
#: here, and Python's int() refuses numbers of more than 4300 digits
MOST = 10**9


def number(word: str) -> int:
    """The whole number ``word`` (ASCII digits, see :func:`is_number`), at most :data:`MOST`."""
    digits = word.lstrip("0")
    return MOST if len(digits) > len(str(MOST)) else min(int(digits or "0"), MOST)


# -- vertices ---------------------------------------------------------------------------------------
def vertex_to_action(vertex: str, size: int) -> int:
    """The core's action for a GTP vertex (``D4``, ``pass``); GTPError for anything else."""
    v = vertex.strip().upper()
    if v == "PASS":
        return size * size
    if len(v) < 2 or v[0] not in LETTERS[:size] or not is_number(v[1:]):
        raise GTPError("invalid coordinate")
    col, row = LETTERS.index(v[0]), number(v[1:])
    if not 1 <= row <= size:
        raise GTPError("invalid coordinate")
    return (size - row) * size + col  # row 0 of the core is the top row, GTP's row N


def action_to_vertex(action: int, size: int) -> str:
    """The GTP vertex of one of the core's actions: ``D4``, or ``pass``."""
    if action == size * size:
        return "pass"
    row, col = divmod(int(action), size)
    return f"{LETTERS[col]}{size - row}"


def parse_colour(word: str) -> int:
    """0 for black (``b``, ``black``), 1 for white (``w``, ``white``)."""
    colour = COLOURS.get(word.lower())
    if colour is None:
        raise GTPError("invalid color")
    return colour



def most_handicap(size: int) -> int:
    """The most fixed handicap stones GTP places on a board of ``size``: 9 on odd boards of 9 and
    more, 4 on 7×7 and even boards, none below 7×7."""
    return 9 if size % 2 and size >= 9 else 4 if size >= 7 else 0


def handicap_vertices(size: int, stones: int) -> list[str]:
    """GTP's fixed handicap placement (section 4.1.1 of the specification; the points GNU Go, its
    reference engine, answers): 2 to :func:`most_handicap` stones on the third line from the edge
    (the fourth from 12×12); GTPError("invalid number of stones") otherwise."""
    if not 2 <= stones <= most_handicap(size):
        raise GTPError("invalid number of stones")
    edge = 3 if size <= 11 else 4
    low, mid, high = edge, (size + 1) // 2, size + 1 - edge  # row and column numbers, from 1

    def at(col: int, row: int) -> str:
        return f"{LETTERS[col - 1]}{row}"

    corners = [at(high, high), at(low, low), at(low, high), at(high, low)]  # upper right, lower left, upper left, lower right
    sides = [at(low, mid), at(high, mid), at(mid, high), at(mid, low)]  # the middles of the left, right, top and bottom
    if stones <= 4:
        return corners[:stones]
    if stones % 2:  # 5, 7 and 9 take the centre
        return [*corners, *sides][: stones - 1] + [at(mid, mid)]
    return [*corners, *sides][:stones]


class Clock:
    """GTP's clock (section 4.2 of the specification): ``main`` seconds, then Canadian byo-yomi,
    ``byo_stones`` moves in each period of ``byo_time`` seconds; ``left[colour]`` is ``[seconds,
    stones]`` as ``time_left`` reports them (stones 0: still in main time). The engine keeps the
    books itself between ``time_left`` commands (not every controller sends them)."""

    #: the share of a move's time the search plans on, and the seconds kept back for everything
    #: around it (the network's first call, the controller's round trip)
    SAFETY, MARGIN = 0.8, 0.1
    #: the engine's own moves still expected in main time: half the empty points, at least this many
    MOVES_AT_LEAST = 10

    def __init__(self, main: float, byo_time: float, byo_stones: int) -> None:
        self.main, self.byo_time, self.byo_stones = main, byo_time, byo_stones
        start = [float(main), 0] if main > 0 else [float(byo_time), byo_stones]
        self.left = {0: list(start), 1: list(start)}

    @classmethod
    def from_settings(cls, args: list[str]) -> Clock | None:
        """The clock of ``time_settings main_time byo_yomi_time byo_yomi_stones`` (whole seconds and
        stones, none negative); None for GTP's "no time limits" (byo-yomi time without stones)."""
        main, byo_time, byo_stones = parse_counts(args, 3)
        if byo_time > 0 and byo_stones == 0:
            return None
        return cls(main, byo_time, byo_stones)

    def set_left(self, args: list[str]) -> None:
        """``time_left colour seconds stones``."""
        if len(args) != 3:
            raise GTPError("syntax error")
        colour = parse_colour(args[0])
        seconds, stones = parse_counts(args[1:], 2)
        self.left[colour] = [float(seconds), stones]

    def budget(self, colour: int, empty_points: int) -> float:
        """The seconds the engine gives its next move: a byo-yomi period's time shared by the stones
        still to play in it; in main time, the time left shared by the moves still expected, but
        never less than byo-yomi would give."""
        seconds, stones = self.left[colour]
        if stones > 0:
            share = seconds / stones
        else:
            share = seconds / max(self.MOVES_AT_LEAST, empty_points / 2)
            if self.byo_stones > 0:
                share = max(share, self.byo_time / self.byo_stones)
        return max(0.0, self.SAFETY * share - self.MARGIN)

    def spend(self, colour: int, seconds: float) -> None:
        """Book a move of ``colour`` that took ``seconds``: main time runs down, then byo-yomi
        begins; a period whose stones are all played starts again in full."""
        left = self.left[colour]
        left[0] -= seconds
        if left[1] > 0:
            left[1] -= 1
            if left[1] == 0 and left[0] >= 0:
                left[:] = [float(self.byo_time), self.byo_stones]
        elif left[0] <= 0 and self.byo_stones > 0:
            left[:] = [self.byo_time + left[0], self.byo_stones]  # an overrun eats into the first period


def parse_counts(args: list[str], n: int) -> list[int]:
    """``n`` whole numbers, none negative (GTP's seconds and stones); GTPError("syntax error") else."""
    if len(args) != n or not all(is_number(a) for a in args):
        raise GTPError("syntax error")
    return [number(a) for a in args]


# -- the engine -------------------------------------------------------------------------------------
class GTPEngine:
    """One game of Go played over GTP by an AlphaZero agent's network and search."""

    #: the commands answered, as ``list_commands`` gives them
    COMMANDS = ("protocol_version", "name", "version", "known_command", "list_commands", "quit", "boardsize",
                "clear_board", "komi", "play", "genmove", "reg_genmove", "undo", "showboard", "final_score",
                "time_settings", "time_left", "fixed_handicap", "place_free_handicap", "set_free_handicap",
                "final_status_list", "kgs-genmove_cleanup")

    def __init__(self, agent: Any, simulations: int | None = None, resign: float | None = None,
                 log: Callable[[str], None] | None = None, name: str = "sandbox-alphazero", seed: int = 0,
                 sample_moves: int = 0, symmetries: int | None = None, play_out: bool = False) -> None:
        """``agent``: a loaded AlphaZero agent of a Go run. ``simulations``: the search's size a
        move (default: the run's evaluation search). ``symmetries``: the board symmetries (1 to 8)
        the network's priors and value are averaged over (default: the run's ``eval_symmetries``).
        ``resign``: resign when the search values the position below this, from -1 (lost) to 1
        (won), for the player to move (default: never).
        ``log``: where one line about each generated move goes (None: nowhere). ``sample_moves``:
        on the game's first this many moves (either colour's), the move is drawn rather than the
        search's best (Gumbel root search: its choice under Gumbel noise; PUCT: in proportion to
        the visits), seeded with ``seed``, so that a match of many games from the empty board plays
        different games (0: always the best, the same game against the same replies).
        ``play_out``: the opponent's pass does not let the engine pass: it passes only when nothing
        but its own eyes is left, as in self-play before the first pass, so the game ends on a board
        whose dead stones are taken off (for a scorer that judges them, as GNU Go's final_score does,
        where the default ends the game on the opponent's pass whenever the board as it stands is won)."""
        if sample_moves < 0:
            raise SandboxError(f"the engine samples its first N moves, N ≥ 0, not {sample_moves}.")
        if not isinstance(getattr(agent, "game", None), Go):
            raise SandboxError("the GTP engine plays Go; this agent plays another game.")
        self.agent = agent
        self.size = agent.game.size
        self.komi = agent.game.komi
        self.simulations = int(simulations or agent.eval_sims)
        self.search_config = dataclasses.replace(agent.eval_cfg, simulations=self.simulations)
        if symmetries is not None:
            agent.set_eval_symmetries(symmetries)
        self.symmetries = agent.cfg.eval_symmetries
        self.evaluate = agent.evaluator(symmetries=self.symmetries)
        self.resign = resign
        self.log = log
        self.name = name
        self.seed = seed
        self.sample_moves = int(sample_moves)
        self.play_out = bool(play_out)
        self.rng = np.random.default_rng(seed)
        self.quit = False
        #: the clock ``time_settings`` set (None: no time limits, every move searches ``simulations``)
        self.clock: Clock | None = None
        #: seconds a simulation took in this engine's last clocked search (None: not measured yet)
        self.seconds_per_simulation: float | None = None
        self.last_simulations = self.simulations
        #: the commands this engine answers: final_status_list needs the network's ownership head
        self.commands = tuple(c for c in self.COMMANDS if c != "final_status_list" or agent.net.ownership is not None)
        self._clear()

    # -- the game ---------------------------------------------------------------------------------
    def _core(self) -> Go:
        # controllers end GTP games themselves (two passes, resignation, a move limit of their own):
        # the core's cap, after which it scores the board as it stands, lies far beyond real games
        return Go(self.size, self.komi, max_moves=4 * self.size * self.size)

    def _clear(self) -> None:
        if self.clock is not None:  # a new game starts on a full clock
            self.clock = Clock(self.clock.main, self.clock.byo_time, self.clock.byo_stones)
        self.game = self._core()
        self.state = self.game.initial(1)[0]
        self.previous: list[np.ndarray] = []

    def _with_mover(self, colour: int) -> np.ndarray:
        """The position with ``colour`` to move: GTP lets one colour play twice (handicap stones,
        set-ups), which here means the other's turn is skipped, and with it any ko ban."""
        s = self.state.copy()
        if int(s[self.game.cells]) != colour:
            s[self.game.cells] = colour
            s[self.game.cells + 1] = -1
        return s

    def _play(self, colour: int, action: int) -> None:
        s = self._with_mover(colour)
        if not self.game.legal(s[None])[0][action]:
            raise GTPError("illegal move")
        nxt, _, _ = self.game.step(s[None], np.array([action]))
        self.previous.append(self.state)
        self.state = nxt[0]

    def _handicap(self, vertices: list[str]) -> str:
        """Black's handicap stones on an empty board, then White to move; like GTP's, they are not
        moves of the game's history (``undo`` does not take them back)."""
        if self.previous or np.any(self.state[: self.game.cells]):
            raise GTPError("board not empty")
        actions = [vertex_to_action(v, self.size) for v in vertices]
        if len(actions) < 2 or len(set(actions)) < len(actions) or self.size * self.size in actions \
                or len(actions) > self.game.cells - 1:
            raise GTPError("bad vertex list")
        for action in actions:
            self._play(0, action)
        self.state = self._with_mover(1)
        self.previous = []
        return " ".join(action_to_vertex(a, self.size) for a in actions)

    def think(self, colour: int) -> tuple[int, float]:
        """Search the position with ``colour`` to move: the move and the root's value for it."""
        s = self._with_mover(colour)
        if self.play_out:  # the search sees no pass before its move: it may pass only when nothing else is left
            s[self.game.cells + 2] = 0
        sample = len(self.previous) < self.sample_moves
        # a drawn move's noise comes from the engine's stream, which runs on from game to game (a
        # seed from the ply alone gave every game of a match the same draws: the same game again)
        seed = int(self.rng.integers(2**31)) if sample else self.seed + len(self.previous)
        simulations = self.simulations_for(colour)
        trees = Trees(self.game, 1, capacity_for(simulations, False), self.search_config, seed)
        trees.set_roots(np.array([0]), s[None])
        self.agent.net.eval()
        # a drawn move: Gumbel root search chooses under fresh Gumbel noise (a draw from its improved
        # policy, as in self-play); PUCT search draws in proportion to its visits
        start = time.perf_counter()
        result = trees.search(np.array([0]), self.evaluate, noise=sample and self.search_config.gumbel,
                              simulations=simulations)
        if self.clock is not None:
            self.seconds_per_simulation = (time.perf_counter() - start) / simulations
        self.last_simulations = simulations
        return int(pick(result, 1.0 if sample else 0.0, [self.rng])[0]), float(result["value"][0])

    #: with a clock and no measure of the search's speed yet, the first search is this small
    CALIBRATION = 16

    def simulations_for(self, colour: int) -> int:
        """The search's size for ``colour``'s next move: ``simulations`` without a clock; with one,
        as many as the clock's budget for the move allows at the speed the last search ran (the
        first search, unmeasured, is :attr:`CALIBRATION` small), 1 to ``simulations``."""
        if self.clock is None:
            return self.simulations
        if self.seconds_per_simulation is None:
            return min(self.simulations, self.CALIBRATION)
        empty = int(np.count_nonzero(self.state[: self.game.cells] == 0))
        fit = int(self.clock.budget(colour, empty) / max(self.seconds_per_simulation, 1e-9))
        return int(np.clip(fit, 1, self.simulations))

    def _genmove(self, colour: int, play: bool) -> str:
        t = time.perf_counter()
        action, value = self.think(colour)
        resigns = self.resign is not None and value < self.resign
        vertex = "resign" if resigns else action_to_vertex(action, self.size)
        if play and not resigns:
            self._play(colour, action)
        seconds = time.perf_counter() - t
        if self.clock is not None and play:
            self.clock.spend(colour, seconds)
        if self.log is not None:
            left = "" if self.clock is None else f", {self.clock.left[colour][0]:.1f} s left"
            self.log(f"genmove {'bw'[colour]}: {vertex} (value {value:+.2f} for {'black' if colour == 0 else 'white'}, "
                     f"{self.last_simulations} simulations, {seconds:.2f} s{left})")
        return vertex

    def board_text(self) -> str:
        """The board as GNU Go's ``showboard`` draws it: X black, O white, coordinates around."""
        n = self.size
        letters = " ".join(LETTERS[:n])
        board = self.state[: self.game.cells].reshape(n, n)
        lines = [f"   {letters}"]
        for r in range(n):
            row = " ".join(".XO"[int(v)] for v in board[r])
            lines.append(f"{n - r:2d} {row} {n - r:d}")
        lines.append(f"   {letters}")
        to_play = "black" if int(self.state[self.game.cells]) == 0 else "white"
        lines.append(f"{to_play} to play, move {int(self.state[self.game.cells + 3]) + 1}, komi {self.komi:g}")
        return "\n".join(lines)

    def final_score(self) -> str:
        """The score as the board stands (Tromp-Taylor area: stones and the empty points that reach
        one colour only, komi to White): ``B+3.5``, ``W+0.5`` or ``0``. Stones left dead on the
        board count as alive: play the game out, or let a program that judges life score it."""
        score = float(self.game.score(self.state[None])[0])
        return "0" if score == 0 else f"{'B' if score > 0 else 'W'}+{abs(score):g}"

    def ownership(self) -> np.ndarray:
        """(N*N,) the network's probability that Black owns each point at the end of the game, read
        from its ownership head (averaged over the engine's symmetries)."""
        import torch

        n, game = self.size, self.game
        x = game.encode(self.state[None])
        views = [game.symmetry(x, np.ones((1, game.num_actions), bool), k)[0] for k in range(self.symmetries)]
        with torch.no_grad():
            _, _, logits = self.agent.net.heads(torch.from_numpy(np.concatenate(views)).to(self.agent.device))
        mine = 1.0 / (1.0 + np.exp(-logits.float().cpu().numpy()))  # for the player to move, on each turned board
        back = []
        for k, view in enumerate(mine):  # turned back: through the policy's mapping, with a pass column that is dropped
            back.append(game.symmetry(x[:0], np.append(view, 0.0)[None], game.inverse_symmetry(k))[1][0, : n * n] if k else view)
        mover_owns = np.mean(back, 0)
        return mover_owns if int(self.state[game.cells]) == 0 else 1.0 - mover_owns

    #: a group is alive when the ownership head keeps its points its colour with at least this
    #: probability, on the mean. The head learns from self-play played to the end, where a dead
    #: group is often left alone: on the last positions of 240 games against GNU Go, the groups GNU
    #: Go calls alive got 0.99 or more, its dead ones a median of 0.64 (0.5 would have found 17% of
    #: the dead stones, 0.9 finds 66% and calls 0.3% of the living dead; benchmarks/gtp_dead_stones.py)
    ALIVE = 0.9

    def final_status(self, status: str) -> str:
        """GTP's ``final_status_list``: the stones of each status, a group a line. A group is dead
        unless the network's ownership head keeps its points its colour (:attr:`ALIVE`); seki is not
        told apart (always empty)."""
        if status not in ("alive", "dead", "seki"):
            raise GTPError("invalid status")
        board = self.state[: self.game.cells].reshape(1, self.size, self.size)
        labels = self.game.groups(board)[0][0].reshape(-1)
        black = self.ownership()
        lines = []
        for label in np.unique(labels[labels > 0]):
            points = np.flatnonzero(labels == label)
            mean = float(black[points].mean())
            kept = mean if int(board.reshape(-1)[points[0]]) == 1 else 1.0 - mean
            dead = kept < self.ALIVE
            if (status == "dead") == dead and status != "seki":
                lines.append(" ".join(action_to_vertex(int(p), self.size) for p in points))
        return "\n".join(lines)

    # -- the protocol -----------------------------------------------------------------------------
    def command(self, name: str, args: list[str]) -> str:
        """The answer to one command (without the ``=``); GTPError for a failing one."""
        if name == "protocol_version":
            return "2"
        if name == "name":
            return self.name
        if name == "version":
            from sandbox import __version__

            return __version__
        if name == "known_command":
            return "true" if args and args[0] in self.commands else "false"
        if name == "list_commands":
            return "\n".join(self.commands)
        if name == "quit":
            self.quit = True
            return ""
        if name == "boardsize":
            if len(args) != 1 or not is_number(args[0]):
                raise GTPError("boardsize not an integer")
            if number(args[0]) != self.size:
                raise GTPError("unacceptable size")
            self._clear()
            return ""
        if name == "clear_board":
            self._clear()
            return ""
        if name == "komi":
            try:
                komi = float(args[0])
            except (IndexError, ValueError):
                raise GTPError("komi not a float") from None
            if not np.isfinite(komi):
                raise GTPError("komi not a float")
            self.komi = komi
            self.game = self._core()  # the same rows, scored with the new komi
            return ""
        if name == "play":
            if len(args) < 2:
                raise GTPError("invalid color or coordinate")
            colour = parse_colour(args[0])
            if args[1].lower() == "resign":
                return ""
            self._play(colour, vertex_to_action(args[1], self.size))
            return ""
        if name in ("genmove", "reg_genmove", "kgs-genmove_cleanup"):
            if len(args) < 1:
                raise GTPError("invalid color")
            if name == "kgs-genmove_cleanup":  # KGS's clean-up phase: capture the dead stones, pass only when nothing is left
                play_out, self.play_out = self.play_out, True
                try:
                    return self._genmove(parse_colour(args[0]), play=True)
                finally:
                    self.play_out = play_out
            return self._genmove(parse_colour(args[0]), play=name == "genmove")
        if name == "undo":
            if not self.previous:
                raise GTPError("cannot undo")
            self.state = self.previous.pop()
            return ""
        if name == "showboard":
            return "\n" + self.board_text()
        if name == "final_score":
            return self.final_score()
        if name in ("fixed_handicap", "place_free_handicap"):
            if len(args) != 1 or not is_number(args[0]):
                raise GTPError("invalid number of stones")
            stones = number(args[0])
            if name == "place_free_handicap":  # the engine's choice: the fixed points, as many as there are
                stones = min(stones, most_handicap(self.size)) if stones >= 2 else stones
            return self._handicap(handicap_vertices(self.size, stones))
        if name == "set_free_handicap":
            try:
                return self._handicap(args)
            except GTPError as exc:
                raise GTPError("bad vertex list" if str(exc) == "invalid coordinate" else str(exc)) from None
        if name == "final_status_list" and name in self.commands:
            if len(args) != 1:
                raise GTPError("invalid status")
            return self.final_status(args[0].lower())
        if name == "time_settings":
            self.clock = Clock.from_settings(args)
            return ""
        if name == "time_left":
            (self.clock or Clock(0, 0, 0)).set_left(args)  # without time limits: checked, and it changes nothing
            return ""
        raise GTPError("unknown command")

    def answer(self, line: str) -> str | None:
        """The full answer to one line of input (``=id result`` or ``?id message``, then a blank
        line), or None for a line that holds no command (empty, or a comment)."""
        line = "".join(ch for ch in line if ch in "\t\n" or (ord(ch) >= 32 and ord(ch) != 127))
        line = line.split("#", 1)[0].replace("\t", " ").strip()
        if not line:
            return None
        words = line.split()
        ident = ""
        if is_number(words[0]):
            ident = words.pop(0)
            if not words:
                return f"?{ident} missing command\n\n"
        name, args = words[0], words[1:]
        try:
            result = self.command(name, args)
        except GTPError as exc:
            return f"?{ident} {exc}\n\n"
        except Exception as exc:  # noqa: BLE001 - the engine answers and lives on; the traceback goes to stderr
            traceback.print_exc(file=sys.stderr)
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"?{ident} internal error: {message}\n\n"
        return f"={ident} {result}\n\n"

    def run(self, lines: TextIO, out: TextIO) -> int:
        """Answer ``lines`` on ``out`` until ``quit`` or the end of the input; returns 0."""
        for line in lines:
            reply = self.answer(line)
            if reply is not None:
                out.write(reply)
                out.flush()
            if self.quit:
                break
        return 0


# -- `sandbox gtp RUN` ------------------------------------------------------------------------------
def load_go_agent(run_dir: str | Path, checkpoint: str = "best") -> Any:
    """The AlphaZero agent of a Go run with its ``best`` or ``latest`` checkpoint (or of a folder
    ``sandbox export`` wrote); anything else is refused in one sentence before any weights are read."""
    from sandbox.run import load, load_run_config

    cfg = load_run_config(run_dir)
    agent = cfg.agent.name if cfg.agent is not None else None
    env = cfg.env.name if cfg.env is not None else None
    if agent != "alphazero" or env is None or not env.startswith("go"):
        name = cfg.model.name if cfg.model is not None and agent is None else str(agent)
        kind = "generative model run" if cfg.model is not None and agent is None else f"agent run on {env}"
        what = f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name} {kind}"
        raise SandboxError(f"{run_dir} is {what}; sandbox gtp plays AlphaZero Go agents (train one with 'sandbox train alphazero-go9').")
    return load(run_dir, which=checkpoint)


def serve(run_dir: str | Path, simulations: int | None = None, quiet: bool = False, resign: float | None = None,
          checkpoint: str = "best", lines: TextIO | None = None, out: TextIO | None = None, sample_moves: int = 0,
          seed: int = 0, symmetries: int | None = None, play_out: bool = False) -> int:
    """Play GTP on stdin/stdout with the AlphaZero Go agent of ``run_dir`` until ``quit``. While it
    runs, everything but the protocol's answers (progress, warnings, logs) is written to stderr."""
    if simulations is not None and simulations <= 0:
        raise SandboxError(f"--simulations must be a positive number of search simulations a move, not {simulations}.")
    if resign is not None and not -1.0 <= resign <= 1.0:
        raise SandboxError(f"--resign takes a value between -1 (lost) and 1 (won), not {resign}.")
    if sample_moves < 0:
        raise SandboxError(f"--sample-moves takes how many of a game's first moves to draw from the search rather than take its best (0 or more), not {sample_moves}.")
    if symmetries is not None and not 1 <= symmetries <= Go.num_symmetries:
        raise SandboxError(f"--symmetries takes how many of the board's {Go.num_symmetries} symmetries the network is averaged over (1 to {Go.num_symmetries}), not {symmetries}.")
    out = out or sys.stdout
    lines = lines or sys.stdin
    with redirect_stdout(sys.stderr):
        agent = load_go_agent(run_dir, checkpoint)

        def log(message: str) -> None:
            print(message, file=sys.stderr, flush=True)

        engine = GTPEngine(agent, simulations, resign, log=None if quiet else log, name="sandbox-alphazero",
                           seed=seed, sample_moves=sample_moves, symmetries=symmetries, play_out=play_out)
        if not quiet:
            log(f"sandbox gtp: {run_dir} ({agent.game.name}, {engine.simulations} simulations a move, the network averaged over "
                f"{engine.symmetries} board symmetr{'y' if engine.symmetries == 1 else 'ies'}), waiting for GTP commands")
        return engine.run(lines, out)


# -- a referee: two GTP engines play a game ---------------------------------------------------------
class GTPClient:
    """A GTP engine in a subprocess: :meth:`send` a command, get its answer (GTPError for ``?``)."""

    def __init__(self, argv: Sequence[str], name: str | None = None, stderr: Any = subprocess.DEVNULL,
                 timeout: float = 600.0, env: dict[str, str] | None = None) -> None:
        self.name = name or Path(argv[0]).name
        self.timeout = timeout
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                     text=True, bufsize=1, env=env)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, command: str) -> str:
        """Send one command; its answer's text (several lines joined by newlines)."""
        self.write(command)
        return self.answer(command)

    def write(self, command: str) -> None:
        """Send one command without waiting: engines in several processes think side by side, and
        :meth:`answer` collects each one's answer."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise GTPError(f"{self.name} has exited (code {self.proc.poll()})") from None

    def answer(self, command: str) -> str:
        """The answer to the command :meth:`write` sent last (named in errors)."""
        deadline = time.time() + self.timeout
        got: list[str] = []
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                raise GTPError(f"{self.name} did not answer {command!r} within {self.timeout:g} s") from None
            if line is None:
                raise GTPError(f"{self.name} has exited (code {self.proc.poll()}) without answering {command!r}")
            line = line.rstrip("\r\n")
            if not got and not line.strip():
                continue  # blank lines before an answer
            if got and not line.strip():
                break
            got.append(line)
        head, rest = got[0], got[1:]
        status, text = head[0], head[1:].lstrip("0123456789").strip()
        text = "\n".join([text, *rest]).strip()
        if status == "?":
            raise GTPError(text)
        if status != "=":
            raise GTPError(f"{self.name} answered {head!r}, not a GTP answer")
        return text

    def close(self) -> None:
        """Say quit, and end the process if it does not go by itself."""
        if self.proc.poll() is None:
            try:
                self.send("quit")
            except GTPError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    def __enter__(self) -> GTPClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def gnugo_command(level: int = 1, komi: float = 7.5, binary: str = "/usr/games/gnugo", seed: int | None = None,
                  tromp_taylor: bool = False) -> list[str]:
    """GNU Go as a GTP engine: Chinese (area) rules, positional superko as the sandbox's core, ``level``
    0 to 10 (10 its full strength). With ``tromp_taylor`` it captures every dead stone before it
    passes and never resigns, for games scored by the board as it stands (the sandbox's own rules)
    rather than by GNU Go's ``final_score``, which takes dead stones off by judgement."""
    argv = [binary, "--mode", "gtp", "--chinese-rules", "--positional-superko", "--komi", f"{komi:g}", "--level", str(level)]
    if tromp_taylor:
        argv += ["--capture-all-dead", "--never-resign"]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return argv


def sandbox_gtp_command(run_dir: str | Path, simulations: int | None = None, quiet: bool = True, checkpoint: str = "best",
                        sample_moves: int = 0, seed: int = 0, symmetries: int | None = None, play_out: bool = False) -> list[str]:
    """``sandbox gtp RUN`` as an argv for :class:`GTPClient`, with this Python."""
    argv = [sys.executable, "-m", "sandbox.cli", "gtp", str(run_dir), "--checkpoint", checkpoint, *(["--play-out"] if play_out else [])]
    if simulations is not None:
        argv += ["--simulations", str(simulations)]
    if symmetries is not None:
        argv += ["--symmetries", str(symmetries)]
    if sample_moves:
        argv += ["--sample-moves", str(sample_moves), "--seed", str(seed)]
    return argv + (["--quiet"] if quiet else [])


def play_game(black: GTPClient, white: GTPClient, scorer: GTPClient, size: int = 9, komi: float = 7.5,
              max_moves: int | None = None) -> dict[str, Any]:
    """One game between two GTP engines, refereed move by move: each ``genmove`` answer is played
    on the other engine, until two passes in a row, a resignation, or ``max_moves`` (default 4 ×
    the points). ``scorer`` (one of the two) gives the ``final_score``. Returns the ``winner``
    (``"B"``, ``"W"`` or None for a draw), the ``result`` (``B+3.5``, ``W+Resign``), the ``moves``
    (vertices) and ``end`` (``passes``, ``resign`` or ``max_moves``). An engine that refuses the
    other's move raises GTPError: the game is void."""
    max_moves = max_moves or 4 * size * size
    for engine in (black, white):
        engine.send(f"boardsize {size}")
        engine.send("clear_board")
        engine.send(f"komi {komi:g}")
    moves: list[str] = []
    passes, colour, end = 0, "b", "max_moves"
    while len(moves) < max_moves:
        mover, other = (black, white) if colour == "b" else (white, black)
        vertex = mover.send(f"genmove {colour}").strip().lower()
        if vertex == "resign":
            winner = "W" if colour == "b" else "B"
            return {"winner": winner, "result": f"{winner}+Resign", "moves": moves, "end": "resign"}
        try:
            other.send(f"play {colour} {vertex}")
        except GTPError as exc:
            raise GTPError(f"{other.name} refused {mover.name}'s move {colour} {vertex} after {len(moves)} moves: {exc}") from None
        moves.append(vertex)
        passes = passes + 1 if vertex == "pass" else 0
        if passes >= 2:
            end = "passes"
            break
        colour = "w" if colour == "b" else "b"
    result = scorer.send("final_score").strip().upper()
    winner = result[0] if result[:1] in ("B", "W") else None
    return {"winner": winner, "result": result, "moves": moves, "end": end}

