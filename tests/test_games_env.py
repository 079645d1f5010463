"""The game envs pass PettingZoo's API test, draw themselves, and the human-play window answers the
mouse (headless, with posted events)."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import numpy as np
import pytest

import sandbox
from sandbox.envs.games import get_game

GAMES = ["tictactoe", "connect_four", "go9"]


@pytest.mark.parametrize("name", GAMES)
def test_api_test(name: str) -> None:
    from pettingzoo.test import api_test

    api_test(sandbox.make_env(name), num_cycles=60, verbose_progress=False)


@pytest.mark.parametrize("name", GAMES)
def test_rgb_array_render_and_registered_human_play(name: str) -> None:
    env = sandbox.make_env(name, render_mode="rgb_array")
    env.reset()
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8 and frame.std() > 0
    env.step(int(np.nonzero(env.observe(env.agent_selection)["action_mask"])[0][0]))
    assert not np.array_equal(env.render(), frame)
    assert callable(sandbox.registry.envs.provided(name, "play_human"))


def test_bad_render_mode_is_one_sentence() -> None:
    with pytest.raises(sandbox.ConfigError, match="render_mode"):
        sandbox.make_env("tictactoe", render_mode="window")


def click(pos: tuple[int, int]) -> None:
    import pygame

    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))


def centre(game, row: int, col: int) -> tuple[int, int]:
    from sandbox.envs.games.draw import MARGIN, cell_size

    cs = cell_size(game)
    return MARGIN + col * cs + cs // 2, MARGIN + row * cs + cs // 2


def test_human_window_reacts_to_posted_mouse_events(tmp_path) -> None:
    from sandbox.envs.games.draw import HumanGame

    game = get_game("tictactoe")
    seen = []

    def opponent(state: np.ndarray):
        legal = np.nonzero(game.legal(state[None])[0])[0]
        seen.append(state.copy())
        probs = np.zeros(9)
        probs[legal] = 1 / len(legal)
        return int(legal[0]), {"probs": probs, "value": 0.25}

    window = HumanGame(game, opponent, episodes=1, record=tmp_path / "game.gif", opponent_name="test")
    window.tick()
    assert window.phase == "side"
    click(window.side_buttons[0][0].center)  # play X, first
    window.tick()
    assert window.phase == "play" and window.human == 0
    # X clicks the centre (action 4); the opponent answers at once with its first legal move
    click(centre(game, 1, 1))
    window.tick()
    assert window.state[4] == 1
    window.tick()
    assert window.state[0] == 2 and window.info is not None
    assert any("value" in line for line in window.lines())
    # a click on a taken cell changes nothing
    before = window.state.copy()
    click(centre(game, 1, 1))
    window.tick()
    assert np.array_equal(before[:9], window.state[:9])
    # X completes the middle column (cells 3, 4, 5 are drawn in the middle column): 3 then 5
    for row in (0, 2):
        click(centre(game, row, 1))
        window.tick()
        window.tick()
    assert window.over and window.results["human_wins"] == 1
    click((5, 5))
    result = window.run(max_frames=5)
    assert result["games"] == 1
    assert (tmp_path / "game.gif").stat().st_size > 0


def test_connect_four_window_drops_in_the_clicked_column() -> None:
    from sandbox.envs.games.draw import HumanGame

    game = get_game("connect_four")
    window = HumanGame(game, lambda s: (6, {"probs": np.full(7, 1 / 7), "value": 0.0}), human_side=1)
    window.tick()  # the opponent (first) plays column 6
    assert window.state[5 * 7 + 6] == 1
    click(centre(game, 0, 2))  # a click anywhere in column 2
    window.tick()
    assert window.state[5 * 7 + 2] == 2
    window.running = False
    window.run()


def test_sandbox_play_env_human_opens_the_window_and_closes(monkeypatch) -> None:
    import pygame

    from sandbox.envs.games import draw
    from sandbox.cli import main

    original = draw.HumanGame.__init__
    opened = []

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        opened.append(self)
        pygame.event.post(pygame.event.Event(pygame.QUIT))  # the person closes the window

    monkeypatch.setattr(draw.HumanGame, "__init__", init)
    assert main(["play", "connect_four", "--human"]) == 0
    assert opened and opened[0].opponent_name.startswith("pure MCTS") and not opened[0].running
