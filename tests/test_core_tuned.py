"""Tuned values chosen by the pair (sandbox/tuned.py): a plugin named with an env or data set gets
the values shipped for that pair, says so in one line and writes them into config.yaml; a pair
without tuned values runs on the plugin's defaults and says that; key=value and presets go on top."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import sandbox  # noqa: E402
from sandbox import tuned  # noqa: E402
from sandbox.cli import main  # noqa: E402
from sandbox.config import from_raw, raw_config, resolve  # noqa: E402
from sandbox.registry import plugin_class  # noqa: E402

QUIET = ["wandb.mode=disabled", "agent.eval_video=false"]


def config_of(*overrides: str, source: str | None = None) -> dict:
    raw, _ = tuned.apply(raw_config(source, list(overrides)))
    cfg = from_raw(raw)
    return plugin_class(cfg).complete_config(cfg).to_dict()


def saved_config(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "config.yaml").read_text())


def test_a_pair_with_tuned_values_gets_them_says_so_and_writes_them(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    code = main(["train", "agent=ppo", "env=CartPole-v1", "steps=256", f"out={out}", "agent.n_epochs=2", *QUIET])
    assert code == 0
    err = capsys.readouterr().err
    assert "using tuned values for ppo on CartPole-v1 (agents/tuned/ppo.yaml); key=value overrides them." in err
    cfg = saved_config(out)
    agent = cfg["agent"]
    # the tuned values (RL Zoo's), where the plugin's defaults differ ...
    assert (agent["n_envs"], agent["n_steps"], agent["batch_size"]) == (8, 32, 256)
    assert (agent["gamma"], agent["gae_lambda"], agent["eval_every"]) == (0.98, 0.8, 10000)
    assert cfg["backbone"] == {**cfg["backbone"], "name": "mlp", "hidden": [64, 64], "activation": "tanh"}
    # ... the override on top of them, and the user's own budget
    assert agent["n_epochs"] == 2 and cfg["steps"] == 256
    head = (out / "config.yaml").read_text().splitlines()[0]
    assert head.startswith("# using tuned values for ppo on CartPole-v1")


def test_tuned_values_differ_from_the_plugins_defaults() -> None:
    """The lookup matters: dqn's tuned CartPole network and budget are not its defaults (the plain
    names once ended at a mean of 214)."""
    with_tuned = config_of("agent=dqn", "env=CartPole-v1")
    raw = raw_config(None, ["agent=dqn", "env=CartPole-v1"])
    cfg = from_raw(raw)
    plain = plugin_class(cfg).complete_config(cfg).to_dict()
    assert with_tuned["agent"]["train_freq"] == 256 and with_tuned["agent"]["gradient_steps"] == 128
    assert with_tuned["backbone"]["hidden"] == [256, 256] and with_tuned["steps"] == 50_000
    assert plain["backbone"]["hidden"] != [256, 256] and plain["steps"] != 50_000


def test_a_pair_without_tuned_values_runs_on_defaults_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    code = main(["train", "agent=reinforce", "env=Acrobot-v1", "steps=200", f"out={out}", "agent.n_envs=2",
                 "agent.batch_steps=100", "agent.eval_every=0", *QUIET])
    assert code == 0
    err = capsys.readouterr().err
    assert "no tuned values for reinforce on Acrobot-v1: running on the plugin's defaults; key=value sets any of them." in err
    cfg = saved_config(out)
    defaults = from_raw(raw_config(None, ["agent=reinforce", "env=Acrobot-v1"])).to_dict()
    assert cfg["agent"]["learning_rate"] == defaults["agent"]["learning_rate"]
    assert cfg["agent"]["n_envs"] == 2


def test_another_backbone_replaces_the_tuned_one_and_keeps_the_agent_values() -> None:
    cfg = config_of("agent=ppo", "env=CartPole-v1", "backbone=rnn")
    assert cfg["backbone"]["name"] == "rnn"
    rnn_defaults = from_raw(raw_config(None, ["agent=ppo", "env=CartPole-v1", "backbone=rnn"])).to_dict()["backbone"]
    assert cfg["backbone"] == rnn_defaults  # no mlp field leaks into the rnn section
    assert cfg["agent"]["n_epochs"] == 20  # the tuned agent values stay
    _, info = tuned.apply(raw_config(None, ["agent=ppo", "env=CartPole-v1", "backbone=rnn"]))
    assert "none for backbone rnn: it runs on its defaults" in info.line()


def test_backbone_fields_without_a_name_merge_into_the_tuned_backbone() -> None:
    cfg = config_of("agent=ppo", "env=CartPole-v1", "backbone.hidden=[32]")
    assert cfg["backbone"]["name"] == "mlp" and cfg["backbone"]["hidden"] == [32] and cfg["backbone"]["activation"] == "tanh"


def test_generative_values_are_chosen_by_data_set_and_backbone_and_sized_from_the_data() -> None:
    unet = config_of("model=ddpm", "data=digits", "backbone=cnn")
    assert unet["backbone"]["channels"] == [32, 64] and unet["backbone"]["unet_attention"] is False  # 8x8 -> 4x4
    assert unet == config_of("model=ddpm", "data=digits")  # cnn is ddpm's own pick for images
    dit = config_of("model=ddpm", "data=digits", "backbone=transformer")
    assert (dit["backbone"]["d_model"], dit["backbone"]["patch"]) == (128, 2) and dit["model"]["lr"] == 1e-3
    shapes = config_of("model=ddpm", "data=shapes")
    assert len(shapes["backbone"]["channels"]) == 3  # 32x32 gets one more level than 8x8
    points = config_of("model=ddpm", "data=ring")
    assert points["backbone"]["name"] == "mlp" and points["steps"] == 4000
    _, info = tuned.apply(raw_config(None, ["model=gan", "data=digits", "backbone=transformer"]))
    assert info.line() == ("using tuned values for gan on digits with backbone transformer (generative/tuned/gan.yaml); "
                           "key=value overrides them.")


def test_atari_games_share_one_pattern_entry() -> None:
    for env in ("ALE/Pong-v5", "ALE/Breakout-v5", "sandbox/Pong-v5", "PongNoFrameskip-v4"):
        for agent in ("ppo", "dqn", "a2c", "reinforce"):
            _, info = tuned.apply(raw_config(None, [f"agent={agent}", f"env={env}"]))
            assert info is not None and info.found and info.key in ("ALE/*-v5", "sandbox/*-v5", "*NoFrameskip-v4"), (agent, env)
    cfg = config_of("agent=ppo", "env=ALE/Breakout-v5")
    assert cfg["backbone"]["arch"] == "nature" and cfg["agent"]["clip_range"] == 0.1


def test_a_preset_goes_on_top_of_the_tuned_values() -> None:
    preset = config_of(source="ppo-cartpole")
    plain = config_of("agent=ppo", "env=CartPole-v1")
    assert preset == plain  # the preset is a named shortcut for the pair
    demo = config_of(source="demo-cartpole")
    assert demo["steps"] == 60000 and demo["agent"]["eval_every"] == 20000 and demo["agent"]["n_epochs"] == 20


def test_tuned_false_starts_from_the_plugins_defaults(tmp_path: Path) -> None:
    run = sandbox.train(None, ["agent=a2c", "env=CartPole-v1", "steps=40", f"out={tmp_path / 'r'}", "agent.eval_every=0", *QUIET],
                        progress=False, tuned=False)
    assert run.tuned is None
    cfg = saved_config(run.dir)
    assert cfg["agent"]["n_steps"] == from_raw(raw_config(None, ["agent=a2c", "env=CartPole-v1"])).to_dict()["agent"]["n_steps"]
    assert cfg["backbone"]["hidden"] != [64, 64] or cfg["backbone"].get("activation") != "tanh"


def test_a_resumed_run_keeps_its_own_config(tmp_path: Path) -> None:
    out = tmp_path / "run"
    base = ["agent=a2c", "env=CartPole-v1", f"out={out}", "agent.eval_every=0", *QUIET]
    sandbox.train(None, [*base, "steps=40", "agent.n_steps=3"], progress=False)
    before = saved_config(out)
    run = sandbox.train(None, [*base, "steps=80"], progress=False)
    assert run.step >= 80 and saved_config(out)["agent"] == before["agent"]  # n_steps=3 kept, not the tuned 5


def test_a_third_party_folder_with_a_pattern_key(tmp_path: Path) -> None:
    folder = tmp_path / "tuned"
    folder.mkdir()
    (folder / "reinforce.yaml").write_text("'Acro*':\n  agent: {learning_rate: 0.005}\n  steps: 1234\n")
    tuned.add_tuned_dir(folder)
    try:
        raw, info = tuned.apply(raw_config(None, ["agent=reinforce", "env=Acrobot-v1"]))
        assert info.found and info.key == "Acro*"
        cfg = from_raw(raw).to_dict()
        assert cfg["agent"]["learning_rate"] == 0.005 and cfg["steps"] == 1234
    finally:
        tuned.TUNED_DIRS.remove(folder)


def test_a_broken_tuned_file_is_one_sentence(tmp_path: Path) -> None:
    folder = tmp_path / "tuned"
    folder.mkdir()
    (folder / "a2c.yaml").write_text("- not a mapping\n")
    tuned.TUNED_DIRS.insert(0, folder)
    try:
        with pytest.raises(sandbox.errors.ConfigError, match="must be a mapping"):
            tuned.apply(raw_config(None, ["agent=a2c", "env=CartPole-v1"]))
    finally:
        tuned.TUNED_DIRS.remove(folder)


def shipped_pairs() -> list[tuple[str, str, str, str | None]]:
    tuned.tuned_files("ppo")  # loads the plugins, which add their folders
    pairs = []
    for folder in tuned.TUNED_DIRS:
        for path in sorted(Path(folder).glob("*.yaml")):
            kind = "agent" if path.parent.parent.name == "agents" else "model"
            for key, entry in yaml.safe_load(path.read_text()).items():
                target = key.replace("*", "Breakout")
                for backbone in [None, *(entry.get("backbones") or {})]:
                    pairs.append((kind, path.stem, target, backbone))
    return pairs


@pytest.mark.parametrize("kind,plugin,target,backbone", shipped_pairs())
def test_every_shipped_entry_is_a_valid_config_that_builds(kind: str, plugin: str, target: str, backbone: str | None) -> None:
    overrides = [f"{kind}={plugin}", f"{'env' if kind == 'agent' else 'data'}={target}"] + ([f"backbone={backbone}"] if backbone else [])
    raw, info = tuned.apply(raw_config(None, overrides))
    assert info is not None and info.found and info.backbone_tuned
    cfg = from_raw(raw)
    cls = plugin_class(cfg)
    cfg = cls.complete_config(cfg)
    if backbone is not None:
        assert cfg.backbone.name == backbone
    cls(cfg)  # networks, envs and data built: an impossible combination would raise here
    assert resolve(cfg.to_dict()).to_dict() == cfg.to_dict()


def test_every_agent_has_values_for_cartpole_catch_and_atari() -> None:
    for agent in ("ppo", "dqn", "a2c", "reinforce"):
        for env in ("CartPole-v1", "Catch-v0", "ALE/Pong-v5", "ALE/Breakout-v5"):
            _, info = tuned.apply(raw_config(None, [f"agent={agent}", f"env={env}"]))
            assert info.found, (agent, env)
    for model, backbones in (("ddpm", ("cnn", "transformer", "mlp")), ("flow", ("cnn", "transformer", "mlp")), ("gan", ("cnn", "mlp", "transformer")), ("vae", ("cnn", "mlp", "transformer"))):
        for data in ("digits", "shapes"):
            for b in backbones:
                _, info = tuned.apply(raw_config(None, [f"model={model}", f"data={data}", f"backbone={b}"]))
                assert info.found and info.backbone_tuned, (model, data, b)
    for data in ("moons", "swiss_roll", "ring"):
        for model in ("ddpm", "flow"):
            _, info = tuned.apply(raw_config(None, [f"model={model}", f"data={data}"]))
            assert info.found, (model, data)
