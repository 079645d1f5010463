"""Rules cores against hand-checked positions, and observations identical to PettingZoo classic's."""

from __future__ import annotations

import numpy as np
import pytest

from sandbox.envs.games import get_game
from sandbox.envs.games.connect_four import ConnectFour
from sandbox.envs.games.go import Go
from sandbox.envs.games.tictactoe import LINES, TicTacToe


def ttt_state(x: list[int], o: list[int]) -> np.ndarray:
    s = np.zeros(10, np.int16)
    s[x] = 1
    s[o] = 2
    s[9] = 0 if len(x) == len(o) else 1
    return s


# -- tic-tac-toe -------------------------------------------------------------------------------------
@pytest.mark.parametrize("line", [tuple(l) for l in LINES])
@pytest.mark.parametrize("player", [0, 1])
def test_tictactoe_wins_on_every_line(line: tuple[int, int, int], player: int) -> None:
    g = TicTacToe()
    from itertools import combinations

    others = [c for c in range(9) if c not in line]
    lines = {tuple(sorted(l)) for l in LINES.tolist()}
    # the winner has two stones of the line; the loser holds cells off it that make no line
    n = 2 if player == 0 else 3
    theirs = next(list(c) for c in combinations(others, n) if not any(set(l) <= set(c) for l in lines))
    mine = list(line[:2])
    x, o = (mine, theirs) if player == 0 else (theirs, mine)
    s = ttt_state(x, o)
    assert s[9] == player
    nxt, term, reward = g.step(s[None], np.array([line[2]]))
    assert term[0] and reward[0] == 1.0
    assert g.winner(nxt[0], True, 1.0) == player


def test_tictactoe_full_board_is_a_draw_and_illegal_moves_are_refused() -> None:
    g = TicTacToe()
    # X O X / X O O / O X .  (cells by index) -> X plays 8: full, no line
    s = ttt_state([0, 2, 3, 7], [1, 4, 5, 6])
    nxt, term, reward = g.step(s[None], np.array([8]))
    assert term[0] and reward[0] == 0.0
    assert not g.legal(nxt).any()
    with pytest.raises(ValueError):
        g.step(s[None], np.array([0]))
    assert g.legal(s[None])[0].tolist() == [False] * 8 + [True]


def test_tictactoe_many_boards_at_once() -> None:
    g = TicTacToe()
    s = g.initial(3)
    s, term, _ = g.step(s, np.array([0, 4, 8]))
    assert s[:, 9].tolist() == [1, 1, 1] and not term.any()
    assert s[0, 0] == 1 and s[1, 4] == 1 and s[2, 8] == 1


# -- Connect Four --------------------------------------------------------------------------------------
def c4_play(moves: list[int]) -> tuple[np.ndarray, bool, float]:
    g = ConnectFour()
    s = g.initial(1)
    term, reward = np.array([False]), np.array([0.0])
    for m in moves:
        assert not term[0]
        s, term, reward = g.step(s, np.array([m]))
    return s[0], bool(term[0]), float(reward[0])


@pytest.mark.parametrize("moves", [
    [0, 0, 1, 1, 2, 2, 3],                      # horizontal on the bottom row
    [6, 5, 6, 5, 6, 5, 6],                      # vertical
    [0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3],          # diagonal up to the right
    [6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3],          # diagonal up to the left
])
def test_connect_four_wins_in_every_direction(moves: list[int]) -> None:
    state, term, reward = c4_play(moves)
    assert term and reward == 1.0
    # one move fewer is not over
    assert not c4_play(moves[:-1])[1]


def test_connect_four_pieces_fall_and_full_columns_are_refused() -> None:
    g = ConnectFour()
    state, term, _ = c4_play([3, 3, 3, 3, 3, 3])
    board = state[:42].reshape(6, 7)
    assert board[:, 3].tolist() == [2, 1, 2, 1, 2, 1]  # first piece at the bottom (row 5)
    assert not g.legal(state[None])[0][3] and g.legal(state[None])[0].sum() == 6
    with pytest.raises(ValueError):
        g.step(state[None], np.array([3]))


def test_connect_four_full_board_is_a_draw() -> None:
    g = ConnectFour()
    s = g.initial(1)
    board = np.array([[1, 2, 1, 2, 1, 2, 1],
                      [1, 2, 1, 2, 1, 2, 2],
                      [2, 1, 2, 1, 2, 1, 1],
                      [2, 1, 2, 1, 2, 1, 2],
                      [1, 2, 1, 2, 1, 2, 1],
                      [1, 2, 1, 2, 1, 2, 0]])
    s[0, :42] = board.reshape(-1)
    s[0, 42] = 1  # 20 + 21 stones: the second player fills the last hole (bottom right)
    nxt, term, reward = g.step(s, np.array([6]))
    assert term[0] and reward[0] == 0.0


# -- Go ------------------------------------------------------------------------------------------------
def go_state(g: Go, rows: list[str], to_play: int = 0, ko: int = -1) -> np.ndarray:
    s = g.initial(1)[0]
    for r, row in enumerate(rows):
        for c, ch in enumerate(row.replace(" ", "")):
            s[r * g.size + c] = {"X": 1, "O": 2}.get(ch, 0)
    s[g.cells] = to_play
    s[g.cells + 1] = ko
    return s


def test_go_captures_a_stone_and_a_group() -> None:
    g = Go(5)
    s = go_state(g, ["OX...", ".....", ".....", ".....", "....."])
    nxt, term, _ = g.step(s[None], np.array([5]))  # black at (1, 0) takes the white corner stone
    assert nxt[0, 0] == 0 and nxt[0, 5] == 1 and not term[0]
    s = go_state(g, ["XOO..", ".XX..", ".....", ".....", "....."])
    nxt, _, _ = g.step(s[None], np.array([3]))  # black at (0, 3) captures the two white stones
    assert nxt[0, 1] == 0 and nxt[0, 2] == 0


def test_go_ko_suicide_and_passes() -> None:
    g = Go(5)
    # a ko: white at (1,1) is captured by black at (1,2); white may not retake at (1,1) at once
    s = go_state(g, [".XO..", "XO.O.", ".XO..", ".....", "....."], to_play=0)
    nxt, _, _ = g.step(s[None], np.array([1 * 5 + 2]))
    assert nxt[0, 6] == 0 and nxt[0, g.cells + 1] == 6
    assert not g.legal(nxt)[0][6]
    with pytest.raises(ValueError):
        g.step(nxt, np.array([6]))
    # after a move elsewhere the ko may be retaken
    later, _, _ = g.step(nxt, np.array([24]))
    later, _, _ = g.step(later, np.array([20]))
    assert g.legal(later)[0][6]
    # suicide: white may not play (0, 0) inside black's corner
    s = go_state(g, [".X...", "X....", ".....", ".....", "....."], to_play=1)
    assert not g.legal(s[None])[0][0]
    with pytest.raises(ValueError):
        g.step(s[None], np.array([0]))
    # but a move that captures is not suicide
    s = go_state(g, [".XO..", "XO...", "O....", ".....", "....."], to_play=1)
    assert g.legal(s[None])[0][0]
    # two passes end the game; scored by area with komi
    s = go_state(g, ["..XO.", "..XO.", "..XO.", "..XO.", "..XO."], to_play=0)
    p = np.array([g.pass_action])
    one, term, _ = g.step(s[None], p)
    assert not term[0]
    two, term, reward = g.step(one, p)
    assert term[0]
    assert float(g.score(two)[0]) == 15 - 10 - g.komi  # black 5 stones + 10 points, white 5 + 5
    assert reward[0] == (1.0 if 15 - 10 - g.komi < 0 else -1.0)  # white (the last passer) wins


def test_go_encode_and_observation_round_trip() -> None:
    g = get_game("go9")
    s = g.initial(1)
    for a in (40, 41, 30, 31):
        s, _, _ = g.step(s, np.array([a]))
    obs = g.observation(s[0], int(s[0, g.cells]), True)
    back = g.from_observation(obs["observation"])
    assert np.array_equal(back[: g.cells + 3], s[0, : g.cells + 3])
    assert np.array_equal(np.transpose(obs["observation"], (2, 0, 1)), g.encode(s)[0])


# -- the same observations as PettingZoo classic ----------------------------------------------------------
@pytest.mark.parametrize("name,module", [("tictactoe", "tictactoe_v3"), ("connect_four", "connect_four_v3")])
def test_observations_and_actions_match_pettingzoo(name: str, module: str) -> None:
    import importlib

    import sandbox

    theirs = importlib.import_module(f"pettingzoo.classic.{module}").env()
    ours = sandbox.make_env(name)
    rng = np.random.default_rng(0)
    for episode in range(5):
        theirs.reset(seed=episode)
        ours.reset(seed=episode)
        assert ours.possible_agents == theirs.possible_agents
        for agent_a, agent_b in zip(theirs.agent_iter(), ours.agent_iter()):
            assert agent_a == agent_b
            oa, ra, ta, _, _ = theirs.last()
            ob, rb, tb, _, _ = ours.last()
            assert oa["observation"].dtype == ob["observation"].dtype and oa["observation"].shape == ob["observation"].shape
            assert np.array_equal(oa["observation"], ob["observation"]) and np.array_equal(oa["action_mask"], ob["action_mask"])
            assert ra == rb and ta == tb
            action = None if ta else int(rng.choice(np.nonzero(oa["action_mask"])[0]))
            theirs.step(action)
            ours.step(action)
        for agent in theirs.possible_agents:
            assert np.array_equal(theirs.observe(agent)["observation"], ours.observe(agent)["observation"])
