"""Watching and recording single-agent envs, in one place.

- :class:`FrameWindow`: Gymnasium's ``human`` render mode for the sandbox's pixel envs (Catch, the
  preprocessed Atari games, the board games): a pygame window showing each frame at the env's speed.
- :func:`watch_episodes`: a policy plays episodes in a window or into a video, the score drawn below
  (``sandbox play RUN``, evaluation videos, the demo).
- :func:`draw_frame`: one picture with its text band, for the two above and Atari keyboard play.

The board games draw themselves in ``games/draw.py``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

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


def watch_episodes(env: Any, act: Callable[[Any], Any], episodes: int, record: Path | None, caption: str,
                   max_steps: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Play ``episodes`` of ``env`` (made with render_mode="rgb_array") with ``act(observation) ->
    action``, with pictures: a window at the env's speed (Esc or closing it stops), or a video file
    (.mp4 or .gif) at 30 frames per second or fewer. The score is drawn under each picture."""
    import os

    if record is not None:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    fps = float(env.metadata.get("render_fps") or 30)
    # a recording keeps every k-th picture so that videos play at 30 frames per second or fewer, at
    # the game's speed (CartPole's 50 become 25): half the rendering and encoding, same motion
    every = max(1, math.ceil(fps / 30 - 1e-9)) if record is not None else 1
    pygame.display.init()
    pygame.font.init()
    font = pygame.font.Font(None, 28)
    clock = pygame.time.Clock()
    frames: list[np.ndarray] = []
    scores: list[float] = []
    surface, scale = None, None
    quit_ = False
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        score, steps, done = 0.0, 0, False
        while not done and not quit_:
            if steps % every == 0:
                frame = env.render()
                if scale is None:
                    scale = max(1, round(480 / frame.shape[0]))
                    if record is None:
                        surface = pygame.display.set_mode((frame.shape[1] * scale, frame.shape[0] * scale + 30))
                        pygame.display.set_caption(caption)
                picture = draw_frame(surface, font, frame, f"score {score:g}   episode {ep + 1}/{episodes}", scale)
                if record is not None:
                    frames.append(picture)
                else:
                    pygame.display.flip()
                    clock.tick(fps)
                    for event in pygame.event.get():
                        if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                            quit_ = True
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            score += float(reward)
            steps += 1
            done = terminated or truncated or (max_steps is not None and steps >= max_steps)
        if record is not None and scale is not None:  # the last picture, with the final score
            frames.append(draw_frame(surface, font, env.render(), f"score {score:g}   episode {ep + 1}/{episodes}", scale))
        scores.append(score)
        if quit_:
            break
    env.close()
    pygame.quit()
    result: dict[str, Any] = {"scores": scores, "mean_return": float(np.mean(scores)) if scores else None, "episodes": len(scores)}
    if record is not None:
        from sandbox.tracking import write_video

        write_video(record, frames, fps=fps / every)
        result["record"] = str(record)
    return result


def draw_frame(surface: Any, font: Any, frame: np.ndarray, text: str, scale: int) -> np.ndarray:
    """The picture (H×W×3 uint8): ``frame`` scaled by ``scale`` with ``text`` in a band below.

    Composed in NumPy (a recorded episode never goes through a pygame surface); when ``surface`` is
    given (a window), the picture is also copied onto it.
    """
    import pygame

    h, w = frame.shape[0] * scale, frame.shape[1] * scale
    picture = np.empty((h + 30, w, 3), np.uint8)
    rgb = frame[..., :3]
    picture[:h] = rgb if scale == 1 else rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    picture[h:] = 20
    label = pygame.surfarray.array3d(font.render(text, True, (240, 240, 240), (20, 20, 20))).swapaxes(0, 1)
    th, tw = min(label.shape[0], 24), min(label.shape[1], w - 8)
    picture[h + 6 : h + 6 + th, 8 : 8 + tw] = label[:th, :tw]
    if surface is not None:
        pygame.surfarray.blit_array(surface, picture.swapaxes(0, 1))
    return picture
