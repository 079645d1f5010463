"""Variational autoencoder (Kingma & Welling 2014) on a shared backbone.

- Encoder q(z|x) = N(μ(x), σ²(x)): the backbone's encoder role, then a linear layer to μ and log σ².
- Decoder p(x|z) = N(m(z), s²) per pixel: the backbone's decoder role gives the mean m(z); the scale
  s is learned, one per channel.
- Prior p(z): N(0, I) (``model.prior=normal``), or a learned mixture of K Gaussians
  (``model.prior=mixture``, K = ``model.prior_components``), trained with the rest. The mixture lets
  the prior cover the region the encoder actually uses, so fewer prior samples land in "holes" that
  decode to no digit; the KL term is then estimated with the same z, log q(z|x) − log p(z).
- Loss: the negative ELBO, -E_q[log p(x|z)] + β · KL(q(z|x) ‖ p(z)), with one reparameterised z;
  β may warm up linearly from 0 over ``model.kl_warmup`` steps.

Images hold 256 levels, so the density is made a probability of the pixel values by uniform
dequantisation (training adds U(0, 1/256) noise; held-out data uses the middle of each bin):
log P(x) ≥ ELBO_density − D log 256. ``evaluate`` reports that bound on held-out images as
``elbo_nats`` (per image; higher is better) and as ``bits_per_dim`` = −elbo_nats / (D ln 2).
Samples are the decoder means m(z) for z drawn from the prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from sandbox.backbones.base import build
from sandbox.config import RunConfig, option
from sandbox.errors import ConfigError
from sandbox.memory import check_module_fits
from sandbox.tracking import in_section
from sandbox.generative.base import DataModel, TrainConfig, adamw

if TYPE_CHECKING:
    from sandbox.run import Run


@dataclass
class VAEConfig(TrainConfig):
    lr: float = option(1e-3, "AdamW learning rate", above=0)
    latent: int = option(16, "size of the latent z", low=1)
    beta: float = option(1.0, "weight of the KL term (β-VAE; 1 is the ELBO)", low=0)
    kl_warmup: int = option(0, "raise the KL weight linearly from 0 to beta over this many steps (0: no warm-up)", low=0)
    prior: Literal["normal", "mixture"] = option("normal", "prior p(z): N(0, I), or a learned mixture of Gaussians")
    prior_components: int = option(10, "components of the mixture prior", low=1)
    min_scale: float = option(1e-3, "lower bound of the decoder's learned pixel scale s", above=0)
    weight_decay: float = option(0.0, "AdamW weight decay", low=0)
    recon_every: int = option(1000, "log reconstructions of held-out images every N steps (0: only at the end)", low=0)

    def validate(self) -> None:
        super().validate()
        if self.latent <= 0 or self.beta < 0 or self.recon_every < 0 or self.kl_warmup < 0:
            raise ConfigError("model.latent must be positive, model.beta, model.kl_warmup and model.recon_every ≥ 0.")
        if self.prior_components <= 0 or self.min_scale <= 0 or self.weight_decay < 0:
            raise ConfigError("model.prior_components and model.min_scale must be positive, model.weight_decay ≥ 0.")


LOG_2PI = math.log(2 * math.pi)


class MixturePrior(nn.Module):
    """p(z) = Σ_k π_k N(z; m_k, diag(v_k)), every part learned."""

    def __init__(self, components: int, latent: int) -> None:
        super().__init__()
        self.means = nn.Parameter(torch.randn(components, latent))
        self.logvar = nn.Parameter(torch.zeros(components, latent))
        self.logits = nn.Parameter(torch.zeros(components))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) per row of z (B, latent)."""
        lv = self.logvar.clamp(-8, 4)
        parts = -0.5 * (((z[:, None, :] - self.means) ** 2) / lv.exp() + lv + LOG_2PI).sum(-1)
        return torch.logsumexp(parts + torch.log_softmax(self.logits, 0), dim=1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        k = torch.multinomial(torch.softmax(self.logits.detach().float().cpu(), 0), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator)
        lv = self.logvar.detach().clamp(-8, 4).cpu()
        return self.means.detach().cpu()[k] + (0.5 * lv[k]).exp() * eps


class VAE(DataModel):
    """Variational autoencoder: Gaussian encoder and decoder on a backbone; ELBO in nats and bits/dim."""

    Config = VAEConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        cfg = self.cfg
        enc = build(config.backbone, self.spec, "encoder")
        check_module_fits(lambda: nn.Linear(enc.out_dim, 2 * cfg.latent), f"model.latent={cfg.latent:,}", "choose a smaller latent.")
        self.encoder = nn.Sequential(enc, nn.Linear(enc.out_dim, 2 * cfg.latent)).to(self.device)
        self.decoder = build(config.backbone, self.spec, "decoder", in_dim=cfg.latent).to(self.device)
        self.log_scale = nn.Parameter(torch.zeros(self.spec.shape[0], device=self.device))
        self.net = nn.ModuleDict({"encoder": self.encoder, "decoder": self.decoder})
        if cfg.prior == "mixture":
            self.net["prior"] = MixturePrior(cfg.prior_components, cfg.latent).to(self.device)
        self.net.register_parameter("log_scale", self.log_scale)
        # weight decay on the networks' weights only, not on the pixel scale or the prior
        nets = [*self.encoder.parameters(), *self.decoder.parameters()]
        ids = {id(q) for q in nets}
        rest = [q for q in self.net.parameters() if id(q) not in ids]
        self.opt = adamw([{"params": nets, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}], cfg.lr)
        self.updates = 0

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.opt}

    def prepare(self, accelerator: Any) -> None:
        self.net, self.opt = accelerator.prepare(self.net, self.opt)

    def extra_state(self) -> dict[str, Any]:
        return {"updates": self.updates}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.updates = int(state.get("updates", 0))

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
        log_s = net.log_scale.clamp(min=math.log(self.cfg.min_scale)).view(1, -1, 1, 1)
        logp = -0.5 * ((x - mean.float()) / log_s.exp()) ** 2 - log_s - 0.5 * LOG_2PI
        recon = logp.flatten(1).sum(1)
        if "prior" in net:  # one-sample estimate of KL(q ‖ p) = E_q[log q(z|x) - log p(z)]
            log_q = -0.5 * (eps**2 + logvar + LOG_2PI).sum(1)
            kl = log_q - net["prior"].log_prob(z)
        else:
            kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
        return recon - kl, recon, kl

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        x = (x * 255.0 + torch.rand_like(x)) / 256.0  # uniform dequantisation
        _, recon, kl = self.elbo(x)
        self.updates += 1
        beta = self.cfg.beta * min(1.0, self.updates / self.cfg.kl_warmup) if self.cfg.kl_warmup else self.cfg.beta
        loss = -(recon - beta * kl).mean()
        norm = self.backward_step(loss, self.net, self.opt)
        dims = x[0].numel()
        return {"loss": loss.item(), "recon_nats": -recon.mean().item(), "kl_nats": kl.mean().item(),
                "bits_per_dim": (loss.item() / dims + math.log(256)) / math.log(2), "grad_norm": norm}

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
        """n images: decoder means for z drawn from the prior, seeded by ``seed``."""
        if sampler not in (None, "ancestral") or steps is not None or label is not None or options:
            raise ConfigError("a VAE samples in one step without labels: drop --sampler, --steps and --label.")
        self.check_fits(n)
        g = torch.Generator().manual_seed(int(seed))
        net = self.unwrap(self.net)
        if "prior" in net:
            z = net["prior"].sample(n, g).to(self.device)
        else:
            z = torch.randn(n, self.cfg.latent, generator=g).to(self.device)
        dec = net["decoder"]
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
            run.log_image("charts/reconstructions", self.reconstructions())

    def fit(self, run: Run) -> None:
        super().fit(run)
        if self.accelerator.is_main_process:
            run.log_image("charts/reconstructions", self.reconstructions())
            run.log(in_section("eval", self.held_out_elbo()))

    def evaluate(self, n: int | None = None, during_training: bool = False, **options: Any) -> dict[str, Any]:
        """fid, fid_floor, precision, recall, and the held-out elbo_nats and bits_per_dim."""
        out = super().evaluate(n=n, during_training=during_training, **options)
        out.update(self.held_out_elbo())
        return out
