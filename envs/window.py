"""Gymnasium's ``human`` render mode for the sandbox's pixel envs: one pygame window that shows
each frame as it is rendered, at the env's speed. Catch, the preprocessed Atari games and the board
games all show their pictures through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: the render modes every sandbox env takes (None, a window, or frames)
RENDER_MODES = ("human", "rgb_array")


def check_render_mode(render_mode: str | None, env_name: str) -> None:
    """A ConfigError in one sentence unless ``render_mode`` is None, human or rgb_array."""
    if render_mode not in (None, *RENDER_MODES):
        from sandbox.errors import ConfigError

        raise ConfigError(f"env.render_mode={render_mode!r} is not valid for {env_name}; use human (a window), rgb_array (frames) or leave it out.")


class FrameWindow:
    """A window that shows RGB frames (H×W×3 uint8), scaled up so that small ones can be seen."""

    def __init__(self, caption: str, fps: float, min_height: int = 320) -> None:
        self.caption, self.fps, self.min_height = caption, fps, min_height
        self._screen: Any = None
        self._clock: Any = None

    def show(self, frame: np.ndarray) -> None:
        """Draw ``frame`` and wait for the next tick of the env's frame rate."""
        import pygame

        scale = max(1, -(-self.min_height // frame.shape[0]))
        picture = frame.repeat(scale, 0).repeat(scale, 1) if scale > 1 else frame
        if self._screen is None or not pygame.display.get_init() or pygame.display.get_surface() is not self._screen:
            pygame.display.init()  # (again, when another env's window closed the display)
            pygame.display.set_caption(self.caption)
            self._screen = pygame.display.set_mode(picture.shape[1::-1])
            self._clock = pygame.time.Clock()
        pygame.event.pump()
        pygame.surfarray.blit_array(self._screen, np.ascontiguousarray(picture[..., :3]).swapaxes(0, 1))
        pygame.display.flip()
        self._clock.tick(self.fps)

    def close(self) -> None:
        if self._screen is not None:
            import pygame

            pygame.display.quit()
            self._screen = None
