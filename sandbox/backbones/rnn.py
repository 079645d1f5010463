"""RNN: a GRU or LSTM over a sequence. Reads sequences natively, an image as a sequence of its
rows, and a frame stack as a sequence of frames (each frame embedded first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sandbox.backbones.base import Backbone, InputSpec
from sandbox.config import option
from sandbox.errors import ConfigError


@dataclass
class RNNConfig:
    cell: Literal["gru", "lstm"] = option("gru", "recurrent cell")
    hidden: int = option(128, "hidden state size (out_dim)")
    layers: int = option(1, "stacked recurrent layers")
    image_mode: Literal["auto", "rows", "frames"] = option(
        "auto", "how an image becomes a sequence: its rows, or its channels as frames (auto: frames for frame stacks)"
    )
    frame_embed: int = option(128, "frames mode: size of each frame's embedding")

    def validate(self) -> None:
        if self.hidden <= 0 or self.layers <= 0 or self.frame_embed <= 0:
            raise ConfigError("backbone.hidden, backbone.layers and backbone.frame_embed must be positive.")


class FrameEmbed(nn.Module):
    """One frame (H, W) -> a vector: two strided convolutions for large frames, linear for small."""

    def __init__(self, h: int, w: int, out: int) -> None:
        super().__init__()
        if h * w > 1024:
            self.net = nn.Sequential(
                nn.Conv2d(1, 16, 8, 4), nn.ReLU(), nn.Conv2d(16, 32, 4, 2), nn.ReLU(), nn.Flatten(),
            )
            with torch.no_grad():
                flat = self.net(torch.zeros(1, 1, h, w)).shape[1]
            self.net.append(nn.Linear(flat, out))
        else:
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(h * w, out))
        self.net.append(nn.ReLU())

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, T, H, W) -> (B, T, out)
        b, t, h, w = frames.shape
        return self.net(frames.reshape(b * t, 1, h, w)).view(b, t, -1)


class RNN(Backbone):
    """GRU or LSTM over sequences, image rows, or the frames of a frame stack."""

    Config = RNNConfig
    supports = ("sequence", "image")
    advice = "a vector has no time axis: stack observations into a sequence (e.g. the agent's frame_stack) or use mlp."

    def __init__(self, spec: InputSpec, config: RNNConfig | None = None) -> None:
        super().__init__(spec, config)
        cfg = self.config
        self.frames = None
        if spec.kind == "sequence":
            step_size = spec.shape[1]
            self.mode = "sequence"
        else:
            c, h, w = spec.shape
            mode = cfg.image_mode
            if mode == "auto":
                mode = "frames" if spec.frame_stack else "rows"
            self.mode = mode
            if mode == "rows":
                step_size = c * w
            else:
                self.frames = FrameEmbed(h, w, cfg.frame_embed)
                step_size = cfg.frame_embed
        rnn_cls = nn.GRU if cfg.cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(step_size, cfg.hidden, num_layers=cfg.layers, batch_first=True)
        self.out_dim = cfg.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.mode == "rows":  # (B, C, H, W) -> (B, H, C*W)
            x = x.permute(0, 2, 1, 3).flatten(2)
        elif self.mode == "frames":  # (B, C, H, W): C frames
            x = self.frames(x)
        out, _ = self.rnn(x)
        return out[:, -1]
