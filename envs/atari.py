"""Atari through ale-py, with the standard preprocessing of the DQN papers.

Each game is registered under its Gymnasium id (``ALE/Pong-v5``, ...). What an agent reads is the
same in both forms the sandbox builds:

- :class:`AtariPreprocessed`, one Gymnasium env (used to evaluate, play, record and check):
  no-op reset (up to ``noop_max`` raw frames), FIRE on reset where the game has it, every action
  repeated ``frame_skip`` times with the last two frames max-pooled, 84×84 grayscale by area
  averaging, the last ``frame_stack`` frames stacked (K×84×84 uint8, zeros before the first), sticky actions with
  probability 0.25 as in the v5 envs. Rewards are the true game score.
- the fast path for training, ale-py's C++ vector env (``ale_py.vector_env.AtariVectorEnv``:
  threads, preprocessing in C++) with the same settings, presented to stable-baselines3 as a
  ``VecEnv`` by ``sandbox.envs.atari_vector.AtariVecEnv``, which clips rewards for learning only and reports the
  true, unclipped score of each finished episode.

``play_human`` lets a person play with the keyboard (``sandbox play ALE/Pong-v5 --human``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from sandbox.config import option
from sandbox.envs import ATARI_GAMES
from sandbox.envs.window import RENDER_MODES, FrameWindow, check_render_mode, draw_frame
from sandbox.errors import ConfigError



@dataclass
class AtariConfig:
    repeat_action_probability: float = option(0.25, "sticky actions: chance the previous action repeats (v5: 0.25)")
    frame_skip: int = option(4, "emulator frames per agent step (the last two are max-pooled)")
    noop_max: int = option(30, "at most this many no-op frames after each reset")
    screen_size: int = option(84, "frames are resized to screen_size×screen_size grayscale")
    frame_stack: int = option(4, "the observation stacks this many frames")
    full_action_space: bool = option(False, "all 18 actions instead of the game's minimal set")
    fire_reset: bool = option(True, "press FIRE after each reset in games that need it to start")
    max_episode_frames: int = option(108_000, "truncate an episode after this many emulator frames (30 min)")

    def validate(self) -> None:
        if not 0.0 <= self.repeat_action_probability < 1.0:
            raise ConfigError(f"env.repeat_action_probability={self.repeat_action_probability} must be in [0, 1).")
        if self.frame_skip < 1 or self.noop_max < 0 or self.frame_stack < 1 or self.max_episode_frames < 1:
            raise ConfigError("env.frame_skip, env.frame_stack and env.max_episode_frames must be ≥ 1, env.noop_max ≥ 0.")
        # the emulator counts frames in a C int; a stack of frames is one observation in memory
        if self.frame_skip > 64 or self.frame_stack > 64 or self.noop_max > 100_000 or self.max_episode_frames >= 2**31:
            raise ConfigError(f"env.frame_skip={self.frame_skip}, env.frame_stack={self.frame_stack}, env.noop_max={self.noop_max} "
                              f"or env.max_episode_frames={self.max_episode_frames} is too large: at most 64, 64, 100000 and {2**31 - 1}.")
        if not 8 <= self.screen_size <= 210:
            raise ConfigError(f"env.screen_size={self.screen_size} must be between 8 and 210 pixels.")


@dataclass
class AtariNoFrameskipConfig(AtariConfig):
    """The settings of a game's v4 id (``PongNoFrameskip-v4``, as RL Zoo and stable-baselines3's
    ``make_atari_env`` train it): the same preprocessing, without sticky actions."""

    repeat_action_probability: float = option(0.0, "sticky actions: chance the previous action repeats (v4: none)")


def rom_name(game: str) -> str:
    """'MsPacman' -> 'ms_pacman' (the ROM names of ale-py)."""
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(game))


def area_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Area resize of one axis as taps: output cell o averages inputs ``idx[o]`` with weights ``w[o]``
    (the share of each input cell it covers). Elementwise NumPy, no BLAS threads."""
    scale = n_in / n_out
    taps = int(np.ceil(scale)) + 1
    idx = np.zeros((n_out, taps), np.int64)
    w = np.zeros((n_out, taps), np.float32)
    for o in range(n_out):
        lo, hi = o * scale, (o + 1) * scale
        for k, i in enumerate(range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in))):
            idx[o, k], w[o, k] = i, (min(hi, i + 1) - max(lo, i)) / scale
    return idx, w


def area_resize(img: np.ndarray, rows: tuple[np.ndarray, np.ndarray], cols: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``img`` (H, W) resized with the taps of :func:`area_taps`, rounded to uint8."""
    (ri, rw), (ci, cw) = rows, cols
    x = img.astype(np.float32)
    x = (x[ri] * rw[:, :, None]).sum(axis=1)  # (out_h, W)
    x = (x[:, ci] * cw[None]).sum(axis=2)  # (out_h, out_w)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def register_ale() -> None:
    """Register ale-py's ``ALE/...`` envs with Gymnasium, its logger set to errors only (ALE prints a
    banner on every emulator it makes: on stderr in a terminal, a red box in a notebook)."""
    import ale_py

    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    gymnasium.register_envs(ale_py)


class AtariPreprocessed(gymnasium.Env):
    """One Atari game with the standard preprocessing; observations are K×S×S uint8 frame stacks."""

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 15}

    def __init__(self, game: str, config: AtariConfig | None = None, render_mode: str | None = None) -> None:
        register_ale()
        check_render_mode(render_mode, f"ALE/{game}-v5")
        self.cfg = config or AtariConfig()
        self.game = game
        self.render_mode = render_mode
        self.ale_env = gymnasium.make(
            f"ALE/{game}-v5", frameskip=1, repeat_action_probability=self.cfg.repeat_action_probability,
            full_action_space=self.cfg.full_action_space, max_num_frames_per_episode=self.cfg.max_episode_frames,
            render_mode="rgb_array" if render_mode else None,
        ).unwrapped
        self.ale = self.ale_env.ale
        self.action_space = self.ale_env.action_space
        s, k = self.cfg.screen_size, self.cfg.frame_stack
        self.observation_space = spaces.Box(0, 255, (k, s, s), np.uint8)
        self.metadata = {**self.metadata, "render_fps": 60 / self.cfg.frame_skip}
        h, w = self.ale.getScreenDims()
        self._rows, self._cols = area_taps(h, s), area_taps(w, s)
        self._stack = np.zeros((k, s, s), np.uint8)
        self._screens = np.zeros((2, h, w), np.uint8)
        self._fire = "FIRE" in self.ale_env.get_action_meanings()
        self._window = FrameWindow(f"sandbox: {game}", self.metadata["render_fps"]) if render_mode == "human" else None

    def _frame(self) -> np.ndarray:
        return area_resize(self._screens.max(axis=0), self._rows, self._cols)

    def _push(self) -> np.ndarray:
        self._stack = np.roll(self._stack, -1, axis=0)
        self._stack[-1] = self._frame()
        return self._stack.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.ale_env.reset(seed=seed)
        noops = int(self.np_random.integers(0, self.cfg.noop_max + 1)) if self.cfg.noop_max else 0
        for _ in range(noops):
            self.ale.act(0)
            if self.ale.game_over():
                self.ale_env.reset()
        if self.cfg.fire_reset and self._fire:
            self.ale_env.step(1)
        self.ale.getScreenGrayscale(self._screens[1])
        self._screens[0] = self._screens[1]
        self._stack[:] = 0  # as ale-py's vector env: the stack starts empty
        self._stack[-1] = self._frame()
        if self._window is not None:
            self._window.show(self.ale_env.render())
        return self._stack.copy(), {"lives": self.ale.lives()}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        reward, terminated, truncated = 0.0, False, False
        skip = self.cfg.frame_skip
        for i in range(skip):
            _, r, terminated, truncated, _ = self.ale_env.step(int(action))
            reward += float(r)
            if i >= skip - 2:
                self.ale.getScreenGrayscale(self._screens[i - (skip - 2)])
            if terminated or truncated:
                if i < skip - 1:
                    self.ale.getScreenGrayscale(self._screens[1])
                    self._screens[0] = self._screens[1]
                break
        if self._window is not None:
            self._window.show(self.ale_env.render())
        return self._push(), reward, terminated, truncated, {"lives": self.ale.lives()}

    def render(self) -> np.ndarray | None:
        """The emulator's screen as an RGB array (rgb_array); in human mode the window already shows it."""
        return self.ale_env.render() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
        self.ale_env.close()


class AtariGame:
    """The registered factory of one game: ``AtariGame("Pong")(**config) -> AtariPreprocessed``."""

    Config = AtariConfig
    observation_is_frame_stack = True

    def __init__(self, game: str, no_frameskip_v4: bool = False) -> None:
        self.game = game
        self.env_id = f"{game}NoFrameskip-v4" if no_frameskip_v4 else f"ALE/{game}-v5"
        if no_frameskip_v4:  # the v4 id's defaults: no sticky actions
            self.Config = AtariNoFrameskipConfig
        self.__doc__ = f"Atari {game} (ale-py) with the standard DQN preprocessing."

    def __call__(self, render_mode: str | None = None, **kwargs: Any) -> AtariPreprocessed:
        cfg = kwargs.pop("config", None) or self.Config(**kwargs)
        return AtariPreprocessed(self.game, cfg, render_mode=render_mode)

    def play_human(self, env_id: str, episodes: int = 1, record: Path | None = None, max_frames: int | None = None) -> dict[str, Any]:
        """A person plays with the keyboard: arrows or W/A/S/D to move, space to fire, Esc to quit."""
        return play_human(self.game, episodes=episodes, record=record, max_frames=max_frames)


#: the keys a person presses, as the names of ALE's key tables ("w" up, "s" down, "a" left, "d" right, " " fire)
KEY_NAMES = {"up": "w", "w": "w", "down": "s", "s": "s", "left": "a", "a": "a", "right": "d", "d": "d", "space": " "}
#: games whose joystick moves the player along another axis than its key table says: Pong's paddle
#: goes up with RIGHT and down with LEFT, so Up/Down (W/S) are the keys that move it
KEY_REMAP: dict[str, dict[str, str | None]] = {"Pong": {"w": "d", "s": "a", "a": None, "d": None}}


def human_action(game: str, held: set[str], keys_to_action: dict[tuple[str, ...], int]) -> int:
    """The action for the keys held (names of :data:`KEY_NAMES`), through the game's own key table
    and :data:`KEY_REMAP`; keys that mean nothing in the game are ignored (NOOP when none is left)."""
    remap = KEY_REMAP.get(game, {})
    keys = {remap.get(k, k) for k in held} - {None}
    known = {k for combo in keys_to_action for k in combo}
    for tried in (keys, keys & known, keys & known - {" "}):  # as held; without keys the game lacks; without fire
        action = keys_to_action.get(tuple(sorted(tried)))  # type: ignore[arg-type]
        if action is not None:
            return action
    return 0


def play_human(game: str, episodes: int = 1, record: Path | None = None, scale: int = 3, max_frames: int | None = None) -> dict[str, Any]:
    """Open a pygame window and let a person play ``game`` at 60 frames per second.

    Arrow keys or W/A/S/D move (Up/Down move Pong's paddle), space fires, Esc or closing the window
    quits. The game waits for the first key, so the first serve comes when the person is ready; the
    score is drawn on screen, and the result says what was scored. With ``record``, the frames are
    also written to that .mp4 or .gif.
    """
    import pygame

    register_ale()
    env = gymnasium.make(f"ALE/{game}-v5", frameskip=1, render_mode="rgb_array").unwrapped
    keys_to_action = {tuple(sorted(k)): a for k, a in env.get_keys_to_action().items()}  # ('a', ' ') -> LEFTFIRE
    pygame.display.init()
    pygame.font.init()
    env.reset()
    frame = env.render()
    h, w = frame.shape[:2]
    screen = pygame.display.set_mode((w * scale, h * scale + 30))
    pygame.display.set_caption(f"sandbox: {game} (arrow keys or WASD move, space fires, Esc quits)")
    font = pygame.font.Font(None, 28)
    clock = pygame.time.Clock()
    frames: list[np.ndarray] = []
    scores: list[float] = []
    held: set[str] = set()
    score, quit_, started, steps, shown = 0.0, False, False, 0, 0
    while len(scores) < episodes and not quit_ and (max_frames is None or shown < max_frames):
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                quit_ = True
            elif event.type in (pygame.KEYDOWN, pygame.KEYUP) and (name := KEY_NAMES.get(pygame.key.name(event.key))):
                (held.add if event.type == pygame.KEYDOWN else held.discard)(name)
                started = True
        if started:
            _, reward, terminated, truncated, _ = env.step(human_action(game, held, keys_to_action))
            steps += 1
            score += float(reward)
            frame = env.render()
            text = f"score {score:+.0f}   episode {len(scores) + 1}/{episodes}"
        else:
            terminated = truncated = False
            text = "press an arrow key (or W/A/S/D, space) to start"
        picture = draw_frame(screen, font, frame, text, scale)
        if record is not None:
            frames.append(picture)
        pygame.display.flip()
        clock.tick(60)
        shown += 1
        if terminated or truncated:
            scores.append(score)
            score = 0.0
            env.reset()
    pygame.quit()
    env.close()
    if record is not None and frames:
        from sandbox.tracking import write_video

        write_video(record, frames[::2], fps=30)
    result: dict[str, Any] = {"scores": scores, "quit": quit_, "steps": steps}
    if steps and not scores:
        result["unfinished_score"] = score
    if record is not None and frames:
        result["record"] = str(record)
    return result


def preprocessed(game: str, render_mode: str | None = None, **kwargs: Any) -> AtariPreprocessed:
    """Gymnasium's entry point of ``sandbox/<Game>-v5``: the game with the standard preprocessing
    (``kwargs`` are :class:`AtariConfig` fields)."""
    from sandbox.config import build

    return AtariPreprocessed(game, build(AtariConfig, kwargs, "env"), render_mode=render_mode)


# one factory per registered game, named as envs/__init__.py registers them
for _game in ATARI_GAMES:
    globals()[_game] = AtariGame(_game)
    globals()[f"{_game}NoFrameskip"] = AtariGame(_game, no_frameskip_v4=True)
