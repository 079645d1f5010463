"""The faces every agent and generative model shows the core.

A plugin class has a ``Config`` dataclass (its fields, types, defaults and one-line help), is built
from a checked :class:`~sandbox.config.RunConfig`, trains in :meth:`Plugin.fit` against a
:class:`~sandbox.run.Run` (which owns budgets, logging and checkpoints), and declares what its
checkpoints hold with :meth:`Plugin.saved` (modules, optimisers, buffers, JSON state); the one codec,
:mod:`sandbox.checkpoint`, writes that as safetensors plus JSON and reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sandbox.config import RunConfig, Section
from sandbox.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from sandbox.checkpoint import Saved
    from sandbox.run import Run


class Plugin:
    """Base of agents and generative models."""

    Config: ClassVar[Any] = None
    #: backbone used when the config names none (a name, or None for plugins without one)
    default_backbone: ClassVar[str | None] = None
    #: whether several processes may train one run together (``accelerate launch``, data parallel);
    #: such a plugin writes through the run only (which writes on the main process alone) and
    #: calls ``run.should_stop()`` once per step on every process
    data_parallel: ClassVar[bool] = False

    def __init__(self, config: RunConfig) -> None:
        from sandbox.device import resolve_device

        self.config = config
        self.cfg = config.plugin.config
        self.device = resolve_device(config.device)

    @classmethod
    def default_backbone_for(cls, config: RunConfig) -> str | None:
        """The backbone family used when the config names none (override to choose by env or data)."""
        return cls.default_backbone

    @classmethod
    def complete_config(cls, config: RunConfig) -> RunConfig:
        """Fill in choices left open (the default backbone) so that the saved config is complete."""
        name = cls.default_backbone_for(config) if config.backbone is None else None
        if name is not None:
            from sandbox.config import plugin_config_class

            backbone_cls = plugin_config_class("backbone", name)
            config.backbone = Section(name, backbone_cls() if backbone_cls else {})
        return config

    @classmethod
    def score_metric(cls, config: RunConfig) -> tuple[str, str]:
        """The logged metric that says how good a run is, and ``max`` or ``min`` (what ``sandbox
        sweep`` ranks trials by unless ``--metric`` says otherwise)."""
        return ("eval/mean_return", "max") if config.kind == "agent" else ("eval/fid", "min")

    def fit(self, run: Run) -> None:
        """Train until ``run.should_stop()``; call ``run.checkpoint(self)`` when ``run.checkpoint_due()``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement fit()")

    def saved(self) -> Saved:
        """What a checkpoint of this plugin holds: its modules, optimisers, buffers and JSON state."""
        raise NotImplementedError(f"{type(self).__name__} does not implement saved()")

    def restore(self, buffers: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Put back the buffers and JSON state of :meth:`saved` (its modules and optimisers are
        already loaded by the codec)."""

    def evaluate(self, **options: Any) -> dict[str, Any]:
        """Measure the trained plugin; ``options`` come from ``sandbox eval`` flags."""
        raise ConfigError(f"{self.config.plugin.name} has no evaluation yet.")

    def demo_media(self, run: Run) -> list[Path]:
        """Files a person should look at after ``sandbox demo`` trained this plugin."""
        return []


class Agent(Plugin):
    """A policy learner on an env: ``act(observation) -> action``, greedy unless asked otherwise."""

    def act(self, observation: Any, action_mask: Any = None, deterministic: bool = True) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement act()")

    def play(self, episodes: int = 1, record: Path | None = None, human: bool = False) -> dict[str, Any]:
        """Play ``episodes`` in a window, or record them to ``record`` (.mp4 or .gif)."""
        raise ConfigError(f"{self.config.plugin.name} cannot play yet.")


class GenerativeModel(Plugin):
    """A model of a data set: ``sample(n, seed=...)`` gives N×C×H×W images in [0, 1]."""

    #: whether ``evaluate`` takes ``draws`` (``sandbox eval --draws K``: K draws of new samples, averaged)
    evaluates_draws: ClassVar[bool] = False

    def sample(self, n: int, seed: int = 0, **options: Any) -> np.ndarray | torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement sample()")
