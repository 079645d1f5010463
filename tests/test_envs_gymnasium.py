"""Gymnasium knows the sandbox's envs (namespace ``sandbox/``), Gymnasium's own checker passes on
each of them in every render mode, and ``sandbox.make_env(name, render_mode=...)`` works for every
registered env."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sandbox
import sandbox.envs
from sandbox.registry import envs

SANDBOX_IDS = sorted(i for i in gymnasium.registry if i.startswith("sandbox/"))


def test_every_single_agent_env_is_registered_with_gymnasium():
    expected = {f"sandbox/{g}-v5" for g in sandbox.envs.ATARI_GAMES} | {"sandbox/Catch-v0"}
    assert set(SANDBOX_IDS) == expected


@pytest.mark.parametrize("env_id", SANDBOX_IDS)
@pytest.mark.parametrize("render_mode", [None, "rgb_array", "human"])
def test_gymnasium_make_and_check_env(env_id, render_mode):
    env = gymnasium.make(env_id, render_mode=render_mode)
    assert env.render_mode == render_mode
    check_env(env.unwrapped, skip_render_check=render_mode is None)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    frame = env.render()
    if render_mode == "rgb_array":
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8 and frame.std() > 0
    else:
        assert frame is None
    env.close()


def test_sandbox_pong_is_the_preprocessed_stack_and_ale_pong_stays_gymnasiums_own():
    ours = gymnasium.make("sandbox/Pong-v5", frame_stack=2)
    assert ours.observation_space.shape == (2, 84, 84)
    import ale_py

    gymnasium.register_envs(ale_py)
    raw = gymnasium.make("ALE/Pong-v5")
    assert raw.observation_space.shape == (210, 160, 3)
    same = sandbox.make_env("ALE/Pong-v5", frame_stack=2)
    a, _ = ours.reset(seed=3)
    b, _ = same.reset(seed=3)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", [e.name for e in envs.entries() if not e.name.endswith("NoFrameskip-v4")] + ["PongNoFrameskip-v4", "CartPole-v1"])
def test_make_env_takes_every_render_mode(name):
    for mode in ("rgb_array", "human"):
        env = sandbox.make_env(name, render_mode=mode)
        env.reset(seed=0)
        frame = env.render()
        if mode == "rgb_array":
            assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8, name
        env.close()


@pytest.mark.parametrize("name", ["Catch-v0", "ALE/Pong-v5", "tictactoe"])
def test_a_bad_render_mode_is_one_sentence(name):
    with pytest.raises(sandbox.ConfigError, match="render_mode='window' is not valid"):
        sandbox.make_env(name, render_mode="window")


@pytest.mark.parametrize("order", ["import sandbox.envs, gymnasium", "import gymnasium, sandbox.envs"])
def test_gymnasium_knows_the_ids_whichever_is_imported_first(order):
    import os
    import subprocess
    import sys

    code = f"{order}; import sys; env = gymnasium.make('sandbox/Catch-v0'); print(env.reset(seed=0)[0].shape)"
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_PLUGINS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(2, 10, 10)"


@pytest.mark.parametrize("typed,first", [("CartPol-v1", "CartPole-v1"), ("Pendulum", "Pendulum-v1"), ("tictacto", "tictactoe")])
def test_a_misspelt_env_suggests_the_closest_gymnasium_or_sandbox_id_first(typed, first):
    with pytest.raises(sandbox.ConfigError) as err:
        envs.get(typed)
    assert f"did you mean {first!r}" in str(err.value)


def test_a_gymnasium_env_whose_package_is_missing_says_what_to_install():
    import importlib.util

    if importlib.util.find_spec("Box2D") is not None:
        pytest.skip("Box2D is installed here: LunarLander-v3 is made")
    with pytest.raises(sandbox.errors.MachineError, match=r"^env=LunarLander-v3 needs a package that is not installed: .*pip install") as info:
        sandbox.make_env("LunarLander-v3")
    assert "\n" not in str(info.value)
