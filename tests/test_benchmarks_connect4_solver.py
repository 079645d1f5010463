"""The Connect Four solver that judges end-game play (benchmarks/connect4_solver.py): against
positions solved by hand, against exhaustive minimax without pruning or table (on its own
bitboard, and on the sandbox's rules core), and converting from the rules core's states and from
move strings."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.connect4_solver import CELLS, COLUMN, TOP, Position, Solver, has_four, random_positions  # noqa: E402
from sandbox.envs.games.connect_four import ConnectFour  # noqa: E402

GAME = ConnectFour()


def from_rows(rows: str) -> Position:
    """A position drawn as text, top row first (X the first player, O the second, . empty)."""
    board = np.array([[".XO".index(ch) for ch in line.split()] for line in rows.strip().splitlines()])
    assert board.shape == (6, 7)
    state = np.zeros(43, np.int16)
    state[:42] = board.reshape(-1)
    state[42] = int((board == 1).sum() - (board == 2).sum())
    return Position.from_state(state)


def state_after(moves: str) -> np.ndarray:
    """The rules core's state after a move string (column digits 1 to 7)."""
    s = GAME.initial(1)
    for ch in moves:
        s, term, _ = GAME.step(s, np.array([int(ch) - 1]))
        assert not term[0]
    return s[0]


# -- hand-solved ------------------------------------------------------------------------------------
def test_immediate_win():
    # X has three on the bottom row (columns 1-3), O three above them: X drops in column 4 and wins
    # with its 4th stone, 22 - 4 = 18
    pos = Position.from_moves("112233")
    solver = Solver()
    assert pos.is_winning_move(3) and [c for c in pos.legal() if pos.is_winning_move(c)] == [3]
    assert solver.value(pos) == 1 and solver.score(pos) == 18
    assert solver.move_score(pos, 3) == 18


def test_forced_block():
    # O to move after 1,1,2,2,3: X threatens column 4 on the bottom row; every other move loses at
    # once (X wins with its 4th stone: -18 for O)
    pos = Position.from_moves("11223")
    solver = Solver()
    for c in (0, 1, 2, 4, 5, 6):
        assert solver.move_score(pos, c, exact=False) == -1
        assert solver.move_score(pos, c) == -18


def test_win_in_two_double_threat():
    # X: 3 and 4 on the bottom row, O on top of them; X plays column 5 (or 2): three in a row with
    # both ends open on the bottom row, O blocks one end, X takes the other with its 4th stone
    pos = Position.from_moves("3344")
    solver = Solver()
    assert solver.value(pos) == 1 and solver.score(pos) == 18
    assert solver.move_score(pos, 4) == 18 and solver.move_score(pos, 1) == 18


def test_lost_to_a_double_threat():
    # O to move against X's open three on the bottom row (columns 3-5): whatever O blocks, X wins on
    # the other end with its 4th stone; every O move scores -18
    pos = Position.from_moves("33445")
    sol = Solver().solve(pos, exact=True)
    assert sol.value == -1 and set(sol.moves.values()) == {-1}
    assert sol.score == -18 and set(sol.scores.values()) == {-18}


def test_win_in_three():
    # . . . . . . .      X to move. Column 6 (bottom row X X X in columns 4-6) threatens column
    # . . . . . . .      7, which O must block; then column 5 makes X X X on the second row
    # . . . O . . .      (columns 3-5) with both ends playable (above O in column 2, above X in
    # . . . O . . .      column 6): O blocks one, X wins with the other, its 7th stone: 22 - 7 = 15
    # . . X X . . .
    # . O O X X . .
    pos = Position.from_moves("43443452")
    solver = Solver()
    assert str(pos).splitlines()[-1] == ". O O X X . ."
    assert solver.value(pos) == 1
    assert solver.move_score(pos, 5) == 15 and solver.score(pos) == 15


DEAD_DRAW = """
. X . O . X .
. O . X . O .
X X O O X X O
O O X X O O X
X X O O X X O
O O X X O O X
"""


def lines() -> list[list[tuple[int, int]]]:
    """The 69 lines of four cells (row, column) of the board."""
    out = []
    for r in range(6):
        for c in range(7):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + i * dr, c + i * dc) for i in range(4)]
                if all(0 <= a < 6 and 0 <= b < 7 for a, b in cells):
                    out.append(cells)
    return out


def test_draw_of_a_nearly_full_board_with_every_line_dead():
    # 8 empty cells, X to move; every line of four through an empty cell already holds stones of
    # both players, so no four can ever be made: a draw however it is played, every move a draw
    board = [row.split() for row in DEAD_DRAW.strip().splitlines()]
    assert len(lines()) == 69
    for line in lines():
        if any(board[r][c] == "." for r, c in line):
            assert {board[r][c] for r, c in line} >= {"X", "O"}, line
    pos = from_rows(DEAD_DRAW)
    assert pos.moves == 34 and pos.moves % 2 == 0
    sol = Solver().solve(pos, exact=True)
    assert sol.value == 0 and sol.moves == {c: 0 for c in (0, 2, 4, 6)} and sol.score == 0
    assert brute_force(pos) == 0


def test_full_board_is_a_draw_and_a_finished_game_is_refused():
    full = DEAD_DRAW.replace(". X . O . X .", "X X O O X X O").replace(". O . X . O .", "O O X X O O X")
    sol = Solver().solve(from_rows(full), exact=True)
    assert sol.value == 0 and sol.moves == {} and sol.score == 0
    won = GAME.initial(1)
    for a in (0, 1, 0, 1, 0, 1, 0):
        won, term, _ = GAME.step(won, np.array([a]))
    assert term[0]
    with pytest.raises(ValueError, match="four in a line"):
        Position.from_state(won[0])


# -- brute force ------------------------------------------------------------------------------------
def brute_force(pos: Position) -> int:
    """Pons' score by plain exhaustive minimax on the bitboard: no pruning, no table, no ordering."""
    best = None
    for c in range(7):
        if pos.mask & TOP[c]:
            continue
        move = (pos.mask + (1 << (7 * c))) & COLUMN[c]
        if has_four(pos.current | move):
            s = (CELLS + 1 - pos.moves) // 2
        elif pos.moves + 1 == CELLS:
            s = 0
        else:
            s = -brute_force(Position(pos.current ^ pos.mask, pos.mask | move, pos.moves + 1))
        best = s if best is None else max(best, s)
    assert best is not None
    return best


def uniform_random_positions(empties: int, n: int, seed: int) -> list[Position]:
    """Non-terminal positions with ``empties`` empty cells from uniformly random games."""
    rng = np.random.default_rng(seed)
    out: list[Position] = []
    while len(out) < n:
        pos = Position.empty()
        while pos.moves < CELLS - empties:
            c = int(rng.choice(pos.legal()))
            if pos.is_winning_move(c):
                break
            pos = pos.play(c)
        else:
            out.append(pos)
    return out


def test_solver_agrees_with_plain_exhaustive_minimax():
    positions = [p for e in (4, 6, 8) for p in random_positions(e, 6, seed=e) + uniform_random_positions(e, 4, seed=e)]
    positions += random_positions(9, 4, seed=9)
    solver = Solver()
    values = set()
    for pos in positions:
        sol = solver.solve(pos, exact=True)
        for c, score in sol.scores.items():
            child_best = brute_force_move(pos, c)
            assert score == child_best, (str(pos), c)
            assert sol.moves[c] == np.sign(child_best)
        assert sol.score == brute_force(pos) == max(sol.scores.values())
        assert Solver().value(pos) == np.sign(sol.score)  # a fresh table and the weak search agree
        values.add(sol.value)
    assert values == {-1, 0, 1}  # the positions hold wins, draws and losses


def brute_force_move(pos: Position, c: int) -> int:
    if pos.is_winning_move(c):
        return (CELLS + 1 - pos.moves) // 2
    child = pos.play(c)
    return 0 if child.is_full() else -brute_force(child)


def rules_core_minimax(state: np.ndarray) -> dict[int, int]:
    """Pons' score of every legal move of ``state``, by exhaustive minimax over the sandbox's rules
    core (``ConnectFour.step`` decides every win and draw), level by level with equal positions
    merged; no pruning."""
    moves0 = int(np.count_nonzero(state[:42]))
    frontier = state[None].astype(np.int16)
    levels = []
    while len(frontier):
        parent, action = np.nonzero(GAME.legal(frontier))
        nxt, term, reward = GAME.step(frontier[parent], action)
        won = np.where(reward > 0, (CELLS + 1 - (moves0 + len(levels))) // 2, 0)
        uniq, inverse = np.unique(nxt[~term], axis=0, return_inverse=True)
        child = np.full(len(parent), -1)
        child[~term] = inverse.reshape(-1)
        levels.append((len(frontier), parent, action, child, won))
        frontier = uniq
    below = np.zeros(0, np.int64)
    for n, parent, action, child, won in reversed(levels):
        edge = np.where(child >= 0, -below[np.maximum(child, 0)] if len(below) else 0, won)
        best = np.full(n, -10**6)
        np.maximum.at(best, parent, edge)
        below, top_edges = best, (action, edge)
    return {int(a): int(v) for a, v in zip(*top_edges)}


def test_solver_agrees_with_exhaustive_minimax_on_the_rules_core():
    # 10 to 14 empty cells: the end game the benchmark judges
    positions = random_positions(10, 4, seed=10) + random_positions(12, 3, seed=12) + uniform_random_positions(11, 3, seed=11)
    positions += random_positions(14, 4, seed=14)
    solver = Solver()
    for pos in positions:
        state = pos.to_state()
        assert Position.from_state(state) == pos
        assert solver.solve(pos, exact=True).scores == rules_core_minimax(state), str(pos)


def test_move_values_agree_with_the_rules_cores_terminal_detection():
    solver = Solver()
    wins = draws = 0
    for pos in random_positions(1, 5, seed=1) + random_positions(5, 10, seed=5) + uniform_random_positions(7, 10, seed=7):
        state = pos.to_state()
        sol = solver.solve(pos, exact=True)
        assert sorted(sol.moves) == list(np.nonzero(GAME.legal(state[None])[0])[0])
        for c in pos.legal():
            nxt, term, reward = GAME.step(state[None], np.array([c]))
            assert pos.is_winning_move(c) == bool(reward[0] > 0)
            if reward[0] > 0:  # the rules core ends the game with a win: the solver's fastest win
                wins += 1
                assert sol.scores[c] == (CELLS + 1 - pos.moves) // 2
            elif term[0]:  # the board filled with no four: a draw
                draws += 1
                assert sol.scores[c] == 0
            else:
                assert Position.from_state(nxt[0]) == pos.play(c)
                assert np.array_equal(pos.play(c).to_state(), nxt[0])
    assert wins and draws


# -- conversions ------------------------------------------------------------------------------------
def test_conversions_from_states_and_move_strings():
    for moves in ("", "4", "44", "4455", "1234567", "7777776", "444444"):
        pos = Position.from_moves(moves)
        state = state_after(moves)
        assert Position.from_state(state) == pos and np.array_equal(pos.to_state(), state)
        assert pos.moves == len(moves)
    pos = Position.from_moves("4")
    assert str(pos).splitlines()[-1] == ". . . X . . ."
    # the player to move is the one whose stones are 'current'
    assert pos.current == 0 and pos.mask == 1 << 21
    assert Position.from_moves("44").current == 1 << 21


@pytest.mark.parametrize("moves, match", [("48", "column digits 1 to 7"), ("4a", "column digits"), ("4444444", "full"),
                                          ("1212121", "wins the game"), ("12121213", "wins the game")])
def test_bad_move_strings_are_refused(moves, match):
    with pytest.raises(ValueError, match=match):
        Position.from_moves(moves)


def test_bad_states_are_refused():
    floating = np.zeros(43, np.int16)
    floating[0] = 1  # a stone in the top row of an empty column
    with pytest.raises(ValueError, match="above an empty cell"):
        Position.from_state(floating)
    wrong_mover = state_after("44").copy()
    wrong_mover[42] = 1
    with pytest.raises(ValueError, match="cannot happen"):
        Position.from_state(wrong_mover)
    with pytest.raises(ValueError, match="one row"):
        Position.from_state(np.zeros((2, 43)))
    with pytest.raises(ValueError, match="full or off the board"):
        Solver().move_score(Position.from_moves("444444"), 3)


# -- the judge of benchmarks/alphazero_connect4.py ----------------------------------------------------
class LeftmostAgent:
    """A stand-in agent with the public face the benchmark uses: it plays the leftmost legal column."""

    game = GAME

    def act(self, observation, action_mask=None, deterministic=True):
        return int(np.flatnonzero(observation["action_mask"])[0])


def test_end_game_positions_are_kept_once_and_judged_by_their_solved_values():
    from benchmarks.alphazero_connect4 import add_end_game, judge, mirrored

    positions = random_positions(8, 6, seed=3) + random_positions(13, 6, seed=4)
    states = [p.to_state() for p in positions]
    found: dict = {}
    opening = Position.from_moves("4455").to_state()  # 38 empty cells: not an end-game position
    add_end_game(states + [mirrored(s) for s in states] + [opening], found, "test")
    assert len(found) == len(states)
    report = judge(LeftmostAgent(), [s for s, _ in found.values()], Solver())
    expected = 0
    for p in positions:  # the leftmost move's outcome worse than the best move's, by exhaustive minimax
        scores = rules_core_minimax(p.to_state())
        expected += int(np.sign(scores[p.legal()[0]]) < np.sign(max(scores.values())))
    assert report["positions"] == 12 and report["mistakes"] == expected > 0
    assert report["mistake_rate"] == expected / 12
    assert sum(v["positions"] for v in report["by_empties"].values()) == 12
    assert all(m["move"] == int(np.flatnonzero(np.array(m["state"][:7]) == 0)[0]) for m in report["mistaken_positions"])


def test_the_move_that_lost_a_match_game_is_found():
    """The benchmark's lost-game report: in a game the agent lost, the last of its moves that turned
    a won or drawn position into a lost one, by exhaustive minimax."""
    from benchmarks.alphazero_connect4 import losing_moves

    def played_out(pos: Position, col: int) -> list:
        """The game from ``pos``: the agent plays ``col``, then both sides' best moves until a four."""
        game, who = [], "agent"
        while True:
            game.append((who, pos.to_state(), col))
            if pos.is_winning_move(col) or pos.moves == CELLS - 1:
                return game
            pos, who = pos.play(col), ("mcts:1000" if who == "agent" else "agent")
            s = rules_core_minimax(pos.to_state())
            col = max(s, key=s.get)

    # an end-game position, the first player (the agent) to move, won, with a move that loses it more than a move later
    for p in random_positions(8, 50, seed=5):
        scores = rules_core_minimax(p.to_state())
        if max(scores.values()) > 0 and min(scores.values()) < 0:
            blunder = max((c for c, v in scores.items() if v < 0), key=scores.get)  # the slowest loss
            game = played_out(p, blunder)
            if len(game) >= 4:
                break
    else:
        pytest.fail("no won position among 50 with a move that loses it more than a move later")
    assert game[-1][0] == "mcts:1000"
    won = [("mcts:1000", p.play(blunder).to_state(), 0), ("agent", Position.from_moves("112233").to_state(), 3)]  # its four ends it
    log = {0: game, 1: won, 2: game[1:]}
    report = losing_moves(log, Solver())
    assert [g["game"] for g in report] == [0, 2]  # game 1 the agent won
    assert report[0] == {"game": 0, "agent_moved": "first", "moves": "".join(str(c + 1) for _, _, c in game), "ply": 1, "empty": 8,
                         "position": "win", "played": blunder + 1, "best": sorted(c + 1 for c, v in scores.items() if v > 0)}
    assert report[1]["ply"] is None  # from its first position on, the agent was lost
    assert losing_moves({0: game}, Solver(), max_empty=7)[0]["ply"] is None  # the blunder had 8 empty cells: not solved


def test_the_mid_game_band_keeps_its_own_empty_cells_and_judges_them():
    import argparse

    from benchmarks.alphazero_connect4 import add_end_game, empty_range, judge

    assert empty_range("15-22") == (15, 22) and empty_range("0") is None
    for bad in ("15", "22-15", "0-3", "a-b"):
        with pytest.raises(argparse.ArgumentTypeError):
            empty_range(bad)
    positions = random_positions(15, 3, seed=6) + random_positions(9, 3, seed=7)
    found: dict = {}
    add_end_game([p.to_state() for p in positions], found, "test", (15, 16))
    assert sorted(42 - int(np.count_nonzero(s[:42])) for s, _ in found.values()) == [15, 15, 15]
    report = judge(LeftmostAgent(), [s for s, _ in found.values()], Solver(), (15, 16))
    assert report["positions"] == 3 and list(report["by_empties"]) == ["15", "16"] and report["by_empties"]["15"]["positions"] == 3


# -- benchmarks/alphazero_connect4_levers.py ------------------------------------------------------
class LeftmostPriorAgent:
    """A stand-in agent for the levers benchmark: its network puts all the prior on the leftmost
    legal column, so a search of one simulation plays it."""

    game = GAME

    def __init__(self) -> None:
        from sandbox.agents.alphazero.search import SearchConfig

        self.eval_cfg = SearchConfig()

    def evaluator(self, symmetries: int = 1):
        def evaluate(states, legal):
            priors = np.zeros(legal.shape, np.float32)
            priors[np.arange(len(legal)), np.argmax(legal, 1)] = 1.0
            return priors, np.zeros(len(states), np.float32)

        return evaluate


def test_levers_keep_the_decisive_positions_and_count_each_settings_mistakes():
    from benchmarks.alphazero_connect4_levers import judge, solve_decisive

    positions = random_positions(8, 10, seed=8) + random_positions(9, 10, seed=9)
    states, values, moves = solve_decisive([p.to_state() for p in positions])
    expected_keep, expected_mistakes = 0, 0
    for p in positions:  # by exhaustive minimax: decisive when the moves' outcomes differ
        scores = {c: int(np.sign(v)) for c, v in rules_core_minimax(p.to_state()).items()}
        if len(set(scores.values())) > 1:
            expected_keep += 1
            expected_mistakes += int(scores[p.legal()[0]] < max(scores.values()))
    assert len(states) == len(values) == len(moves) == expected_keep > 0
    assert np.all(moves.max(1) == values) and np.all(moves.min(1) >= -2)
    report = judge(LeftmostPriorAgent(), states, values, moves, {"simulations": 1})
    assert report["positions"] == expected_keep and report["mistakes"] == expected_mistakes > 0
    assert sum(report["by_empties"].values()) == expected_mistakes and set(report["by_empties"]) <= {"8", "9"}


def test_a_round_of_games_keeps_every_position_of_both_sides():
    """benchmarks' round_positions (both C4 benchmarks gather end-game positions with it): every
    position either side moved in, of every game, against itself or pure MCTS."""
    from benchmarks.alphazero_connect4 import round_positions
    from sandbox.agents.alphazero.opponents import SearchPlayer
    from sandbox.agents.alphazero.search import SearchConfig

    class OneSimulationAgent(LeftmostPriorAgent):
        def player(self, name, random_opening=0, seed=0):
            return SearchPlayer(GAME, self.evaluator(), SearchConfig(simulations=1), name, seed, random_opening)

    for kind in ("self-play", "mcts"):
        seen = round_positions(OneSimulationAgent(), kind, 0, 3, 20, (1, 2))
        pieces = [int(np.count_nonzero(s[:42])) for s in seen]
        by_count = [pieces.count(k) for k in range(max(pieces) + 1)]
        assert by_count[0] == 3  # each game's first position, once
        assert all(a >= b for a, b in zip(by_count, by_count[1:])) and min(by_count) >= 1  # no ply of a game missing
        if kind == "self-play":  # the stand-in against itself plays one fixed game: 3 copies of each of its positions
            assert by_count == [3] * len(by_count) and len({s.tobytes() for s in seen}) == len(by_count)


@pytest.mark.parametrize("text,match", [("800:sims=800", "its keys are"), ("x:simulations=many", "simulations is a whole number"),
                                        ("x:solver=maybe", "true or false"), ("mirror:symmetries=2", "needs a name and simulations"),
                                        (":simulations=8", "needs a name")])
def test_levers_settings_are_parsed_or_refused_in_one_sentence(text, match):
    from benchmarks.alphazero_connect4_levers import parse_setting

    assert parse_setting("800+mirror:simulations=800,symmetries=2,solver=true,c_puct=1.5") == (
        "800+mirror", {"simulations": 800, "symmetries": 2, "solver": True, "c_puct": 1.5})
    with pytest.raises(SystemExit, match=match):
        parse_setting(text)
