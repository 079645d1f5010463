"""REINFORCE: vanilla policy gradient with a learned baseline, on any backbone.

Karpathy's "Pong from pixels" in spirit, written top to bottom:

1. Play ``n_envs`` envs with the stochastic policy and keep each episode's observations, actions
   and rewards.
2. When an episode ends, its returns-to-go are ``G_t = r_t + γ r_{t+1} + ...`` (an episode cut by a
   time limit adds ``γ^k V(s_end)``, the baseline's guess of what was left).
3. Once ``batch_steps`` steps of finished episodes are in hand, one gradient step on
   ``-(log π(a_t|s_t) · A_t) + vf_coef · (V(s_t) - G_t)²`` with ``A_t = G_t - V(s_t)`` (normalised),
   for the policy and the baseline together, then ``baseline_steps`` more regression steps of the
   baseline alone (a better baseline means less variance). Episodes that were still running keep going into the
   next batch (their log-probabilities are taken under the current policy at update time).

The policy and the baseline are two copies of the run's backbone, each with a linear head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from sandbox.agents.rl import RLAgent, RLConfig, make_vec_env, observation_spec
from sandbox.backbones.base import build
from sandbox.checkpoint import Saved
from sandbox.config import RunConfig, option
from sandbox.errors import ConfigError

if TYPE_CHECKING:
    from sandbox.run import Run


@dataclass
class REINFORCEConfig(RLConfig):
    learning_rate: float = option(1e-2, "Adam learning rate (policy and baseline)", above=0, high=10)
    lr_schedule: Literal["constant", "linear"] = option("linear", "linear: decay the learning rate to 0 over the run")
    gamma: float = option(0.99, "discount factor", above=0, high=1)
    batch_steps: int = option(4000, "update once the finished episodes hold this many steps", low=1)
    ent_coef: float = option(0.0, "entropy bonus", low=0)
    vf_coef: float = option(0.5, "weight of the baseline's squared error", low=0)
    baseline_steps: int = option(10, "extra regression steps of the baseline on each batch (a better baseline, less variance)", low=0)
    max_grad_norm: float = option(1.0, "gradient clipping (0: none)", low=0)
    normalize_advantage: bool = option(True, "normalise the advantages of each batch")

    def validate(self) -> None:
        super().validate()
        if self.batch_steps < 1 or self.learning_rate <= 0 or not 0 < self.gamma <= 1:
            raise ConfigError("agent.batch_steps must be ≥ 1, agent.learning_rate > 0 and agent.gamma in (0, 1].")


class REINFORCE(RLAgent):
    """Vanilla policy gradient with a learned baseline (our own, one file)."""

    Config = REINFORCEConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.env = make_vec_env(config, self.cfg.n_envs, seed=config.seed, training=True)
        self.observation_space = self.env.observation_space
        if not hasattr(self.env.action_space, "n"):
            raise ConfigError(f"reinforce plays discrete actions, but {config.env.name} has {self.env.action_space}.")
        spec = observation_spec(config, self.observation_space)
        self.scale = 1 / 255 if self.observation_space.dtype == np.uint8 else 1.0
        policy_body, baseline_body = build(config.backbone, spec), build(config.backbone, spec)
        self.policy = nn.Sequential(policy_body, nn.Linear(policy_body.out_dim, int(self.env.action_space.n))).to(self.device)
        self.baseline = nn.Sequential(baseline_body, nn.Linear(baseline_body.out_dim, 1)).to(self.device)
        self.params = list(self.policy.parameters()) + list(self.baseline.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=self.cfg.learning_rate)
        self.updates = 0

    def tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs), device=self.device).float() * self.scale

    def act_batch(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        with torch.no_grad():
            logits = self.policy(self.tensor(obs))
        if deterministic:
            return logits.argmax(-1).cpu().numpy()
        return torch.distributions.Categorical(logits=logits).sample().cpu().numpy()

    # -- training ---------------------------------------------------------------------------------
    def fit(self, run: Run) -> None:
        cfg, n = self.cfg, self.cfg.n_envs
        next_eval = self.next_eval_after(run.step)
        running: list[list[tuple[np.ndarray, int, float]]] = [[] for _ in range(n)]  # episodes being played
        batch: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # finished: observations, actions, returns
        batch_steps = 0
        clock = (time.time(), run.step)  # for steps per second
        obs = self.env.reset()
        while not (self.reached_target or run.should_stop()):
            actions = self.act_batch(obs, deterministic=False)
            next_obs, rewards, dones, infos = self.env.step(actions)
            for i in range(n):
                running[i].append((obs[i], int(actions[i]), float(rewards[i])))
                if dones[i]:
                    tail = 0.0
                    if infos[i].get("TimeLimit.truncated"):  # cut by a time limit: the baseline guesses the rest
                        with torch.no_grad():
                            tail = float(self.baseline(self.tensor(infos[i]["terminal_observation"][None]))[0, 0])
                    batch.append(self.returns_to_go(running[i], tail))
                    batch_steps += len(running[i])
                    running[i] = []
                if "episode" in infos[i]:
                    run.log({"rollout/episodic_return": float(infos[i]["episode"]["r"]), "rollout/episodic_length": int(infos[i]["episode"]["l"])})
            obs = next_obs
            run.step += n
            if batch_steps >= cfg.batch_steps:
                if cfg.lr_schedule == "linear":  # to 0 over the steps, or over the budget (steps or max_minutes)
                    done = run.progress() if cfg.anneal_over == "budget" else run.step / self.config.steps
                    for group in self.optimizer.param_groups:
                        group["lr"] = cfg.learning_rate * max(0.0, 1.0 - done)
                metrics = self.update(batch)
                metrics["time/steps_per_second"] = (run.step - clock[1]) / max(time.time() - clock[0], 1e-9)
                clock = (time.time(), run.step)
                run.log(metrics)
                batch, batch_steps = [], 0
            next_eval = self.evaluate_or_checkpoint(run, next_eval)
        self.evaluate_at_end(run)

    def returns_to_go(self, episode: list[tuple[np.ndarray, int, float]], tail: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The episode's observations, actions and discounted returns-to-go."""
        returns = np.zeros(len(episode), np.float32)
        g = tail
        for t in range(len(episode) - 1, -1, -1):
            g = episode[t][2] + self.cfg.gamma * g
            returns[t] = g
        return np.stack([e[0] for e in episode]), np.array([e[1] for e in episode]), returns

    def update(self, batch: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, float]:
        """One gradient step of the policy gradient with baseline on the finished episodes."""
        cfg = self.cfg
        obs = self.tensor(np.concatenate([b[0] for b in batch]))
        actions = torch.as_tensor(np.concatenate([b[1] for b in batch]), device=self.device)
        returns = torch.as_tensor(np.concatenate([b[2] for b in batch]), device=self.device)
        dist = torch.distributions.Categorical(logits=self.policy(obs))
        values = self.baseline(obs).squeeze(-1)
        advantages = returns - values.detach()
        if cfg.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = -(dist.log_prob(actions) * advantages).mean()
        value_loss = ((values - returns) ** 2).mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        self.optimizer.zero_grad()
        loss.backward()
        if cfg.max_grad_norm:
            nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
        self.optimizer.step()
        for _ in range(cfg.baseline_steps):  # fit the baseline further to these returns (the policy is untouched)
            self.optimizer.zero_grad()
            (cfg.vf_coef * ((self.baseline(obs).squeeze(-1) - returns) ** 2).mean()).backward()
            self.optimizer.step()
        self.updates += 1
        return {"train/learning_rate": self.optimizer.param_groups[0]["lr"], "train/policy_loss": policy_loss.item(), "train/value_loss": value_loss.item(),
                "train/entropy": entropy.item(), "train/batch_steps": float(len(returns))}

    # -- export -------------------------------------------------------------------------------------
    def export_onnx(self, folder: Path) -> list[str]:
        """``policy.onnx`` (``sandbox export --format onnx``): the raw observation to the policy's
        ``logits`` and the baseline's ``value``, the scaling to [0, 1] of uint8 frames inside."""
        import copy

        from sandbox.exporter import OnnxGraph, write_onnx

        module = PolicyGraph(copy.deepcopy(self.policy).cpu(), copy.deepcopy(self.baseline).cpu(), self.scale)
        example = torch.as_tensor(self.sample_observations(16))
        outputs = {"logits": "one logit per action: the policy's unnormalised log-probabilities",
                   "value": "the learned baseline's estimate of the observation's return"}
        graph = OnnxGraph(module, example, "observation", "a batch of observations (see the preprocessing)", outputs,
                          self.observation_doc() + " A batch of them is the input; feed the raw values: the cast to float"
                          + (" and the scaling of uint8 frames to [0, 1] are" if self.scale != 1.0 else " is") + " inside the graph.",
                          "The greedy action is argmax(logits, axis=1), as `sandbox play` acts; the stochastic policy, as in "
                          "training, samples from softmax(logits).",
                          {"plugin": "reinforce", "env": self.config.env.name, "actions": int(self.env.action_space.n)})
        return write_onnx(graph, folder)

    # -- checkpoints --------------------------------------------------------------------------------
    def saved(self) -> Saved:
        return Saved(modules={"policy": self.policy, "baseline": self.baseline}, optimizers={"optimizer": self.optimizer},
                     state={"updates": self.updates})

    def restore(self, buffers: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.updates = int(state.get("updates", 0))


class PolicyGraph(nn.Module):
    """The policy and the baseline from the raw observation: (logits, value)."""

    def __init__(self, policy: nn.Module, baseline: nn.Module, scale: float) -> None:
        super().__init__()
        self.policy, self.baseline, self.scale = policy, baseline, scale

    def forward(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = observation.float() * self.scale
        return self.policy(x), self.baseline(x).squeeze(-1)
