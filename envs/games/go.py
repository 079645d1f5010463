"""Go on a small board (9×9 by default): captures, positional superko, suicide refused, area scoring.

The rules core steps many boards at once with NumPy: stones are grouped by connected-component
labelling (SciPy's, 4-connected within each board), liberties are counted per label, and the score is Tromp-Taylor's area
count (stones plus empty points that reach only one colour) with komi for White. A game also ends
at ``max_moves``.

Positional superko: a stone may not be played where it would recreate a whole-board position seen
before in the game (whoever was to move then), so no position repeats, whatever the length of the
cycle (a triple ko, sending two and returning one, ...); a pass is always legal. Each board is
known by its Zobrist hash (Zobrist 1970: one random 64-bit number per point and colour, XORed over
the stones), and a state row carries the hash of every position its game has passed through, so
the search and the envs need nothing beside the row. :meth:`Go.legal` hashes the board each move
would make (the stone placed, the groups it captures taken off) and masks the ones found in the
history. Simple ko (the point just taken, column ``ko``) is the one-move case, kept for the
observation.

Actions follow PettingZoo ``go_v5``: ``r * N + c`` places a stone on row ``r``, column ``c``; ``N * N``
passes. The observation is ``(N, N, 5)`` int8, from the player to move: its stones, the
opponent's, the ko point it may not take, all ones when Black is to move, all ones when the
opponent has just passed. (PettingZoo's own go_v5 stacks 8 past boards instead; the sandbox Go env
is its own env, so it gives what the search needs to rebuild the position.) The action mask also
refuses superko moves, but the observation does not carry the game's history:
:meth:`Go.from_observation` rebuilds a position that knows simple ko only.
"""

from __future__ import annotations

import numpy as np

from sandbox.envs.games.base import Game, dihedral_inverse, square_symmetry

#: int16 columns of one 64-bit position hash in a state row
_HASH_COLUMNS = 4

_FOUR = np.zeros((3, 3, 3), bool)
_FOUR[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]  # 4-connected within a board, never across boards


def _found_in_rows(keys: np.ndarray, table: np.ndarray, bins: int = 2048) -> np.ndarray:
    """(B, K) bool: whether ``keys[r, k]`` is among ``table[r]`` (uint64, B × T), for all rows at
    once. Comparing every key with every entry of its row costs B·K·T; instead each row's entries
    mark their low bits in a table of ``bins`` flags (a one-hash Bloom filter), every key looks its
    own bits up there, and only the few that hit one (the true ones, and about T / bins of the rest)
    are compared with their row's entries."""
    rows = np.arange(len(keys))[:, None]
    low = np.uint64(bins - 1)
    flags = np.zeros((len(keys), bins), bool)
    flags[rows, (table & low).astype(np.intp)] = True
    r, k = np.nonzero(flags[rows, (keys & low).astype(np.intp)])
    found = np.zeros(keys.shape, bool)
    found[r, k] = (table[r] == keys[r, k][:, None]).any(1)
    return found


class Go(Game):
    """Go with area scoring and komi (Black moves first)."""

    agents = ("black_0", "white_0")
    #: ko point (-1 none), passes in a row, moves played, the last capture's move number (0: none
    #: yet), then the superko history: one hash per move (see ``__init__``)
    extra = 4
    #: own stones, the opponent's, the ko point, Black to move, the opponent just passed; then own
    #: stones in groups of 1, 2 and 3 or more liberties, and the opponent's (atari at a glance: a
    #: small network learns captures and escapes from these far sooner than from the stones alone)
    planes = 11
    num_symmetries = 8
    provable = False  # the search leaves out legal moves (own eyes, early passes)
    point_actions = True

    def __init__(self, size: int = 9, komi: float = 7.5, max_moves: int | None = None) -> None:
        """Go on a ``size``×``size`` board with ``komi`` for White; a game is scored as it stands
        after ``max_moves`` moves (default 1.5 × the points: self-play's cap; a state row keeps one
        position hash a move, so the cap sets its length)."""
        if not 5 <= size <= 19:
            from sandbox.errors import ConfigError

            raise ConfigError(f"go{size}: the board size must be between 5 and 19 (go9 is the usual small board).")
        self.size = size
        self.height = self.width = size
        self.num_actions = size * size + 1
        self.komi = float(komi)
        self.name = f"go{size}"
        self.max_moves = int(max_moves) if max_moves is not None else size * size * 3 // 2
        self.dirichlet_alpha = 0.03 * 361 / (size * size)
        self.pass_action = size * size
        # the superko history: the Zobrist hash (64 bits, four int16 columns) of the board after
        # each move, slot k for move k + 1, one slot per move a game can last
        self.extra = 4 + _HASH_COLUMNS * self.max_moves
        # Zobrist's numbers: one per point and colour (column 0, the empty point, is 0); fixed by the
        # board size, so that every process hashes a position alike
        rng = np.random.default_rng([0x5A0B, size])
        self.zobrist = np.zeros((self.cells, 3), np.uint64)
        self.zobrist[:, 1:] = rng.integers(1, np.iinfo(np.uint64).max, size=(self.cells, 2), dtype=np.uint64, endpoint=True)
        self._zobrist_by_colour = np.ascontiguousarray(self.zobrist.T)  # (3, cells)
        # the four neighbours of each point (up, down, left, right); ``cells`` off the board
        r, c = np.divmod(np.arange(self.cells), size)
        self._next_to = np.full((self.cells, 4), self.cells, np.intp)
        for d, (dr, dc) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
            on = (r + dr >= 0) & (r + dr < size) & (c + dc >= 0) & (c + dc < size)
            self._next_to[on, d] = ((r + dr) * size + c + dc)[on]

    # -- columns of a state row -----------------------------------------------------------------
    @property
    def _ko(self) -> int:
        return self.cells + 1

    @property
    def _passes(self) -> int:
        return self.cells + 2

    @property
    def _moves(self) -> int:
        return self.cells + 3

    @property
    def _captured(self) -> int:
        return self.cells + 4

    @property
    def _history(self) -> int:
        return self.cells + 5

    def initial(self, n: int = 1) -> np.ndarray:
        s = np.zeros((n, self.state_size), np.int16)
        s[:, self._ko] = -1
        return s

    # -- positions and their hashes ---------------------------------------------------------------
    def position_hash(self, states: np.ndarray) -> np.ndarray:
        """(B,) uint64 Zobrist hash of each board (the stones only, not the player to move)."""
        board = states[:, : self.cells].astype(np.intp)
        return np.bitwise_xor.reduce(self.zobrist[np.arange(self.cells), board], axis=1)

    def history(self, states: np.ndarray, length: int | None = None) -> np.ndarray:
        """(B, T) uint64: the hashes of the positions after the first T moves (T = ``length``, else
        the most moves any row has played). Slots a row has not reached yet, and every slot of a
        position rebuilt from an observation, hold 0, the empty board's hash, which no play makes."""
        t = int(min(states[:, self._moves].max(initial=0) if length is None else length, self.max_moves))
        cols = states[:, self._history: self._history + _HASH_COLUMNS * t]
        return np.ascontiguousarray(cols).view(np.uint64)

    def repeatable(self, states: np.ndarray) -> np.ndarray:
        """(B,) how many positions of each row's history a play could recreate: those before its
        last capture, the first ``L - 1`` for a last capture at move ``L`` (0 when there was none).

        Why no later one: no stone has left the board since move L, so every position from P_L
        (the board after move L) to the current one is contained in the current board, stone for
        stone. A play puts a stone on an empty point x and keeps it (suicide is refused), so the
        board it makes holds x, which none of those positions holds."""
        return np.maximum(states[:, self._captured].astype(np.int64) - 1, 0)

    def _record(self, nxt: np.ndarray, moves_before: np.ndarray) -> np.ndarray:
        """Write each new board's hash into its history slot (move number - 1); returns the hashes."""
        h = np.ascontiguousarray(self.position_hash(nxt))
        slot = np.minimum(moves_before.astype(np.int64), self.max_moves - 1)
        cols = self._history + _HASH_COLUMNS * slot[:, None] + np.arange(_HASH_COLUMNS)
        nxt[np.arange(len(nxt))[:, None], cols] = h.view(np.int16).reshape(len(nxt), _HASH_COLUMNS)
        return h

    def _group_hashes(self, board: np.ndarray, lab: np.ndarray, n_labels: int) -> np.ndarray:
        """(n_labels,) uint64: the XOR of the Zobrist numbers of each group's stones (index 0 unused)."""
        flat = board.reshape(len(board), -1).astype(np.intp)
        z = self.zobrist[np.arange(self.cells), flat]
        stones = flat > 0
        gh = np.zeros(n_labels, np.uint64)
        np.bitwise_xor.at(gh, lab.reshape(len(board), -1)[stones], z[stones])
        return gh

    # -- groups and liberties ---------------------------------------------------------------------
    def _pad(self, board: np.ndarray, value: int) -> np.ndarray:
        return np.pad(board, ((0, 0), (1, 1), (1, 1)), constant_values=value)

    def _neighbours(self, padded: np.ndarray) -> list[np.ndarray]:
        n = self.size
        return [padded[:, 0:n, 1:n + 1], padded[:, 2:n + 2, 1:n + 1], padded[:, 1:n + 1, 0:n], padded[:, 1:n + 1, 2:n + 2]]

    def groups(self, board: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group labels (B, N, N), unique over the whole batch (0 on empty points), and the
        liberties of each label (index 0 unused)."""
        from scipy import ndimage

        lb, nb = ndimage.label(board == 1, structure=_FOUR)
        lw, nw = ndimage.label(board == 2, structure=_FOUR)
        lab = np.where(lw > 0, lw + nb, lb)
        empty = board == 0
        libs = np.zeros(nb + nw + 1, np.int64)
        seen: list[np.ndarray] = []
        for l in self._neighbours(self._pad(lab, 0)):
            keep = empty & (l > 0)
            for other in seen:  # an empty point counts once for a group that touches it twice
                keep &= l != other
            libs += np.bincount(l[keep], minlength=len(libs))
            seen.append(l)
        libs[0] = 0
        return lab, libs

    def _stone_libs(self, lab: np.ndarray, libs: np.ndarray) -> np.ndarray:
        return libs[lab]

    # -- rules ----------------------------------------------------------------------------------
    def legal(self, states: np.ndarray) -> np.ndarray:
        b = len(states)
        board = self.boards(states)
        me = (states[:, self.cells] + 1)[:, None, None]
        opp = 3 - me
        lab, libs = self.groups(board)
        sl = self._stone_libs(lab, libs)
        cols = self._neighbours(self._pad(board, -1))
        nlib = self._neighbours(self._pad(sl, 0))
        has_empty = np.zeros(board.shape, bool)
        own_ok = np.zeros(board.shape, bool)
        capture = np.zeros(board.shape, bool)
        for c, l in zip(cols, nlib):
            has_empty |= c == 0
            own_ok |= (c == me) & (l >= 2)
            capture |= (c == opp) & (l == 1)
        ok = (board == 0) & (has_empty | own_ok | capture)
        ok = ok.reshape(b, -1)
        ko = states[:, self._ko]
        rows = np.nonzero(ko >= 0)[0]
        ok[rows, ko[rows]] = False
        ok &= ~self._repeats(states, board, lab, libs, me, capture & (board == 0)).reshape(b, -1)
        return np.concatenate([ok, np.ones((b, 1), bool)], 1)

    def _repeats(self, states: np.ndarray, board: np.ndarray, lab: np.ndarray, libs: np.ndarray, me: np.ndarray,
                 capture: np.ndarray) -> np.ndarray:
        """(B, cells) bool: the points where a stone would recreate an earlier position (positional
        superko). A play makes the board whose hash is the board's, XOR the stone's number, XOR
        (where it ``capture``s) the numbers of the opponent groups next to it in atari; the hashes
        are looked up among each row's :meth:`repeatable` positions. Rows with none cost nothing."""
        b, n = len(states), self.size
        out = np.zeros((b, self.cells), bool)
        depth = self.repeatable(states)
        rows = np.nonzero(depth > 0)[0]
        if len(rows) == 0:
            return out
        me = me.reshape(b)[rows]
        after = self.position_hash(states[rows])[:, None] ^ self._zobrist_by_colour[me]
        g, r, c = np.nonzero(capture[rows])  # the few points where a play captures
        if len(g):
            # the opponent groups in atari, each with the XOR of its stones' numbers
            atari = (libs[lab[rows]] == 1) & (board[rows] == (3 - me)[:, None, None])
            in_atari = np.where(atari, lab[rows], 0)
            gh = self._group_hashes(np.where(atari, board[rows], 0), in_atari, len(libs))
            in_atari = np.concatenate([in_atari.reshape(len(rows), -1), np.zeros((len(rows), 1), in_atari.dtype)], 1)
            taken = np.zeros(len(g), np.uint64)
            seen: list[np.ndarray] = []
            for d in range(4):
                label = in_atari[g, self._next_to[r * n + c, d]]  # 0 off the board or when not in atari
                fresh = label > 0
                for other in seen:  # a group next to the point on two sides is taken off once
                    fresh &= label != other
                taken ^= np.where(fresh, gh[label], np.uint64(0))
                seen.append(label)
            after[g, r * n + c] ^= taken
        out[rows] = _found_in_rows(after, self.history(states[rows], int(depth[rows].max())))
        return out

    def _own_eyes(self, states: np.ndarray) -> np.ndarray:
        """(B, cells) bool: the mover's eyes, empty points whose neighbours are all the mover's
        stones (or the edge) and whose diagonal points hold at most one opponent stone (none on
        the edge). A point with more is a false eye: the stones around it may need it to connect."""
        board = self.boards(states)
        me = (states[:, self.cells] + 1)[:, None, None]
        padded = self._pad(board, -1)
        eye = board == 0
        for c in self._neighbours(padded):
            eye &= (c == me) | (c == -1)
        n = self.size
        diagonals = [padded[:, 0:n, 0:n], padded[:, 0:n, 2:n + 2], padded[:, 2:n + 2, 0:n], padded[:, 2:n + 2, 2:n + 2]]
        theirs = sum((d == 3 - me).astype(np.int8) for d in diagonals)
        edge = sum((d == -1).astype(np.int8) for d in diagonals) > 0
        eye &= theirs < np.where(edge, 1, 2)
        return eye.reshape(len(states), -1)

    def rollout_legal(self, states: np.ndarray) -> np.ndarray:
        """Legal moves that do not fill one's own eye (points whose neighbours are all one's own
        stones); pass only when nothing else is left. For random rollouts."""
        moves = self.legal(states)[:, :-1] & ~self._own_eyes(states)
        return np.concatenate([moves, ~moves.any(1, keepdims=True)], 1)

    def search_moves(self, states: np.ndarray) -> np.ndarray:
        """The search's moves: the legal ones except filling one's own eye, and a pass only when
        nothing else is left or when the opponent has just passed (so that a player ahead on the
        board can end the game). The rules allow a pass at any time; a search that may pass early
        learns in self-play that an early pass hands White the komi, and the games collapse to a
        few moves and two passes."""
        moves = self.legal(states)[:, :-1] & ~self._own_eyes(states)
        may_pass = ~moves.any(1) | (states[:, self._passes] > 0)
        return np.concatenate([moves, may_pass[:, None]], 1)

    def area(self, states: np.ndarray) -> np.ndarray:
        """(B, cells) int8 owner of each point by area (Tromp-Taylor): 1 Black (a black stone, or an
        empty point that reaches only black stones), -1 White, 0 neither (an empty point that
        reaches both or none)."""
        board = self.boards(states)
        empty = board == 0

        def reach(colour: int) -> np.ndarray:
            r = board == colour
            while True:
                grown = r.copy()
                for nb in self._neighbours(self._pad(r, False)):
                    grown |= nb & empty
                if np.array_equal(grown, r):
                    return r
                r = grown

        rb, rw = reach(1), reach(2)
        black = (board == 1) | (empty & rb & ~rw)
        white = (board == 2) | (empty & rw & ~rb)
        return (black.astype(np.int8) - white.astype(np.int8)).reshape(len(states), -1)

    def ownership(self, states: np.ndarray) -> np.ndarray:
        """(B, cells) int8: who owns each point at the end of a game, +1 the first player (Black),
        -1 the second, 0 neither: the target of AlphaZero's auxiliary ownership head."""
        return self.area(states)

    def score(self, states: np.ndarray) -> np.ndarray:
        """(B,) Black's area minus White's area minus komi (Tromp-Taylor)."""
        return self.area(states).sum(1, dtype=np.int64) - self.komi

    def step(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b, n = len(states), self.size
        actions = np.asarray(actions, np.int64)
        nxt = states.copy()
        mover = states[:, self.cells].astype(np.int64)
        nxt[:, self.cells] = 1 - mover
        nxt[:, self._moves] += 1
        passed = actions == self.pass_action
        nxt[:, self._passes] = np.where(passed, states[:, self._passes] + 1, 0)
        nxt[:, self._ko] = -1
        play = np.nonzero(~passed)[0]
        if len(play):
            s = states[play]
            a = actions[play]
            board = self.boards(s).copy()
            if np.any(board.reshape(len(play), -1)[np.arange(len(play)), a] != 0):
                raise ValueError("illegal Go move: the point is taken")
            me = (mover[play] + 1)[:, None, None]
            opp = 3 - me
            lab, libs = self.groups(board)
            sl = self._stone_libs(lab, libs)
            r, c = a // n, a % n
            # opponent groups next to the new stone with one liberty (that one) are captured
            captured = np.zeros(board.shape, bool)
            own_nb = np.zeros(len(play), bool)
            empty_nb = np.zeros(len(play), bool)
            own_safe = np.zeros(len(play), bool)
            cols = self._neighbours(self._pad(board, -1))
            labs = self._neighbours(self._pad(lab, 0))
            slibs = self._neighbours(self._pad(sl, 0))
            # neighbours of the played point: look the four directions up at (r, c)
            k = np.arange(len(play))
            for col_d, lab_d, lib_d in zip(cols, labs, slibs):
                cd, ld, libd = col_d[k, r, c], lab_d[k, r, c], lib_d[k, r, c]
                kill = (cd == opp[:, 0, 0]) & (libd == 1)
                captured |= kill[:, None, None] & (lab == ld[:, None, None])
                own_nb |= cd == me[:, 0, 0]
                own_safe |= (cd == me[:, 0, 0]) & (libd >= 2)
                empty_nb |= cd == 0
            board[captured] = 0
            board[k, r, c] = me[:, 0, 0]
            ncap = captured.sum((1, 2))
            flat = nxt[play, : self.cells]
            flat[:] = board.reshape(len(play), -1)
            nxt[play, : self.cells] = flat
            ko_rows = (ncap == 1) & ~own_nb & ~empty_nb
            if ko_rows.any():
                kp = np.nonzero(captured.reshape(len(play), -1)[ko_rows])[1]
                nxt[play[ko_rows], self._ko] = kp
            # a move that leaves its own group without liberties (suicide) is refused
            if np.any(~empty_nb & (ncap == 0) & ~own_safe):
                raise ValueError("illegal Go move: suicide")
            if np.any(a == s[:, self._ko]):
                raise ValueError("illegal Go move: it retakes a ko at once")
        h = self._record(nxt, states[:, self._moves])
        if len(play):
            depth = self.repeatable(states[play])
            history = self.history(states[play], int(depth.max()))
            if np.any((history == h[play, None]) & (np.arange(history.shape[1]) < depth[:, None])):
                raise ValueError("illegal Go move: it repeats an earlier position (positional superko)")
            took = play[ncap > 0]
            nxt[took, self._captured] = nxt[took, self._moves]
        terminal = (nxt[:, self._passes] >= 2) | (nxt[:, self._moves] >= self.max_moves)
        reward = np.zeros(b, np.float32)
        if terminal.any():
            t = np.nonzero(terminal)[0]
            sc = self.score(nxt[t])
            black_wins = sc > 0
            reward[t] = np.where(black_wins == (mover[t] == 0), 1.0, -1.0)
        return nxt, terminal, reward

    # -- network input and observations -----------------------------------------------------------
    def encode(self, states: np.ndarray) -> np.ndarray:
        b, n = len(states), self.size
        board = self.boards(states)
        tp = self.to_play(states)
        me = (tp + 1)[:, None, None]
        x = np.zeros((b, self.planes, n, n), np.float32)
        own = board == me
        opp = (board != 0) & ~own
        x[:, 0] = own
        x[:, 1] = opp
        ko = states[:, self._ko]
        rows = np.nonzero(ko >= 0)[0]
        x[rows, 2, ko[rows] // n, ko[rows] % n] = 1.0
        x[:, 3] = (tp == 0)[:, None, None]
        x[:, 4] = (states[:, self._passes] > 0)[:, None, None]
        lab, libs = self.groups(board)
        sl = self._stone_libs(lab, libs)
        for j, (lo, hi) in enumerate(((1, 1), (2, 2), (3, self.cells))):
            band = (sl >= lo) & (sl <= hi)
            x[:, 5 + j] = own & band
            x[:, 8 + j] = opp & band
        return x

    def observation(self, state: np.ndarray, player: int, to_move: bool) -> dict[str, np.ndarray]:
        s = state.copy()[None]
        if int(s[0, self.cells]) != player:  # seen by the player who is not to move
            s[0, self.cells] = player
            s[0, self._ko] = -1
        obs = np.transpose(self.encode(s)[0], (1, 2, 0)).astype(np.int8)
        mask = self.legal(state[None])[0].astype(np.int8) if to_move else np.zeros(self.num_actions, np.int8)
        return {"observation": obs, "action_mask": mask}

    def from_observation(self, observation: np.ndarray) -> np.ndarray:
        obs = np.asarray(observation)
        player = 0 if obs[0, 0, 3] else 1
        s = self.initial(1)[0]
        own, opp = obs[:, :, 0].reshape(-1) != 0, obs[:, :, 1].reshape(-1) != 0
        s[: self.cells][own] = player + 1
        s[: self.cells][opp] = 2 - player
        s[self.cells] = player
        ko = np.nonzero(obs[:, :, 2].reshape(-1))[0]
        s[self._ko] = ko[0] if len(ko) else -1
        s[self._passes] = 1 if obs[0, 0, 4] else 0
        s[self._moves] = int(own.sum() + opp.sum())  # a lower bound: captures are not seen
        return s

    def symmetry(self, inputs: np.ndarray, policies: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return square_symmetry(inputs, policies, k, self.size)

    def inverse_symmetry(self, k: int) -> int:
        return dihedral_inverse(k)

    def display(self, state: np.ndarray) -> np.ndarray:
        return state[: self.cells].reshape(self.size, self.size)

    def action_at(self, row: int, col: int) -> int | None:
        return row * self.size + col

    def action_cell(self, action: int) -> tuple[int, int] | None:
        if action == self.pass_action:
            return None
        return action // self.size, action % self.size

    def action_name(self, action: int) -> str:
        if action == self.pass_action:
            return "pass"
        letters = "ABCDEFGHJKLMNOPQRST"
        return f"{letters[action % self.size]}{self.size - action // self.size}"
