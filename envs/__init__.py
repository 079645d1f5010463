"""Built-in envs: Atari with the standard preprocessing, and board games. Registered lazily."""

from pathlib import Path

from sandbox.config import add_preset_dir
from sandbox.registry import envs as _envs

add_preset_dir(Path(__file__).parent / "presets")

# -- Atari (issue: agents that learn and play) ------------------------------------------------------

# -- board games (issue: self-play tree search) -----------------------------------------------------
