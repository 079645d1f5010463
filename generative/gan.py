"""GAN (Goodfellow et al. 2014) on a shared backbone, with the non-saturating loss and R1.

- Generator G(z): the backbone's decoder role, z ~ N(0, I), then tanh to [-1, 1].
- Discriminator D(x): the backbone's encoder role, then a linear layer to one logit.
- D step: softplus(D(G(z))) + softplus(-D(x)) + (γ/2) E‖∇ₓD(x)‖² on real x (R1, Mescheder et al. 2018).
- G step: softplus(-D(G(z))) (the non-saturating loss).
- Samples come from an EMA of the generator's weights, which is smoother than the last iterate.
- Optional differentiable augmentation (DiffAugment, Zhao et al. 2020): with probability
  ``model.augment`` each image the discriminator sees, real or generated alike, is shifted by up to
  ``model.augment_shift`` pixels (the border filled with background). On a small data set this keeps D
  from memorising the training images; since fakes pass through the same shifts, G is still pushed
  towards the un-shifted data.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from sandbox.backbones.base import build
from sandbox.config import RunConfig, option
from sandbox.errors import ConfigError
from sandbox.generative.base import EMA, DataModel, TrainConfig


@dataclass
class GANConfig(TrainConfig):
    lr: float = option(2e-4, "Adam learning rate of both networks", above=0)
    latent: int = option(64, "size of the generator's input noise z", low=1)
    r1: float = option(1.0, "R1 penalty weight γ on real images (0: off)", low=0)
    r1_every: int = option(4, "apply R1 every N discriminator steps (lazy regularisation, scaled by N)", low=1)
    beta1: float = option(0.0, "Adam β₁ of both networks", low=0, below=1)
    beta2: float = option(0.99, "Adam β₂ of both networks", low=0, below=1)
    ema: float = option(0.999, "EMA decay of the generator weights used for sampling (0: no EMA)", low=0, below=1)
    grad_clip: float = option(0.0, "clip each network's gradient norm to this (0: no clipping)", low=0)
    augment: float = option(0.0, "probability of shifting each image D sees, real and fake alike (DiffAugment; 0: off)", low=0, high=1)
    augment_shift: int = option(1, "largest shift of the augmentation, in pixels", low=0)

    def validate(self) -> None:
        super().validate()
        if self.latent <= 0 or self.r1 < 0 or self.r1_every <= 0 or not 0.0 <= self.ema < 1.0:
            raise ConfigError("model.latent and model.r1_every must be positive, model.r1 ≥ 0, model.ema in [0, 1).")
        if not 0.0 <= self.augment <= 1.0 or self.augment_shift < 0:
            raise ConfigError("model.augment must be in [0, 1] and model.augment_shift ≥ 0.")


def translate(x: torch.Tensor, shift: int, p: float) -> torch.Tensor:
    """Each image (in [-1, 1]) shifted by a random (dy, dx) in [-shift, shift]² with probability p,
    the uncovered border set to -1 (black); differentiable in x."""
    if p <= 0 or shift <= 0:
        return x
    b, _, h, w = x.shape
    d = torch.randint(-shift, shift + 1, (2, b, 1, 1), device=x.device)
    d = d * (torch.rand(1, b, 1, 1, device=x.device) < p)
    padded = nn.functional.pad(x, (shift, shift, shift, shift), value=-1.0)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + shift + d[0]).expand(b, h, w)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + shift + d[1]).expand(b, h, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1).expand(b, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


class Generator(nn.Module):
    """z -> decoder -> tanh."""

    def __init__(self, decoder: nn.Module) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(z))


class GAN(DataModel):
    """GAN: backbone decoder as generator, encoder as discriminator; non-saturating loss with R1."""

    Config = GANConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        cfg = self.cfg
        self.G = Generator(build(config.backbone, self.spec, "decoder", in_dim=cfg.latent)).to(self.device)
        enc = build(config.backbone, self.spec, "encoder")
        self.D = nn.Sequential(enc, nn.Linear(enc.out_dim, 1)).to(self.device)
        self.ema = EMA(self.G, cfg.ema) if cfg.ema > 0 else None
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=betas)
        self.d_steps = 0

    def modules(self) -> dict[str, nn.Module]:
        mods = {"G": self.G, "D": self.D}
        if self.ema is not None:
            mods["G_ema"] = self.ema.module
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def prepare(self, accelerator: Any) -> None:
        self.G, self.D, self.opt_g, self.opt_d = accelerator.prepare(self.G, self.D, self.opt_g, self.opt_d)

    def extra_state(self) -> dict[str, Any]:
        return {"d_steps": self.d_steps, "ema_updates": self.ema.updates if self.ema else 0}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.d_steps = int(state.get("d_steps", 0))
        if self.ema is not None:
            self.ema.updates = int(state.get("ema_updates", 0))

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        cfg = self.cfg
        real = x * 2.0 - 1.0
        b = real.shape[0]
        # discriminator
        z = torch.randn(b, cfg.latent, device=real.device)
        with torch.no_grad(), self.autocast():
            fake = self.G(z)
        r1_now = cfg.r1 > 0 and self.d_steps % cfg.r1_every == 0
        real = real.detach().requires_grad_(r1_now)
        # R1 differentiates a gradient: fused attention kernels have no double backward, the math one has
        aug = (cfg.augment_shift, cfg.augment)
        with self.autocast(), (sdpa_kernel([SDPBackend.MATH]) if r1_now else contextlib.nullcontext()):
            d_real = self.D(translate(real, *aug)).float()
            d_fake = self.D(translate(fake.detach(), *aug)).float()
        loss_d = nn.functional.softplus(d_fake).mean() + nn.functional.softplus(-d_real).mean()
        penalty = torch.zeros((), device=real.device)
        if r1_now:
            (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            penalty = grad.float().pow(2).flatten(1).sum(1).mean()
            loss_d = loss_d + 0.5 * cfg.r1 * cfg.r1_every * penalty
        self.backward_step(loss_d, self.D, self.opt_d)
        self.d_steps += 1
        # generator
        z = torch.randn(b, cfg.latent, device=real.device)
        self.D.requires_grad_(False)  # the G step needs gradients through D, not into its weights
        with self.autocast():
            loss_g = nn.functional.softplus(-self.D(translate(self.G(z), *aug)).float()).mean()
        self.backward_step(loss_g, self.G, self.opt_g)
        self.D.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.unwrap(self.G))
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "r1": penalty.item(),
                "d_real": torch.sigmoid(d_real).mean().item(), "d_fake": torch.sigmoid(d_fake).mean().item()}

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, sampler: str | None = None, steps: int | None = None,
               label: int | None = None, **options: Any) -> torch.Tensor:
        """n images G(z) in [0, 1] for z ~ N(0, I) seeded by ``seed`` (from the EMA generator)."""
        if sampler is not None or steps is not None or label is not None or options:
            raise ConfigError("a GAN samples in one step without labels: drop --sampler, --steps and --label.")
        self.check_fits(n)
        z = torch.randn(n, self.cfg.latent, generator=torch.Generator().manual_seed(int(seed))).to(self.device)
        g = self.ema.module if self.ema is not None else self.unwrap(self.G)
        was = g.training
        g.eval()
        out = torch.cat([g(z[i: i + 512]).float().cpu() for i in range(0, n, 512)])
        g.train(was)
        return ((out + 1) / 2).clamp(0, 1)
