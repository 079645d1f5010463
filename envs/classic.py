"""Catch: a tiny pixel game made by code, the small-frame twin of Atari for tests and quick runs.

A ball falls from a random column of a ``size``×``size`` screen; the agent moves a 3-pixel paddle
along the bottom row (0: left, 1: stay, 2: right). Catching the ball scores +1, missing it −1, and
either ends the episode (``size - 1`` steps). Observations are the last ``frame_stack`` frames as
a K×size×size uint8 stack (0 or 255), like Atari's 4×84×84, so every backbone that reads Atari
reads Catch, in a thousandth of the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from sandbox.config import option
from sandbox.envs.window import RENDER_MODES, FrameWindow, check_render_mode
from sandbox.errors import ConfigError


@dataclass
class CatchConfig:
    size: int = option(10, "the screen is size×size pixels")
    frame_stack: int = option(2, "the observation stacks this many frames")

    def validate(self) -> None:
        if not 5 <= self.size <= 64 or not 1 <= self.frame_stack <= 64:
            raise ConfigError(f"env.size={self.size} must be between 5 and 64 and env.frame_stack={self.frame_stack} between 1 and 64.")


class Catch(gymnasium.Env):
    """Catch the falling ball with the paddle (pixels in, three actions)."""

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 8}
    observation_is_frame_stack = True
    Config = CatchConfig

    def __init__(self, size: int = 10, frame_stack: int = 2, render_mode: str | None = None) -> None:
        CatchConfig(size, frame_stack).validate()
        check_render_mode(render_mode, "Catch-v0")
        self.size, self.k, self.render_mode = size, frame_stack, render_mode
        self._window = FrameWindow("sandbox: Catch", self.metadata["render_fps"]) if render_mode == "human" else None
        self.observation_space = spaces.Box(0, 255, (frame_stack, size, size), np.uint8)
        self.action_space = spaces.Discrete(3)
        self.ball = np.zeros(2, np.int64)  # row, column
        self.paddle = size // 2
        self.stack = np.zeros((frame_stack, size, size), np.uint8)

    def _frame(self) -> np.ndarray:
        f = np.zeros((self.size, self.size), np.uint8)
        f[self.ball[0], self.ball[1]] = 255
        f[-1, max(self.paddle - 1, 0) : self.paddle + 2] = 255
        return f

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.ball[:] = 0, self.np_random.integers(self.size)
        self.paddle = int(self.np_random.integers(1, self.size - 1))
        self.stack[:] = self._frame()
        if self._window is not None:
            self._window.show(self._picture())
        return self.stack.copy(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"Catch takes actions 0, 1 or 2, not {action!r}")
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 1, self.size - 2))
        self.ball[0] += 1
        terminated = bool(self.ball[0] == self.size - 1)
        reward = (1.0 if abs(int(self.ball[1]) - self.paddle) <= 1 else -1.0) if terminated else 0.0
        self.stack = np.roll(self.stack, -1, axis=0)
        self.stack[-1] = self._frame()
        if self._window is not None:
            self._window.show(self._picture())
        return self.stack.copy(), reward, terminated, False, {}

    def render(self) -> np.ndarray | None:
        """The screen as an RGB array (rgb_array); in human mode the window already shows it."""
        return self._picture() if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()

    def _picture(self) -> np.ndarray:
        scale = max(1, 160 // self.size)
        f = self._frame().repeat(scale, 0).repeat(scale, 1)
        rgb = np.stack([f // 4, f, f // 2], axis=-1)  # green on black
        return rgb.astype(np.uint8)
