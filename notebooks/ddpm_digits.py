# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # DDPM on digits
#
# A denoising diffusion model (Ho et al. 2020) on scikit-learn's 8×8 handwritten digits: the forward
# noising drawn step by step, training, samples by sampler and number of steps, and the FID against
# its floor (the same distance between two sets of real digits).
#
# At its default sizes the notebook runs in a few minutes on a laptop CPU;
# `SANDBOX_NOTEBOOK_TINY=1` shrinks every budget (the tests run it so).

# %% tags=["parameters"]
import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets: plain bars

TINY = os.environ.get("SANDBOX_NOTEBOOK_TINY") == "1"
STEPS = 10 if TINY else 8_000              # training steps (the tuned budget for digits)
MINUTES = None if TINY else 3              # ... or this many minutes, whichever comes first
BATCH = 16 if TINY else 128                # digits a step
EVAL_N = 50 if TINY else 500               # samples for the FID
SAMPLE_STEPS = [2, 3] if TINY else [5, 10, 25]
LOG_EVERY = 2 if TINY else 50
FID_STEPS = 4 if TINY else 20              # DPM-Solver++ steps of the samples the FID measures
OUT = Path(os.environ.get("SANDBOX_NOTEBOOK_OUT", "runs/notebooks")) / "ddpm_digits"
print(f"{STEPS} training steps at most, {MINUTES or 'no'} minutes at most, run in {OUT}")

# %% [markdown]
# ## Train
#
# `ddpm-digits` is a preset: DDPM with diffusers' `UNet2DModel` as the denoiser, class-conditional,
# with the tuned values the sandbox ships for digits. The FID comes once, at the end of this notebook
# (`model.eval_every=0`). Each training step noises a batch at random
# timesteps, x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε, and regresses the noise ε (`DDPM.train_step` in
# `generative/ddpm.py`).

# %%
import sandbox

overrides = [f"steps={STEPS}", f"max_minutes={MINUTES if MINUTES else 'null'}", f"model.batch={BATCH}", "model.eval_every=0",
             "model.sample_every=0", f"model.log_every={LOG_EVERY}", f"model.eval_steps={FID_STEPS}",
             "wandb.mode=disabled", f"out={OUT}"]
if TINY:
    overrides += ["model.grid=16", "model.export_pipeline=false"]
run = sandbox.train("ddpm-digits", overrides, progress=False)
model = sandbox.load(run.dir)
history = sandbox.metrics(run.dir)
print(history.names)

# %%
import matplotlib.pyplot as plt

steps, loss = history.series("train/loss")
plt.figure(figsize=(5, 3))
plt.plot(steps, loss)
plt.xlabel("training step")
plt.ylabel("noise-prediction MSE")
plt.show()

# %% [markdown]
# ## The forward process, step by step
#
# The model keeps its training schedule as a diffusers `DDPMScheduler` (`model.scheduler`) and its
# data set (`model.data`). `scheduler.add_noise(x0, ε, t)` is the closed form of t steps of noising;
# the images live in [−1, 1] while the model trains.

# %%
import torch

x0 = model.data.x_test[:6] * 2 - 1          # six held-out digits, in the model's [-1, 1]
noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
T = model.scheduler.config.num_train_timesteps
ts = [0, T // 20, T // 10, T // 4, T // 2, 3 * T // 4, T - 1]
fig, axes = plt.subplots(len(x0), len(ts), figsize=(1.2 * len(ts), 1.2 * len(x0)))
for j, t in enumerate(ts):
    xt = model.scheduler.add_noise(x0, noise, torch.full((len(x0),), t))
    abar = float(model.scheduler.alphas_cumprod[t])
    for i in range(len(x0)):
        axes[i, j].imshow(((xt[i, 0] + 1) / 2).clamp(0, 1), cmap="gray", vmin=0, vmax=1)
        axes[i, j].axis("off")
    axes[0, j].set_title(f"t={t}\nᾱ={abar:.2f}", fontsize=8)
plt.show()

# %% [markdown]
# ## Samples by sampler and number of steps
#
# Sampling builds diffusers' schedulers from the training schedule: `ddpm` (ancestral, every one
# of the T steps), `ddim` and `dpm` (DPM-Solver++) in a few steps. Same noise (`seed=0`) in every row.

# %%
import time

model.sample(2, seed=0, sampler="dpm", steps=2, progress=False)  # a warm-up, so that the times compare
plans = [(sampler, k) for sampler in ("ddim", "dpm") for k in SAMPLE_STEPS]
fig, axes = plt.subplots(len(plans), 1, figsize=(8, 1.2 * len(plans)))
for ax, (sampler, k) in zip(axes, plans):
    start = time.perf_counter()
    images = model.sample(10, seed=0, sampler=sampler, steps=k, progress=False)  # N×1×8×8 in [0, 1]
    seconds = time.perf_counter() - start
    row = torch.cat([torch.nn.functional.pad(image, (0, 1), value=1.0) for image in images[:, 0]], dim=1)
    ax.imshow(row, cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{sampler}, {k} steps ({seconds:.2f} s)", fontsize=9)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## FID against its floor
#
# `evaluate` measures a domain FID: the Fréchet distance in the feature space of a small classifier
# the sandbox trains on the data set. Its floor is the same distance between two sets of real
# digits, the best a model can hope for at this number of samples.

# %%
scores = model.evaluate(n=EVAL_N, sampler="dpm", steps=FID_STEPS, progress=False)
print({k: round(v, 3) if isinstance(v, float) else v for k, v in scores.items()})
plt.figure(figsize=(4, 2.5))
plt.bar(["model", "floor (real vs real)"], [scores["fid"], scores["fid_floor"]], color=["C0", "C7"])
plt.ylabel("FID")
plt.show()

# %% [markdown]
# From the command line: `sandbox sample runs/notebooks/ddpm_digits --n 64 --sampler dpm --steps 20
# --out grid.png` and `sandbox eval runs/notebooks/ddpm_digits --json`.
