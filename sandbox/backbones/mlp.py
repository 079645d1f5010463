"""MLP: flattens whatever it reads. Covers all three roles for small inputs: encoder, decoder
(features to a small image) and denoiser (2-D toy points or tiny images, with a time embedding)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sandbox.backbones.base import ACTIVATIONS, Backbone, InputSpec, timestep_embedding
from sandbox.config import option


@dataclass
class MLPConfig:
    hidden: list[int] = option([64, 64], "widths of the hidden layers; the last is out_dim")
    activation: Literal["relu", "tanh", "gelu", "silu"] = option("relu", "non-linearity between layers")
    layer_norm: bool = option(False, "LayerNorm after each hidden layer")
    time_dim: int = option(64, "denoiser role: size of the sinusoidal time embedding")

    def validate(self) -> None:
        if not self.hidden or any(h <= 0 for h in self.hidden):
            from sandbox.errors import ConfigError

            raise ConfigError(f"backbone.hidden={self.hidden} must be a non-empty list of positive widths, e.g. [64,64].")


def mlp(sizes: list[int], activation: str, layer_norm: bool = False, last_activation: bool = True) -> nn.Sequential:
    """Linear layers of ``sizes`` with activations between (and after the last, if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            if layer_norm:
                layers.append(nn.LayerNorm(b))
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class MLP(Backbone):
    """Multi-layer perceptron; flattens images and sequences. Encoder, decoder and denoiser."""

    Config = MLPConfig
    supports = ("vector", "image", "sequence")

    def __init__(self, spec: InputSpec, config: MLPConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        self.net = mlp([spec.size, *cfg.hidden], cfg.activation, cfg.layer_norm)
        self.out_dim = cfg.hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1).float())

    @classmethod
    def decoder(cls, config: MLPConfig | None, in_dim: int, out_spec: InputSpec) -> nn.Module:
        return MLPDecoder(config or MLPConfig(), in_dim, out_spec)

    @classmethod
    def denoiser(cls, config: MLPConfig | None, spec: InputSpec, num_classes: int | None = None) -> nn.Module:
        return MLPDenoiser(config or MLPConfig(), spec, num_classes)


class MLPDecoder(nn.Module):
    """features (B, in_dim) -> (B, C, H, W) through the hidden widths in reverse."""

    def __init__(self, cfg: MLPConfig, in_dim: int, out_spec: InputSpec) -> None:
        super().__init__()
        self.shape = out_spec.shape
        self.net = mlp([in_dim, *reversed(cfg.hidden), out_spec.size], cfg.activation, cfg.layer_norm, last_activation=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class MLPDenoiser(nn.Module):
    """(x, t, labels) -> noise prediction shaped like x; x, a time embedding and a label embedding
    are concatenated and passed through the MLP."""

    def __init__(self, cfg: MLPConfig, spec: InputSpec, num_classes: int | None) -> None:
        super().__init__()
        self.time_dim = cfg.time_dim
        self.time = nn.Sequential(nn.Linear(cfg.time_dim, cfg.time_dim), nn.SiLU())
        self.num_classes = num_classes
        extra = cfg.time_dim
        if num_classes:
            self.label = nn.Embedding(num_classes + 1, cfg.time_dim)  # index num_classes = no label
            extra += cfg.time_dim
        self.net = mlp([spec.size + extra, *cfg.hidden, spec.size], cfg.activation, cfg.layer_norm, last_activation=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        parts = [x.flatten(1), self.time(timestep_embedding(t, self.time_dim))]
        if self.num_classes:
            if class_labels is None:
                class_labels = torch.full((x.shape[0],), self.num_classes, device=x.device, dtype=torch.long)
            parts.append(self.label(class_labels))
        return self.net(torch.cat(parts, dim=1)).view_as(x)
