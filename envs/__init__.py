"""Built-in envs: Atari with the standard preprocessing, and board games. Registered lazily."""

from pathlib import Path

from sandbox.config import add_preset_dir
from sandbox.registry import envs as _envs

add_preset_dir(Path(__file__).parent / "presets")

# -- Atari (issue: agents that learn and play) ------------------------------------------------------
# Each game under its Gymnasium id, made with the standard preprocessing (envs/atari.py); other ALE
# ids still resolve as plain Gymnasium envs. Catch is a tiny pixel game for tests and quick runs.
for _game in ("Pong", "Breakout", "SpaceInvaders", "Seaquest", "Qbert", "BeamRider", "Enduro", "MsPacman", "Asteroids", "Freeway"):
    _envs.register_lazy(f"ALE/{_game}-v5", f"sandbox.envs.atari:{_game}", f"Atari {_game}: 84x84 gray, frame skip 4 (max-pooled), 4-frame stack, sticky actions.")
_envs.register_lazy("Catch-v0", "sandbox.envs.classic:Catch", "Catch the falling ball: a tiny pixel game (2x10x10 frames) for tests and quick runs.")


# -- board games (issue: self-play tree search) -----------------------------------------------------
_envs.register_lazy("tictactoe", "sandbox.envs.games.env:tictactoe", "Tic-tac-toe (PettingZoo AEC, as tictactoe_v3)")
_envs.register_lazy("connect_four", "sandbox.envs.games.env:connect_four", "Connect Four 7x6 (PettingZoo AEC, as connect_four_v3)")
_envs.register_lazy("go9", "sandbox.envs.games.env:go9", "Go 9x9, area scoring, komi 7.5 (PettingZoo AEC)")
