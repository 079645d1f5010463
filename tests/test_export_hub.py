"""sandbox export --format hub: every agent kind (PPO, DQN, A2C, REINFORCE on CartPole, AlphaZero on
tic-tac-toe) and every generative model kind (DDPM, flow matching, GAN, VAE on digits), each a tiny run exported as
a Hub model folder, loaded back from the folder alone, acting or sampling exactly as the run does;
the model card parsed back (front matter and metric, also by huggingface_hub's own card reader);
the folder read without unpickling; the command line's refusals and a push without a login."""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import sandbox  # noqa: E402
from sandbox.errors import SandboxError  # noqa: E402
from sandbox.exporter import PushError, read_card  # noqa: E402
from sandbox.run import load_checkpoint, read_pointer  # noqa: E402

RL = ["env=CartPole-v1", "backbone=mlp", "backbone.hidden=[16,16]", "agent.eval_every=128", "agent.eval_episodes=2",
      "agent.eval_video=false"]
GEN = ["data=digits", "backbone=mlp", "backbone.hidden=[32,32]", "steps=6", "model.batch=16", "model.grid=4",
       "model.log_every=1", "model.sample_every=3", "model.eval_every=3", "model.eval_n=16"]
AGENTS: dict[str, list[str]] = {
    # PPO records its evaluation videos, so that the export copies the best one instead of recording
    "ppo": ["agent=ppo", *RL, "agent.eval_video=true", "agent.eval_video_every=1", "steps=256", "agent.n_envs=4",
            "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2"],
    "dqn": ["agent=dqn", *RL, "steps=300", "agent.learning_starts=50", "agent.train_freq=16", "agent.gradient_steps=2",
            "agent.buffer_size=1000"],
    "a2c": ["agent=a2c", *RL, "steps=256", "agent.n_envs=4"],
    "reinforce": ["agent=reinforce", *RL, "steps=300", "agent.n_envs=4", "agent.batch_steps=64"],
    "alphazero": ["agent=alphazero", "env=tictactoe", "backbone=mlp", "backbone.hidden=[32,32]", "steps=160",
                  "agent.simulations=8", "agent.games=8", "agent.batch_size=32", "agent.min_buffer=32", "agent.eval_games=2",
                  "agent.eval_simulations=8", "agent.eval_opponents=[random]", "agent.eval_every=64", "agent.log_every=16"],
}
MODELS: dict[str, list[str]] = {
    "ddpm": ["model=ddpm", *GEN, "model.timesteps=20", "model.sample_batch=4", "model.eval_steps=2",
             "model.steps=2"],  # DPM-Solver++ in 20 steps of a 20-step schedule gives NaN on this tiny net
    "flow": ["model=flow", *GEN, "model.sample_batch=4", "model.eval_steps=2", "model.steps=2"],
    "gan": ["model=gan", *GEN],
    "vae": ["model=vae", *GEN],
}
CONFIGS = {**AGENTS, **MODELS}
HUB_FILES = {"README.md", "config.yaml", "model.safetensors", "model.json", "results.json"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Each kind's tiny run and its hub export (the evaluation sized small: 4 episodes or games, 128 samples)."""
    root = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SANDBOX_CACHE", str(tmp_path_factory.getbasetemp() / "sandbox-cache"))
        out: dict[str, tuple[Path, Path]] = {}
        for kind, config in CONFIGS.items():
            run = sandbox.train(None, [*config, "seed=1", f"out={root / kind}", "wandb.mode=disabled"], progress=False)
            target = sandbox.export(run.dir, root / f"{kind}-hub", format="hub", episodes=4, games=4, n=128)
            out[kind] = (run.dir, target)
        yield out


def observations(policy: Any, n: int = 60) -> list[np.ndarray]:
    """Observations of CartPole reached by random play (several episodes, one seed)."""
    env = policy.make_env()
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    seen = []
    while len(seen) < n:
        seen.append(np.asarray(obs))
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return seen


def board_positions(n: int = 40) -> list[dict[str, np.ndarray]]:
    """PettingZoo tictactoe_v3 observations (either player to move) reached by random legal moves."""
    from pettingzoo.classic import tictactoe_v3

    env = tictactoe_v3.env()
    rng = np.random.default_rng(0)
    seen: list[dict[str, np.ndarray]] = []
    env.reset(seed=0)
    while len(seen) < n:
        for agent in env.agent_iter():
            obs, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            seen.append({k: np.array(v) for k, v in obs.items()})
            env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        env.reset(seed=len(seen))
    env.close()
    return seen[:n]


@pytest.mark.parametrize("kind", list(AGENTS))
def test_agent_export_acts_as_the_run(exported, kind: str) -> None:
    run_dir, hub = exported[kind]
    assert HUB_FILES | {"replay.mp4"} == {p.name for p in hub.iterdir()}
    from_run, from_hub = sandbox.load(run_dir), sandbox.load(hub)
    if kind == "alphazero":
        positions = board_positions()
        actions = [(from_run.act(o), from_hub.act(o)) for o in positions]
    else:
        positions = observations(from_run)
        actions = [(from_run.act(o), from_hub.act(o)) for o in positions]
        batch = np.stack(positions)
        assert np.array_equal(from_run.act(batch), from_hub.act(batch))
    assert all(a == b for a, b in actions), actions
    assert len({a for a, _ in actions}) >= 1


@pytest.mark.parametrize("kind", list(MODELS))
def test_model_export_samples_as_the_run(exported, kind: str) -> None:
    run_dir, hub = exported[kind]
    assert HUB_FILES | {"samples.png"} == {p.name for p in hub.iterdir()}
    from_run, from_hub = sandbox.load(run_dir), sandbox.load(hub)
    for seed in (0, 5):
        a, b = torch.as_tensor(from_run.sample(8, seed=seed)), torch.as_tensor(from_hub.sample(8, seed=seed))
        assert a.shape == b.shape and a.shape[0] == 8
        assert torch.equal(a, b), (kind, seed, float((a - b).abs().max()))


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_weights_are_the_best_checkpoint_modules_only(exported, kind: str) -> None:
    from safetensors.torch import load_file

    run_dir, hub = exported[kind]
    weights = load_file(str(hub / "model.safetensors"))
    assert weights and all(k.startswith("modules/") for k in weights), sorted(weights)[:5]
    which = "best" if read_pointer(run_dir, "best") else "latest"
    tensors, doc = load_checkpoint(run_dir, which)
    modules = {k: v for k, v in tensors.items() if k.startswith("modules/")}
    assert weights.keys() == modules.keys() and all(torch.equal(weights[k], modules[k]) for k in weights)
    state = json.loads((hub / "model.json").read_text())
    assert state["step"] == doc["step"] and "optimizers" not in state and "rng" not in state
    assert not {"replay", "snapshots"} & set(state["state"])
    results = json.loads((hub / "results.json").read_text())
    assert results["checkpoint"] == which and results["checkpoint_step"] == doc["step"]


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_model_card_parses_back(exported, kind: str) -> None:
    run_dir, hub = exported[kind]
    meta, body = read_card(hub / "README.md")
    results = json.loads((hub / "results.json").read_text())
    cfg = sandbox.load(hub).config
    assert meta["library_name"] == "sandbox"
    assert kind in meta["tags"] and "sandbox" in meta["tags"]
    (entry,) = meta["model-index"]
    (result,) = entry["results"]
    metrics = {m["type"]: m for m in result["metrics"]}
    if kind in AGENTS:
        env_id = cfg.env.name
        assert {env_id, "reinforcement-learning", "deep-reinforcement-learning"} <= set(meta["tags"])
        assert result["task"]["type"] == "reinforcement-learning" and result["dataset"] == {"name": env_id, "type": env_id}
        value = metrics["mean_reward"]["value"]
        assert re.fullmatch(r"-?\d+\.\d\d \+/- \d+\.\d\d", value), value
        mean, std = (float(x) for x in value.split(" +/- "))
        assert mean == pytest.approx(results["mean_reward"], abs=0.005) and std == pytest.approx(results["std_reward"], abs=0.005)
        assert results["n_eval_episodes"] == 4 and results["is_deterministic"] is True
        assert f"sandbox play {hub.name}" in body
    else:
        assert {"digits", "unconditional-image-generation"} <= set(meta["tags"])
        assert result["dataset"]["name"] == "digits"
        assert metrics["fid"]["value"] == pytest.approx(results["fid"], abs=1e-4)
        assert {"precision", "recall", "fid_floor"} <= metrics.keys()
        assert f"sandbox sample {hub.name}" in body
    assert f'sandbox.load("{hub.name}")' in body and "```yaml" in body
    assert f"Trained for {json.loads((run_dir / 'run.json').read_text())['step']} " in body
    # the Hub's own reader of cards finds the same result
    from huggingface_hub import ModelCard

    card = ModelCard.load(hub / "README.md")
    (evaluation, *_) = card.data.eval_results
    assert evaluation.metric_type == result["metrics"][0]["type"]
    assert evaluation.dataset_type == result["dataset"]["type"] and evaluation.task_type == result["task"]["type"]
    assert card.data.library_name == "sandbox"


def test_replay_is_the_runs_video_of_the_best_checkpoint(exported) -> None:
    run_dir, hub = exported["ppo"]
    step = json.loads((hub / "model.json").read_text())["step"]
    video = run_dir / "media" / f"eval-step-{step:09d}.mp4"
    assert video.is_file() and (hub / "replay.mp4").read_bytes() == video.read_bytes()


def test_loading_the_folder_unpickles_nothing(exported, monkeypatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    policy = sandbox.load(exported["reinforce"][1])
    assert policy.act(np.zeros(4, np.float32)) in (0, 1)
    sandbox.load(exported["vae"][1]).sample(2, seed=0)


def test_refusals(exported, tmp_path: Path) -> None:
    run_dir, hub = exported["reinforce"]
    with pytest.raises(SandboxError, match="not empty") as info:
        sandbox.export(run_dir, hub)
    assert info.value.exit_code == 2
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(SandboxError, match="cannot make the folder") as info:
        sandbox.export(run_dir, blocker / "inside")
    assert info.value.exit_code == 2
    with pytest.raises(SandboxError, match="inside the run directory"):
        sandbox.export(run_dir, run_dir / "hub")
    with pytest.raises(SandboxError, match="is for ppo, dqn and a2c agents, not for reinforce runs"):
        sandbox.export(run_dir, tmp_path / "x", format="sb3")
    with pytest.raises(SandboxError, match="not one of hub, onnx, sb3, diffusers"):
        sandbox.export(run_dir, tmp_path / "x", format="zip")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".*tmp-*"))
    with pytest.raises(SandboxError, match="a folder written by 'sandbox export'"):
        sandbox.train(None, [f"out={hub}", "steps=400"], progress=False)


def test_push_without_a_login_keeps_the_folder(exported, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    run_dir, _ = exported["reinforce"]
    with pytest.raises(PushError, match="no Hugging Face login") as info:
        sandbox.export(run_dir, tmp_path / "pushed", push="someone/reinforce-cartpole", episodes=2)
    assert info.value.exit_code == 1 and "\n" not in str(info.value)
    assert HUB_FILES <= {p.name for p in (tmp_path / "pushed").iterdir()}


def test_the_command_line_on_exported_folders(exported, cli, tmp_path: Path) -> None:
    run_dir, hub = exported["a2c"]
    # export itself, with a push that cannot happen: exit 1, one sentence, the folder whole
    env = {"HF_TOKEN": "hf_not_a_token", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_ETAG_TIMEOUT": "2"}
    r = cli("export", str(run_dir), "--to", str(tmp_path / "a2c-hub"), "--episodes", "2", "--push", "me/a2c", env=env)
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: not pushed to me/a2c"), r.stderr
    assert HUB_FILES <= {p.name for p in (tmp_path / "a2c-hub").iterdir()}
    r = cli("export", str(run_dir), "--to", str(tmp_path / "a2c-hub"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not empty" in r.stderr, r.stderr
    # eval and play on an agent's folder, sample on a model's
    r = cli("eval", str(hub), "--episodes", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["episodes"] == 2
    r = cli("play", str(hub), "--record", str(tmp_path / "game.gif"), "--json")
    assert r.returncode == 0 and (tmp_path / "game.gif").stat().st_size > 0, r.stderr
    r = cli("sample", str(exported["ddpm"][1]), "--n", "4", "--out", str(tmp_path / "s.npz"), "--seed", "3")
    assert r.returncode == 0, r.stderr
    samples = np.load(tmp_path / "s.npz")["samples"]
    expected = torch.as_tensor(sandbox.load(exported["ddpm"][0]).sample(4, seed=3)).numpy()
    assert np.array_equal(samples, expected)
