"""Built-in generative models. Registered lazily: listing them imports no torch or diffusers."""

from pathlib import Path

from sandbox.config import add_preset_dir
from sandbox.registry import generative as _generative

add_preset_dir(Path(__file__).parent / "presets")

# -- VAE, GAN, DDPM -------------------------------------------------------------------------------
