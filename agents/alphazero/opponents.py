"""Opponents, matches and Elo.

Players choose moves for many games at once (``moves(states, slots)``), so a match of 100 games is
played in lockstep: every ply, the games where one player is to move are searched together.

- ``random``: a uniformly random legal move.
- ``mcts:N``: pure MCTS (UCT) with N random-rollout simulations a move.
- ``perfect``: tic-tac-toe only; exhaustive negamax, a random choice among the optimal moves.
- ``gnugo:L``: Go only; GNU Go 3.8 at level L (0 to 10) over GTP, one process a game of the match,
  thinking side by side (:class:`GnuGoPlayer`).
- a network with its search: :class:`SearchPlayer` with the network's evaluator (``AlphaZero.player``).

:func:`play_human` is the board games' human play (``sandbox play tictactoe --human``): a person
against pure MCTS, in the window of ``sandbox.envs.games.draw``. The agents district hands it to
the env registry (``sandbox/agents/__init__.py``), so the envs never import an agent.

:func:`play_match` alternates the first move; :class:`Elo` fits Bradley-Terry ratings to every
result recorded, with ``random`` anchored at 0.
"""

from __future__ import annotations

import os
import shutil
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.agents.alphazero.gtp import GTPClient, GTPError, action_to_vertex, gnugo_command, vertex_to_action
from sandbox.agents.alphazero.search import Evaluator, SearchConfig, Trees, capacity_for, pick, rows, rollout_evaluator
from sandbox.errors import ConfigError


class Player:
    """Chooses moves for the games ``slots`` of a match, whose positions are ``states``."""

    name = "player"

    def start(self, n_games: int) -> None:
        """A match of ``n_games`` in lockstep begins."""

    def moves(self, states: np.ndarray, slots: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def finish(self) -> None:
        """The match is over (or stopped): let go of what it held."""


class RandomPlayer(Player):
    name = "random"

    def __init__(self, game: Any, seed: int = 0) -> None:
        self.game, self.rng = game, np.random.default_rng(seed)

    def moves(self, states: np.ndarray, slots: np.ndarray) -> np.ndarray:
        legal = self.game.legal(states)
        return np.argmax(self.rng.random(legal.shape) * legal, 1)


class SearchPlayer(Player):
    """A tree search with an evaluator: pure MCTS (rollouts) or a network."""

    def __init__(self, game: Any, evaluate: Evaluator, config: SearchConfig, name: str, seed: int = 0, random_opening: int = 0) -> None:
        self.game, self.evaluate, self.cfg, self.name = game, evaluate, config, name
        self.seed, self.random_opening = seed, random_opening
        self.trees: Trees | None = None

    def start(self, n_games: int) -> None:
        if self.trees is None or self.trees.n < n_games:
            self.trees = Trees(self.game, n_games, capacity_for(self.cfg.simulations, False), self.cfg, self.seed)

    def moves(self, states: np.ndarray, slots: np.ndarray) -> np.ndarray:
        assert self.trees is not None, "start() the player first"
        self.trees.set_roots(slots, states)
        res = self.trees.search(slots, self.evaluate, noise=False)
        chosen = pick(res, 0.0)
        if self.random_opening:
            ply = np.count_nonzero(states[:, : self.game.cells], 1)
            early = np.nonzero(ply < self.random_opening)[0]
            if len(early):
                chosen[early] = pick(rows(res, early), 1.0, [self.trees.rngs[s] for s in slots[early]])
        return chosen

    def think(self, state: np.ndarray) -> tuple[int, dict[str, Any]]:
        """One position searched alone: the most visited move, with the visit shares as ``probs``
        and the root ``value`` for the player to move (what the human-play window shows)."""
        self.start(1)
        assert self.trees is not None
        slot = np.array([0])
        self.trees.set_roots(slot, state[None])
        res = self.trees.search(slot, self.evaluate, noise=False)
        visits = res["visits"][0]
        return int(pick(res, 0.0)[0]), {"probs": visits / max(visits.sum(), 1), "value": float(res["value"][0])}


def mcts_player(game: Any, simulations: int, seed: int = 0) -> SearchPlayer:
    """Pure MCTS: UCT with uniform priors and one random rollout per leaf."""
    cfg = SearchConfig(simulations=simulations, formula="uct", c_puct=1.4)
    return SearchPlayer(game, rollout_evaluator(game, seed), cfg, f"mcts:{simulations}", seed)


def play_human(env_id: str, episodes: int = 1, record: Path | None = None) -> dict[str, Any]:
    """A person plays the board game ``env_id`` with the mouse against pure MCTS (200 random
    rollouts a move; 32 in Go, whose rollouts are long)."""
    from sandbox.envs.games import get_game
    from sandbox.envs.games.draw import HumanGame

    game = get_game(env_id)
    n = 32 if game.name.startswith("go") else 200
    window = HumanGame(game, mcts_player(game, n).think, episodes=episodes, record=record, opponent_name=f"pure MCTS, {n} rollouts")
    return window.run()


# -- perfect tic-tac-toe --------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _negamax(board: tuple[int, ...], player: int) -> int:
    """Value of a tic-tac-toe position (cells 0/1/2, ``player`` 0 or 1 to move) for the mover."""
    best = -2
    for a in range(9):
        if not board[a]:
            best = max(best, _move_value(board, a, player))
            if best == 1:
                return 1
    return best


def _move_value(board: tuple[int, ...], a: int, player: int) -> int:
    """Value for the mover of playing the empty cell ``a``: 1 win, 0 draw, -1 loss under perfect play."""
    from sandbox.envs.games.tictactoe import LINES

    nb = list(board)
    nb[a] = player + 1
    if any(all(nb[i] == player + 1 for i in line) for line in LINES):
        return 1
    if all(nb):
        return 0
    return -_negamax(tuple(nb), 1 - player)


def perfect_moves(state: np.ndarray) -> list[int]:
    """Every optimal move of a tic-tac-toe position (exhaustive search, memoised)."""
    board = tuple(int(v) for v in state[:9])
    player = int(state[9])
    values = {}
    for a in range(9):
        if not board[a]:
            values[a] = _move_value(board, a, player)
    best = max(values.values())
    return [a for a, v in values.items() if v == best]


class PerfectPlayer(Player):
    name = "perfect"

    def __init__(self, game: Any, seed: int = 0) -> None:
        if game.name != "tictactoe":
            raise ConfigError(f"the perfect opponent exists for tic-tac-toe only, not {game.name}; use random or mcts:N.")
        self.rng = np.random.default_rng(seed)

    def moves(self, states: np.ndarray, slots: np.ndarray) -> np.ndarray:
        return np.array([self.rng.choice(perfect_moves(s)) for s in states])


# -- GNU Go ---------------------------------------------------------------------------------------
def find_gnugo() -> str:
    """GNU Go's program: ``gnugo`` on PATH, else Debian's /usr/games/gnugo; ConfigError when neither."""
    found = shutil.which("gnugo") or ("/usr/games/gnugo" if os.access("/usr/games/gnugo", os.X_OK) else None)
    if found is None:
        raise ConfigError("the gnugo:L opponent is GNU Go 3.8, which is not installed here; install it (Debian: apt-get install gnugo) "
                          "or choose random or mcts:N.")
    return found


class GnuGoPlayer(Player):
    """GNU Go (3.8) at ``level`` 0 to 10 over GTP, with Chinese rules, positional superko and the
    game's komi: one process for each game of a match, started with the match and ended with it.
    The game is scored by the sandbox's rules (Tromp-Taylor: the board as it stands), so GNU Go
    captures every dead stone before it passes (``--capture-all-dead``) and never resigns.

    A player sees positions, not moves: each slot remembers the position its engine last knew (after
    its own move), finds the move that leads from there to the position it is given (the other
    player's, or none when it moves first) and plays it on the engine; then every engine of the
    call is asked ``genmove`` at once, so that they think side by side on the machine's cores. A
    move the sandbox's rules refuse (which the shared rules make rare) is played as a pass, and the
    engine's board is set up again from the position at its next turn."""

    def __init__(self, game: Any, level: int, seed: int = 0) -> None:
        if not game.name.startswith("go"):
            raise ConfigError(f"the gnugo:L opponent plays Go, not {game.name}; use random or mcts:N.")
        self.game, self.level, self.seed, self.name = game, level, seed, f"gnugo:{level}"
        self.program = find_gnugo()
        self.engines: list[Any] = []
        self.known: list[np.ndarray | None] = []

    def start(self, n_games: int) -> None:
        self.finish()
        for i in range(n_games):
            engine = GTPClient(gnugo_command(self.level, self.game.komi, self.program, seed=self.seed + i, tromp_taylor=True),
                               self.name, timeout=120.0)
            self.engines.append(engine)
            engine.send(f"boardsize {self.game.size}")
            engine.send("clear_board")
        self.known = [self.game.initial(1)[0] for _ in range(n_games)]

    def finish(self) -> None:
        for engine in self.engines:
            engine.close()
        self.engines, self.known = [], []

    def _catch_up(self, slot: int, state: np.ndarray) -> None:
        """Play on the slot's engine the move that led from the position it knows to ``state``."""
        game, engine, known = self.game, self.engines[slot], self.known[slot]
        if known is not None and np.array_equal(known, state):
            return
        if known is not None:
            moves = np.flatnonzero(game.legal(known[None])[0])
            after, _, _ = game.step(np.repeat(known[None], len(moves), 0), moves)
            found = np.flatnonzero((after == state).all(1))
            if len(found):
                colour = "black" if game.to_play(known[None])[0] == 0 else "white"
                try:
                    engine.send(f"play {colour} {action_to_vertex(int(moves[found[0]]), game.size)}")
                    self.known[slot] = state
                    return
                except GTPError:
                    pass
        self._set_up(slot, state)

    def _set_up(self, slot: int, state: np.ndarray) -> None:
        """Put the stones of ``state`` on a cleared board (the engine forgets the game's history)."""
        engine, board = self.engines[slot], state[: self.game.cells]
        engine.send("clear_board")
        for colour, value in (("black", 1), ("white", 2)):
            for point in np.flatnonzero(board == value):
                engine.send(f"play {colour} {action_to_vertex(int(point), self.game.size)}")
        self.known[slot] = state

    def moves(self, states: np.ndarray, slots: np.ndarray) -> np.ndarray:
        game = self.game
        for state, slot in zip(states, slots):
            self._catch_up(int(slot), state)
        colours = ["black" if c == 0 else "white" for c in game.to_play(states)]
        for slot, colour in zip(slots, colours):
            self.engines[slot].write(f"genmove {colour}")
        legal = game.legal(states)
        actions = np.full(len(states), game.pass_action, np.int64)
        for i, (slot, colour) in enumerate(zip(slots, colours)):
            vertex = self.engines[slot].answer(f"genmove {colour}").strip().lower()
            try:
                action = game.pass_action if vertex == "resign" else vertex_to_action(vertex, game.size)
            except GTPError:
                action = -1
            if 0 <= action < game.num_actions and legal[i, action]:
                actions[i] = action
                self.known[slot] = game.step(states[i][None], actions[i][None])[0][0]
            else:  # resigned (played on as a pass) or a move these rules refuse: set the board up again next turn
                self.known[slot] = None
        return actions


def opponent(game: Any, spec: str, seed: int = 0, given_as: str = "--opponent") -> Player:
    """The player an opponent string names: random, perfect, mcts:N or gnugo:L. ``given_as``: how
    the person gave it, for the sentence about a bad one (``--opponent``, ``agent.eval_opponents``)."""
    spec = str(spec).strip()
    if spec == "random":
        return RandomPlayer(game, seed)
    if spec == "perfect":
        return PerfectPlayer(game, seed)
    if spec.startswith("mcts:"):
        n = spec[5:]
        if n.isascii() and n.isdigit() and int(n) > 0:
            return mcts_player(game, int(n), seed)
    if spec.startswith("gnugo:"):
        level = spec[6:]
        if level.isascii() and level.isdigit() and 0 <= int(level) <= 10:
            return GnuGoPlayer(game, int(level), seed)
        raise ConfigError(f"{given_as} {spec!r}: GNU Go's level is a whole number from 0 to 10, e.g. gnugo:1 or gnugo:10.")
    raise ConfigError(f"{given_as} {spec!r} is not an opponent; use random, mcts:N (N rollout simulations a move, e.g. mcts:1000), "
                      "perfect (tic-tac-toe) or gnugo:L (Go, GNU Go at level L from 0 to 10).")


# -- matches --------------------------------------------------------------------------------------
def play_match(game: Any, a: Player, b: Player, games: int, first: str = "alternate", deadline: float | None = None) -> dict[str, Any]:
    """``games`` games of ``a`` against ``b`` in lockstep; ``a`` moves first in the even games (all
    of them with first='a', none with first='b'). Counts are from ``a``'s side. With a
    ``deadline`` (a ``time.time()``), the games unfinished then are dropped: ``games`` counts the
    finished ones (maybe 0, with rates of 0) and ``cut`` says whether any was dropped."""
    try:
        a.start(games)
        b.start(games)
        return _play_match(game, a, b, games, first, deadline)
    finally:
        a.finish()
        b.finish()


def _play_match(game: Any, a: Player, b: Player, games: int, first: str, deadline: float | None) -> dict[str, Any]:
    states = game.initial(games)
    a_first = np.arange(games) % 2 == 0 if first == "alternate" else np.full(games, first == "a")
    done = np.zeros(games, bool)
    result = np.zeros(games)  # +1 a won, -1 a lost
    while not done.all():
        if deadline is not None and time.time() >= deadline:
            break
        live = np.nonzero(~done)[0]
        to_play = game.to_play(states[live])
        a_moves = (to_play == 0) == a_first[live]
        actions = np.zeros(len(live), np.int64)
        for player, sel in ((a, a_moves), (b, ~a_moves)):
            if sel.any():
                actions[sel] = player.moves(states[live[sel]], live[sel])
        nxt, term, reward = game.step(states[live], actions)
        states[live] = nxt
        if term.any():
            t = live[term]
            result[t] = np.where(a_moves[term], reward[term], -reward[term])
            done[t] = True
    played = int(done.sum())
    win, draw, loss = int((done & (result > 0)).sum()), int((done & (result == 0)).sum()), int((done & (result < 0)).sum())
    out = {"win": win, "draw": draw, "loss": loss, "games": played, "win_rate": win / max(played, 1), "score": (win + 0.5 * draw) / max(played, 1)}
    first = done & a_first  # the games where a moved first (the rest, a moved second)
    out.update(win_as_first=int((first & (result > 0)).sum()), draw_as_first=int((first & (result == 0)).sum()),
               loss_as_first=int((first & (result < 0)).sum()))
    if deadline is not None:
        out["cut"] = played < games
    return out


# -- Elo ------------------------------------------------------------------------------------------
class Elo:
    """Bradley-Terry ratings on the Elo scale from all recorded results; ``random`` is 0."""

    def __init__(self, results: list[list[Any]] | None = None) -> None:
        self.results: list[list[Any]] = results or []  # [a, b, wins of a, draws, losses of a]

    def add(self, a: str, b: str, win: int, draw: int, loss: int) -> None:
        self.results.append([a, b, int(win), int(draw), int(loss)])

    def ratings(self, anchor: str = "random", iterations: int = 3000) -> dict[str, float]:
        names = sorted({r[0] for r in self.results} | {r[1] for r in self.results})
        if not names:
            return {}
        ix = {n: i for i, n in enumerate(names)}
        a = np.array([ix[r[0]] for r in self.results])
        b = np.array([ix[r[1]] for r in self.results])
        n = np.array([r[2] + r[3] + r[4] for r in self.results], float)
        s = np.array([r[2] + 0.5 * r[3] for r in self.results], float)
        rating = np.zeros(len(names))
        scale = np.log(10) / 400
        for _ in range(iterations):
            e = 1 / (1 + np.exp(-scale * (rating[a] - rating[b])))
            g = np.zeros(len(names))
            np.add.at(g, a, s - n * e)
            np.add.at(g, b, -(s - n * e))
            g -= rating / 400.0 ** 2 * 4  # a weak prior keeps perfect records finite
            rating += 20.0 * g / max(1.0, n.max())
        if anchor in ix:
            rating -= rating[ix[anchor]]
        return {name: float(rating[i]) for name, i in ix.items()}


def against_every_perfect_line(game: Any, choose: Any) -> dict[str, dict[str, int]]:
    """Play ``choose(state) -> action`` (deterministic) against perfect tic-tac-toe over every line
    perfect play can choose (every optimal reply is followed), as first and as second player.
    Returns, per side, the number of lines won, drawn and lost by ``choose``."""
    out = {}
    for side in (0, 1):
        counts = {"lines": 0, "win": 0, "draw": 0, "loss": 0}

        def walk(state: np.ndarray) -> None:
            mover = int(state[game.cells])
            replies = [choose(state)] if mover == side else perfect_moves(state)
            for a in replies:
                nxt, term, reward = game.step(state[None], np.array([a]))
                if term[0]:
                    counts["lines"] += 1
                    won = reward[0] > 0
                    if reward[0] == 0:
                        counts["draw"] += 1
                    elif won == (mover == side):
                        counts["win"] += 1
                    else:
                        counts["loss"] += 1
                else:
                    walk(nxt[0])

        walk(game.initial(1)[0])
        out["first" if side == 0 else "second"] = counts
    return out
