"""A2C (stable-baselines3) on a sandbox backbone.

Defaults are SB3's (and the RL Zoo's for CartPole: 8 envs, 5 steps each, RMSprop); the rest of the
machinery is in agents/sb3.py and agents/rl.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.agents.sb3 import SB3Agent, SB3Config, schedule
from sandbox.config import option
from sandbox.errors import ConfigError


@dataclass
class A2CConfig(SB3Config):
    n_envs: int = option(8, "envs stepped together", low=1, high=1024)
    learning_rate: float = option(7e-4, "RMSprop learning rate (the start value with lr_schedule=linear)", above=0, high=10)
    n_steps: int = option(5, "steps per env before each update", low=1)
    gae_lambda: float = option(1.0, "GAE lambda (1: plain n-step returns)", low=0, high=1)
    ent_coef: float = option(0.0, "entropy bonus", low=0)
    vf_coef: float = option(0.5, "value loss weight", low=0)
    max_grad_norm: float = option(0.5, "gradient clipping", above=0)
    use_rms_prop: bool = option(True, "RMSprop (as the A2C paper) instead of Adam")
    normalize_advantage: bool = option(False, "normalise advantages in each update")
    share_backbone: bool = option(False, "one backbone for policy and value (Atari) or one each")

    def validate(self) -> None:
        super().validate()
        if self.n_steps < 1:
            raise ConfigError("agent.n_steps must be ≥ 1.")


class A2C(SB3Agent):
    """Advantage Actor-Critic (stable-baselines3) on any backbone."""

    Config = A2CConfig
    log_interval = 100

    def build_model(self, env: Any) -> Any:
        from stable_baselines3 import A2C as SB3A2C

        c = self.cfg
        kwargs = self.policy_kwargs()
        kwargs["share_features_extractor"] = c.share_backbone
        kwargs["net_arch"] = {"pi": list(c.net_arch), "vf": list(c.net_arch)}
        return SB3A2C(
            "MlpPolicy", env, learning_rate=schedule(c.learning_rate, c.lr_schedule), n_steps=c.n_steps, gamma=c.gamma,
            gae_lambda=c.gae_lambda, ent_coef=c.ent_coef, vf_coef=c.vf_coef, max_grad_norm=c.max_grad_norm,
            use_rms_prop=c.use_rms_prop, normalize_advantage=c.normalize_advantage, policy_kwargs=kwargs,
            seed=self.config.seed, device=self.device, rollout_buffer_class=self.rollout_buffer_class(),
        )
