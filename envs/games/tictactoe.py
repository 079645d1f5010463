"""Tic-tac-toe: the rules core (NumPy, many boards at once), with PettingZoo ``tictactoe_v3``'s
observations and actions.

Action ``a`` marks cell ``a``; PettingZoo numbers the cells down the columns::

    0 | 3 | 6
    1 | 4 | 7
    2 | 5 | 8

and its observation is ``(3, 3, 2)`` int8 with ``observation[a // 3, a % 3]`` holding cell ``a``:
plane 0 the stones of the player who observes, plane 1 the opponent's.
"""

from __future__ import annotations

import numpy as np

from sandbox.envs.games.base import Game, dihedral_inverse, square_symmetry

LINES = np.array([(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)])


class TicTacToe(Game):
    """Tic-tac-toe on a 3×3 board."""

    name = "tictactoe"
    height = 3
    width = 3
    num_actions = 9
    agents = ("player_1", "player_2")
    num_symmetries = 8
    dirichlet_alpha = 1.0
    point_actions = True

    def legal(self, states: np.ndarray) -> np.ndarray:
        return states[:, :9] == 0

    def step(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nxt = states.copy()
        rows = np.arange(len(states))
        mover = states[:, 9]
        if np.any(states[rows, actions] != 0):
            raise ValueError("illegal tic-tac-toe move: the cell is taken")
        nxt[rows, actions] = mover + 1
        nxt[:, 9] = 1 - mover
        lines = nxt[:, LINES]  # (B, 8, 3)
        won = np.any(np.all(lines == (mover + 1)[:, None, None], axis=2), axis=1)
        full = np.all(nxt[:, :9] != 0, axis=1)
        return nxt, won | full, won.astype(np.float32)

    def observation(self, state: np.ndarray, player: int, to_move: bool) -> dict[str, np.ndarray]:
        board = state[:9].reshape(3, 3)
        obs = np.stack([board == player + 1, board == 2 - player], axis=2).astype(np.int8)
        mask = (state[:9] == 0).astype(np.int8) if to_move else np.zeros(9, np.int8)
        return {"observation": obs, "action_mask": mask}

    def from_observation(self, observation: np.ndarray) -> np.ndarray:
        obs = np.asarray(observation)
        own, opp = obs[:, :, 0].reshape(9) != 0, obs[:, :, 1].reshape(9) != 0
        player = 0 if own.sum() == opp.sum() else 1
        state = np.zeros(10, np.int16)
        state[:9][own] = player + 1
        state[:9][opp] = 2 - player
        state[9] = player
        return state

    def symmetry(self, inputs: np.ndarray, policies: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return square_symmetry(inputs, policies, k, 3)

    def inverse_symmetry(self, k: int) -> int:
        return dihedral_inverse(k)

    def display(self, state: np.ndarray) -> np.ndarray:
        """The board as drawn (row, column), the way PettingZoo draws it: cell a at column a // 3."""
        return state[:9].reshape(3, 3).T

    def action_at(self, row: int, col: int) -> int | None:
        """The action of a click on the drawn board's (row, column)."""
        return col * 3 + row

    def action_cell(self, action: int) -> tuple[int, int] | None:
        """Where an action sits on the drawn board (row, column)."""
        return action % 3, action // 3

    def action_name(self, action: int) -> str:
        return f"{'abc'[action // 3]}{action % 3 + 1}"
