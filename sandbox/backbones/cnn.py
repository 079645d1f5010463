"""CNN: images only. Nature-DQN convolutions for large frames (Atari's 84×84), a small stack of
3×3 convolutions (optionally residual, as AlphaZero's tower) for small images and boards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sandbox.backbones.base import Backbone, InputSpec
from sandbox.config import option
from sandbox.errors import ConfigError
from sandbox.registry import backbones


@dataclass
class CNNConfig:
    arch: Literal["auto", "nature", "small"] = option(
        "auto", "nature: DQN's 8/4, 4/2, 3/1 convolutions (frames ≥ 36 px); small: 3×3 convolutions; auto picks by size"
    )
    channels: list[int] = option([32, 64, 64], "small arch: channels of each 3×3 convolution")
    downsample_to: int = option(8, "small arch: stride-2 convolutions while the feature map is larger than this")
    residual_blocks: int = option(0, "small arch: residual blocks (two 3×3 convolutions each) after the stack")
    batch_norm: bool = option(False, "BatchNorm after each convolution")
    hidden: int = option(512, "size of the linear layer after the convolutions (out_dim)")

    def validate(self) -> None:
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ConfigError(f"backbone.channels={self.channels} must be a non-empty list of positive sizes.")
        if self.hidden <= 0 or self.residual_blocks < 0 or self.downsample_to <= 0:
            raise ConfigError("backbone.hidden and backbone.downsample_to must be positive, backbone.residual_blocks ≥ 0.")


def conv_block(cin: int, cout: int, stride: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU())
    return layers


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(x))), then ReLU: the block of AlphaZero's residual tower."""

    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(channels)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=not batch_norm), norm(), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=not batch_norm), norm(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


@backbones.register("cnn")
class CNN(Backbone):
    """Convolutional network for images and frame stacks (Nature DQN or small residual stack)."""

    Config = CNNConfig
    supports = ("image",)
    advice = "use mlp or transformer for vectors, rnn or transformer for sequences."

    def __init__(self, spec: InputSpec, config: CNNConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        c, h, w = spec.shape
        arch = cfg.arch
        if arch == "auto":
            arch = "nature" if min(h, w) >= 64 else "small"
        if arch == "nature":
            if min(h, w) < 36:
                raise ConfigError(f"backbone.arch=nature needs frames of at least 36×36 pixels, but the input is {spec.describe()}; use backbone.arch=small.")
            layers: list[nn.Module] = [
                nn.Conv2d(c, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(), nn.Conv2d(64, 64, 3, 1), nn.ReLU(),
            ]
        else:
            layers, cin, size = [], c, max(h, w)
            for cout in cfg.channels:
                stride = 2 if size > cfg.downsample_to else 1
                layers += conv_block(cin, cout, stride, cfg.batch_norm)
                size = (size + stride - 1) // stride
                cin = cout
            layers += [ResidualBlock(cin, cfg.batch_norm) for _ in range(cfg.residual_blocks)]
        self.convs = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, c, h, w)).shape[1]
        self.head = nn.Sequential(nn.Linear(flat, cfg.hidden), nn.ReLU())
        self.out_dim = cfg.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x.float()))
