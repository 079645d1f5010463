"""Opponents, matches and Elo.

Players choose moves for many games at once (``moves(states, slots)``), so a match of 100 games is
played in lockstep: every ply, the games where one player is to move are searched together.

- ``random``: a uniformly random legal move.
- ``mcts:N``: pure MCTS (UCT) with N random-rollout simulations a move.
- ``perfect``: tic-tac-toe only; exhaustive negamax, a random choice among the optimal moves.
- a network with its search: :class:`SearchPlayer` with the network's evaluator (``AlphaZero.player``).

:func:`play_human` is the board games' human play (``sandbox play tictactoe --human``): a person
against pure MCTS, in the window of ``sandbox.envs.games.draw``. The agents district hands it to
the env registry (``sandbox/agents/__init__.py``), so the envs never import an agent.

:func:`play_match` alternates the first move; :class:`Elo` fits Bradley-Terry ratings to every
result recorded, with ``random`` anchored at 0.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.agents.alphazero.search import Evaluator, SearchConfig, Trees, capacity_for, pick, rollout_evaluator
from sandbox.errors import ConfigError


class Player:
    """Chooses moves for the games ``slots`` of a match, whose positions are ``states``."""

    name = "player"

    def start(self, n_games: int) -> None:
        """A match of ``n_games`` in lockstep begins."""

    def moves(self, states: np.ndarray, slots: np.ndarray) -> np.ndarray:
        raise NotImplementedError


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
                chosen[early] = pick({"visits": res["visits"][early]}, 1.0, [self.trees.rngs[s] for s in slots[early]])
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


def opponent(game: Any, spec: str, seed: int = 0) -> Player:
    """The player an opponent string names: random, perfect or mcts:N."""
    spec = str(spec).strip()
    if spec == "random":
        return RandomPlayer(game, seed)
    if spec == "perfect":
        return PerfectPlayer(game, seed)
    if spec.startswith("mcts:"):
        n = spec[5:]
        if n.isdigit() and int(n) > 0:
            return mcts_player(game, int(n), seed)
    raise ConfigError(f"--opponent {spec!r} is not an opponent; use random, mcts:N (N rollout simulations a move, e.g. mcts:1000) or perfect (tic-tac-toe).")


# -- matches --------------------------------------------------------------------------------------
def play_match(game: Any, a: Player, b: Player, games: int, first: str = "alternate", deadline: float | None = None) -> dict[str, Any]:
    """``games`` games of ``a`` against ``b`` in lockstep; ``a`` moves first in the even games (all
    of them with first='a', none with first='b'). Counts are from ``a``'s side. With a
    ``deadline`` (a ``time.time()``), the games unfinished then are dropped: ``games`` counts the
    finished ones (maybe 0, with rates of 0) and ``cut`` says whether any was dropped."""
    states = game.initial(games)
    a_first = np.arange(games) % 2 == 0 if first == "alternate" else np.full(games, first == "a")
    a.start(games)
    b.start(games)
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
