"""The one codec: every plugin's state goes through sandbox.checkpoint and comes back equal."""

from __future__ import annotations

import json
import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pytest  # noqa: E402
import torch  # noqa: E402

import sandbox  # noqa: E402
from sandbox import checkpoint  # noqa: E402
from sandbox.device import seed_everything  # noqa: E402
from sandbox.errors import RunDirError  # noqa: E402
from sandbox.registry import plugin_class  # noqa: E402
from sandbox.run import load_checkpoint, load_run_config, read_pointer  # noqa: E402

RL = ["wandb.mode=disabled", "agent.eval_every=0", "env=CartPole-v1", "backbone=mlp", "backbone.hidden=[8]"]
GEN = ["wandb.mode=disabled", "data=digits", "model.batch=16", "model.grid=4", "model.log_every=1", "model.eval_every=0",
       "model.sample_every=0"]
PLUGINS = {
    "ppo": ["agent=ppo", "steps=128", "agent.n_envs=2", "agent.n_steps=32", "agent.batch_size=32", "agent.n_epochs=1", *RL],
    "a2c": ["agent=a2c", "steps=40", "agent.n_envs=2", *RL],
    "dqn": ["agent=dqn", "steps=120", "agent.learning_starts=20", "agent.train_freq=8", "agent.gradient_steps=1",
            "agent.buffer_size=500", *RL],
    "reinforce": ["agent=reinforce", "steps=120", "agent.n_envs=2", "agent.batch_steps=32", *RL],
    "alphazero": ["agent=alphazero", "env=tictactoe", "backbone=mlp", "steps=96", "agent.simulations=4", "agent.games=8",
                  "agent.batch_size=16", "agent.min_buffer=16", "agent.eval_games=2", "agent.eval_opponents=[random]",
                  "agent.log_seconds=0", "wandb.mode=disabled"],
    "vae": ["model=vae", "backbone=mlp", "backbone.hidden=[16]", "steps=3", *GEN],
    "gan": ["model=gan", "backbone=mlp", "backbone.hidden=[16]", "steps=3", *GEN],
    "ddpm": ["model=ddpm", "backbone=mlp", "backbone.hidden=[16]", "steps=3", "model.timesteps=40", "model.export_pipeline=false",
             "model.sample_batch=4", *GEN],
    "flow": ["model=flow", "backbone=mlp", "backbone.hidden=[16]", "steps=3", "model.export_pipeline=false", "model.sample_batch=4", *GEN],
}


def plain(doc):
    """JSON as it reads back from a file (tuples become lists)."""
    return json.loads(json.dumps(doc))


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_every_plugin_round_trips_through_the_codec(name, tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_CACHE", str(tmp_path / "cache"))
    run = sandbox.train(None, [*PLUGINS[name], f"out={tmp_path / 'run'}"], progress=False)
    tensors, doc = load_checkpoint(run.dir, "latest")
    assert doc["format"] == checkpoint.FORMAT
    assert any(k.startswith("modules/") for k in tensors) and any(k.startswith("optimizers/") for k in tensors)

    config = load_run_config(run.dir)
    seed_everything(12345)  # a fresh plugin with other weights, so that loading has to change them
    fresh = plugin_class(config)(config)
    before, _ = checkpoint.encode(fresh.saved())
    assert any(not torch.equal(before[k], tensors[k]) for k in before if k.startswith("modules/"))

    checkpoint.decode(fresh, tensors, doc)
    again, again_doc = checkpoint.encode(fresh.saved())
    stored = {k: v for k, v in tensors.items() if not k.startswith("rng/")}
    assert sorted(again) == sorted(stored)
    for key, value in stored.items():
        assert again[key].dtype == value.dtype and torch.equal(again[key], value), key
    assert plain(again_doc["optimizers"]) == doc["optimizers"]
    assert plain(again_doc["state"]) == doc["state"]


def test_an_optimiser_comes_back_with_its_moments_and_step(tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(net.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(5, 3)).pow(2).sum().backward()
        opt.step()

    class Holder:
        def __init__(self, module, optimizer):
            self.module, self.optimizer = module, optimizer

        def saved(self):
            return checkpoint.Saved(modules={"net": self.module}, optimizers={"adam": self.optimizer}, buffers={"b": torch.arange(4)},
                                    state={"n": 3})

        def restore(self, buffers, state):
            self.buffers, self.state = buffers, state

    tensors, doc = checkpoint.encode(Holder(net, opt).saved())
    checkpoint.write(tmp_path / "step-1", tensors, doc)
    tensors, doc = checkpoint.read(tmp_path / "step-1")
    assert {"modules/net/weight", "optimizers/adam/0/exp_avg", "optimizers/adam/0/exp_avg_sq", "optimizers/adam/0/step",
            "buffers/b"} <= set(tensors)
    other_net = torch.nn.Linear(3, 2)
    other = Holder(other_net, torch.optim.AdamW(other_net.parameters(), lr=0.5))
    checkpoint.decode(other, tensors, doc)
    assert torch.equal(other_net.weight, net.weight)
    assert other.optimizer.param_groups[0]["lr"] == 0.01
    assert float(other.optimizer.state[other_net.weight]["step"]) == 3.0
    assert torch.equal(other.optimizer.state[other_net.weight]["exp_avg"], opt.state[net.weight]["exp_avg"])
    assert torch.equal(other.buffers["b"], torch.arange(4)) and other.state == {"n": 3}


def test_a_checkpoint_of_another_format_is_one_sentence(tmp_path):
    run = sandbox.train(None, [*PLUGINS["reinforce"], f"out={tmp_path / 'run'}"], progress=False)
    stem = run.dir / "checkpoints" / read_pointer(run.dir, "latest")["file"]
    doc = json.loads(stem.with_suffix(".json").read_text())
    doc.pop("format")
    stem.with_suffix(".json").write_text(json.dumps(doc))
    with pytest.raises(RunDirError, match="checkpoint format 1.*train the run again"):
        sandbox.load(run.dir, which="latest")
