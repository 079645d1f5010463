"""The glue between stable-baselines3 and the sandbox, shared by ``ppo``, ``dqn`` and ``a2c``.

- :class:`BackboneExtractor`: a sandbox backbone as an SB3 features extractor, so every SB3 agent
  runs on every backbone that reads the observation (mlp on vectors, cnn on frames, rnn over the
  frames of a stack or a K×D stack of vectors, transformer over features, steps, frames or patches).
- :class:`SandboxCallback`: drives the run from inside ``model.learn``: ``run.step``, episode
  returns, periodic evaluation (the best checkpoint is the best evaluation), checkpoints when due,
  and stopping on the step budget, ``max_minutes`` or Ctrl-C.
- :class:`RunWriter`: SB3's logger output that forwards ``train/*`` (the losses) to ``run.log``.
- :class:`SB3Agent`: checkpoints without pickles. SB3's ``save()`` writes cloudpickled objects;
  here the agent declares its policy and optimiser (``saved()``), the core's codec writes them as
  safetensors plus JSON, and the SB3 model is rebuilt from the run's config. (DQN adds its replay buffer's filled rows, up to
  ``agent.checkpoint_buffer_mb``; a bigger buffer is refilled on resume.)
- :class:`FrameRolloutBuffer`: PPO/A2C's rollout buffer for a CNN on frames, serving channels-last
  minibatches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import RolloutBufferSamples

from sandbox.agents.rl import RLAgent, RLConfig, frame_stacked, make_vec_env
from sandbox.backbones.base import InputSpec, build
from sandbox.checkpoint import Saved
from sandbox.config import RunConfig, Section, option

if TYPE_CHECKING:
    from sandbox.run import Run


@dataclass
class SB3Config(RLConfig):
    """Fields of every SB3 agent."""

    learning_rate: float = option(3e-4, "optimiser learning rate (the start value with lr_schedule=linear)", above=0)
    lr_schedule: Literal["constant", "linear"] = option("constant", "linear: decay the learning rate to 0 over the run")
    gamma: float = option(0.99, "discount factor", low=0, high=1)
    net_arch: list[int] = option([], "hidden layers of the heads after the backbone (e.g. [64])", low=1)


def fused_adam(**kwargs: Any) -> dict[str, Any]:
    """Adam's keyword arguments for an SB3 policy with torch's fused kernel: the same update, one
    kernel for all parameters instead of several per tensor (about 25% of a small network's
    training step on the CPU). SB3 adds PPO/A2C's ``eps=1e-5`` itself only when given no kwargs,
    so callers pass it here."""
    return {**kwargs, "fused": True}


def schedule(value: float, kind: str) -> Any:
    """A constant, or SB3's linear decay from ``value`` to 0 (progress goes from 1 to 0)."""
    if kind == "linear":
        return lambda progress_remaining: progress_remaining * value
    return value


class BackboneExtractor(BaseFeaturesExtractor):
    """A sandbox backbone as a stable-baselines3 features extractor.

    Frames (uint8 in [0, 255]) reach the backbone scaled to [0, 1]: SB3 divides them by 255, or,
    for the CNN (``fold_pixel_scale``), SB3 only converts them to float and the CNN folds the 1/255
    into its first convolution (the same network without a pass over the batch). Convolutions run
    in channels-last memory layout, which oneDNN computes faster on CPUs (the same network and
    numbers, laid out differently in memory).
    """

    def __init__(self, observation_space: Any, backbone: Section, frame_stack: bool = False, fold_pixel_scale: bool = False) -> None:
        spec = InputSpec.from_shape(tuple(observation_space.shape), frame_stack=frame_stack)
        net = build(backbone, spec)
        super().__init__(observation_space, net.out_dim)
        self.net = net
        if fold_pixel_scale:
            net.input_scale = 1.0 / 255.0
        self.channels_last = spec.kind == "image" and backbone.name == "cnn"
        self._laid_out = False

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            if not self._laid_out:  # after SB3's orthogonal init, which needs the default layout
                self.net.to(memory_format=torch.channels_last)
                self._laid_out = True
            observations = observations.contiguous(memory_format=torch.channels_last)
        return self.net(observations)


class FrameRolloutBuffer(RolloutBuffer):
    """SB3's rollout buffer, handing out minibatches of uint8 frames in channels-last layout.

    After SB3 flattens a finished rollout, its frames are laid out channels-last once (N×H×W×C);
    each minibatch is then one gather of whole frames, already in the layout the CNN reads, where
    SB3 would copy it twice (NumPy indexing, then ``torch.tensor``) and the CNN a third time."""

    _frames: torch.Tensor | None = None
    _frames_of: np.ndarray | None = None

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> Any:
        if self._frames_of is not self.observations:  # a new rollout (SB3 flattens into a new array)
            self._frames_of = self.observations
            self._frames = torch.from_numpy(self.observations).permute(0, 2, 3, 1).contiguous()
        assert self._frames is not None
        frames = self._frames[torch.from_numpy(batch_inds)].permute(0, 3, 1, 2).to(self.device)
        data = (
            self.actions[batch_inds].astype(np.float32, copy=False), self.values[batch_inds].flatten(),
            self.log_probs[batch_inds].flatten(), self.advantages[batch_inds].flatten(), self.returns[batch_inds].flatten(),
        )
        return RolloutBufferSamples(frames, *map(self.to_torch, data))


class RunWriter(KVWriter):
    """Forwards what SB3 logs under ``train/`` (losses, entropy, clip fraction, ...) to the run."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.last = (time.time(), run.step)

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        metrics = {k: v for k, v in key_values.items() if k.startswith("train/") and isinstance(v, (int, float, np.floating))}
        now, step_now = time.time(), self.run.step
        if now > self.last[0] and step_now > self.last[1]:
            metrics["steps_per_second"] = (step_now - self.last[1]) / (now - self.last[0])
        self.last = (now, step_now)
        if metrics:
            self.run.log(metrics)

    def close(self) -> None:
        pass


class SandboxCallback(BaseCallback):
    """Runs the sandbox side of training from inside SB3's ``learn``."""

    def __init__(self, agent: SB3Agent, run: Run) -> None:
        super().__init__()
        self.agent, self.run = agent, run
        self.next_eval = agent.next_eval_after(run.step)

    def _on_step(self) -> bool:
        run = self.run
        run.step = self.num_timesteps
        for info in self.locals.get("infos", ()):
            episode = info.get("episode")
            if episode is not None:
                run.log({"episodic_return": float(episode["r"]), "episodic_length": int(episode["l"])})
        self.next_eval = self.agent.evaluate_or_checkpoint(run, self.next_eval)
        return not (self.agent.reached_target or run.should_stop())


class SB3Agent(RLAgent):
    """An SB3 algorithm on a sandbox backbone. Subclasses set ``Config`` and :meth:`build_model`."""

    Config = SB3Config
    #: log SB3's train/* values every this many iterations (PPO/A2C: rollouts; DQN: episodes)
    log_interval = 1

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.env = make_vec_env(config, self.cfg.n_envs, seed=config.seed, training=True)
        self.observation_space = self.env.observation_space
        self.model = self.build_model(self.env)

    def policy_kwargs(self) -> dict[str, Any]:
        """Plug the run's backbone into the SB3 policy."""
        fold = self.folds_pixel_scale()
        kwargs = {
            "features_extractor_class": BackboneExtractor,
            "features_extractor_kwargs": {"backbone": self.config.backbone, "frame_stack": frame_stacked(self.config), "fold_pixel_scale": fold},
            "net_arch": list(self.cfg.net_arch),
        }
        if fold:
            kwargs["normalize_images"] = False  # the CNN scales by 1/255 in its first convolution
        return kwargs

    def folds_pixel_scale(self) -> bool:
        """Whether the CNN, not SB3, scales this env's uint8 frames to [0, 1] (see BackboneExtractor)."""
        from stable_baselines3.common.preprocessing import is_image_space

        backbone = self.config.backbone
        return backbone is not None and backbone.name == "cnn" and is_image_space(self.env.observation_space)

    def build_model(self, env: Any) -> Any:
        raise NotImplementedError

    def rollout_buffer_class(self) -> type | None:
        """PPO/A2C: the frame buffer for a CNN on uint8 frames, else SB3's choice."""
        return FrameRolloutBuffer if self.folds_pixel_scale() else None

    # -- training ---------------------------------------------------------------------------------
    def fit(self, run: Run) -> None:
        """SB3's ``learn`` until the run says stop; a final evaluation picks the best checkpoint."""
        self.model.set_logger(Logger(folder=None, output_formats=[RunWriter(run)]))
        self.model.num_timesteps = run.step
        remaining = self.config.steps - run.step
        if remaining > 0 and not run.should_stop():
            # torch checks every distribution's arguments by default: a third of the cost of a small
            # policy's Categorical, and SB3 makes one per env step and one per minibatch. Off while
            # learning; a network gone to NaN still shows in the logged losses.
            validate = torch.distributions.Distribution._validate_args
            torch.distributions.Distribution.set_default_validate_args(False)
            try:
                self.model.learn(total_timesteps=remaining, callback=SandboxCallback(self, run),
                                 log_interval=self.log_interval, reset_num_timesteps=False, progress_bar=False)
            finally:
                torch.distributions.Distribution.set_default_validate_args(validate)
        run.step = self.model.num_timesteps
        self.evaluate_at_end(run)

    def act_batch(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self.model.predict(obs, deterministic=deterministic)[0]

    # -- checkpoints --------------------------------------------------------------------------------
    def saved(self) -> Saved:
        """The policy and its optimiser, and SB3's counters; the SB3 model itself is rebuilt from the config."""
        policy = self.model.policy
        state = {"num_timesteps": int(self.model.num_timesteps), "n_updates": int(getattr(self.model, "_n_updates", 0))}
        return Saved(modules={"policy": policy}, optimizers={"optimizer": policy.optimizer}, state=state)

    def restore(self, buffers: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.model.num_timesteps = int(state.get("num_timesteps", 0))
        self.model._n_updates = int(state.get("n_updates", 0))
