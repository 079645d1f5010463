"""Same seed, same result: for every plugin, two tiny runs with the same seed and config give the
same metrics (less the keys that measure time: see ``timing``) and byte-identical checkpoint
tensors, also when something in the process changed torch's thread count between them; a run with
another seed gives different ones (so the test can fail). Every name a built-in plugin writes to
metrics.jsonl is in one of the sections (``train/``, ``rollout/``, ``eval/``, ``time/``, ``charts/``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import sandbox  # noqa: E402
from sandbox.run import load_checkpoint  # noqa: E402
from sandbox.tracking import SECTIONS, read_metrics  # noqa: E402



def timing(key: str) -> bool:
    """Metrics that measure the wall clock, and only these, differ between two runs of the same seed:
    every row's ``time`` (seconds since the run started) and the ``time/`` section (speeds)."""
    return key == "time" or key.startswith("time/")


RL = ["env=CartPole-v1", "backbone=mlp", "backbone.hidden=[16,16]", "agent.eval_every=128", "agent.eval_episodes=2",
      "agent.eval_video=false"]
GEN = ["data=digits", "backbone=mlp", "backbone.hidden=[32,32]", "steps=6", "model.batch=16", "model.grid=4",
       "model.log_every=1", "model.sample_every=3", "model.eval_every=3", "model.eval_n=16"]
CONFIGS: dict[str, list[str]] = {
    "ppo": ["agent=ppo", *RL, "steps=256", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2"],
    "dqn": ["agent=dqn", *RL, "steps=300", "agent.learning_starts=50", "agent.train_freq=16", "agent.gradient_steps=2",
            "agent.buffer_size=1000"],
    "a2c": ["agent=a2c", *RL, "steps=256", "agent.n_envs=4"],
    "reinforce": ["agent=reinforce", *RL, "steps=300", "agent.n_envs=4", "agent.batch_steps=64"],
    "alphazero": ["agent=alphazero", "env=tictactoe", "backbone=mlp", "backbone.hidden=[32,32]", "steps=160",
                  "agent.simulations=8", "agent.games=8", "agent.batch_size=32", "agent.min_buffer=32", "agent.eval_games=2",
                  "agent.eval_simulations=8", "agent.eval_opponents=[random,mcts:8]", "agent.eval_every=64",
                  "agent.log_every=16"],
    "ddpm": ["model=ddpm", *GEN, "model.timesteps=20", "model.sample_batch=4", "model.eval_steps=2"],
    "flow": ["model=flow", *GEN, "model.sample_batch=4", "model.eval_steps=2"],
    "gan": ["model=gan", *GEN, "backbone=cnn", "backbone.channels=[8,16]", "backbone.hidden=32"],  # convolutions: thread-count sensitive
    "vae": ["model=vae", *GEN],
}


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SANDBOX_CACHE", str(tmp_path_factory.getbasetemp() / "sandbox-cache"))


def outcome(config: list[str], out: Path, seed: int) -> tuple[list[dict[str, Any]], dict[str, torch.Tensor]]:
    """The metrics rows (timing keys dropped) and the latest checkpoint's tensors of one run."""
    run = sandbox.train(None, [*config, f"seed={seed}", f"out={out}", "wandb.mode=disabled"], progress=False)
    written = {k for line in (run.dir / "metrics.jsonl").read_text().splitlines() for k in json.loads(line)} - {"step", "time"}
    assert written and all(k.split("/")[0] in SECTIONS for k in written), f"names outside the sections: {sorted(written)}"
    rows = [{k: v for k, v in row.items() if not timing(k)} for row in read_metrics(run.dir)]
    loaded = load_checkpoint(run.dir, "latest")
    assert loaded is not None
    return rows, loaded[0]


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    """The names whose tensors differ (or are only in one of the two)."""
    return sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or not torch.equal(a[k], b[k]))


@pytest.mark.parametrize("plugin", list(CONFIGS))
def test_same_seed_same_metrics_and_checkpoint(plugin: str, tmp_path: Path) -> None:
    rows_a, tensors_a = outcome(CONFIGS[plugin], tmp_path / "a", seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)  # as another run in this process might have left it
    try:
        rows_b, tensors_b = outcome(CONFIGS[plugin], tmp_path / "b", seed=3)
    finally:
        torch.set_num_threads(threads)
    assert len(rows_a) > 2 and any(len(r) > 1 for r in rows_a), rows_a
    assert len(rows_a) == len(rows_b), (len(rows_a), len(rows_b))
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b)):
        assert ra == rb, f"metrics row {i} differs: {ra} != {rb}"
    assert not same_tensors(tensors_a, tensors_b), f"checkpoint tensors differ: {same_tensors(tensors_a, tensors_b)}"

    rows_c, tensors_c = outcome(CONFIGS[plugin], tmp_path / "c", seed=4)
    assert rows_c != rows_a or same_tensors(tensors_a, tensors_c), "another seed gave the same run"
