"""sandbox: agents (DQN, PPO, A2C, REINFORCE, AlphaZero) and generative models (VAE, GAN, DDPM) on
one set of shared backbones (MLP, CNN, RNN, transformer).

``import sandbox`` is light: the functions below import torch and the plugins on first use.

    import sandbox
    run = sandbox.train("ppo-cartpole", ["steps=20000"])
    policy = sandbox.load(run.dir)
    steps, returns = run.metrics.series("eval/mean_return")   # or sandbox.metrics(run_dir)
    env = sandbox.make_env("CartPole-v1")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox import registry
from sandbox.errors import ConfigError, RunDirError, SandboxError, UnsupportedInput
from sandbox.registry import list_plugins

__version__ = "0.1.0"
__all__ = [
    "train", "load", "export", "metrics", "make_env", "list_plugins", "registry",
    "Agent", "GenerativeModel", "Plugin", "RunConfig", "Run", "InputSpec", "option",
    "SandboxError", "ConfigError", "RunDirError", "UnsupportedInput",
]

_LAZY = {
    "train": ("sandbox.run", "train"),
    "load": ("sandbox.run", "load"),
    "export": ("sandbox.exporter", "export"),
    "metrics": ("sandbox.history", "metrics"),
    "Run": ("sandbox.run", "Run"),
    "make_env": ("sandbox.env", "make_env"),
    "Agent": ("sandbox.plugin", "Agent"),
    "GenerativeModel": ("sandbox.plugin", "GenerativeModel"),
    "Plugin": ("sandbox.plugin", "Plugin"),
    "RunConfig": ("sandbox.config", "RunConfig"),
    "option": ("sandbox.config", "option"),
    "InputSpec": ("sandbox.backbones.base", "InputSpec"),
}

if TYPE_CHECKING:
    from sandbox.backbones.base import InputSpec
    from sandbox.config import RunConfig, option
    from sandbox.env import make_env
    from sandbox.exporter import export
    from sandbox.history import metrics
    from sandbox.plugin import Agent, GenerativeModel, Plugin
    from sandbox.run import Run, load, train


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
