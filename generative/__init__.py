"""Built-in generative models and their data sets. Registered lazily: listing them imports no torch or
diffusers."""

from pathlib import Path

from sandbox.config import add_preset_dir
from sandbox.tuned import add_tuned_dir
from sandbox.registry import datasets as _datasets
from sandbox.registry import generative as _generative

add_preset_dir(Path(__file__).parent / "presets")
add_tuned_dir(Path(__file__).parent / "tuned")

# -- VAE, GAN, DDPM, flow matching ----------------------------------------------------------------
_generative.register_lazy("vae", "sandbox.generative.vae:VAE", "Variational autoencoder: Gaussian encoder and decoder on a backbone; ELBO in nats and bits/dim.")
_generative.register_lazy("gan", "sandbox.generative.gan:GAN", "GAN: backbone decoder as generator, encoder as discriminator; non-saturating loss with R1.")
_generative.register_lazy("ddpm", "sandbox.generative.ddpm:DDPM", "Denoising diffusion (UNet, DiT or MLP denoiser); DDPM, DDIM and DPM-Solver++ sampling; guidance.")
_generative.register_lazy("flow", "sandbox.generative.flow:Flow", "Flow matching (rectified flow) on the same denoisers; Euler and Heun sampling in a few steps; guidance.")
# `sandbox sample/eval DIR` on a diffusers DDPMPipeline or DDIMPipeline folder (JSON and safetensors only)
_generative.provide("ddpm", "load_pipeline", "sandbox.generative.pipeline_import:load_pipeline")

# -- data sets ------------------------------------------------------------------------------------
_datasets.register_lazy("digits", "sandbox.generative.data:digits", "scikit-learn's bundled 8×8 handwritten digits (1797, 10 labels); data.size=16 or 32 resizes.")
_datasets.register_lazy("moons", "sandbox.generative.data:moons", "Two interleaving half-circles: a 2-D point set made by scikit-learn.")
_datasets.register_lazy("swiss_roll", "sandbox.generative.data:swiss_roll", "A rolled-up spiral seen from above: a 2-D point set made by scikit-learn.")
_datasets.register_lazy("ring", "sandbox.generative.data:ring", "Eight Gaussians on a circle: a 2-D point set.")
_datasets.register_lazy("shapes", "sandbox.generative.data:shapes", "Coloured circles, squares and triangles drawn by code at 32×32, labelled by shape.")
_datasets.register_lazy("folder", "sandbox.generative.data:image_folder", "Your own image folder (data.path=DIR); sub-folders, if any, are the labels.")
_datasets.register_lazy("mnist", "sandbox.generative.data:mnist", "MNIST from its four idx files you already have (data.path=DIR).")
_datasets.register_lazy("fashion_mnist", "sandbox.generative.data:fashion_mnist", "Fashion-MNIST from its four idx files you already have (data.path=DIR).")
_datasets.register_lazy("cifar10", "sandbox.generative.data:cifar10", "CIFAR-10 from its binary batches you already have (data.path=DIR).")
