"""Built-in envs: Atari with the standard preprocessing, Catch, board games, and any Gymnasium id.
Registered lazily: listing them imports no emulator, no PettingZoo and no torch."""

import importlib.abc
import importlib.util
import sys
from pathlib import Path
from typing import Any

from sandbox.config import add_preset_dir
from sandbox.env import gymnasium_fallback, gymnasium_ids
from sandbox.envs.games import ALIASES as BOARD_GAME_ALIASES
from sandbox.envs.games import GAMES as BOARD_GAMES
from sandbox.registry import envs as _envs

add_preset_dir(Path(__file__).parent / "presets")

#: the Atari games registered with the standard preprocessing (any other ALE id works as a plain Gymnasium env)
ATARI_GAMES = ("Pong", "Breakout", "SpaceInvaders", "Seaquest", "Qbert", "BeamRider", "Enduro", "MsPacman", "Asteroids", "Freeway")

# -- Atari ----------------------------------------------------------------------------------------
# Each game under its Gymnasium id, made with the standard preprocessing (envs/atari.py).
# Catch is a tiny pixel game for tests and quick runs.
for _game in ATARI_GAMES:
    _envs.register_lazy(f"ALE/{_game}-v5", f"sandbox.envs.atari:{_game}", f"Atari {_game}: 84x84 gray, frame skip 4 (max-pooled), 4-frame stack, sticky actions.")
# ... and under its v4 id, as RL Zoo and stable-baselines3's make_atari_env name it: the same, without sticky actions
for _game in ATARI_GAMES:
    _envs.register_lazy(f"{_game}NoFrameskip-v4", f"sandbox.envs.atari:{_game}NoFrameskip",
                        f"Atari {_game} as ALE/{_game}-v5 above, without sticky actions (the v4 id RL Zoo trains).")
_envs.register_lazy("Catch-v0", "sandbox.envs.classic:Catch", "Catch the falling ball: a tiny pixel game (2x10x10 frames) for tests and quick runs.")

# -- board games (PettingZoo AEC envs on the rules cores of envs/games/) ----------------------------
for _name, _game in BOARD_GAMES.items():
    _envs.register_lazy(_name, f"sandbox.envs.games.env:{_name}", _game.description)
for _alias, _name in BOARD_GAME_ALIASES.items():  # PettingZoo's ids of the same games, and connect4
    _envs.alias(_alias, _name)

# -- any other Gymnasium id -----------------------------------------------------------------------
_envs.add_fallback(gymnasium_fallback, names=gymnasium_ids)


def register_with_gymnasium() -> None:
    """Make the sandbox's single-agent envs known to Gymnasium under the namespace ``sandbox``:
    ``gymnasium.make("sandbox/Catch-v0")`` and ``gymnasium.make("sandbox/Pong-v5")`` (the preprocessed
    stack an agent here reads; ``ALE/Pong-v5`` stays Gymnasium's raw game)."""
    import gymnasium

    for game in ATARI_GAMES:
        if f"sandbox/{game}-v5" not in gymnasium.registry:
            gymnasium.register(f"sandbox/{game}-v5", entry_point="sandbox.envs.atari:preprocessed", kwargs={"game": game})
    if "sandbox/Catch-v0" not in gymnasium.registry:
        gymnasium.register("sandbox/Catch-v0", entry_point="sandbox.envs.classic:Catch")


class _RegisterAfterGymnasium(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Registers the ids the moment Gymnasium is imported, so that importing this package (as
    ``sandbox list`` does) costs no Gymnasium import, and ``import sandbox.envs`` then
    ``gymnasium.make("sandbox/Catch-v0")`` works in either order."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "gymnasium":
            return None
        sys.meta_path.remove(self)  # once, and out of the way of the real finders
        spec = importlib.util.find_spec("gymnasium")
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        register_with_gymnasium()


if "gymnasium" in sys.modules:
    register_with_gymnasium()
else:
    sys.meta_path.insert(0, _RegisterAfterGymnasium())
