"""A Connect Four solver: the game-theoretic value of a position and of each of its moves.

It judges end-game play (``benchmarks/alphazero_connect4.py``): pure Python ints, fast for
positions with up to about 14 empty cells (an open board may take hours). The search follows
Pascal Pons' solver (http://blog.gamesolver.org, https://github.com/PascalPons/connect4):

- **Bitboard.** Bit ``7*c + r`` is column ``c`` (0 left .. 6 right), row ``r`` (0 bottom .. 5
  top); bit ``7*c + 6`` is a sentinel row, always empty, so that no shift carries a line from one
  column into the next. A position is ``current`` (the stones of the player to move) and ``mask``
  (all stones); ``current + mask`` is a unique key.
- **Negamax with alpha-beta**, searched with null windows (is the score above ``m``?) narrowed by
  bisection, as Pons' ``solve`` does.
- **A transposition table** holding a lower and an upper bound of each searched position's score,
  kept across searches (the bounds are absolute, so a solver that judges many positions of the
  same games reuses them).
- **Move ordering**: the moves that make the most threats (empty cells that would complete a four)
  first, centre columns first among equals; moves that hand the opponent a win are never searched.

Scores are Pons': 0 a draw; a win with one's ``k``-th stone is ``22 - k`` (positive for the player
to move, negative when the opponent wins), so a faster win scores higher. Values are the sign of
the score: +1 win, 0 draw, -1 loss, for the player to move.

    python benchmarks/connect4_solver.py [--positions 40] [--empties 8 10 12 14]

measures the solver's speed (every move of positions from random games) and prints a table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

WIDTH, HEIGHT = 7, 6
H1 = HEIGHT + 1  # bits per column, the sentinel row included
CELLS = WIDTH * HEIGHT
BOTTOM = sum(1 << (c * H1) for c in range(WIDTH))  # the bottom cell of every column
BOARD = BOTTOM * ((1 << HEIGHT) - 1)  # every playable cell
COLUMN = tuple(((1 << HEIGHT) - 1) << (c * H1) for c in range(WIDTH))
TOP = tuple(1 << (HEIGHT - 1 + c * H1) for c in range(WIDTH))
#: columns in the order they are tried, centre first (centre columns take part in the most lines)
CENTRE_FIRST = (3, 2, 4, 1, 5, 0, 6)


# -- bitboard helpers -----------------------------------------------------------------------------
def winning_cells(stones: int, mask: int) -> int:
    """The empty cells (reachable or not) that would complete a four for ``stones``."""
    # vertical: three stones right below
    r = (stones << 1) & (stones << 2) & (stones << 3)
    for s in (H1, H1 - 1, H1 + 1):  # horizontal, diagonal (down-right), diagonal (up-right)
        p = (stones << s) & (stones << 2 * s)
        r |= p & (stones << 3 * s)  # three to one side
        r |= p & (stones >> s)  # two to one side, one to the other
        p = (stones >> s) & (stones >> 2 * s)
        r |= p & (stones << s)
        r |= p & (stones >> 3 * s)
    return r & (BOARD ^ mask)


def has_four(stones: int) -> bool:
    """Whether ``stones`` hold four in a line."""
    for s in (1, H1, H1 - 1, H1 + 1):
        m = stones & (stones >> s)
        if m & (m >> 2 * s):
            return True
    return False


def playable(mask: int) -> int:
    """The cell each non-full column would take next."""
    return (mask + BOTTOM) & BOARD


@dataclass(frozen=True)
class Position:
    """A Connect Four position: ``current`` the stones of the player to move, ``mask`` all stones,
    ``moves`` the stones played (even: the first player is to move)."""

    current: int
    mask: int
    moves: int

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Position:
        return cls(0, 0, 0)

    @classmethod
    def from_moves(cls, moves: str) -> Position:
        """The position after ``moves``, a string of column digits 1 (left) to 7 (right), the
        first player's move first (the common notation: "4453" is 4, 4, 5, 3)."""
        pos, moves = cls.empty(), str(moves).strip()
        for i, ch in enumerate(moves):
            if ch not in "1234567":
                raise ValueError(f"move {i + 1} of {moves!r} is {ch!r}; moves are column digits 1 to 7.")
            col = int(ch) - 1
            if not pos.can_play(col):
                raise ValueError(f"move {i + 1} of {moves!r} plays column {ch}, which is full.")
            if pos.is_winning_move(col):
                raise ValueError(f"move {i + 1} of {moves!r} wins the game: the position would be over, and the solver judges open ones.")
            pos = pos.play(col)
        return pos

    @classmethod
    def from_state(cls, state: np.ndarray) -> Position:
        """The position of a state row of the sandbox's Connect Four rules core
        (``sandbox.envs.games.connect_four``): 42 cells row-major with row 0 at the top (0 empty,
        1 the first player's stone, 2 the second's), then the player to move (0 or 1)."""
        state = np.asarray(state)
        if state.ndim != 1 or len(state) < CELLS + 1:
            raise ValueError(f"a Connect Four state is one row of at least {CELLS + 1} numbers, not shape {state.shape}.")
        board = state[:CELLS].reshape(HEIGHT, WIDTH)
        mover = int(state[CELLS])
        if mover not in (0, 1) or not np.isin(board, (0, 1, 2)).all():
            raise ValueError("a Connect Four state holds cells 0, 1, 2 and a player to move of 0 or 1.")
        stones = [0, 0]
        for c in range(WIDTH):
            col = board[::-1, c]  # bottom first
            height = int(np.count_nonzero(col))
            if np.any(col[:height] == 0):
                raise ValueError(f"column {c + 1} of the state has a stone above an empty cell.")
            for r in range(height):
                stones[int(col[r]) - 1] |= 1 << (c * H1 + r)
        n0, n1 = stones[0].bit_count(), stones[1].bit_count()
        if n1 > n0 or n0 > n1 + 1 or mover != n0 - n1:
            raise ValueError(f"the state has {n0} first-player and {n1} second-player stones with player {mover} to move; "
                             "that cannot happen in a game.")
        if has_four(stones[0]) or has_four(stones[1]):
            raise ValueError("the state holds four in a line: the game is over.")
        return cls(stones[mover], stones[0] | stones[1], n0 + n1)

    def to_state(self) -> np.ndarray:
        """The sandbox rules core's state row (int16, 43 numbers) of this position."""
        state = np.zeros(CELLS + 1, np.int16)
        mover = self.moves % 2
        for c in range(WIDTH):
            for r in range(HEIGHT):
                bit = 1 << (c * H1 + r)
                if self.mask & bit:
                    state[(HEIGHT - 1 - r) * WIDTH + c] = (mover if self.current & bit else 1 - mover) + 1
        state[CELLS] = mover
        return state

    # -- moves ----------------------------------------------------------------------------------
    def can_play(self, col: int) -> bool:
        return 0 <= col < WIDTH and not self.mask & TOP[col]

    def legal(self) -> list[int]:
        """The columns that are not full, left to right."""
        return [c for c in range(WIDTH) if not self.mask & TOP[c]]

    def play(self, col: int) -> Position:
        """The position after the player to move drops a stone in ``col`` (0..6)."""
        move = (self.mask + (1 << (col * H1))) & COLUMN[col]
        return Position(self.current ^ self.mask, self.mask | move, self.moves + 1)

    def is_winning_move(self, col: int) -> bool:
        """Whether dropping a stone in ``col`` completes a four for the player to move."""
        return bool(winning_cells(self.current, self.mask) & playable(self.mask) & COLUMN[col])

    def is_full(self) -> bool:
        return self.moves >= CELLS

    def key(self) -> int:
        return self.current + self.mask

    def __str__(self) -> str:
        """The board as text, top row first (X the first player, O the second, as the sandbox's
        ``Game.text`` draws it)."""
        return "\n".join(" ".join(".XO"[int(v)] for v in row) for row in self.to_state()[:CELLS].reshape(HEIGHT, WIDTH))


@dataclass(frozen=True)
class Solution:
    """A solved position: ``value`` (+1 win, 0 draw, -1 loss for the player to move) and each
    legal move's ``moves[col]`` (the value, for the player to move, of playing ``col``). With
    ``exact``, ``score`` and ``scores[col]`` are Pons' scores (a faster win scores higher)."""

    value: int
    moves: dict[int, int]
    score: int | None = None
    scores: dict[int, int] | None = None

    @property
    def best(self) -> list[int]:
        """Every move that keeps the position's value."""
        return [c for c, v in self.moves.items() if v == self.value]


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


class Solver:
    """Negamax with alpha-beta and a transposition table. One solver judges many positions; its
    table is kept between them (cleared when it holds ``table_size`` positions)."""

    def __init__(self, table_size: int = 2_000_000) -> None:
        self.table: dict[int, tuple[int, int]] = {}
        self.table_size = table_size
        self.nodes = 0

    # -- the search -----------------------------------------------------------------------------
    def _negamax(self, cur: int, mask: int, moves: int, alpha: int, beta: int) -> int:
        """The score of a position whose player to move cannot win at once, within (alpha, beta):
        the exact score when it lies inside, else a bound on the side it fell (fail-hard)."""
        self.nodes += 1
        # 1. Moves that do not hand the opponent a win: a forced block if the opponent has one
        # playable winning cell (none if two: lost), never a cell right below an opponent's win.
        opp_win = winning_cells(cur ^ mask, mask)
        possible = (mask + BOTTOM) & BOARD
        forced = possible & opp_win
        if forced:
            if forced & (forced - 1):
                return -((CELLS - moves) // 2)  # the opponent wins with their next stone
            possible = forced
        possible &= ~(opp_win >> 1)
        if not possible:
            return -((CELLS - moves) // 2)
        if moves >= CELLS - 2:
            return 0  # two cells left, no win for either (Pons' argument): a draw
        # 2. Bounds from the stones left: the opponent cannot win next move, we cannot win now.
        low = -((CELLS - 2 - moves) // 2)
        if alpha < low:
            alpha = low
            if alpha >= beta:
                return alpha
        high = (CELLS - 1 - moves) // 2
        # 3. The transposition table's bounds on this position's score.
        key = cur + mask
        entry = self.table.get(key)
        if entry is not None:
            lo, hi = entry
            if hi < high:
                high = hi
            if lo > alpha:
                alpha = lo
        if beta > high:
            beta = high
            if alpha >= beta:
                return beta
        if alpha >= beta:
            return alpha
        # 4. Order the moves: most new threats first, centre first among equals.
        children = []
        for i, c in enumerate(CENTRE_FIRST):
            move = possible & COLUMN[c]
            if move:
                threats = winning_cells(cur | move, mask).bit_count()
                children.append((-threats, i, move))
        children.sort()
        # 5. Search them; a score at or above beta cuts.
        for _, _, move in children:
            score = -self._negamax(cur ^ mask, mask | move, moves + 1, -beta, -alpha)
            if score >= beta:
                self._store(key, score, None)
                return score
            if score > alpha:
                alpha = score
        self._store(key, None, alpha)  # every move fell at or below alpha: an upper bound
        return alpha

    def _store(self, key: int, lower: int | None, upper: int | None) -> None:
        if len(self.table) >= self.table_size:
            self.table.clear()
        lo, hi = self.table.get(key, (-CELLS, CELLS))
        if lower is not None and lower > lo:
            lo = lower
        if upper is not None and upper < hi:
            hi = upper
        self.table[key] = (lo, hi)

    def score(self, pos: Position, exact: bool = True) -> int:
        """Pons' score of ``pos`` for the player to move (with ``exact=False`` only its sign:
        +1, 0 or -1, which is faster)."""
        cur, mask, moves = pos.current, pos.mask, pos.moves
        if has_four(cur ^ mask) or has_four(cur):
            raise ValueError("the position holds four in a line: the game is over.")
        if moves >= CELLS:
            return 0
        if winning_cells(cur, mask) & playable(mask):
            return 1 if not exact else (CELLS + 1 - moves) // 2
        lo, hi = -((CELLS - moves) // 2), (CELLS + 1 - moves) // 2
        if not exact:
            lo, hi = -1, 1
        # null-window searches, bisecting [lo, hi] (towards 0 first: most positions are near it)
        while lo < hi:
            med = lo + (hi - lo) // 2
            if med <= 0 and int(lo / 2) < med:
                med = int(lo / 2)
            elif med >= 0 and int(hi / 2) > med:
                med = int(hi / 2)
            r = self._negamax(cur, mask, moves, med, med + 1)
            if r <= med:
                hi = r
            else:
                lo = r
        return lo

    def value(self, pos: Position) -> int:
        """+1 if the player to move wins, 0 a draw, -1 a loss (under perfect play)."""
        return sign(self.score(pos, exact=False))

    def move_score(self, pos: Position, col: int, exact: bool = True) -> int:
        """The score, for the player to move, of playing ``col`` (with ``exact=False`` its sign)."""
        if not pos.can_play(col):
            raise ValueError(f"column {col + 1} is full or off the board; the legal columns are {[c + 1 for c in pos.legal()]}.")
        if pos.is_winning_move(col):
            return (CELLS + 1 - pos.moves) // 2 if exact else 1
        child = pos.play(col)
        return -self.score(child, exact)

    def solve(self, pos: Position, exact: bool = False) -> Solution:
        """The value of ``pos`` and of each legal move (and Pons' scores with ``exact``)."""
        if pos.is_full():
            self.score(pos)  # refuses a finished game
            return Solution(0, {}, 0 if exact else None, {} if exact else None)
        scores = {c: self.move_score(pos, c, exact) for c in pos.legal()}
        moves = {c: sign(s) for c, s in scores.items()}
        best = max(scores.values())
        return Solution(sign(best), moves, best if exact else None, scores if exact else None)


# -- speed ----------------------------------------------------------------------------------------
def random_positions(empties: int, n: int, seed: int = 0) -> list[Position]:
    """``n`` distinct non-terminal positions with ``empties`` empty cells from games of a careful
    random player (it takes a win, blocks the opponent's, never plays under the opponent's winning
    cell, else plays at random); games that end earlier are thrown away."""
    rng = np.random.default_rng(seed)
    seen: dict[int, Position] = {}
    tries = 0
    while len(seen) < n and tries < 200 * n:
        tries += 1
        pos = Position.empty()
        while pos.moves < CELLS - empties:
            legal = pos.legal()
            if any(pos.is_winning_move(c) for c in legal):
                break
            opp_win = winning_cells(pos.current ^ pos.mask, pos.mask)
            forced = [c for c in legal if playable(pos.mask) & opp_win & COLUMN[c]]
            safe = [c for c in legal if not (opp_win >> 1) & playable(pos.mask) & COLUMN[c]]
            col = int(rng.choice(forced or safe or legal))
            pos = pos.play(col)
        else:
            seen.setdefault(pos.key(), pos)
    return list(seen.values())


def measure(empties: list[int], n: int, exact: bool = False) -> list[dict[str, Any]]:
    """Positions per second with every move solved, a fresh solver for each position."""
    rows = []
    for e in empties:
        positions = random_positions(e, n, seed=e)
        nodes, worst = 0, 0.0
        t0 = time.perf_counter()
        for pos in positions:
            s = Solver()
            t = time.perf_counter()
            s.solve(pos, exact=exact)
            worst = max(worst, time.perf_counter() - t)
            nodes += s.nodes
        dt = time.perf_counter() - t0
        rows.append({"empties": e, "positions": len(positions), "seconds": round(dt, 2), "positions_per_s": round(len(positions) / dt, 2),
                     "worst_s": round(worst, 3), "nodes_per_position": round(nodes / max(len(positions), 1)), "nodes_per_s": round(nodes / dt)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--positions", type=int, default=40)
    ap.add_argument("--empties", type=int, nargs="*", default=[8, 10, 12, 14])
    ap.add_argument("--exact", action="store_true", help="Pons' exact scores, not only win/draw/loss")
    args = ap.parse_args()
    rows = measure(args.empties, args.positions, args.exact)
    print(f"\nConnect Four solver, every move of positions from careful random games ({'exact scores' if args.exact else 'win/draw/loss'})")
    print(f"{'empties':>8}{'positions':>11}{'seconds':>9}{'pos/s':>8}{'worst s':>9}{'nodes/pos':>11}{'nodes/s':>9}")
    for r in rows:
        print(f"{r['empties']:>8}{r['positions']:>11}{r['seconds']:>9}{r['positions_per_s']:>8}{r['worst_s']:>9}{r['nodes_per_position']:>11}{r['nodes_per_s']:>9}")


if __name__ == "__main__":
    main()
