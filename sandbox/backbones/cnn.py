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
    unet_layers: int = option(1, "denoiser role (diffusers UNet2DModel): ResNet layers per block; blocks have `channels` widths")
    unet_attention: bool = option(True, "denoiser role: self-attention in the UNet's lowest-resolution blocks")

    def validate(self) -> None:
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ConfigError(f"backbone.channels={self.channels} must be a non-empty list of positive sizes.")
        if self.hidden <= 0 or self.residual_blocks < 0 or self.downsample_to <= 0:
            raise ConfigError("backbone.hidden and backbone.downsample_to must be positive, backbone.residual_blocks ≥ 0.")
        if self.unet_layers <= 0:
            raise ConfigError(f"backbone.unet_layers={self.unet_layers} must be positive.")


def conv_block(cin: int, cout: int, stride: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
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
                nn.Conv2d(c, 32, 8, 4), nn.ReLU(inplace=True), nn.Conv2d(32, 64, 4, 2), nn.ReLU(inplace=True), nn.Conv2d(64, 64, 3, 1), nn.ReLU(inplace=True),
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
        self.head = nn.Sequential(nn.Linear(flat, cfg.hidden), nn.ReLU(inplace=True))
        self.out_dim = cfg.hidden
        #: inputs are multiplied by this before the network (e.g. 1/255 for raw uint8 frames). It is
        #: folded into the first convolution's weights, ``conv(x, w * s) = conv(x * s, w)``, so a
        #: batch of frames is never scaled pixel by pixel: the same network, without one pass over
        #: the largest tensor of the update.
        self.input_scale = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.input_scale == 1.0:
            return self.head(self.convs(x))
        first = self.convs[0]
        x = nn.functional.conv2d(x, first.weight * self.input_scale, first.bias, first.stride, first.padding)
        return self.head(self.convs[1:](x))

    @classmethod
    def decoder(cls, config: CNNConfig | None, in_dim: int, out_spec: InputSpec) -> nn.Module:
        """features (B, in_dim) -> images: a linear layer to a small feature map, then nearest
        upsampling and 3×3 convolutions through ``channels`` in reverse."""
        return CNNDecoder(config or CNNConfig(), in_dim, out_spec)

    @classmethod
    def denoiser(cls, config: CNNConfig | None, spec: InputSpec, num_classes: int | None = None) -> nn.Module:
        """diffusers' ``UNet2DModel`` with one block per entry of ``channels``, wrapped to the
        protocol ``(x, t, class_labels) -> noise``."""
        cls.check(spec)
        return UNetDenoiser(config or CNNConfig(), spec, num_classes)


class CNNDecoder(nn.Module):
    """features -> (C, H, W): linear to channels[-1]×s×s (s ≤ 4), then ×2 upsampling blocks."""

    def __init__(self, cfg: CNNConfig, in_dim: int, out_spec: InputSpec) -> None:
        super().__init__()
        c, h, w = out_spec.shape
        self.out_shape = (c, h, w)
        widths = list(reversed(cfg.channels))
        ups, size = 0, max(h, w)
        while size > 4:
            size = (size + 1) // 2
            ups += 1
        self.start = (widths[0], (h + 2**ups - 1) // 2**ups, (w + 2**ups - 1) // 2**ups)
        self.fc = nn.Sequential(nn.Linear(in_dim, widths[0] * self.start[1] * self.start[2]), nn.ReLU())
        layers: list[nn.Module] = []
        cin = widths[0]
        for i in range(ups):
            cout = widths[min(i + 1, len(widths) - 1)]
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), *conv_block(cin, cout, 1, cfg.batch_norm)]
            cin = cout
        layers += [*conv_block(cin, cin, 1, cfg.batch_norm), nn.Conv2d(cin, c, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(self.fc(z).view(z.shape[0], *self.start))
        if x.shape[-2:] != self.out_shape[1:]:
            x = nn.functional.interpolate(x, size=self.out_shape[1:], mode="bilinear", align_corners=False)
        return x


class UNetDenoiser(nn.Module):
    """diffusers' ``UNet2DModel`` behind the denoiser protocol. ``self.unet`` is the plain diffusers
    model (what a ``DDPMPipeline`` holds); label ``num_classes`` means "no label"."""

    def __init__(self, cfg: CNNConfig, spec: InputSpec, num_classes: int | None) -> None:
        super().__init__()
        import math as _math

        from diffusers import UNet2DModel

        c, h, w = spec.shape
        widths = tuple(cfg.channels)
        if min(h, w) % 2 ** (len(widths) - 1):
            raise ConfigError(
                f"the UNet halves a {h}×{w} image {len(widths) - 1} times (one fewer than the {len(widths)} backbone.channels), "
                "which needs sides divisible by " + str(2 ** (len(widths) - 1)) + "; use fewer channels entries or resize the data."
            )
        groups = min(32, _math.gcd(*widths))
        down = ["DownBlock2D"] * len(widths)
        up = ["UpBlock2D"] * len(widths)
        if cfg.unet_attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        self.num_classes = num_classes
        self.unet = UNet2DModel(
            sample_size=(h, w) if h != w else h, in_channels=c, out_channels=c, block_out_channels=widths,
            down_block_types=tuple(down), up_block_types=tuple(up), layers_per_block=cfg.unet_layers,
            norm_num_groups=groups, attention_head_dim=min(8, widths[-1]),
            num_class_embeds=(num_classes + 1) if num_classes else None,
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and class_labels is None:
            class_labels = torch.full((x.shape[0],), self.num_classes, device=x.device, dtype=torch.long)
        return self.unet(x, t, class_labels=class_labels if self.num_classes else None).sample
