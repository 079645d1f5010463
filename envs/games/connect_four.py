"""Connect Four (7 columns, 6 rows): the rules core (NumPy, many boards at once), with PettingZoo
``connect_four_v3``'s observations and actions.

Action ``c`` drops a piece in column ``c`` (0 left .. 6 right); the board is kept row-major with
row 0 at the top, and the observation is ``(6, 7, 2)`` int8: plane 0 the pieces of the player who
observes, plane 1 the opponent's.
"""

from __future__ import annotations

import numpy as np

from sandbox.envs.games.base import Game

ROWS, COLS = 6, 7


def four_in_a_row(own: np.ndarray) -> np.ndarray:
    """(B,) whether boards of one player's pieces (B, 6, 7) bool hold four in a line."""
    h = own[:, :, 0:4] & own[:, :, 1:5] & own[:, :, 2:6] & own[:, :, 3:7]
    v = own[:, 0:3] & own[:, 1:4] & own[:, 2:5] & own[:, 3:6]
    d = own[:, 0:3, 0:4] & own[:, 1:4, 1:5] & own[:, 2:5, 2:6] & own[:, 3:6, 3:7]
    a = own[:, 3:6, 0:4] & own[:, 2:5, 1:5] & own[:, 1:4, 2:6] & own[:, 0:3, 3:7]
    return h.any((1, 2)) | v.any((1, 2)) | d.any((1, 2)) | a.any((1, 2))


class ConnectFour(Game):
    """Connect Four on 7 columns of 6 rows."""

    name = "connect_four"
    height = ROWS
    width = COLS
    num_actions = COLS
    agents = ("player_0", "player_1")
    num_symmetries = 2
    dirichlet_alpha = 1.0

    def legal(self, states: np.ndarray) -> np.ndarray:
        return states[:, :COLS] == 0  # the top row is free

    def step(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(states)
        rows = np.arange(n)
        board = states[:, : ROWS * COLS].reshape(n, ROWS, COLS)
        empty_in_col = (board[rows, :, actions] == 0).sum(1)  # (B,)
        if np.any(empty_in_col == 0):
            raise ValueError("illegal Connect Four move: the column is full")
        nxt = states.copy()
        mover = states[:, ROWS * COLS]
        nxt[rows, (empty_in_col - 1) * COLS + actions] = mover + 1
        nxt[:, ROWS * COLS] = 1 - mover
        nb = nxt[:, : ROWS * COLS].reshape(n, ROWS, COLS)
        won = four_in_a_row(nb == (mover + 1)[:, None, None])
        full = np.all(nxt[:, :COLS] != 0, axis=1)
        return nxt, won | full, won.astype(np.float32)

    def observation(self, state: np.ndarray, player: int, to_move: bool) -> dict[str, np.ndarray]:
        board = state[: ROWS * COLS].reshape(ROWS, COLS)
        obs = np.stack([board == player + 1, board == 2 - player], axis=2).astype(np.int8)
        mask = (state[:COLS] == 0).astype(np.int8) if to_move else np.zeros(COLS, np.int8)
        return {"observation": obs, "action_mask": mask}

    def from_observation(self, observation: np.ndarray) -> np.ndarray:
        obs = np.asarray(observation)
        own, opp = obs[:, :, 0].reshape(-1) != 0, obs[:, :, 1].reshape(-1) != 0
        player = 0 if own.sum() == opp.sum() else 1
        state = np.zeros(ROWS * COLS + 1, np.int16)
        state[: ROWS * COLS][own] = player + 1
        state[: ROWS * COLS][opp] = 2 - player
        state[ROWS * COLS] = player
        return state

    def symmetry(self, inputs: np.ndarray, policies: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k % 2 == 0:
            return inputs, policies
        return np.ascontiguousarray(inputs[..., ::-1]), np.ascontiguousarray(policies[:, ::-1])

    def display(self, state: np.ndarray) -> np.ndarray:
        return state[: ROWS * COLS].reshape(ROWS, COLS)

    def action_at(self, row: int, col: int) -> int | None:
        return col

    def action_cell(self, action: int) -> tuple[int, int] | None:
        return 0, action  # drawn above the column

    def action_name(self, action: int) -> str:
        return f"column {action + 1}"
