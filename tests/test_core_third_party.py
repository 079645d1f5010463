"""A third party's plugin package, built and installed in a temporary folder, shows in `sandbox list`
and trains with `sandbox train`, with no change to this repository: a backbone, an agent, and a data
set that a built-in generative model trains on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import yaml

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "myorg-sandbox-plugins"
version = "0.0.1"

[project.entry-points."sandbox.plugins"]
myorg = "myorg_plugins"

[tool.setuptools]
packages = ["myorg_plugins"]
"""

INIT = '''
"""Registers a backbone, an agent and a data set, lazily."""
from sandbox.registry import agents, backbones, datasets

backbones.register_lazy("myorg/wide", "myorg_plugins.nets:Wide", "One wide hidden layer (third-party test backbone).")
agents.register_lazy("myorg/hill", "myorg_plugins.agent:Hill", "Hill-climbing policy on a backbone (third-party test agent).")
datasets.register_lazy("myorg/blobs", "myorg_plugins.data:blobs", "Three Gaussian blobs in 2-D (third-party test data set).")
'''

DATA = '''
from dataclasses import dataclass

import numpy as np
import torch

from sandbox.config import option
from sandbox.errors import ConfigError
from sandbox.generative.data import Dataset


@dataclass
class BlobsConfig:
    n: int = option(600, "number of points")
    seed: int = option(0, "seed of the points")

    def validate(self):
        if self.n < 10:
            raise ConfigError(f"data.n={self.n} must be at least 10.")


class Blobs:
    """Three Gaussian blobs in 2-D (third-party test data set)."""

    Config = BlobsConfig
    kind = "points"

    def __call__(self, cfg):
        rng = np.random.default_rng(cfg.seed)
        centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
        x = torch.from_numpy((centres[rng.integers(3, size=cfg.n)] + 0.3 * rng.normal(size=(cfg.n, 2))).astype(np.float32))
        k = cfg.n // 10
        return Dataset("myorg-blobs", "points", x[k:], None, x[:k], None, None)


blobs = Blobs()
'''

NETS = '''
from dataclasses import dataclass

import torch
from torch import nn

from sandbox.backbones.base import Backbone
from sandbox.config import option
from sandbox.registry import backbones


@dataclass
class WideConfig:
    width: int = option(32, "the one hidden width")


@backbones.register("myorg/wide")
class Wide(Backbone):
    """One wide hidden layer (third-party test backbone)."""

    Config = WideConfig
    supports = ("vector",)

    def __init__(self, spec, config=None):
        super().__init__(spec, config)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(spec.size, self.config.width), nn.Tanh())
        self.out_dim = self.config.width

    def forward(self, x):
        return self.net(x.float())
'''

AGENT = '''
from dataclasses import dataclass

import numpy as np
import torch

import sandbox
from sandbox.backbones.base import InputSpec, build
from sandbox.checkpoint import Saved
from sandbox.config import option
from sandbox.plugin import Agent
from sandbox.registry import agents


@dataclass
class HillConfig:
    noise: float = option(0.1, "scale of the weight perturbations")


@agents.register("myorg/hill")
class Hill(Agent):
    """Hill-climbing policy on a backbone (third-party test agent)."""

    Config = HillConfig
    default_backbone = "myorg/wide"

    def __init__(self, config):
        super().__init__(config)
        self.env = sandbox.make_env(config.env.name)
        spec = InputSpec.from_shape(self.env.observation_space.shape)
        self.body = build(config.backbone, spec)
        self.head = torch.nn.Linear(self.body.out_dim, int(self.env.action_space.n))
        self.best = -1.0

    def act(self, observation, action_mask=None, deterministic=True):
        with torch.no_grad():
            return int(self.head(self.body(torch.as_tensor(observation)[None])).argmax())

    def episode(self, seed):
        obs, _ = self.env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = self.env.step(self.act(obs))
            total += r
            done = term or trunc
        return total, 0

    def fit(self, run):
        params = list(self.body.parameters()) + list(self.head.parameters())
        while not run.should_stop():
            saved = [p.detach().clone() for p in params]
            with torch.no_grad():
                for p in params:
                    p.add_(torch.randn_like(p) * self.cfg.noise)
            ret, _ = self.episode(run.step)
            if ret >= self.best:
                self.best = ret
            else:
                with torch.no_grad():
                    for p, s in zip(params, saved):
                        p.copy_(s)
            run.step += int(ret)
            run.log({"episodic_return": ret, "best_return": self.best})

    def saved(self):
        return Saved(modules={"body": self.body, "head": self.head}, state={"best": self.best})

    def restore(self, buffers, state):
        self.best = state["best"]

    def evaluate(self, episodes=5, **options):
        returns = [self.episode(1000 + i)[0] for i in range(episodes)]
        return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": episodes}
'''


def test_a_third_party_package_registers_a_backbone_an_agent_and_a_data_set(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "myorg_plugins").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (pkg / "myorg_plugins" / "__init__.py").write_text(INIT)
    (pkg / "myorg_plugins" / "nets.py").write_text(NETS)
    (pkg / "myorg_plugins" / "agent.py").write_text(AGENT)
    (pkg / "myorg_plugins" / "data.py").write_text(DATA)
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(pkg)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    assert list(site.glob("myorg_sandbox_plugins-*.dist-info/entry_points.txt"))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ["PYTHONPATH"]])}
    env.pop("SANDBOX_PLUGINS", None)  # only installed entry points
    sandbox_cmd = [sys.executable, "-m", "sandbox"]
    listed = subprocess.run([*sandbox_cmd, "list", "--json"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert "myorg/wide" in {e["name"] for e in data["backbones"]}
    assert "myorg/hill" in {e["name"] for e in data["agents"]}
    assert {"name": "myorg/blobs", "description": "Three Gaussian blobs in 2-D (third-party test data set).",
            "origin": "myorg_plugins.data.blobs"} in data["datasets"]
    text = subprocess.run([*sandbox_cmd, "list"], env=env, capture_output=True, text=True, cwd=tmp_path).stdout
    assert "Hill-climbing policy on a backbone" in text

    helped = subprocess.run([*sandbox_cmd, "train", "agent=myorg/hill", "backbone=myorg/wide", "--help"], env=env,
                            capture_output=True, text=True, cwd=tmp_path)
    assert helped.returncode == 0 and "agent.noise" in helped.stdout and "backbone.width" in helped.stdout

    run_dir = tmp_path / "runs" / "hill"
    trained = subprocess.run([*sandbox_cmd, "train", "agent=myorg/hill", "env=CartPole-v1", "backbone.width=16",
                              "steps=300", "wandb.mode=disabled", f"out={run_dir}", "--no-progress"],
                             env=env, capture_output=True, text=True, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "name: myorg/wide" in (run_dir / "config.yaml").read_text()
    evaluated = subprocess.run([*sandbox_cmd, "eval", str(run_dir), "--episodes", "3", "--json"], env=env,
                               capture_output=True, text=True, cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["episodes"] == 3 and result["mean_return"] > 0

    # the data set: a built-in model trains on it, with the mlp default backbone of point sets
    helped = subprocess.run([*sandbox_cmd, "train", "model=ddpm", "data=myorg/blobs", "--help"], env=env,
                            capture_output=True, text=True, cwd=tmp_path)
    assert helped.returncode == 0 and "data.n" in helped.stdout and "data.seed" in helped.stdout
    run_dir = tmp_path / "runs" / "blobs"
    trained = subprocess.run([*sandbox_cmd, "train", "model=ddpm", "data=myorg/blobs", "data.n=300", "steps=3",
                              "model.timesteps=40", "model.eval_every=0", "model.sample_every=0",
                              "model.export_pipeline=false", "wandb.mode=disabled", f"out={run_dir}", "--no-progress"],
                             env=env, capture_output=True, text=True, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["data"] == {"name": "myorg/blobs", "n": 300, "seed": 0} and saved["backbone"]["name"] == "mlp"
    assert (run_dir / "checkpoints" / "latest.json").is_file() and list((run_dir / "checkpoints").glob("*.safetensors"))
    refused = subprocess.run([*sandbox_cmd, "train", "model=ddpm", "data=myorg/blobs", "data.n=3", "wandb.mode=disabled",
                              f"out={tmp_path / 'runs' / 'few'}"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 2 and "data.n=3 must be at least 10." in refused.stderr
