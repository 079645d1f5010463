"""Tiny plugins of the tests' own (namespace 'tiny/'), loaded through SANDBOX_PLUGINS=tests.plugins.tiny.

``tiny/regress`` is a generative-model-shaped plugin that fits a backbone to a fixed random target;
``tiny/bandit`` is an agent that learns a 4-armed bandit. Both exercise the whole run machinery
(budgets, checkpoints, resume, tracking) in well under a second per hundred steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sandbox.backbones.base import InputSpec, build
from sandbox.checkpoint import Saved
from sandbox.config import option
from sandbox.plugin import Agent, GenerativeModel
from sandbox.registry import agents, generative


@dataclass
class RegressConfig:
    lr: float = option(0.01, "Adam learning rate")
    batch: int = option(16, "batch size")
    sleep: float = option(0.0, "seconds to sleep per step (to make kill windows)")
    checkpoint_every: int = option(0, "checkpoint every N steps (0: only when due)")
    media: bool = option(False, "log an image and a video at the end")


@generative.register("tiny/regress")
class Regress(GenerativeModel):
    """Fits a backbone to a fixed random linear target (test plugin)."""

    Config = RegressConfig
    default_backbone = "mlp"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.spec = InputSpec.vector(4)
        self.net = build(config.backbone, self.spec)
        self.head = torch.nn.Linear(self.net.out_dim, 1)
        g = torch.Generator().manual_seed(1234)
        self.w = torch.randn(4, 1, generator=g)
        self.params = list(self.net.parameters()) + list(self.head.parameters())
        self.opt = torch.optim.Adam(self.params, lr=self.cfg.lr)
        self.losses: list[float] = []

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return ((self.head(self.net(x)) - x @ self.w) ** 2).mean()

    def fit(self, run: Any) -> None:
        while not run.should_stop():
            x = torch.randn(self.cfg.batch, 4)
            loss = self.loss(x)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            run.step += 1
            run.log({"train/loss": loss.item()})
            if self.cfg.sleep:
                time.sleep(self.cfg.sleep)
            if (self.cfg.checkpoint_every and run.step % self.cfg.checkpoint_every == 0) or run.checkpoint_due():
                run.checkpoint(self, score=-loss.item())
        if self.cfg.media:
            run.log_image("charts/samples", self.sample(16))
            frames = [np.full((32, 48, 3), i * 20, np.uint8) for i in range(8)]
            run.log_video("charts/video", frames, fps=4)

    def saved(self) -> Saved:
        return Saved(modules={"net": self.net, "head": self.head}, optimizers={"opt": self.opt})

    def sample(self, n: int, seed: int = 0, **options: Any) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 4, generator=g)
        with torch.no_grad():
            y = torch.sigmoid(self.head(self.net(x)))
        return y.view(n, 1, 1, 1).expand(n, 1, 4, 4).clone()

    def evaluate(self, **options: Any) -> dict[str, Any]:
        with torch.no_grad():
            x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
            return {"loss": float(self.loss(x))}


@dataclass
class BanditConfig:
    lr: float = option(0.1, "learning rate of the preferences")


@agents.register("tiny/bandit")
class Bandit(Agent):
    """Gradient bandit on 4 arms with a backbone-free softmax policy (test plugin)."""

    Config = BanditConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.prefs = torch.zeros(4)
        self.means = np.array([0.1, 0.9, 0.3, 0.2])

    def fit(self, run: Any) -> None:
        rng = np.random.default_rng(self.config.seed)
        while not run.should_stop():
            p = torch.softmax(self.prefs, 0).numpy()
            a = rng.choice(4, p=p)
            r = float(rng.random() < self.means[a])
            grad = -p
            grad[a] += 1
            self.prefs += self.cfg.lr * (r - 0.5) * torch.from_numpy(grad).float()
            run.step += 1
            run.log({"rollout/episodic_return": r})

    def saved(self) -> Saved:
        return Saved(buffers={"prefs": self.prefs})

    def restore(self, buffers: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.prefs = buffers["prefs"].clone()

    def act(self, observation: Any, action_mask: Any = None, deterministic: bool = True) -> int:
        return int(torch.argmax(self.prefs))

    def evaluate(self, episodes: int = 10, **options: Any) -> dict[str, Any]:
        r = [self.means[self.act(None)]] * episodes
        return {"mean_return": float(np.mean(r)), "std_return": float(np.std(r)), "episodes": episodes}
