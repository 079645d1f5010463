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
# # Four generative models side by side
#
# A VAE, a GAN, a diffusion model (DDPM) and flow matching, trained on the same data set
# (scikit-learn's 8×8 handwritten digits), on the same backbone family (the CNN: encoder and decoder
# for the VAE, generator and discriminator for the GAN, diffusers' UNet as the denoiser of DDPM and
# flow matching), each for the same short time budget. Then their samples side by side, and their
# FIDs against the floor.
#
# At its default sizes the notebook runs in about ten minutes on a laptop CPU;
# `SANDBOX_NOTEBOOK_TINY=1` shrinks every budget (the tests run it so).

# %% tags=["parameters"]
import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets: plain bars

TINY = os.environ.get("SANDBOX_NOTEBOOK_TINY") == "1"
MODELS = ["vae", "gan", "ddpm", "flow"]
MINUTES = None if TINY else 1.5            # training time of each model
STEPS = 2 if TINY else 1_000_000           # ... or this many training steps, whichever comes first
BATCH = 8 if TINY else None                # digits a step (None: each model's tuned batch)
GRID = 8 if TINY else 64                   # samples drawn per model
EVAL_N = 20 if TINY else 500               # samples for each FID
SAMPLE_STEPS = 2 if TINY else None         # DDPM's and flow matching's sampling steps (None: their own, 20 and 10)
OUT = Path(os.environ.get("SANDBOX_NOTEBOOK_OUT", "runs/notebooks")) / "generative_side_by_side"
print(f"{MODELS}, each {f'{MINUTES} minutes' if MINUTES else f'{STEPS} steps'}, runs in {OUT}")

# %% [markdown]
# ## Train the four
#
# One config for all four, the model's name apart: `data=digits`, `backbone=cnn`, the same seed and
# the same budget (`max_minutes`: the same time, so a model that takes cheaper steps takes more of
# them). Each starts from the tuned values the sandbox ships for its pair with digits (learning
# rate, batch, channels), announced in one line. No FID during training (`model.eval_every=0`):
# it comes once, below, the same way for all four. Run the cell again and each run resumes from its
# checkpoint for another `MINUTES`.

# %%
import sandbox

runs = {}
for name in MODELS:
    overrides = [f"steps={STEPS}", f"max_minutes={MINUTES if MINUTES else 'null'}", "model.eval_every=0",
                 "model.sample_every=0", f"model.grid={GRID}", "wandb.mode=disabled", "seed=0", f"out={OUT / name}"]
    if BATCH:
        overrides.append(f"model.batch={BATCH}")
    overrides.append("model.threads=1")  # one torch thread: 8×8 digits gain nothing from two that wait on each other
    if name in ("ddpm", "flow"):
        overrides.append("model.export_pipeline=false")  # no diffusers pipeline folder: the run is enough here
        if SAMPLE_STEPS:
            overrides += [f"model.steps={SAMPLE_STEPS}", f"model.eval_steps={SAMPLE_STEPS}"]  # the closing grid's too
    runs[name] = sandbox.train({"model": name, "data": "digits", "backbone": "cnn"}, overrides, progress=False)
    print(f"{name}: {runs[name].step} steps in {runs[name].dir}")

# %% [markdown]
# ## Samples side by side
#
# `sandbox.load` gives back each trained model; `sample(n, seed=0)` draws n images in [0, 1]
# (N×1×8×8) the way each model samples by default: the VAE decodes z drawn from its prior, the GAN
# runs its generator once, DDPM integrates with DPM-Solver++ in 20 steps and flow matching with
# Euler in 10, both conditioned on random digit labels.

# %%
import matplotlib.pyplot as plt
import numpy as np


def grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """N×1×H×W images in [0, 1] as one picture, columns of them, a white line between."""
    n, _, h, w = images.shape
    rows = -(-n // columns)
    picture = np.ones((rows * (h + 1) + 1, columns * (w + 1) + 1))
    for i, image in enumerate(images[:, 0]):
        r, c = divmod(i, columns)
        picture[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = image
    return picture


models = {name: sandbox.load(run.dir) for name, run in runs.items()}
fig, axes = plt.subplots(1, len(models) + 1, figsize=(3 * (len(models) + 1), 3.3))
real = models["ddpm"].data.x_test[:GRID].numpy()  # held-out digits, for comparison
axes[0].imshow(grid(real), cmap="gray", vmin=0, vmax=1)
axes[0].set_title("real digits (held out)", fontsize=10)
for ax, (name, model) in zip(axes[1:], models.items()):
    images = np.asarray(model.sample(GRID, seed=0), dtype=float)
    ax.imshow(grid(images), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{name.upper() if name != 'flow' else 'flow matching'}, {runs[name].step} steps", fontsize=10)
for ax in axes:
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## FID against its floor
#
# `evaluate(n=...)` is what `sandbox eval RUN_DIR --json` prints: the FID of n samples in the
# feature space of a small classifier the sandbox trains on the digits (the data set is too small
# and too far from ImageNet for the usual Inception features), with its floor, the same distance
# between two sets of real digits (the best a model can reach at this n), and precision (are the
# samples like real digits?) and recall (do they cover all the real ones?). The VAE adds its
# held-out ELBO.

# %%
scores = {name: model.evaluate(n=EVAL_N, progress=False) if name in ("ddpm", "flow") else model.evaluate(n=EVAL_N)
          for name, model in models.items()}
print(f"{'model':>6} {'steps':>7} {'FID':>8} {'floor':>7} {'precision':>10} {'recall':>7}")
for name, s in scores.items():
    print(f"{name:>6} {runs[name].step:>7} {s['fid']:>8.2f} {s['fid_floor']:>7.2f} {s['precision']:>10.2f} {s['recall']:>7.2f}")

fig, ax = plt.subplots(figsize=(5, 3.2))
names = list(scores)
bars = ax.bar(names, [scores[n]["fid"] for n in names], color=[f"C{i}" for i in range(len(names))])
ax.bar_label(bars, fmt="%.3g", fontsize=8)
floor = float(np.mean([scores[n]["fid_floor"] for n in names]))
ax.axhline(floor, color="k", linestyle="--", label=f"floor (real vs real): {floor:.2f}")
ax.set_yscale("log")  # the floor and a barely trained model are orders of magnitude apart
ax.set_ylim(floor / 2, 3 * max(scores[n]["fid"] for n in names))
ax.set_ylabel(f"FID at {EVAL_N} samples (log; lower is better)")
ax.set_title(f"same data, same backbone family, {f'{MINUTES} minutes' if MINUTES else f'{STEPS} steps'} each", fontsize=10)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# One number hides how a model fails. Precision and recall (Kynkäänniemi et al. 2019) split it: a
# model that draws a few kinds of digit well has high precision and low recall (a GAN collapsed onto
# a few modes); one whose samples spread over every digit and beyond has high recall and low
# precision. Real digits sit near the top right. A model that draws the same image for every input
# (a VAE early in training, before its decoder uses z, draws one blurred mean digit) can even score
# a high precision with a recall of zero.

# %%
fig, ax = plt.subplots(figsize=(4, 4))
for i, name in enumerate(names):
    ax.scatter(scores[name]["recall"], scores[name]["precision"], s=60, color=f"C{i}", label=name, alpha=0.8)
ax.scatter([1], [1], marker="*", s=150, color="k", label="ideal")
ax.set_xlim(-0.05, 1.05)
ax.set_ylim(-0.05, 1.05)
ax.set_xlabel("recall (real digits covered by the samples)")
ax.set_ylabel("precision (samples that look real)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
plt.show()

# %% [markdown]
# A short budget favours the models whose steps are cheap and whose samples need no long chain:
# rank them again at a longer budget (`MINUTES`) before drawing conclusions. For scale, the
# sandbox's benchmarks on two quiet CPU cores: 5 minutes bring the GAN to an FID of 1.5 and the VAE
# to 1.7 against a floor of 1.1, and 15 minutes bring DDPM to 1.5 (benchmarks/results/). On a
# loaded machine the same minutes buy far fewer steps: the titles above say how many each model
# took. From the command line:
# `sandbox sample runs/notebooks/generative_side_by_side/gan --n 64 --out gan.png` and
# `sandbox eval runs/notebooks/generative_side_by_side/vae --json`.
