"""DQN (stable-baselines3) on a sandbox backbone.

Defaults are the RL Zoo's tuned values for CartPole (train every 256 steps, 128 gradient steps,
target network updated every 10 env steps, as SB3 counts ``target_update_interval``). The replay buffer goes into each checkpoint (its filled rows, as
tensors) when it is at most ``agent.checkpoint_buffer_mb``, so a resumed run learns from the same
memories; a bigger one (Atari's is gigabytes) is refilled on resume. (With
``optimize_memory_usage`` the last saved transition's next frame is the row the resumed run
overwrites first: one transition of the buffer.) The rest of the machinery is
in agents/sb3.py and agents/rl.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sandbox.agents.sb3 import SB3Agent, SB3Config, fused_adam, schedule
from sandbox.checkpoint import Saved
from sandbox.config import option
from sandbox.errors import ConfigError


@dataclass
class DQNConfig(SB3Config):
    n_envs: int = option(1, "envs stepped together", low=1, high=1024)
    learning_rate: float = option(2.3e-3, "Adam learning rate", above=0, high=10)
    buffer_size: int = option(100_000, "replay buffer size (transitions)", low=1)
    learning_starts: int = option(1_000, "steps of random play before learning", low=0)
    batch_size: int = option(64, "minibatch size", low=1)
    train_freq: int = option(256, "env steps between trainings", low=1)
    gradient_steps: int = option(128, "gradient steps per training", low=1)
    target_update_interval: int = option(10, "env steps between target network updates", low=1)
    exploration_fraction: float = option(0.16, "fraction of the run over which epsilon decays", above=0, high=1)
    exploration_initial_eps: float = option(1.0, "epsilon at the start", low=0, high=1)
    exploration_final_eps: float = option(0.04, "epsilon at the end of the decay", low=0, high=1)
    max_grad_norm: float = option(10.0, "gradient clipping", above=0)
    optimize_memory_usage: bool = option(False, "store each frame once in the buffer (Atari)")
    checkpoint_buffer_mb: int = option(512, "keep the replay buffer in checkpoints up to this size in MB (0: never; bigger: refilled on resume)", low=0)

    def validate(self) -> None:
        super().validate()
        if self.buffer_size < self.batch_size or self.train_freq < 1 or self.gradient_steps < 1:
            raise ConfigError("agent.buffer_size must be ≥ agent.batch_size; agent.train_freq and agent.gradient_steps ≥ 1.")
        if self.checkpoint_buffer_mb < 0:
            raise ConfigError(f"agent.checkpoint_buffer_mb must be 0 (never keep the buffer) or more, not {self.checkpoint_buffer_mb}.")
        if not 0 < self.exploration_fraction <= 1:
            raise ConfigError("agent.exploration_fraction must be in (0, 1].")


class DQN(SB3Agent):
    """Deep Q-Network (stable-baselines3) on any backbone."""

    Config = DQNConfig
    log_interval = 10

    def build_model(self, env: Any) -> Any:
        from stable_baselines3 import DQN as SB3DQN

        c = self.cfg
        return SB3DQN(
            "MlpPolicy", env, learning_rate=schedule(c.learning_rate, c.lr_schedule), buffer_size=c.buffer_size,
            learning_starts=c.learning_starts, batch_size=c.batch_size, gamma=c.gamma, train_freq=c.train_freq,
            gradient_steps=c.gradient_steps, target_update_interval=c.target_update_interval,
            exploration_fraction=c.exploration_fraction, exploration_initial_eps=c.exploration_initial_eps,
            exploration_final_eps=c.exploration_final_eps, max_grad_norm=c.max_grad_norm,
            optimize_memory_usage=c.optimize_memory_usage,
            replay_buffer_kwargs={"handle_timeout_termination": False} if c.optimize_memory_usage else None,
            policy_kwargs={**self.policy_kwargs(), "optimizer_kwargs": fused_adam()}, seed=self.config.seed, device=self.device,
        )

    BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")

    def _buffer_rows(self) -> int:
        """Rows of the replay buffer that hold data (one more with optimize_memory_usage, whose next
        observation sits in the following row); 0 when the buffer is over checkpoint_buffer_mb."""
        buf = self.model.replay_buffer
        rows = buf.buffer_size if buf.full else min(buf.buffer_size, buf.pos + int(buf.optimize_memory_usage))
        per_row = sum(a.nbytes for a in (getattr(buf, n, None) for n in self.BUFFER_ARRAYS) if a is not None) / buf.buffer_size
        return rows if rows * per_row <= self.cfg.checkpoint_buffer_mb * 2**20 else 0

    def saved(self) -> Saved:
        """Policy and optimiser (agents/sb3.py), exploration counters, and the replay buffer's filled rows when small enough."""
        saved = super().saved()
        saved.state.update(n_calls=int(self.model._n_calls), exploration_rate=float(self.model.exploration_rate))
        rows = self._buffer_rows()
        if rows:
            buf = self.model.replay_buffer
            for name in self.BUFFER_ARRAYS:
                array = getattr(buf, name, None)
                if array is not None:
                    saved.buffers[f"replay.{name}"] = array[:rows]
            saved.state["replay"] = {"pos": int(buf.pos), "full": bool(buf.full), "rows": rows}
        return saved

    def restore(self, buffers: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        super().restore(buffers, state)
        self.model._n_calls = int(state.get("n_calls", 0))
        self.model.exploration_rate = float(state.get("exploration_rate", self.model.exploration_rate))
        replay = state.get("replay")
        if replay:
            buf = self.model.replay_buffer
            for name in self.BUFFER_ARRAYS:
                array = getattr(buf, name, None)
                saved = buffers.get(f"replay.{name}")
                if array is not None and saved is not None:
                    if tuple(saved.shape[1:]) != array.shape[1:] or saved.shape[0] > array.shape[0]:
                        raise ConfigError(f"the checkpoint's replay buffer ({name}: {tuple(saved.shape)}) does not fit this "
                                          f"run's buffer {array.shape}; resume with the run's own config.")
                    array[: saved.shape[0]] = saved.numpy()
            buf.pos, buf.full = int(replay["pos"]), bool(replay["full"])
