"""PPO (stable-baselines3) on a sandbox backbone.

The defaults are the RL Zoo's tuned values for CartPole; the ``ppo-pong`` preset carries the Atari
values. Everything that is not PPO itself (the backbone as features extractor, runs, evaluation,
checkpoints without pickles) is in agents/sb3.py and agents/rl.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sandbox.agents.sb3 import SB3Agent, SB3Config, fused_adam, schedule
from sandbox.config import option
from sandbox.errors import ConfigError


@dataclass
class PPOConfig(SB3Config):
    n_envs: int = option(8, "envs stepped together", low=1, high=1024)
    learning_rate: float = option(1e-3, "Adam learning rate (the start value with lr_schedule=linear)", above=0, high=10)
    lr_schedule: Literal["constant", "linear"] = option("linear", "constant, or linear: decay the learning rate to 0 over the run")
    n_steps: int = option(32, "steps per env in each rollout (a rollout is n_steps × n_envs steps)", low=1)
    batch_size: int = option(256, "minibatch size", low=2)
    n_epochs: int = option(20, "passes over each rollout", low=1)
    gamma: float = option(0.98, "discount factor", low=0, high=1)
    gae_lambda: float = option(0.8, "GAE lambda", low=0, high=1)
    clip_range: float = option(0.2, "PPO clip range (the start value with clip_schedule=linear)", above=0)
    clip_schedule: Literal["constant", "linear"] = option("linear", "constant or linear (decay the clip range to 0)")
    ent_coef: float = option(0.0, "entropy bonus", low=0)
    vf_coef: float = option(0.5, "value loss weight", low=0)
    max_grad_norm: float = option(0.5, "gradient clipping", above=0)
    target_kl: float | None = option(None, "stop the epochs of an update early past this KL (null: never)", above=0)
    share_backbone: bool = option(False, "one backbone for policy and value (Atari) or one each (SB3's MLP default)")

    def validate(self) -> None:
        super().validate()
        if self.n_steps < 1 or self.batch_size < 2 or self.n_epochs < 1:
            raise ConfigError("agent.n_steps and agent.n_epochs must be ≥ 1 and agent.batch_size ≥ 2.")


class PPO(SB3Agent):
    """Proximal Policy Optimization (stable-baselines3) on any backbone."""

    Config = PPOConfig

    def build_model(self, env: Any) -> Any:
        from stable_baselines3 import PPO as SB3PPO

        c = self.cfg
        kwargs = self.policy_kwargs()
        kwargs["share_features_extractor"] = c.share_backbone
        kwargs["net_arch"] = {"pi": list(c.net_arch), "vf": list(c.net_arch)}
        kwargs["optimizer_kwargs"] = fused_adam(eps=1e-5)  # SB3's PPO default eps
        return SB3PPO(
            "MlpPolicy", env, learning_rate=schedule(c.learning_rate, c.lr_schedule), n_steps=c.n_steps,
            batch_size=c.batch_size, n_epochs=c.n_epochs, gamma=c.gamma, gae_lambda=c.gae_lambda,
            clip_range=schedule(c.clip_range, c.clip_schedule), ent_coef=c.ent_coef, vf_coef=c.vf_coef,
            max_grad_norm=c.max_grad_norm, target_kl=c.target_kl, policy_kwargs=kwargs, seed=self.config.seed,
            device=self.device, rollout_buffer_class=self.rollout_buffer_class(),
        )
