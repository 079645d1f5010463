"""Variational autoencoder (Kingma & Welling 2014) on a shared backbone.

- Encoder q(z|x) = N(μ(x), σ²(x)): the backbone's encoder role, then a linear layer to μ and log σ².
- Decoder p(x|z) = N(m(z), s²) per pixel: the backbone's decoder role gives the mean m(z); the scale
  s is learned, one per channel.
- Loss: the negative ELBO, -E_q[log p(x|z)] + β · KL(q(z|x) ‖ N(0, I)), with one reparameterised z.

Images hold 256 levels, so the density is made a probability of the pixel values by uniform
dequantisation (training adds U(0, 1/256) noise; held-out data uses the middle of each bin):
log P(x) ≥ ELBO_density − D log 256. ``evaluate`` reports that bound on held-out images as
``elbo_nats`` (per image; higher is better) and as ``bits_per_dim`` = −elbo_nats / (D ln 2).
Samples are the decoder means m(z) for z ~ N(0, I).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from generative.base import DataModel, TrainConfig, adamw
from sandbox.backbones.base import build
from sandbox.config import option
from sandbox.errors import ConfigError
from sandbox.registry import generative

if TYPE_CHECKING:
    from sandbox.run import Run


@dataclass
class VAEConfig(TrainConfig):
    lr: float = option(1e-3, "AdamW learning rate")
    latent: int = option(16, "size of the latent z")
    beta: float = option(1.0, "weight of the KL term (β-VAE; 1 is the ELBO)")
    recon_every: int = option(1000, "log reconstructions of held-out images every N steps (0: only at the end)")

    def validate(self) -> None:
        super().validate()
        if self.latent <= 0 or self.beta < 0 or self.recon_every < 0:
            raise ConfigError("model.latent must be positive, model.beta and model.recon_every ≥ 0.")


@generative.register("vae")
class VAE(DataModel):
    """Variational autoencoder: Gaussian encoder and decoder on a backbone; ELBO in nats and bits/dim."""

    Config = VAEConfig

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        cfg = self.cfg
        enc = build(config.backbone, self.spec, "encoder")
        self.encoder = nn.Sequential(enc, nn.Linear(enc.out_dim, 2 * cfg.latent)).to(self.device)
        self.decoder = build(config.backbone, self.spec, "decoder", in_dim=cfg.latent).to(self.device)
        self.log_scale = nn.Parameter(torch.zeros(self.spec.shape[0], device=self.device))
        self.net = nn.ModuleDict({"encoder": self.encoder, "decoder": self.decoder})
        self.net.register_parameter("log_scale", self.log_scale)
        self.opt = adamw(self.net.parameters(), cfg.lr, weight_decay=0.0)

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def prepare(self, accelerator: Any) -> None:
        self.net, self.opt = accelerator.prepare(self.net, self.opt)

    # -- the ELBO ------------------------------------------------------------------------------------
    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per image: the ELBO of the density (nats), its reconstruction term and its KL term."""
        net = self.unwrap(self.net)
        with self.autocast():
            h = net["encoder"](x)
        mu, logvar = h.float().chunk(2, dim=1)
        logvar = logvar.clamp(-12, 8)
        eps = torch.randn(mu.shape, generator=generator).to(mu.device) if generator is not None else torch.randn_like(mu)
        z = mu + (0.5 * logvar).exp() * eps
        with self.autocast():
            mean = net["decoder"](z)
        log_s = net.log_scale.clamp(min=math.log(1e-3)).view(1, -1, 1, 1)
        logp = -0.5 * ((x - mean.float()) / log_s.exp()) ** 2 - log_s - 0.5 * math.log(2 * math.pi)
        recon = logp.flatten(1).sum(1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        return recon - kl, recon, kl

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        x = (x * 255.0 + torch.rand_like(x)) / 256.0  # uniform dequantisation
        _, recon, kl = self.elbo(x)
        loss = -(recon - self.cfg.beta * kl).mean()
        norm = self.backward_step(loss, self.net, self.opt)
        dims = x[0].numel()
        return {"loss": loss.item(), "recon_nats": -recon.mean().item(), "kl_nats": kl.mean().item(),
                "train_bits_per_dim": (loss.item() / dims + math.log(256)) / math.log(2), "grad_norm": norm}

    @torch.no_grad()
    def held_out_elbo(self, samples_per_image: int = 4) -> dict[str, float]:
        """The ELBO (nats per image, discrete pixels) and bits per dimension on the held-out split."""
        x = self.data.x_test.to(self.device)
        x = (x * 255.0 + 0.5) / 256.0
        g = torch.Generator().manual_seed(0)
        self.net.eval()
        total = torch.zeros(len(x))
        for _ in range(samples_per_image):
            parts = [self.elbo(x[i: i + 512], g)[0].cpu() for i in range(0, len(x), 512)]
            total += torch.cat(parts)
        self.net.train()
        dims = x[0].numel()
        elbo = float((total / samples_per_image).mean()) - dims * math.log(256)
        return {"elbo_nats": elbo, "bits_per_dim": -elbo / (dims * math.log(2))}

    # -- samples -------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, sampler: str | None = None, steps: int | None = None,
               label: int | None = None, **options: Any) -> torch.Tensor:
        """n images: decoder means for z ~ N(0, I) seeded by ``seed``."""
        if sampler not in (None, "ancestral") or steps is not None or label is not None or options:
            raise ConfigError("a VAE samples in one step without labels: drop --sampler, --steps and --label.")
        z = torch.randn(n, self.cfg.latent, generator=torch.Generator().manual_seed(int(seed))).to(self.device)
        dec = self.unwrap(self.net)["decoder"]
        was = dec.training
        dec.eval()
        out = torch.cat([dec(z[i: i + 512]).float().cpu() for i in range(0, n, 512)])
        dec.train(was)
        return out.clamp(0, 1)

    @torch.no_grad()
    def reconstructions(self, k: int = 32) -> torch.Tensor:
        """Held-out images and their reconstructions (decoder mean at z = μ), interleaved."""
        net = self.unwrap(self.net)
        x = self.data.x_test[:k].to(self.device)
        net.eval()
        mu = net["encoder"](x).float().chunk(2, dim=1)[0]
        r = net["decoder"](mu).float().clamp(0, 1)
        net.train()
        return torch.stack([x, r], 1).flatten(0, 1).cpu()

    def periodic(self, run: Run) -> None:
        if self.cfg.recon_every and run.step % self.cfg.recon_every == 0:
            run.log_image("reconstructions", self.reconstructions())

    def fit(self, run: Run) -> None:
        super().fit(run)
        if self.accelerator.is_main_process:
            run.log_image("reconstructions", self.reconstructions())
            run.log(self.held_out_elbo())

    def evaluate(self, n: int | None = None, during_training: bool = False, **options: Any) -> dict[str, Any]:
        """fid, fid_floor, precision, recall, and the held-out elbo_nats and bits_per_dim."""
        out = super().evaluate(n=n, during_training=during_training, **options)
        out.update(self.held_out_elbo())
        return out
