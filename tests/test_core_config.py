"""Configs: overrides, types, YAML round trip, presets, help."""

from __future__ import annotations

import pytest
import yaml

from conftest import run_cli
from sandbox.config import RunConfig, resolve
from sandbox.errors import ConfigError

TINY = ["model=tiny/regress"]


def test_overrides_select_and_set_fields():
    cfg = resolve(None, [*TINY, "model.lr=3e-4", "backbone=mlp", "backbone.hidden=[32,16]", "backbone.activation=tanh",
                         "steps=1_000", "max_minutes=0.5", "wandb.tags=a,b", "seed=7"])
    assert cfg.model.name == "tiny/regress" and cfg.model.config.lr == pytest.approx(3e-4)
    assert cfg.backbone.config.hidden == [32, 16] and cfg.backbone.config.activation == "tanh"
    assert cfg.steps == 1000 and cfg.max_minutes == 0.5 and cfg.wandb.tags == ["a", "b"] and cfg.seed == 7
    assert cfg.kind == "generative"


def test_backbone_fields_without_a_name_go_to_the_default_backbone():
    cfg = resolve(None, [*TINY, "backbone.hidden=[4]"])
    assert cfg.backbone.name == "mlp" and cfg.backbone.config.hidden == [4]


def test_plugin_fields_are_checked_and_kept_when_the_name_repeats():
    cfg = resolve(None, ["model=tiny/regress", "model.lr=0.5", "model=tiny/regress"])
    assert cfg.model.config.lr == 0.5  # naming the same plugin again keeps its fields
    with pytest.raises(ConfigError, match="unknown key agent.batch"):
        resolve(None, ["agent=tiny/bandit", "agent.lr=0.5", "agent.batch=3", "env=CartPole-v1"])
    cfg = resolve(None, ["model=tiny/regress", "model.batch=3", "model=tiny/regress"])
    assert cfg.model.config.batch == 3


def test_saved_config_round_trips(tmp_path):
    cfg = resolve(None, [*TINY, "model.lr=0.02", "backbone=mlp", "wandb.group=g"])
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    again = resolve(str(path))
    assert again.to_dict() == cfg.to_dict()
    data = yaml.safe_load(path.read_text())
    assert data["model"] == {"name": "tiny/regress", "lr": 0.02, "batch": 16, "sleep": 0.0, "checkpoint_every": 0, "media": False}


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: tiny/regress\n  lr: 0.5\nsteps: 30\n")
    cfg = resolve(str(path), ["steps=40"])
    assert cfg.model.config.lr == 0.5 and cfg.steps == 40


def test_bool_and_null_values():
    cfg = resolve(None, [*TINY, "model.media=yes", "max_minutes=null"])
    assert cfg.model.config.media is True and cfg.max_minutes is None
    with pytest.raises(ConfigError, match="expected bool"):
        resolve(None, [*TINY, "model.media=maybe"])


def test_run_config_defaults_are_laptop_sized():
    cfg = RunConfig()
    assert cfg.device == "auto" and cfg.wandb.mode == "auto" and cfg.max_minutes is None


def test_train_help_shows_plugin_fields_and_defaults():
    out = run_cli("train", "model=tiny/regress", "--help")
    assert out.returncode == 0
    assert "model.lr" in out.stdout and "0.01" in out.stdout and "Adam learning rate" in out.stdout
    assert "max_minutes" in out.stdout and "wandb.mode" in out.stdout
    backbone = run_cli("train", "backbone=transformer", "--help")
    assert "backbone.d_model" in backbone.stdout and "token width" in backbone.stdout


def test_train_help_shows_the_values_the_command_would_run_with_beside_the_defaults():
    out = run_cli("train", "alphazero-go9", "agent.simulations=99", "agent.search=puct", "max_minutes=5", "--help")
    assert out.returncode == 0
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert "99 (default 64)" in lines["agent.simulations"]  # an override
    assert "1.5 (default 0.0)" in lines["agent.ownership"]  # the tuned value of the pair
    assert "[32] (default [32, 64, 64])" in lines["backbone.channels"]  # the tuned backbone's section is shown too
    assert "'puct'" in lines["agent.search"] and "(default" not in lines["agent.search"]  # as the default: shown once
    assert "5.0 (default None)" in lines["max_minutes"]
    assert "(default" not in lines["agent.c_puct"]
    odd = run_cli("train", "alphazero-go9", "agent.simulations=lots", "--help")  # help still explains; training will refuse it
    assert odd.returncode == 0 and "'lots' (default 64)" in odd.stdout


@pytest.mark.parametrize("command", ["list", "eval", "play", "sample", "compare", "demo"])
def test_every_command_has_help(command):
    out = run_cli(command, "--help")
    assert out.returncode == 0 and "usage: sandbox" in out.stdout


def test_top_level_help_and_no_arguments():
    out = run_cli("--help")
    assert out.returncode == 0 and "sandbox demo" in out.stdout and "compare" in out.stdout
    assert run_cli().returncode == 0
