"""Transformer: a pre-norm encoder over tokens. Sequence steps are tokens; an image is cut into
patches (or, for a frame stack, read frame by frame); a vector's numbers become one token each
(each with its own embedding, as in FT-Transformer)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sandbox.backbones.base import Backbone, InputSpec
from sandbox.config import option
from sandbox.errors import ConfigError
from sandbox.registry import backbones


@dataclass
class TransformerConfig:
    d_model: int = option(64, "token width (out_dim)")
    layers: int = option(2, "encoder layers")
    heads: int = option(4, "attention heads (must divide d_model)")
    ff_mult: int = option(4, "feed-forward width as a multiple of d_model")
    dropout: float = option(0.0, "dropout in attention and feed-forward")
    patch: int = option(0, "image patch size in pixels (0: chosen so an image has at most 64 patches)")
    image_mode: Literal["auto", "patches", "frames"] = option(
        "auto", "an image as patches, or as a sequence of its channels' frames (auto: frames for frame stacks)"
    )
    pool: Literal["mean", "cls"] = option("mean", "features from the mean of the tokens or a CLS token")

    def validate(self) -> None:
        if self.d_model <= 0 or self.layers <= 0 or self.heads <= 0 or self.ff_mult <= 0:
            raise ConfigError("backbone.d_model, layers, heads and ff_mult must be positive.")
        if self.d_model % self.heads:
            raise ConfigError(f"backbone.heads={self.heads} must divide backbone.d_model={self.d_model}.")
        if not 0.0 <= self.dropout < 1.0 or self.patch < 0:
            raise ConfigError("backbone.dropout must be in [0, 1) and backbone.patch ≥ 0.")


def auto_patch(h: int, w: int, max_tokens: int = 64) -> int:
    """The smallest patch size that cuts an h×w image into at most ``max_tokens`` patches."""
    p = 1
    while (h // p) * (w // p) > max_tokens:
        p += 1
    return p


def encoder_stack(cfg: TransformerConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        cfg.d_model, cfg.heads, cfg.d_model * cfg.ff_mult, cfg.dropout, activation="gelu", batch_first=True, norm_first=True,
    )
    return nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)


@backbones.register("transformer")
class Transformer(Backbone):
    """Transformer encoder over sequence steps, image patches, frames or vector features."""

    Config = TransformerConfig
    supports = ("vector", "sequence", "image")

    def __init__(self, spec: InputSpec, config: TransformerConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        d = cfg.d_model
        self.mode = spec.kind
        if spec.kind == "vector":
            n = spec.shape[0]
            self.feature_weight = nn.Parameter(torch.randn(n, d) / math.sqrt(d))
            self.feature_bias = nn.Parameter(torch.zeros(n, d))
        elif spec.kind == "sequence":
            n = spec.shape[0]
            self.embed = nn.Linear(spec.shape[1], d)
        else:
            c, h, w = spec.shape
            mode = cfg.image_mode
            if mode == "auto":
                mode = "frames" if spec.frame_stack else "patches"
            self.mode = mode
            if mode == "patches":
                p = cfg.patch or auto_patch(h, w)
                if p > min(h, w):
                    raise ConfigError(f"backbone.patch={p} is larger than the {h}×{w} image; use a smaller patch or 0 for auto.")
                self.embed = nn.Conv2d(c, d, p, p)
                n = (h // p) * (w // p)
            else:
                ph, pw = min(h, 16), min(w, 16)
                self.embed = nn.Sequential(nn.AdaptiveAvgPool2d((ph, pw)), nn.Flatten(), nn.Linear(ph * pw, d))
                n = c
        if spec.kind != "vector":
            self.pos = nn.Parameter(torch.randn(1, n, d) * 0.02)
        if cfg.pool == "cls":
            self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.encoder = encoder_stack(cfg)
        self.norm = nn.LayerNorm(d)
        self.out_dim = d

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.mode == "vector":
            return x[..., None] * self.feature_weight + self.feature_bias
        if self.mode == "sequence":
            return self.embed(x) + self.pos
        if self.mode == "patches":
            return self.embed(x).flatten(2).transpose(1, 2) + self.pos
        b, c, h, w = x.shape  # frames: each channel is one token
        return self.embed(x.reshape(b * c, 1, h, w)).view(b, c, -1) + self.pos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tok = self.tokens(x)
        if self.config.pool == "cls":
            tok = torch.cat([self.cls.expand(tok.shape[0], -1, -1), tok], dim=1)
        out = self.norm(self.encoder(tok))
        return out[:, 0] if self.config.pool == "cls" else out.mean(dim=1)
