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
- ``sandbox export --format onnx`` (:meth:`SB3Agent.export_onnx`): the policy from the raw
  observation to the logits and value (PPO, A2C) or the Q-values (DQN), SB3's preprocessing inside;
  ``--format sb3`` (:meth:`SB3Agent.export_sb3`): the same algorithm with SB3's own ``MlpPolicy``
  (mlp backbone) or ``CnnPolicy`` (the Nature CNN), the weights copied layer by layer and saved by
  SB3's own ``save``, so the zip holds no sandbox class and plain ``PPO.load`` reads it.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, fields
from pathlib import Path
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
from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.run import Run


@dataclass
class SB3Config(RLConfig):
    """Fields of every SB3 agent."""

    learning_rate: float = option(3e-4, "optimiser learning rate (the start value with lr_schedule=linear)", above=0, high=10)
    lr_schedule: Literal["constant", "linear"] = option("constant", "linear: decay the learning rate to 0 over the run")
    gamma: float = option(0.99, "discount factor", low=0, high=1)
    net_arch: list[int] = option([], "hidden layers of the heads after the backbone (e.g. [64])", low=1)
    bf16: bool | Literal["auto"] = option(
        False, "learn with the backbone in bfloat16 (autocast: its convolutions and matrix products; weights, optimiser, heads and acting "
               "stay float32): about 4x faster updates of Pong's CNN on CPUs with AMX or AVX512-BF16, and on GPUs; slower on CPUs "
               "without them. auto: on where it is fast (such a CPU, or a GPU with bfloat16), off elsewhere")


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

    With ``bf16`` the backbone runs under bfloat16 autocast while gradients are on (the learning
    update) and hands back float32 features, so the heads, the action probabilities and the
    losses stay float32; acting (no gradients) is float32 throughout.
    """

    def __init__(self, observation_space: Any, backbone: Section, frame_stack: bool = False, fold_pixel_scale: bool = False,
                 bf16: bool = False) -> None:
        spec = InputSpec.from_shape(tuple(observation_space.shape), frame_stack=frame_stack)
        net = build(backbone, spec)
        super().__init__(observation_space, net.out_dim)
        self.net = net
        if fold_pixel_scale:
            net.input_scale = 1.0 / 255.0
        self.channels_last = spec.kind == "image" and backbone.name == "cnn"
        self._laid_out = False
        self.bf16 = bool(bf16)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            if not self._laid_out:  # after SB3's orthogonal init, which needs the default layout
                self.net.to(memory_format=torch.channels_last)
                self._laid_out = True
            observations = observations.contiguous(memory_format=torch.channels_last)
        if self.bf16 and torch.is_grad_enabled():
            with torch.autocast(device_type=observations.device.type, dtype=torch.bfloat16):
                features = self.net(observations)
            return features.float()
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
            metrics["time/steps_per_second"] = (step_now - self.last[1]) / (now - self.last[0])
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
                run.log({"rollout/episodic_return": float(episode["r"]), "rollout/episodic_length": int(episode["l"])})
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
        self.check_sizes()
        self.model = self.build_model(self.env)

    def check_sizes(self) -> None:
        """Refuse heads (agent.net_arch) and buffers (the rollout: agent.n_steps × agent.n_envs; the
        replay buffer: agent.buffer_size) too large to fit, with the size they need, before SB3
        allocates them."""
        from sandbox.memory import TRAINED_PARAMETER_BYTES, check_fits

        c = self.cfg
        sizes = [1, *c.net_arch, 1]  # at least one feature in and one output: a lower bound
        heads = 1 if hasattr(c, "buffer_size") else 2  # DQN's Q head; an actor and a critic
        need = heads * sum(a * b for a, b in zip(sizes, sizes[1:])) * TRAINED_PARAMETER_BYTES
        check_fits(need, f"agent.net_arch={list(c.net_arch)}", "choose smaller head layers.")
        space = self.env.observation_space
        obs = int(np.prod(space.shape or (1,))) * np.dtype(space.dtype or np.float32).itemsize
        if hasattr(c, "buffer_size"):  # a replay buffer: observations and next ones, action, reward, done
            copies = 1 if getattr(c, "optimize_memory_usage", False) else 2
            check_fits(int(c.buffer_size) * (copies * obs + 32), f"agent.buffer_size={c.buffer_size:,}",
                       "choose a smaller replay buffer.")
        elif hasattr(c, "n_steps"):  # a rollout of float32 observations, actions, values, returns
            rows = int(c.n_steps) * int(c.n_envs)
            check_fits(rows * (int(np.prod(space.shape or (1,))) * 4 + 32),
                       f"a rollout of agent.n_steps={c.n_steps:,} × agent.n_envs={c.n_envs}", "choose a smaller agent.n_steps.")

    def policy_kwargs(self) -> dict[str, Any]:
        """Plug the run's backbone into the SB3 policy."""
        fold = self.folds_pixel_scale()
        kwargs = {
            "features_extractor_class": BackboneExtractor,
            "features_extractor_kwargs": {"backbone": self.config.backbone, "frame_stack": frame_stacked(self.config), "fold_pixel_scale": fold,
                                          "bf16": self.learns_in_bf16()},
            "net_arch": list(self.cfg.net_arch),
        }
        if fold:
            kwargs["normalize_images"] = False  # the CNN scales by 1/255 in its first convolution
        return kwargs

    def learns_in_bf16(self) -> bool:
        """``agent.bf16``, with ``auto`` decided by the run's device (:func:`sandbox.device.bf16_is_fast`)."""
        from sandbox.device import bf16_is_fast

        if self.cfg.bf16 == "auto":
            return bf16_is_fast(self.device)
        return bool(self.cfg.bf16)

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
            if self.cfg.anneal_over == "budget" and self.config.max_minutes is not None:
                self._anneal_over_budget(run)
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

    def _anneal_over_budget(self, run: Run) -> None:
        """SB3 sets a schedule's progress from steps alone (1 - steps done / steps); with
        ``anneal_over=budget`` it is what is left of the run's budget, steps or ``max_minutes``,
        whichever runs out first (:meth:`Run.progress`, which counts a resumed run's earlier time)."""
        model = self.model
        by_steps = model._update_current_progress_remaining

        def by_budget(num_timesteps: int, total_timesteps: int) -> None:
            by_steps(num_timesteps, total_timesteps)
            model._current_progress_remaining = min(model._current_progress_remaining, 1.0 - run.progress())

        model._update_current_progress_remaining = by_budget

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

    # -- export: onnx ---------------------------------------------------------------------------------
    @property
    def is_q_learner(self) -> bool:
        """DQN's policy (Q-values) rather than an actor-critic's (logits and value)."""
        return hasattr(self.model.policy, "q_net")

    def _discrete_actions(self, format: str) -> int:
        space = self.env.action_space
        if not hasattr(space, "n"):
            raise SandboxError(f"--format {format} writes policies over discrete actions, and {self.config.env.name} acts in {space}.")
        return int(space.n)

    def export_onnx(self, folder: Path) -> list[str]:
        """``policy.onnx``: observation -> ``logits`` and ``value`` (PPO, A2C) or ``q_values`` (DQN)."""
        import copy

        from sandbox.exporter import OnnxGraph, write_onnx

        n = self._discrete_actions("onnx")
        policy = copy.deepcopy(self.model.policy).cpu().eval()
        for module in policy.modules():  # the exporter traces with gradients on: keep agent.bf16's autocast out of the graph
            if isinstance(module, BackboneExtractor):
                module.bf16 = False
        example = torch.as_tensor(self.sample_observations(16))
        if self.is_q_learner:
            module: torch.nn.Module = QValuesGraph(policy)
            outputs = {"q_values": "the Q-value of each action (the expected discounted return of taking it)"}
            act = "The greedy action is argmax(q_values, axis=1), as `sandbox play` acts (the run's ε-greedy exploration was for training only)."
        else:
            module = ActorCriticGraph(policy)
            outputs = {"logits": "one logit per action: the categorical policy's unnormalised log-probabilities",
                       "value": "the critic's estimate of the observation's value (expected discounted return)"}
            act = ("The greedy action is argmax(logits, axis=1), as `sandbox play` acts; the stochastic policy samples "
                   "from softmax(logits).")
        graph = OnnxGraph(module, example, "observation", "a batch of observations (see the preprocessing)", outputs,
                          self.observation_doc() + " A batch of them is the input; feed the raw values: SB3's casting and scaling "
                          "(uint8 frames to [0, 1]) is inside the graph.",
                          act, {"plugin": self.config.plugin.name, "env": self.config.env.name, "actions": n})
        return write_onnx(graph, folder)

    # -- export: a stable-baselines3 zip ---------------------------------------------------------------
    def standard_policy(self) -> tuple[str, dict[str, Any]]:
        """SB3's own policy that computes what this agent's policy computes: ``MlpPolicy`` for the
        mlp backbone, ``CnnPolicy`` for the cnn backbone's Nature arch (SB3's NatureCNN, layer for
        layer), and its ``policy_kwargs``; anything else is refused in one sentence."""
        backbone = self.config.backbone
        own = self.model.policy
        heads = list(self.cfg.net_arch)
        head_activation = own.activation_fn  # SB3's default for the layers after the backbone
        share = bool(getattr(self.cfg, "share_backbone", False))
        kwargs: dict[str, Any] = {}
        optimizer_kwargs = {k: v for k, v in (self.model.policy_kwargs.get("optimizer_kwargs") or {}).items() if k != "fused"}
        if "optimizer_class" in self.model.policy_kwargs:
            kwargs["optimizer_class"] = self.model.policy_kwargs["optimizer_class"]
        if optimizer_kwargs:
            kwargs["optimizer_kwargs"] = optimizer_kwargs
        what = "SB3's own MlpPolicy (the mlp backbone) and CnnPolicy (the cnn backbone's Nature arch, on frames)"
        if backbone is not None and backbone.name == "mlp":
            from sandbox.backbones.base import ACTIVATIONS

            cfg = backbone.config
            activation = ACTIVATIONS[cfg.activation]
            if cfg.layer_norm:
                raise SandboxError(f"--format sb3 writes {what}; this mlp has LayerNorm (backbone.layer_norm=true), which MlpPolicy has not; use --format onnx or hub.")
            if heads and activation is not head_activation:
                raise SandboxError(f"--format sb3 writes {what} with one activation; this run's mlp uses {cfg.activation} and its "
                                   f"agent.net_arch layers {head_activation.__name__}; use --format onnx or hub.")
            if share and not self.is_q_learner:
                raise SandboxError(f"--format sb3 writes {what}; MlpPolicy has no layers shared by the actor and the critic, and this "
                                   "run shares its mlp (agent.share_backbone=true); use --format onnx or hub.")
            hidden = [*cfg.hidden, *heads]
            kwargs.update(net_arch=hidden if self.is_q_learner else {"pi": hidden, "vf": list(hidden)}, activation_fn=activation)
            return "MlpPolicy", kwargs
        extractor = own.q_net.features_extractor if self.is_q_learner else own.features_extractor
        if backbone is not None and backbone.name == "cnn" and _is_nature_cnn(extractor.net):
            kwargs.update(net_arch=heads if self.is_q_learner else {"pi": heads, "vf": list(heads)}, activation_fn=head_activation,
                          features_extractor_kwargs={"features_dim": int(backbone.config.hidden)})
            if not self.is_q_learner:
                kwargs["share_features_extractor"] = share
            return "CnnPolicy", kwargs
        name = backbone.name if backbone is not None else "no"
        arch = " (its small arch: 3×3 convolutions)" if name == "cnn" else ""
        raise SandboxError(f"--format sb3 writes {what}; this run's {name} backbone{arch} has no SB3 policy to express it, so export "
                           "it with --format onnx or hub.")

    def sb3_arguments(self) -> dict[str, Any]:
        """The run's hyperparameters as the SB3 algorithm's own arguments: every field of the
        agent's config that the algorithm's constructor takes by the same name, linear schedules
        as SB3's own (so the zip pickles no sandbox function)."""
        from stable_baselines3.common import utils

        algorithm = type(self.model)
        params = inspect.signature(algorithm.__init__).parameters
        skip = {"self", "policy", "env", "policy_kwargs", "seed", "device"}
        args = {f.name: getattr(self.cfg, f.name) for f in fields(self.cfg) if f.name in params and f.name not in skip}
        linear = getattr(utils, "LinearSchedule", None)
        for key, kind in (("learning_rate", "lr_schedule"), ("clip_range", "clip_schedule")):
            if key in args and getattr(self.cfg, kind, "constant") == "linear":
                start = float(args[key])
                args[key] = linear(start, 0.0, 1.0) if linear is not None else utils.get_linear_fn(start, 0.0, 1.0)
        if args.get("optimize_memory_usage"):
            args["replay_buffer_kwargs"] = {"handle_timeout_termination": False}
        return args

    def export_sb3(self, folder: Path) -> list[str]:
        """``<algo>-<env>.zip``: this run as a plain stable-baselines3 model, which ``PPO.load`` /
        ``DQN.load`` / ``A2C.load`` reads with no sandbox installed (see :meth:`standard_policy`)."""
        self._discrete_actions("sb3")
        policy_name, policy_kwargs = self.standard_policy()
        algorithm = type(self.model)
        plain = algorithm(policy_name, self.env, policy_kwargs=policy_kwargs, seed=self.config.seed, device="cpu", **self.sb3_arguments())
        own = self.model.policy
        if self.is_q_learner:
            for net in ("q_net", "q_net_target"):
                _copy_layers(getattr(own, net).features_extractor, getattr(own, net).q_net,
                             getattr(plain.policy, net).features_extractor, getattr(plain.policy, net).q_net)
        else:
            _copy_layers(own.pi_features_extractor, own.mlp_extractor.policy_net, plain.policy.pi_features_extractor, plain.policy.mlp_extractor.policy_net)
            _copy_layers(own.vf_features_extractor, own.mlp_extractor.value_net, plain.policy.vf_features_extractor, plain.policy.mlp_extractor.value_net)
            _copy_layers(own.action_net, None, plain.policy.action_net, None)
            _copy_layers(own.value_net, None, plain.policy.value_net, None)
        plain.policy.eval()
        # the plain model must act as this agent does
        obs = self.sample_observations(256, seed=1)
        ours, theirs = self.act_batch(obs, deterministic=True), plain.predict(obs, deterministic=True)[0]
        if not np.array_equal(ours, theirs):
            raise SandboxError(f"the stable-baselines3 model acts differently from this run on {int((ours != theirs).sum())} of {len(obs)} "
                               "observations; it is not kept.")
        algo = self.config.plugin.name
        path = folder / f"{algo}-{self.config.env.name.replace('/', '-')}.zip"
        plain.save(str(path))
        _check_plain_zip(path)
        cls = algorithm.__name__
        arch = policy_kwargs.get("net_arch")
        return ["## Files", "",
                f"- `{path.name}`: a stable-baselines3 {cls} model with SB3's own `{policy_name}` (net_arch {arch}, activation "
                f"{policy_kwargs['activation_fn'].__name__}), the run's weights copied layer by layer and saved by SB3's own `save`. "
                "It holds no sandbox class: plain stable-baselines3 loads it. Its hyperparameters are the run's; the optimiser's "
                "state and the replay or rollout buffer are not in it.", "",
                "## Use it", "", "```python", f"from stable_baselines3 import {cls}", "",
                f'model = {cls}.load("THIS_FOLDER/{path.name}")',
                "action, _ = model.predict(observation, deterministic=True)  # greedy, as `sandbox play` acts",
                "```", "",
                f"**Observations.** {self.observation_doc()} SB3 casts and scales them itself (uint8 frames to [0, 1]).",
                *(["", f"`sandbox play THIS_FOLDER/{path.name}` plays it too (the env from its name)."] if policy_name == "MlpPolicy" else [])]


def _is_nature_cnn(net: torch.nn.Module) -> bool:
    """Whether a sandbox CNN is the Nature arch: SB3's NatureCNN (8/4, 4/2, 3/1 convolutions, then one linear layer)."""
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    shape = [(c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs]
    return shape == [(32, (8, 8), (4, 4), (0, 0)), (64, (4, 4), (2, 2), (0, 0)), (64, (3, 3), (1, 1), (0, 0))] and not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def _layers(*modules: torch.nn.Module | None) -> list[torch.nn.Module]:
    """The linear and convolution layers of ``modules``, in the order they run."""
    return [m for module in modules if module is not None for m in module.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]


@torch.no_grad()
def _copy_layers(own_body: torch.nn.Module, own_head: torch.nn.Module | None, plain_body: torch.nn.Module, plain_head: torch.nn.Module | None) -> None:
    """Copy the weights of the sandbox policy's layers (backbone, then head) into the plain SB3
    policy's, layer for layer: both chains hold the same layers in the same order."""
    ours, theirs = _layers(own_body, own_head), _layers(plain_body, plain_head)
    shapes = [tuple(m.weight.shape) for m in ours], [tuple(m.weight.shape) for m in theirs]
    if shapes[0] != shapes[1] or any(type(a) is not type(b) for a, b in zip(ours, theirs)):
        raise SandboxError(f"the run's policy layers {shapes[0]} do not match SB3's standard policy {shapes[1]}; it cannot be exported as sb3.")
    for a, b in zip(ours, theirs):
        b.weight.copy_(a.weight)
        if b.bias is not None:
            b.bias.copy_(a.bias)


def _check_plain_zip(path: Path) -> None:
    """Refuse a zip whose pickled entries name a sandbox module (it would not load without the sandbox)."""
    import base64
    import json
    import zipfile

    with zipfile.ZipFile(path) as z:
        data = json.loads(z.read("data"))
    for key, value in data.items():
        blob = value.get(":serialized:") if isinstance(value, dict) else None
        if blob and b"sandbox" in base64.b64decode(blob):
            path.unlink()
            raise SandboxError(f"the stable-baselines3 zip's {key} refers to the sandbox, so it would not load without it; it is not kept.")


class ActorCriticGraph(torch.nn.Module):
    """SB3's actor-critic policy from the raw observation: (logits, value), SB3's preprocessing inside."""

    def __init__(self, policy: Any) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from stable_baselines3.common.preprocessing import preprocess_obs

        p = self.policy
        x = preprocess_obs(observation, p.observation_space, normalize_images=p.normalize_images)
        latent_pi = p.mlp_extractor.forward_actor(p.pi_features_extractor(x))
        latent_vf = p.mlp_extractor.forward_critic(p.vf_features_extractor(x))
        return p.action_net(latent_pi), p.value_net(latent_vf).squeeze(-1)


class QValuesGraph(torch.nn.Module):
    """DQN's Q-network from the raw observation (SB3's preprocessing inside)."""

    def __init__(self, policy: Any) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return self.policy.q_net(observation)
