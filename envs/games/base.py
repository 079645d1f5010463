"""The face every rules core shows the tree search and the envs.

A rules core steps many boards at once. A batch of positions is one ``(B, S)`` int16 array: the
first ``cells`` columns are the board (0 empty, 1 the first player's stone, 2 the second's), column
``cells`` is the player to move (0 first, 1 second), and a game may add columns after it (Go keeps
its ko point, passes in a row, the move count and, for superko, the hash of every position of the
game there). Every method takes and returns such arrays, so the search gathers leaves from many
trees, steps them in one call and hands the network one batch.

Players alternate every move in all three games (a pass in Go is a move).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np


class Game:
    """Rules of a two-player, zero-sum, perfect-information board game, batched over boards."""

    name: ClassVar[str] = ""
    #: rows and columns of the board as drawn and as the network sees it
    height: ClassVar[int] = 0
    width: ClassVar[int] = 0
    #: number of actions (board points, plus pass where there is one)
    num_actions: ClassVar[int] = 0
    #: columns of a state row after the board and the player to move
    extra: ClassVar[int] = 0
    #: PettingZoo agent names, first player first
    agents: ClassVar[tuple[str, str]] = ("player_0", "player_1")
    #: channels of the network input (the PettingZoo observation's last axis)
    planes: ClassVar[int] = 2
    #: number of board symmetries :meth:`symmetry` knows
    num_symmetries: ClassVar[int] = 1
    #: Dirichlet alpha that suits the game's branching factor
    dirichlet_alpha: ClassVar[float] = 0.3
    #: a move cap after which the game is scored as it stands (None: games end by themselves)
    max_moves: ClassVar[int | None] = None
    #: whether the first ``cells`` actions are the board's points in the planes' order (a stone on
    #: that point; actions after them, as Go's pass, are not points): a network may then give each
    #: point its logit from its feature map there (``agent.policy_head=conv``)
    point_actions: ClassVar[bool] = False
    #: whether a search may prove positions (MCTS-solver): its moves (:meth:`search_moves`) are all
    #: the legal ones and a position's value depends on the position alone
    provable: ClassVar[bool] = True

    @property
    def cells(self) -> int:
        return self.height * self.width

    @property
    def state_size(self) -> int:
        return self.cells + 1 + self.extra

    # -- states --------------------------------------------------------------------------------
    def initial(self, n: int = 1) -> np.ndarray:
        """``n`` empty boards, first player to move."""
        return np.zeros((n, self.state_size), np.int16)

    def to_play(self, states: np.ndarray) -> np.ndarray:
        """(B,) 0 when the first player is to move, 1 when the second is."""
        return states[:, self.cells].astype(np.int64)

    def boards(self, states: np.ndarray) -> np.ndarray:
        """(B, height, width) cell values: 0 empty, 1 first player, 2 second player."""
        return states[:, : self.cells].reshape(-1, self.height, self.width)

    # -- rules ---------------------------------------------------------------------------------
    def legal(self, states: np.ndarray) -> np.ndarray:
        """(B, num_actions) bool: the legal moves of the player to move."""
        raise NotImplementedError

    def search_moves(self, states: np.ndarray) -> np.ndarray:
        """(B, num_actions) bool: the moves a search considers for the player to move, never empty
        for a position that is not over. All the legal ones here; a game may leave out legal moves
        that no sensible player makes (Go: passing while there is still a move to play)."""
        return self.legal(states)

    def step(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Play ``actions`` (legal ones) on ``states``: (next states, terminal (B,) bool, reward (B,)
        float for the player who moved: +1 won, 0 draw or not over, -1 lost)."""
        raise NotImplementedError

    def encode(self, states: np.ndarray) -> np.ndarray:
        """(B, planes, height, width) float32 network input, seen by the player to move. For
        tic-tac-toe and Connect Four it is the PettingZoo observation with channels first."""
        b = self.boards(states)
        me = (self.to_play(states) + 1)[:, None, None]
        own = b == me
        opp = (b != 0) & ~own
        return np.stack([own, opp], 1).astype(np.float32)

    # -- PettingZoo observations ---------------------------------------------------------------
    def observation(self, state: np.ndarray, player: int, to_move: bool) -> dict[str, np.ndarray]:
        """The PettingZoo observation of one state for ``player`` (0 or 1)."""
        raise NotImplementedError

    def observation_to_input(self, observation: np.ndarray) -> np.ndarray:
        """(planes, height, width) float32 network input from one PettingZoo observation array."""
        return np.transpose(np.asarray(observation, np.float32), (2, 0, 1))

    def from_observation(self, observation: np.ndarray) -> np.ndarray:
        """The state (S,) a PettingZoo observation of the player to move describes."""
        raise NotImplementedError

    # -- symmetries ----------------------------------------------------------------------------
    def symmetry(self, inputs: np.ndarray, policies: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Apply board symmetry ``k`` to network inputs (N, C, H, W) and policies (N, A)."""
        return inputs, policies

    def inverse_symmetry(self, k: int) -> int:
        """The symmetry that undoes symmetry ``k`` (a mirror image is its own undoing)."""
        return k

    # -- for people ----------------------------------------------------------------------------
    def action_name(self, action: int) -> str:
        return str(int(action))

    def text(self, state: np.ndarray) -> str:
        """The board as text (first player X, second O)."""
        rows = self.boards(state[None])[0]
        return "\n".join(" ".join(".XO"[int(v)] for v in row) for row in rows)

    def winner(self, state: np.ndarray, terminal: bool, reward: float) -> int | None:
        """Helper for envs: who won a finished game (0 or 1), None for a draw."""
        mover = 1 - int(self.to_play(state[None])[0])
        if reward > 0:
            return mover
        if reward < 0:
            return 1 - mover
        return None


# -- dihedral symmetries of a square board, shared by tic-tac-toe and Go ------------------------
def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """Symmetry ``k`` in 0..7 of the last two axes of ``x`` (rotations, then mirrored rotations)."""
    if k >= 4:
        x = np.swapaxes(x, -1, -2)
    return np.rot90(x, k % 4, axes=(-2, -1))


def dihedral_inverse(k: int) -> int:
    """The symmetry that undoes :func:`dihedral`'s ``k``: a rotation by the rest of the full turn;
    a mirrored rotation (k ≥ 4, a reflection) undoes itself."""
    return (4 - k) % 4 if k < 4 else k


def square_symmetry(inputs: np.ndarray, policies: np.ndarray, k: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Dihedral symmetry ``k`` of inputs (N, C, side, side) and policies (N, side*side [+ pass])."""
    n = policies.shape[0]
    board = policies[:, : side * side].reshape(n, side, side)
    moved = dihedral(board, k).reshape(n, side * side)
    pol = np.concatenate([moved, policies[:, side * side:]], 1) if policies.shape[1] > side * side else moved
    return np.ascontiguousarray(dihedral(inputs, k)), np.ascontiguousarray(pol)
