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


def test_go_search_moves_keep_eyes_and_pass_only_when_done() -> None:
    g = Go(5)
    # an empty board: every point, no pass (the rules allow one, the search leaves it out)
    empty = g.initial(1)
    assert g.legal(empty)[0, g.pass_action] and not g.search_moves(empty)[0, g.pass_action]
    assert g.search_moves(empty)[0, :-1].all()
    # black's own eyes at (0, 0), (0, 2) and (0, 4) are left out, the open points below are not
    s = go_state(g, [".X.X.", "XXXXX", "OOOOO", ".....", "....."], to_play=0)
    moves = g.search_moves(s[None])[0]
    assert not moves[[0, 2, 4]].any() and moves[15:25].all() and not moves[g.pass_action]
    assert g.legal(s[None])[0, 0]  # filling it is legal
    # after the opponent's pass the search may pass too (to end a won game) or play on
    after_pass, _, _ = g.step(go_state(g, [".X.X.", "XXXXX", "OOOOO", ".....", "....."], to_play=1)[None], np.array([g.pass_action]))
    assert g.search_moves(after_pass)[0, g.pass_action] and g.search_moves(after_pass)[0, 15]
    # false eyes may be filled: (0, 3) and (4, 0) on the edge with a white stone on a diagonal,
    # (2, 2) in the middle with two; in the middle one white diagonal leaves an eye
    s = go_state(g, ["XXX.X", "XXXXO", "XX.XX", "XOXOX", ".X..."], to_play=0)
    moves = g.search_moves(s[None])[0]
    assert moves[3] and moves[12] and moves[20]
    s = go_state(g, ["XXXXX", "XXXXX", "XX.XX", "XXXOX", "....."], to_play=0)
    assert not g.search_moves(s[None])[0, 12]
    # nothing left but one's own eyes: the pass, and only the pass
    full = go_state(g, [".X.X.", "XXXXX", "X.X.X", "XXXXX", "X.X.X"], to_play=0)
    moves = g.search_moves(full[None])[0]
    assert moves[g.pass_action] and not moves[:-1].any()
    # the rollouts' moves agree where no pass has been made
    for st in (empty, s[None], full[None]):
        assert np.array_equal(g.rollout_legal(st), g.search_moves(st))


def test_go_self_play_search_does_not_collapse_to_early_passes() -> None:
    """Gumbel search on uniform priors and zero values over whole 5x5 games: no game ends by two
    passes while a move other than filling an eye is left (with the rules' full move list, an
    early pass hands White the komi and self-play learns to pass)."""
    from sandbox.agents.alphazero.search import SearchConfig, Trees, capacity_for, pick, uniform_evaluator

    g = Go(5)
    cfg = SearchConfig(simulations=16, gumbel=True, gumbel_actions=8)
    trees = Trees(g, 4, capacity_for(16, False), cfg, seed=0)
    states = g.initial(4)
    done = np.zeros(4, bool)
    lengths = np.zeros(4, int)
    while not done.all():
        idx = np.flatnonzero(~done)
        trees.set_roots(idx, states[idx])
        actions = pick(trees.search(idx, uniform_evaluator(g)), 1.0)
        for i, a in zip(idx, actions):
            assert g.search_moves(states[i][None])[0, a]
            if a == g.pass_action and states[i, g.cells + 2] == 0:
                assert not g.rollout_legal(states[i][None])[0, :-1].any(), "passed with moves left"
        states[idx], term, _ = g.step(states[idx], actions)
        lengths[idx] += 1
        done[idx[term]] = True
    assert (lengths >= 10).all(), lengths


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



# -- positional superko ----------------------------------------------------------------------------------
# A triple ko between a black wall (rows 1-2, its liberties on row 0) and a white wall (rows 3-4, its
# liberties on row 5). The ko at column c is White's when a white stone sits at (2, c), which Black
# takes by playing (3, c); it is Black's when a black stone sits at (3, c), which White takes by
# playing (2, c). Here ko 1 (column 1) and ko 2 (column 4) are White's, ko 3 (column 7) Black's.
TRIPLE_KO = [".........",
             "XXXXXXXXX",
             "XOXXOXX.X",
             "O.OO.OOXO",
             "OOOOOOOOO",
             ".........",
             ".........",
             ".........",
             "........."]
AT = {"quiet": 8 * 9 + 8, "B1": 3 * 9 + 1, "B2": 3 * 9 + 4, "B3": 3 * 9 + 7, "W1": 2 * 9 + 1, "W2": 2 * 9 + 4, "W3": 2 * 9 + 7}
# White's quiet stone makes the position P (so that it is in the game's history), then six captures,
# each allowed by simple ko, come back to P: the last one is what positional superko forbids
CYCLE = ["quiet", "B1", "W3", "B2", "W1", "B3", "W2"]


def play_moves(g: Go, s: np.ndarray, names: list[str]) -> np.ndarray:
    for name in names:
        assert g.legal(s[None])[0][AT[name]], name
        s = g.step(s[None], np.array([AT[name]]))[0][0]
    return s


def test_go_superko_triple_ko_cannot_repeat_the_position() -> None:
    g = Go(9)
    start = go_state(g, TRIPLE_KO, to_play=1)
    p = play_moves(g, start, CYCLE[:1])
    s = play_moves(g, p, CYCLE[1:-1])
    last = AT[CYCLE[-1]]
    # simple ko does not see it: the ko point is ko 3's, and the move captures ko 2's black stone
    assert s[g.cells + 1] == AT["W3"] and s[g.cells + 1] != last
    flat = s.copy()
    flat[g.cells + 1] = -1  # the position as simple ko alone would judge it, its history cleared
    flat[g.cells + 4:] = 0
    allowed, _, _ = g.step(flat[None], np.array([last]))
    assert np.array_equal(allowed[0, : g.cells], p[: g.cells])  # ... it would recreate P
    assert g.legal(flat[None])[0][last]
    # positional superko does: masked out, and refused by step
    legal = g.legal(s[None])[0]
    assert not legal[last] and not legal[AT["W3"]] and legal[g.pass_action]
    assert legal.sum() > 30  # White plays elsewhere or passes
    with pytest.raises(ValueError, match="superko"):
        g.step(s[None], np.array([last]))
    # after White plays elsewhere, the position with White's stone there is new: ko 2 may be taken
    other, _, _ = g.step(s[None], np.array([7 * 9]))
    other, _, _ = g.step(other, np.array([7 * 9 + 8]))  # Black elsewhere too
    assert g.legal(other)[0][last]
    # in a batch with other games, each row is judged by its own history
    batch = np.stack([s, g.initial(1)[0], flat, s])
    assert g.legal(batch)[:, last].tolist() == [False, True, True, False]


def test_go_superko_leaves_passes_and_fresh_positions_alone() -> None:
    g = Go(5)
    s = g.initial(2)
    for a in ([12, 12], [g.pass_action, 6]):
        s, _, _ = g.step(s, np.array(a))
    # a pass repeats the board but is always legal; no capture yet, so nothing is forbidden
    assert g.legal(s)[:, g.pass_action].all()
    assert np.array_equal(g.legal(s)[0, :-1], s[0, : g.cells] == 0)
    # the history holds the hash of the board after each move
    h = g.history(s)
    assert h.shape == (2, 2) and h[0, 0] == h[0, 1] == g.position_hash(s[:1])[0]
    assert g.repeatable(s).tolist() == [0, 0]


def test_go_superko_mask_matches_a_replay_of_every_move() -> None:
    """Random games on 5×5 (captures preferred, so kos come up): the legal mask is exactly the
    moves simple ko and suicide allow, less those whose board (found by stepping the move on a copy
    that forgets the history) the game has seen before."""
    g = Go(5)
    rng = np.random.default_rng(0)
    s = g.initial(32)
    seen: list[set[bytes]] = [set() for _ in range(len(s))]
    forbidden = 0
    for _ in range(100):
        legal = g.legal(s)
        plain = s.copy()
        plain[:, g.cells + 4] = 0  # no capture on record: superko is not checked
        basic = g.legal(plain)
        r, a = np.nonzero(basic[:, :-1])
        after, _, _ = g.step(plain[r], a)
        repeat = np.array([after[k, : g.cells].tobytes() in seen[r[k]] for k in range(len(r))], bool)
        expect = basic.copy()
        expect[r[repeat], a[repeat]] = False
        assert np.array_equal(legal, expect)
        forbidden += int(repeat.sum())
        takes = np.zeros_like(legal)
        capturing = ~repeat & ((after[:, : g.cells] != 0).sum(1) <= (plain[r, : g.cells] != 0).sum(1))
        takes[r[capturing], a[capturing]] = True
        weights = legal + 20.0 * takes
        weights[:, -1] = 0.05
        moves = np.array([rng.choice(len(w), p=w / w.sum()) for w in weights])
        s, term, _ = g.step(s, moves)
        for i in range(len(s)):
            seen[i] = set() if term[i] else seen[i] | {s[i, : g.cells].tobytes()}
        s[term] = g.initial(int(term.sum()))
    assert forbidden > 0  # the games did meet superko


def test_go_superko_in_the_pettingzoo_env() -> None:
    """The env's action mask refuses the move that would repeat the position; playing it anyway
    ends the game as any illegal move does (PettingZoo's TerminateIllegalWrapper)."""
    import sandbox

    env = sandbox.make_env("go9")
    env.reset()
    env.step(81)  # Black passes: White is to move, as in the hand-built position
    g = env.unwrapped.game
    env.unwrapped.state_ = go_state(g, TRIPLE_KO, to_play=1)
    for name in CYCLE[:-1]:
        assert env.observe(env.agent_selection)["action_mask"][AT[name]] == 1, name
        env.step(AT[name])
    assert env.agent_selection == "white_0"
    assert env.observe("white_0")["action_mask"][AT[CYCLE[-1]]] == 0
    env.step(AT[CYCLE[-1]])
    assert env.terminations["white_0"] and env.rewards["white_0"] == -1
