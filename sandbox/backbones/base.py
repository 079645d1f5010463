"""The one face every backbone family shows, and the roles a model can ask of it.

A family is a :class:`Backbone` subclass, registered once (the built-in ones lazily, in
``sandbox/backbones/__init__.py``; the registry sets its ``plugin_name`` when it loads it). It has a
``Config`` dataclass and three roles:

- **encoder** (the class itself): ``Family(spec, config)`` reads inputs of ``spec`` and returns
  features ``(B, out_dim)``;
- **decoder**: ``Family.decoder(config, in_dim, out_spec)`` maps features ``(B, in_dim)`` to images
  ``(B, C, H, W)`` (unbounded values: the model chooses its output activation);
- **denoiser**: ``Family.denoiser(config, spec, num_classes)`` maps ``(x, t, class_labels)`` to a
  tensor shaped like ``x``: the noise prediction of a diffusion model. ``t`` holds one timestep per
  example; ``class_labels`` is None or a LongTensor whose value ``num_classes`` means "no label"
  (for classifier-free guidance).

A family that cannot play a role, or read an input kind, raises :class:`UnsupportedInput` with a
sentence that says why and what would work; :func:`build` turns a section of the config into the
module asked for, before any training starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from sandbox.errors import UnsupportedInput

InputKind = Literal["vector", "image", "sequence"]
ROLES = ("encoder", "decoder", "denoiser")


@dataclass(frozen=True)
class InputSpec:
    """What a backbone reads: a vector (D,), an image (C, H, W) or a sequence (T, D).

    ``frame_stack`` marks an image whose channels are consecutive frames (Atari's 4×84×84), which
    the RNN and the transformer may read as a sequence of frames.
    """

    kind: InputKind
    shape: tuple[int, ...]
    frame_stack: bool = False

    def __post_init__(self) -> None:
        expected = {"vector": 1, "image": 3, "sequence": 2}[self.kind]
        if len(self.shape) != expected or any(int(s) <= 0 for s in self.shape):
            raise UnsupportedInput(f"a {self.kind} input needs {expected} positive sizes, got {tuple(self.shape)}.")

    @classmethod
    def vector(cls, size: int) -> InputSpec:
        return cls("vector", (int(size),))

    @classmethod
    def image(cls, channels: int, height: int, width: int, frame_stack: bool = False) -> InputSpec:
        return cls("image", (int(channels), int(height), int(width)), frame_stack)

    @classmethod
    def sequence(cls, steps: int, size: int) -> InputSpec:
        return cls("sequence", (int(steps), int(size)))

    @classmethod
    def from_shape(cls, shape: tuple[int, ...], frame_stack: bool = False) -> InputSpec:
        """A spec from an observation shape: 1 dim is a vector, 2 a sequence, 3 an image (C first)."""
        shape = tuple(int(s) for s in shape)
        if len(shape) == 1:
            return cls.vector(shape[0])
        if len(shape) == 2:
            return cls.sequence(*shape)
        if len(shape) == 3:
            return cls.image(*shape, frame_stack=frame_stack)
        raise UnsupportedInput(f"an observation of shape {shape} is neither a vector, a sequence nor an image.")

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))

    def describe(self) -> str:
        if self.kind == "vector":
            return f"a vector of {self.shape[0]} numbers"
        if self.kind == "sequence":
            return f"a sequence of {self.shape[0]} steps of {self.shape[1]} numbers"
        c, h, w = self.shape
        what = f"a stack of {c} frames of {h}×{w}" if self.frame_stack else f"a {c}×{h}×{w} image"
        return what


class Backbone(nn.Module):
    """An encoder from inputs of an :class:`InputSpec` to features ``(B, out_dim)``."""

    Config: ClassVar[Any] = None
    #: the input kinds the encoder reads
    supports: ClassVar[tuple[str, ...]] = ()
    #: what to suggest when an input kind is refused
    advice: ClassVar[str] = ""
    plugin_name: ClassVar[str] = ""

    out_dim: int

    def __init__(self, spec: InputSpec, config: Any = None) -> None:
        super().__init__()
        if config is None and self.Config is not None:
            config = self.Config()
        self.spec = spec
        self.config = config
        self.check(spec)

    @classmethod
    def check(cls, spec: InputSpec) -> None:
        """Refuse, with a sentence, an input kind this family cannot read."""
        if spec.kind not in cls.supports:
            name = cls.plugin_name or cls.__name__
            reads = " or ".join(f"{k}s" for k in cls.supports)
            raise UnsupportedInput(
                f"the {name} backbone reads {reads}, but this input is {spec.describe()}"
                + (f"; {cls.advice}" if cls.advice else ".")
            )

    @classmethod
    def decoder(cls, config: Any, in_dim: int, out_spec: InputSpec) -> nn.Module:
        """features (B, in_dim) -> images (B, C, H, W)."""
        raise UnsupportedInput(f"the {cls.plugin_name} backbone has no decoder role; use a family that has one (mlp).")

    @classmethod
    def denoiser(cls, config: Any, spec: InputSpec, num_classes: int | None = None) -> nn.Module:
        """(x, t, class_labels) -> a tensor shaped like x."""
        raise UnsupportedInput(f"the {cls.plugin_name} backbone has no denoiser role; use a family that has one (mlp).")


def build(section: Any, spec: InputSpec, role: str = "encoder", *, in_dim: int | None = None, num_classes: int | None = None) -> nn.Module:
    """The module of ``role`` from a backbone section (``Section``, or a bare family name).

    encoder: reads ``spec``; decoder: features of ``in_dim`` to images of ``spec``; denoiser: noise
    prediction for inputs of ``spec`` (and labels below ``num_classes``).
    """
    from sandbox.config import Section, plugin_config_class
    from sandbox.registry import backbones

    if isinstance(section, str):
        cls_cfg = plugin_config_class("backbone", section)
        section = Section(section, cls_cfg() if cls_cfg else None)
    family = backbones.get(section.name).load()
    from sandbox.memory import check_module_fits

    check_module_fits(lambda: _build(family, section, spec, role, in_dim, num_classes),
                      f"the {role} of backbone={section.name} with these backbone.* settings",
                      "choose smaller sizes (backbone.hidden, backbone.channels, backbone.width and the like).")
    return _build(family, section, spec, role, in_dim, num_classes)


def _build(family: Any, section: Any, spec: InputSpec, role: str, in_dim: int | None, num_classes: int | None) -> nn.Module:
    if role == "encoder":
        return family(spec, section.config)
    if role == "decoder":
        if in_dim is None:
            raise ValueError("a decoder needs in_dim")
        if spec.kind != "image":
            raise UnsupportedInput(f"a decoder produces images, not {spec.describe()}.")
        return family.decoder(section.config, in_dim, spec)
    if role == "denoiser":
        return family.denoiser(section.config, spec, num_classes)
    raise ValueError(f"unknown backbone role {role!r}; roles are {', '.join(ROLES)}")


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps ``t`` (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
