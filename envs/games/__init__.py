"""Board games: rules cores (NumPy, batched), PettingZoo AEC envs, pygame drawing and human play.

:data:`GAMES` lists the games once: the env registry, AlphaZero and :func:`get_game` read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.envs.games.base import Game


@dataclass(frozen=True)
class BoardGame:
    """A registered board game: its env name and one line about it."""

    name: str
    description: str


GAMES = {g.name: g for g in (
    BoardGame("tictactoe", "Tic-tac-toe (PettingZoo AEC, as tictactoe_v3)"),
    BoardGame("connect_four", "Connect Four 7x6 (PettingZoo AEC, as connect_four_v3)"),
    BoardGame("go9", "Go 9x9, area scoring, komi 7.5, positional superko (PettingZoo AEC)"),
)}
#: other names people use for the same games (PettingZoo's ids among them)
ALIASES = {"tictactoe_v3": "tictactoe", "connect_four_v3": "connect_four", "connect4": "connect_four"}


def get_game(name: str) -> Game:
    """The rules core ``name``: tictactoe, connect_four or go9 (Go takes any go<size>, 5 to 19)."""
    from sandbox.errors import ConfigError

    name = ALIASES.get(name, name)
    if name == "tictactoe":
        from sandbox.envs.games.tictactoe import TicTacToe

        return TicTacToe()
    if name == "connect_four":
        from sandbox.envs.games.connect_four import ConnectFour

        return ConnectFour()
    if name.startswith("go") and name[2:].isascii() and name[2:].isdigit():
        from sandbox.envs.games.go import Go

        return Go(int(name[2:]))
    raise ConfigError(f"unknown board game {name!r}; the games are {', '.join(GAMES)}.")
