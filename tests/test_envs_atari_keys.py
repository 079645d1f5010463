"""Atari human play with the keys the window names: Up/Down (W/S) move Pong's paddle, Left/Right
(A/D) Breakout's, the game waits for the first key, and the result says what was scored. Driven by
posted key events (a person's key presses); where the paddle is is read from the frames shown."""

from __future__ import annotations

import numpy as np
import pytest

import sandbox.envs.atari as atari


def paddle(game: str, frame: np.ndarray) -> float:
    """The player's paddle: Pong's green one on the right (its row), Breakout's red one at the bottom (its column)."""
    if game == "Pong":
        rows = np.flatnonzero((frame[34:194, 140:144] == (92, 186, 92)).all(-1).any(-1))
        return float(rows.mean()) + 34
    cols = np.flatnonzero((frame[185:195] == (200, 72, 72)).all(-1).any(0))
    return float(cols.mean())


def play(monkeypatch, game: str, script: dict[int, list], frames: int) -> tuple[dict, list[np.ndarray]]:
    """play_human with ``script[i]`` as the events of frame i; returns the result and the frames shown."""
    import pygame

    shown: list[np.ndarray] = []
    draw = atari.draw_frame

    def record(surface, font, frame, text, scale):
        shown.append(frame.copy())
        return draw(surface, font, frame, text, scale)

    calls = iter(range(10**6))
    monkeypatch.setattr(atari, "draw_frame", record)
    monkeypatch.setattr(pygame.event, "get", lambda: [pygame.event.Event(t, key=k) for t, k in script.get(next(calls), [])])
    return atari.play_human(game, max_frames=frames), shown


@pytest.mark.parametrize("game,key,direction", [("Pong", "K_UP", -1), ("Pong", "K_s", +1), ("Breakout", "K_RIGHT", +1), ("Breakout", "K_a", -1)])
def test_the_keys_move_the_player_the_way_they_say(monkeypatch, game, key, direction):
    import pygame

    code = getattr(pygame, key)
    result, shown = play(monkeypatch, game, {10: [(pygame.KEYDOWN, code)], 70: [(pygame.KEYUP, code)]}, 90)
    assert np.array_equal(shown[0], shown[9])  # nothing moves before the first key
    assert result["steps"] == 80
    moved = paddle(game, shown[-1]) - paddle(game, shown[12])  # (Pong draws its paddles from its second frame)
    assert moved * direction > 5, moved


def test_the_game_waits_for_the_first_key(monkeypatch):
    result, shown = play(monkeypatch, "Pong", {}, 40)
    assert result["steps"] == 0 and all(np.array_equal(f, shown[0]) for f in shown)


def test_keys_a_game_lacks_do_nothing_and_combinations_fall_back():
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)
    env = gymnasium.make("ALE/Breakout-v5").unwrapped
    table = {tuple(sorted(k)): a for k, a in env.get_keys_to_action().items()}
    names = env.get_action_meanings()
    assert names[atari.human_action("Breakout", {"d", " "}, table)] == "RIGHT"  # Breakout has no RIGHTFIRE
    assert names[atari.human_action("Breakout", {"w"}, table)] == "NOOP"
