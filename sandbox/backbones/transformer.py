"""Transformer: a pre-norm encoder over tokens. Sequence steps are tokens; an image is cut into
patches (or, for a frame stack, read frame by frame); a vector's numbers become one token each
(each with its own embedding, as in FT-Transformer)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sandbox.backbones.base import Backbone, InputSpec, timestep_embedding
from sandbox.config import option
from sandbox.errors import ConfigError


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

    @classmethod
    def decoder(cls, config: TransformerConfig | None, in_dim: int, out_spec: InputSpec) -> nn.Module:
        """features (B, in_dim) -> images: one token per patch (projected from the features, plus a
        position), the encoder stack, and a linear map from each token to its patch's pixels."""
        return TransformerDecoder(config or TransformerConfig(), in_dim, out_spec)

    @classmethod
    def denoiser(cls, config: TransformerConfig | None, spec: InputSpec, num_classes: int | None = None) -> nn.Module:
        """A DiT (Peebles & Xie 2023): patch tokens, blocks modulated by the time and label
        embedding through adaptive LayerNorm with zero-initialised gates."""
        if spec.kind != "image":
            raise ConfigError(f"the transformer denoiser cuts images into patches, but this input is {spec.describe()}; use backbone=mlp for vectors.")
        return DiT(config or TransformerConfig(), spec, num_classes)


def _patch_size(cfg: TransformerConfig, h: int, w: int) -> int:
    p = cfg.patch or auto_patch(h, w)
    if h % p or w % p:
        raise ConfigError(f"backbone.patch={p} does not divide the {h}×{w} image; choose a patch size that divides both sides.")
    return p


def unpatchify(tokens: torch.Tensor, c: int, h: int, w: int, p: int) -> torch.Tensor:
    """(B, (h/p)(w/p), p·p·c) -> (B, c, h, w)."""
    b = tokens.shape[0]
    x = tokens.view(b, h // p, w // p, p, p, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, c, h, w)


class TransformerDecoder(nn.Module):
    """features -> one token per patch -> encoder stack -> pixels of each patch."""

    def __init__(self, cfg: TransformerConfig, in_dim: int, out_spec: InputSpec) -> None:
        super().__init__()
        c, h, w = out_spec.shape
        self.shape = (c, h, w)
        self.p = p = _patch_size(cfg, h, w)
        self.n = n = (h // p) * (w // p)
        self.d = cfg.d_model
        self.proj = nn.Linear(in_dim, n * cfg.d_model)
        self.pos = nn.Parameter(torch.randn(1, n, cfg.d_model) * 0.02)
        self.encoder = encoder_stack(cfg)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, p * p * c)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        tok = self.proj(z).view(z.shape[0], self.n, self.d) + self.pos
        return unpatchify(self.out(self.norm(self.encoder(tok))), *self.shape, self.p)


class DiTBlock(nn.Module):
    """Pre-norm attention and feed-forward, each shifted, scaled and gated by the condition (adaLN-Zero)."""

    def __init__(self, d: int, heads: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, d * ff_mult), nn.GELU(approximate="tanh"), nn.Linear(d * ff_mult, d))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c)[:, None].chunk(6, dim=-1)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.attn(h, h, h, need_weights=False)[0]
        h = self.norm2(x) * (1 + scale2) + shift2
        return x + gate2 * self.mlp(h)


class DiT(nn.Module):
    """(x, t, class_labels) -> noise: patch embedding, DiT blocks, adaLN final layer, unpatchify."""

    def __init__(self, cfg: TransformerConfig, spec: InputSpec, num_classes: int | None) -> None:
        super().__init__()
        c, h, w = spec.shape
        self.shape = (c, h, w)
        self.p = p = _patch_size(cfg, h, w)
        d = cfg.d_model
        self.d = d
        self.embed = nn.Conv2d(c, d, p, p)
        self.pos = nn.Parameter(torch.randn(1, (h // p) * (w // p), d) * 0.02)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.num_classes = num_classes
        if num_classes:
            self.label = nn.Embedding(num_classes + 1, d)  # index num_classes = no label
        self.blocks = nn.ModuleList(DiTBlock(d, cfg.heads, cfg.ff_mult, cfg.dropout) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, p * p * c)
        for layer in (self.ada[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        cond = self.time(timestep_embedding(t, self.d).to(x.dtype))
        if self.num_classes:
            if class_labels is None:
                class_labels = torch.full((x.shape[0],), self.num_classes, device=x.device, dtype=torch.long)
            cond = cond + self.label(class_labels)
        tok = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        for block in self.blocks:
            tok = block(tok, cond)
        shift, scale = self.ada(cond)[:, None].chunk(2, dim=-1)
        tok = self.out(self.norm(tok) * (1 + scale) + shift)
        return unpatchify(tok, *self.shape, self.p)


#: the width of the timestep sinusoid inside diffusers' ``SD3Transformer2DModel`` (its ``Timesteps(256,
#: flip_sin_to_cos=True, downscale_freq_shift=0)``): frequencies 10000^(-j/128), j < 128, cos then sin
SD3_TIME_CHANNELS = 256


def diffusers_refusal(dit: DiT) -> str | None:
    """Why :func:`dit_to_diffusers` cannot write ``dit`` exactly, in a phrase; None when it can."""
    d = dit.d
    if not 4 <= d <= SD3_TIME_CHANNELS or SD3_TIME_CHANNELS % d:  # (4: SD3 builds 2-D sinusoid positions first)
        return (f"backbone.d_model={d}: its time sinusoid's frequencies are among the {SD3_TIME_CHANNELS}-wide one of diffusers' "
                "SD3Transformer2DModel only when d_model is a power of two from 4 to 256")
    ff = dit.blocks[0].mlp[0].out_features // d
    if ff != 4:
        return f"backbone.ff_mult={ff}: diffusers' SD3Transformer2DModel's feed-forward is 4 × its width"
    return None


@torch.no_grad()
def dit_to_diffusers(dit: DiT) -> nn.Module:
    """The :class:`DiT` as diffusers' ``SD3Transformer2DModel`` (fp32, CPU, eval) computing the same
    noise: ``model(x, encoder_hidden_states=torch.zeros(B, 0, 1), pooled_projections=torch.zeros(B, 1),
    timestep=t).sample == dit(x, t)`` up to float rounding (about 1e-6).

    SD3's MMDiT block (Esser et al. 2024) is a DiT block (adaLN-Zero: shift, scale, gate of the
    attention and of the 4× tanh-GELU feed-forward from one shared condition, LayerNorms without
    affine at eps 1e-6) beside a second stream of text tokens; with no text tokens (a context of
    length 0) the text stream does nothing and its weights stay zero. The pieces map as follows:

    1. patches: ``embed`` is ``pos_embed.proj``; the learned positions fill the ``pos_embed`` buffer, which
       SD3 loads from its weights (``pos_embed_max_size`` = the patch grid's longer side; a grid that is
       not square sits at the centre, where SD3 crops it from);
    2. time: our ``d_model``-wide sinusoid (frequencies 10000^(-2i/d), cos then sin) is a subset of
       the columns of SD3's 256-wide one (frequencies 10000^(-j/128)) when d divides 256: column i
       is column 256·i/d, computed bit for bit alike, so ``time.0`` is ``linear_1`` with zeros in the
       other columns, ``time.2`` is ``linear_2``;
    3. labels: SD3 takes none, so a class-conditional DiT is written as the unconditional model it
       also learned: the "no label" embedding added into ``linear_2``'s bias (the pooled-text
       projection, given zeros, is zero);
    4. blocks: ``attn.in_proj`` splits into ``to_q``, ``to_k``, ``to_v``; ``ada`` is ``norm1.linear``
       (the same shift, scale, gate order); ``mlp`` is ``ff``;
    5. the final layer: ``ada`` is ``norm_out.linear`` with its halves swapped (SD3 reads scale, then
       shift), ``out`` is ``proj_out``; SD3 unpatchifies as :func:`unpatchify` does.
    """
    from diffusers import SD3Transformer2DModel

    reason = diffusers_refusal(dit)
    if reason is not None:
        raise ConfigError(f"this DiT has no exact diffusers model ({reason}).")
    c, h, w = dit.shape
    p, d = dit.p, dit.d
    blocks = list(dit.blocks)
    heads = blocks[0].attn.num_heads
    gh, gw = h // p, w // p
    side = max(gh, gw)
    model = SD3Transformer2DModel(
        sample_size=max(h, w), patch_size=p, in_channels=c, out_channels=c, num_layers=len(blocks),
        attention_head_dim=d // heads, num_attention_heads=heads, joint_attention_dim=1, caption_projection_dim=d,
        pooled_projection_dim=1, pos_embed_max_size=side,
    )
    src = {k: v.detach().float().cpu() for k, v in dit.state_dict().items()}
    dst = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}  # the text stream stays zero
    # 1. patches and positions
    dst["pos_embed.proj.weight"], dst["pos_embed.proj.bias"] = src["embed.weight"], src["embed.bias"]
    pos = torch.zeros(side, side, d)
    top, left = (side - gh) // 2, (side - gw) // 2
    pos[top:top + gh, left:left + gw] = src["pos"].view(gh, gw, d)
    dst["pos_embed.pos_embed"] = pos.view(1, side * side, d)
    # 2. time (and 3. the "no label" embedding)
    half, every = d // 2, SD3_TIME_CHANNELS // d
    w1 = torch.zeros(d, SD3_TIME_CHANNELS)
    w1[:, 0:SD3_TIME_CHANNELS // 2:every] = src["time.0.weight"][:, :half]  # cos columns
    w1[:, SD3_TIME_CHANNELS // 2::every] = src["time.0.weight"][:, half:]  # sin columns
    emb = "time_text_embed.timestep_embedder."
    dst[emb + "linear_1.weight"], dst[emb + "linear_1.bias"] = w1, src["time.0.bias"]
    dst[emb + "linear_2.weight"], dst[emb + "linear_2.bias"] = src["time.2.weight"], src["time.2.bias"]
    if dit.num_classes:
        dst[emb + "linear_2.bias"] = src["time.2.bias"] + src["label.weight"][int(dit.num_classes)]
    # 4. blocks
    for i in range(len(blocks)):
        s, t = f"blocks.{i}.", f"transformer_blocks.{i}."
        for name, weight, bias in zip(("to_q", "to_k", "to_v"), src[s + "attn.in_proj_weight"].chunk(3), src[s + "attn.in_proj_bias"].chunk(3)):
            dst[t + f"attn.{name}.weight"], dst[t + f"attn.{name}.bias"] = weight, bias
        for ours, theirs in (("attn.out_proj", "attn.to_out.0"), ("ada.1", "norm1.linear"), ("mlp.0", "ff.net.0.proj"), ("mlp.2", "ff.net.2")):
            dst[t + theirs + ".weight"], dst[t + theirs + ".bias"] = src[s + ours + ".weight"], src[s + ours + ".bias"]
    # 5. final layer
    shift_w, scale_w = src["ada.1.weight"].chunk(2)
    shift_b, scale_b = src["ada.1.bias"].chunk(2)
    dst["norm_out.linear.weight"], dst["norm_out.linear.bias"] = torch.cat([scale_w, shift_w]), torch.cat([scale_b, shift_b])
    dst["proj_out.weight"], dst["proj_out.bias"] = src["out.weight"], src["out.bias"]
    model.load_state_dict(dst)
    return model.eval()
