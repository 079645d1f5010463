"""Built-in generative models. Registered lazily: listing them imports no torch or diffusers."""

from pathlib import Path

from sandbox.config import add_preset_dir
from sandbox.registry import generative as _generative

add_preset_dir(Path(__file__).parent / "presets")

# -- VAE, GAN, DDPM -------------------------------------------------------------------------------
_generative.register_lazy("vae", "sandbox.generative.vae:VAE", "Variational autoencoder: Gaussian encoder and decoder on a backbone; ELBO in nats and bits/dim.")
_generative.register_lazy("gan", "sandbox.generative.gan:GAN", "GAN: backbone decoder as generator, encoder as discriminator; non-saturating loss with R1.")
_generative.register_lazy("ddpm", "sandbox.generative.ddpm:DDPM", "Denoising diffusion (UNet, DiT or MLP denoiser); DDPM, DDIM and DPM-Solver++ sampling; guidance.")
