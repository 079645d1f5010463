"""Bad input gets one or two lines that say what is wrong and what would be right, exit 2, no
traceback, and nothing already written is lost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import sandbox
from conftest import run_cli

TINY = ["model=tiny/regress", "wandb.mode=disabled", "backbone.hidden=[8]", "steps=5", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    model = sandbox.train(None, [a for a in TINY if a != "--no-progress"] + [f"out={base / 'model'}"], progress=False).dir
    agent = sandbox.train(None, ["agent=tiny/bandit", "env=CartPole-v1", "steps=5", "wandb.mode=disabled", f"out={base / 'agent'}"],
                          progress=False).dir
    foreign = base / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("my own files")
    corrupt = base / "corrupt"
    shutil.copytree(model, corrupt)
    latest = sandbox.run.read_pointer(corrupt, "latest")["file"]
    st = corrupt / "checkpoints" / f"{latest}.safetensors"
    st.write_bytes(st.read_bytes()[: len(st.read_bytes()) // 2])
    bad_pointer = base / "bad-pointer"
    shutil.copytree(model, bad_pointer)
    (bad_pointer / "checkpoints" / "latest.json").write_text("{not json")
    (bad_pointer / "checkpoints" / "best.json").unlink(missing_ok=True)
    yaml_bad = base / "bad.yaml"
    yaml_bad.write_text("model: tiny/regress\nsteps: [1, 2\n")
    yaml_list = base / "list.yaml"
    yaml_list.write_text("- model\n- steps\n")
    yaml_key = base / "key.yaml"
    yaml_key.write_text("model: tiny/regress\nsteeps: 10\n")
    return {"model": model, "agent": agent, "foreign": foreign, "corrupt": corrupt, "bad_pointer": bad_pointer,
            "yaml_bad": yaml_bad, "yaml_list": yaml_list, "yaml_key": yaml_key, "base": base}


CASES = {
    "unknown plugin": (["train", "model=tiny/regres"], "did you mean 'tiny/regress'"),
    "unknown agent": (["train", "agent=tiny/bandid", "env=CartPole-v1"], "did you mean 'tiny/bandit'"),
    "unknown key": (["train", "model=tiny/regress", "stepz=10"], "did you mean 'steps'"),
    "unknown plugin field": (["train", "model=tiny/regress", "model.lrr=0.1"], "did you mean 'lr'"),
    "unknown backbone field": (["train", "model=tiny/regress", "backbone.hiden=[4]"], "did you mean 'hidden'"),
    "wrong type": (["train", "model=tiny/regress", "steps=abc"], "expected int"),
    "wrong field type": (["train", "model=tiny/regress", "model.lr=fast"], "expected float"),
    "wrong literal": (["train", "model=tiny/regress", "wandb.mode=sometimes"], "offline"),
    "malformed yaml": (["train", "{yaml_bad}"], "not valid YAML at line"),
    "yaml not a mapping": (["train", "{yaml_list}"], "must hold a mapping"),
    "unknown key in yaml": (["train", "{yaml_key}"], "did you mean 'steps'"),
    "missing yaml": (["train", "nope.yaml"], "no config file"),
    "unknown preset": (["train", "no-such-preset"], "unknown preset"),
    "impossible backbone": (["train", "model=tiny/regress", "backbone=cnn"], "the cnn backbone reads images"),
    "agent and model": (["train", "model=tiny/regress", "agent=tiny/bandit", "env=CartPole-v1"], "not both"),
    "nothing to train": (["train", "steps=10"], "add agent=NAME or model=NAME"),
    "negative steps": (["train", "model=tiny/regress", "steps=-5"], "positive"),
    "bad device": (["train", "model=tiny/regress", "device=tpu"], "use auto, cpu"),
    "missing cuda": (["train", "model=tiny/regress", "device=cuda", "steps=1"], "no CUDA GPU"),
    "not a key=value": (["train", "model=tiny/regress", "oops"], "key=value"),
    "bad train flag": (["train", "model=tiny/regress", "--fast"], "unknown option --fast"),
    "missing run dir": (["eval", "runs/does-not-exist"], "no run directory"),
    "foreign run dir": (["eval", "{foreign}"], "not a sandbox run directory"),
    "corrupt checkpoint": (["eval", "{corrupt}"], "is corrupt"),
    "corrupt pointer": (["sample", "{bad_pointer}", "--n", "4", "--out", "{base}/g.png"], "is corrupt"),
    "bad flag": (["eval", "{model}", "--bogus"], "unrecognized arguments"),
    "unknown command": (["frobnicate"], "invalid choice"),
    "bad sample suffix": (["sample", "{model}", "--n", "4", "--out", "grid.jpg"], "must end in .png"),
    "sample an agent": (["sample", "{agent}", "--n", "4", "--out", "{base}/x.png"], "agent run"),
    "play a model": (["play", "{model}"], "generative model run"),
    "bad record suffix": (["play", "{agent}", "--record", "game.avi"], ".mp4 or .gif"),
    "zero episodes": (["eval", "{agent}", "--episodes", "0"], "positive"),
    "sampler for an agent": (["eval", "{agent}", "--sampler", "ddim"], "is for generative models"),
    "wrong flag type": (["sample", "{model}", "--n", "many", "--out", "{base}/y.png"], "invalid int value"),
    "unknown metric": (["compare", "{model}", "--out", "{base}/c.png", "--metric", "los"], "did you mean 'train/loss'"),
    "compare a foreign dir": (["compare", "{foreign}", "--out", "{base}/c.png"], "no metrics.jsonl"),
    "smoothing of 1 or more": (["compare", "{model}", "--out", "{base}/c.png", "--smooth", "1"], "below 1"),
    "play an env without --human": (["play", "CartPole-v1"], "--human"),
    "out is a foreign folder": (["train", *TINY, "out={foreign}"], "not a sandbox run"),
    "resume with another plugin": (["train", "agent=tiny/bandit", "env=CartPole-v1", "out={model}"], "existing run"),
}


def snapshot(base: Path) -> dict:
    return {p: p.read_bytes() for p in base.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_sentence_and_exit_2(name, runs):
    args, expected = CASES[name]
    args = [a.format(**runs) for a in args]
    before = snapshot(runs["base"])
    out = run_cli(*args, cwd=runs["base"])
    assert out.returncode == 2, (out.returncode, out.stderr)
    err = out.stderr.strip()
    assert "Traceback" not in err
    assert 1 <= len(err.splitlines()) <= 2, err
    assert err.startswith("error:"), err
    assert expected in err, err
    assert snapshot(runs["base"]) == before, "a bad input changed files that were already there"


@pytest.mark.parametrize("override,match", [
    ("max_minutes=nan", "max_minutes"), ("checkpoint_minutes=nan", "not a finite number"),
    ("checkpoint_minutes=inf", "not a finite number"), ("model.lr=inf", "not a finite number"),
    ("model.lr=-inf", "not a finite number"), ("model.lr=nan", "not a finite number"),
    ("seed=-1", "seed=-1 is out of range"), ("seed=4294967296", "out of range"),
    ("seed=100000000000000000000000", "seed=100000000000000000000000 is out of range"), ("steps=1e400", "steps"),
])
def test_numbers_that_are_not_finite_or_out_of_range_are_one_sentence(override, match, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(sandbox.ConfigError, match=match):
        sandbox.train(None, ["model=tiny/regress", "wandb.mode=disabled", override, f"out={out}"], progress=False)
    assert not out.exists()


@pytest.mark.parametrize("override", ["agent.learning_rate=inf", "agent.gamma=nan", "env.repeat_action_probability=nan"])
def test_plugin_fields_refuse_non_finite_numbers(override, tmp_path):
    env = "env=ALE/Pong-v5" if override.startswith("env.") else "env=CartPole-v1"
    with pytest.raises(sandbox.ConfigError, match="not a finite number"):
        sandbox.train(None, ["agent=ppo", env, "wandb.mode=disabled", override, f"out={tmp_path / 'x'}"], progress=False)


def test_a_keyword_a_gymnasium_env_rejects_is_one_sentence_and_nothing_is_written(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(sandbox.ConfigError, match=r"env=CartPole-v1 does not take env\.foo"):
        sandbox.train(None, ["agent=ppo", "env=CartPole-v1", "env.foo=1", "wandb.mode=disabled", f"out={out}"], progress=False)
    assert not out.exists()


def test_a_gymnasium_keyword_from_the_command_line_arrives_typed():
    env = sandbox.make_env("CartPole-v1", max_episode_steps="7")  # as `env.max_episode_steps=7` gives it
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, terminated, truncated, _ = env.step(0 if steps % 2 else 1)
        steps, done = steps + 1, terminated or truncated
    assert steps <= 7
