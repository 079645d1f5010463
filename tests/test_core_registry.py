"""The registries: lookup, errors, namespacing, listing."""

from __future__ import annotations

import json

import pytest

from sandbox.errors import ConfigError, SandboxError
from sandbox.registry import Registry, list_plugins


def test_list_json_shows_the_four_backbones(cli):
    out = cli("list", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"agents", "generative", "backbones", "envs"}
    names = {e["name"] for e in data["backbones"]}
    assert {"mlp", "cnn", "rnn", "transformer"} <= names
    assert all(e["description"] for e in data["backbones"])


def test_list_groups_by_kind_with_descriptions(cli):
    out = cli("list")
    assert out.returncode == 0
    for title in ("Agents:", "Generative models:", "Backbones:", "Envs:"):
        assert title in out.stdout
    assert "transformer  Transformer encoder" in out.stdout


def test_unknown_name_lists_the_closest():
    reg = Registry("agent", "agents")
    reg.register_lazy("ppo", "sandbox.agents.ppo:PPO", "x")
    reg.register_lazy("dqn", "sandbox.agents.dqn:DQN", "x")
    with pytest.raises(ConfigError, match="did you mean 'ppo'"):
        reg.get("pppo")


def test_registering_a_name_twice_names_both_origins():
    reg = Registry("backbone", "backbones")
    reg.register_lazy("mlp", "sandbox.backbones.mlp:MLP", "x")
    with pytest.raises(SandboxError) as err:
        reg.register_lazy("mlp", "sandbox.backbones.other:MLP", "y")
    assert "sandbox.backbones.mlp.MLP" in str(err.value) and "sandbox.backbones.other.MLP" in str(err.value)


def test_third_party_names_need_a_namespace():
    reg = Registry("agent", "agents")
    with pytest.raises(SandboxError, match="myorg/thing"):
        reg.register_lazy("thing", "myorg_pkg.agent:Thing", "x")
    reg.register_lazy("myorg/thing", "myorg_pkg.agent:Thing", "x")
    assert "myorg/thing" in reg


def test_list_plugins_python_api():
    backbones = list_plugins("backbone")
    assert {b["name"] for b in backbones} >= {"mlp", "cnn", "rnn", "transformer"}
    with pytest.raises(ConfigError):
        list_plugins("agnet")


def test_import_sandbox_loads_no_model_code(cli):
    import subprocess
    import sys

    code = (
        "import sys, sandbox, sandbox.cli, sandbox.registry; sandbox.list_plugins();"
        "heavy = [m for m in ('torch', 'diffusers', 'stable_baselines3', 'ale_py', 'wandb', 'gymnasium') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    import os

    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_PLUGINS"}  # the tests' own plugins import torch
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout}"


def test_pettingzoo_s_ids_of_the_board_games_stand_for_the_sandbox_s_own():
    import sandbox
    from sandbox import tuned
    from sandbox.config import raw_config, resolve
    from sandbox.registry import envs

    for alias, name in (("connect_four_v3", "connect_four"), ("tictactoe_v3", "tictactoe"), ("connect4", "connect_four")):
        assert envs.get(alias) is envs.get(name) and envs.canonical(alias) == name
        cfg = resolve(None, ["agent=alphazero", f"env={alias}"])
        assert cfg.env.name == name  # the run's config names the game as the sandbox does
        _, info = tuned.apply(raw_config(None, ["agent=alphazero", f"env={alias}"]))
        assert info is not None and info.found and info.key == name  # so its tuned values are found
        env = sandbox.make_env(alias)
        env.reset(seed=0)
        assert env.unwrapped.game.name == name
        env.close()
    assert envs.canonical("CartPole-v1") == "CartPole-v1" and envs.canonical(3) == 3
    with pytest.raises(ConfigError, match="connect_four"):
        envs.get("connect_four_v2")
