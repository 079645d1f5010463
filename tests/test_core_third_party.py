"""A third party's plugin package, built and installed in a temporary folder, shows in `sandbox list`
and trains with `sandbox train`, with no change to this repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

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
"""Registers a backbone and an agent, lazily."""
from sandbox.registry import agents, backbones

backbones.register_lazy("myorg/wide", "myorg_plugins.nets:Wide", "One wide hidden layer (third-party test backbone).")
agents.register_lazy("myorg/hill", "myorg_plugins.agent:Hill", "Hill-climbing policy on a backbone (third-party test agent).")
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


def test_a_third_party_package_registers_a_backbone_and_an_agent(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "myorg_plugins").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (pkg / "myorg_plugins" / "__init__.py").write_text(INIT)
    (pkg / "myorg_plugins" / "nets.py").write_text(NETS)
    (pkg / "myorg_plugins" / "agent.py").write_text(AGENT)
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
