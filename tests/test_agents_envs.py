"""The envs the agents' issue registers: Gymnasium's checker passes on each, the single Atari env
sees exactly what ale-py's C++ vector env sees, rewards are clipped for learning only, and a person
can play Pong (headless here, quitting on a posted QUIT event)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import sandbox  # noqa: E402
from sandbox.registry import envs  # noqa: E402


def quit_soon(delay: float = 0.5) -> threading.Thread:
    """Post a pygame QUIT event once the window is up (as a person closing it would)."""
    import time

    import pygame

    def run() -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            time.sleep(delay)
            if pygame.display.get_init() and pygame.display.get_surface() is not None:
                pygame.event.post(pygame.event.Event(pygame.QUIT))
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


OURS = [e.name for e in envs.entries() if e.origin.startswith(("sandbox.envs.atari", "sandbox.envs.classic"))]
#: one of the v4 ids (the same factory as ALE/<game>-v5 with other defaults) is enough for the env checks
CHECKED = [name for name in OURS if not name.endswith("NoFrameskip-v4") or name == "PongNoFrameskip-v4"]


def test_registered_envs_are_listed() -> None:
    assert "ALE/Pong-v5" in OURS and "Catch-v0" in OURS and "PongNoFrameskip-v4" in OURS


def test_the_v4_ids_rl_zoo_trains_are_the_same_games_without_sticky_actions() -> None:
    v4, v5 = sandbox.make_env("BreakoutNoFrameskip-v4"), sandbox.make_env("ALE/Breakout-v5")
    assert v4.observation_space == v5.observation_space and v4.action_space == v5.action_space
    assert v4.ale.getFloat("repeat_action_probability") == 0.0 and v5.ale.getFloat("repeat_action_probability") == 0.25
    sticky = sandbox.make_env("BreakoutNoFrameskip-v4", repeat_action_probability=0.1)  # still a setting
    assert sticky.ale.getFloat("repeat_action_probability") == pytest.approx(0.1)
    for env in (v4, v5, sticky):
        env.close()
    other = sandbox.make_env("BoxingNoFrameskip-v4")  # a game without the sandbox's preprocessing: ale-py's own env
    assert other.observation_space.shape == (210, 160, 3)
    other.close()


@pytest.mark.parametrize("name", CHECKED)
def test_check_env(name: str) -> None:
    from gymnasium.utils.env_checker import check_env

    env = sandbox.make_env(name)
    check_env(env, skip_render_check=True)
    env.close()
    env = envs.get(name).load()(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[-1] == 3 and frame.dtype == np.uint8
    env.close()


def test_single_atari_env_matches_the_cpp_vector_env() -> None:
    from ale_py.vector_env import AtariVectorEnv
    from gymnasium.vector import AutoresetMode

    single = sandbox.make_env("ALE/Pong-v5", repeat_action_probability=0.0, noop_max=0)
    vector = AtariVectorEnv("pong", 1, repeat_action_probability=0.0, noop_max=0, reward_clipping=False,
                            autoreset_mode=AutoresetMode.SAME_STEP)
    a, _ = single.reset(seed=0)
    b, _ = vector.reset(seed=0)
    assert a.shape == (4, 84, 84) and np.array_equal(a, b[0])
    rng = np.random.default_rng(0)
    for _ in range(60):
        action = int(rng.integers(single.action_space.n))
        a, ra, *_ = single.step(action)
        b, rb, *_ = vector.step(np.array([action], np.int32))
        assert np.array_equal(a, b[0]) and ra == rb[0]
    vector.close()


def test_atari_vec_env_clips_for_learning_but_reports_the_true_score() -> None:
    from sandbox.envs.atari_vector import AtariVecEnv
    from sandbox.envs.atari import AtariConfig

    venv = AtariVecEnv("SpaceInvaders", 2, AtariConfig(), seed=0, clip_rewards=True)
    venv.reset()
    rng = np.random.default_rng(0)
    learned, episode = [], None
    while episode is None:
        _, reward, _, infos = venv.step(rng.integers(venv.action_space.n, size=2))
        learned.append(reward[0])
        episode = infos[0].get("episode")
    assert set(np.unique(learned)) <= {-1.0, 0.0, 1.0}
    assert episode["r"] > sum(learned) > 0  # invaders are worth 5 to 30 points each
    assert episode["l"] == len(learned)
    venv.close()


def test_catch_is_winnable_by_following_the_ball() -> None:
    env = sandbox.make_env("Catch-v0")
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        done, reward = False, 0.0
        while not done:
            frame = obs[-1]
            ball_col = int(np.argmax(frame[:-1].max(axis=0)))
            paddle = int(np.mean(np.flatnonzero(frame[-1])))
            obs, reward, done, _, _ = env.step(1 + int(np.sign(ball_col - paddle)))
        assert reward == 1.0


def test_human_play_runs_headless_and_quits_on_a_posted_event(tmp_path: Path) -> None:
    factory = envs.get("ALE/Pong-v5").load()
    quit_soon()
    result = factory.play_human("ALE/Pong-v5", episodes=1, record=tmp_path / "human.gif")
    assert result["quit"] is True
    assert (tmp_path / "human.gif").exists()


def test_cli_human_play_of_an_env_without_it_is_refused(capsys: pytest.CaptureFixture) -> None:
    from sandbox.cli import main

    assert main(["play", "CartPole-v1", "--human"]) == 2
    assert "human play" in capsys.readouterr().err


def test_cli_human_play_of_pong_quits_on_a_posted_event() -> None:
    from sandbox.cli import main

    quit_soon()
    assert main(["play", "ALE/Pong-v5", "--human"]) == 0
