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
# # One run is not a result: seeds and bands
#
# The same config trained with several seeds, side by side: PPO on CartPole, as a sweep over
# `seed` on Ray (several runs at once, one per core), then the learning curves of every seed, their
# mean and a band, and how far apart the seeds end.
#
# At its default sizes the notebook runs in a few minutes on a laptop CPU;
# `SANDBOX_NOTEBOOK_TINY=1` shrinks every budget (the tests run it so).

# %% tags=["parameters"]
import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets: plain bars

TINY = os.environ.get("SANDBOX_NOTEBOOK_TINY") == "1"
SEEDS = [0, 1] if TINY else [0, 1, 2, 3, 4]
STEPS = 256 if TINY else 30_000            # environment steps per run
EVAL_EVERY = 128 if TINY else 2_500         # steps between evaluations
EVAL_EPISODES = 2 if TINY else 10
CPUS = min(2, os.cpu_count() or 1)         # runs at once (one core each)
OUT = Path(os.environ.get("SANDBOX_NOTEBOOK_OUT", "runs/notebooks")) / "seeds_bands"
print(f"{len(SEEDS)} seeds of {STEPS} steps, {CPUS} at a time, sweep in {OUT}")

# %% [markdown]
# ## The sweep
#
# `sandbox.sweep.run` is `sandbox sweep ppo-cartpole seed=0,1,2,3,4 --out DIR` from Python:
# `seed=0,1,2,3,4` is a grid axis (one trial per value), and the trials run on a local Ray cluster
# of this machine's cores, which it starts and stops. Each trial is an ordinary run directory under
# `DIR/trials/`; `DIR/sweep.json` (which `run` returns) lists them with their last
# `eval/mean_return`. Run the cell again and the sweep is finished from its `sweep.json`, as
# `sandbox sweep --resume DIR` does: the trials that ended are kept (all of them: nothing is run).

# %%
from sandbox import sweep

folder = OUT / "ppo-cartpole-seeds"
words = [f"steps={STEPS}", f"agent.eval_every={EVAL_EVERY}", f"agent.eval_episodes={EVAL_EPISODES}", "agent.eval_video=false",
         "wandb.mode=disabled", "seed=" + ",".join(map(str, SEEDS))]
doc = sweep.run("ppo-cartpole", words, folder, cpus=CPUS, progress=False)
print(f"{doc['status']}: {len(doc['trials'])} trials, best {doc['best']}")

# %% [markdown]
# ## Every seed, their mean and a band
#
# `sweep.compare_groups` gives the trials' run directories; `sandbox.metrics` reads each one's
# `eval/mean_return`. Every run evaluated at the same steps, so the curves line up point by point:
# one thin line per seed, the mean over seeds, and two bands, ±1 standard deviation (kept inside
# what the seeds reached: no seed scores above CartPole's 500) and the min–max range.

# %%
import matplotlib.pyplot as plt
import numpy as np

import sandbox

trial_dirs, _ = sweep.compare_groups(folder)
curves = {d.name: sandbox.metrics(d).series("eval/mean_return") for d in trial_dirs}
n = min(len(steps) for steps, _ in curves.values())  # the evaluations every seed reached
steps = np.asarray(next(iter(curves.values()))[0][:n])
returns = np.stack([np.asarray(r[:n], dtype=float) for _, r in curves.values()])  # seeds × evaluations
mean, std = returns.mean(axis=0), returns.std(axis=0, ddof=1)  # std over seeds (n - 1)

fig, ax = plt.subplots(figsize=(8, 4))
fig.subplots_adjust(right=0.72)
low, high = returns.min(axis=0), returns.max(axis=0)
ax.fill_between(steps, low, high, color="C0", alpha=0.15, label="min–max over seeds")
ax.fill_between(steps, np.maximum(mean - std, low), np.minimum(mean + std, high), color="C0", alpha=0.3, label="mean ± 1 std")
for name, row in zip(curves, returns):
    ax.plot(steps, row, color="C7", linewidth=0.8, alpha=0.8)
ax.plot([], [], color="C7", linewidth=0.8, label="one seed each")
ax.plot(steps, mean, color="C0", linewidth=2.2, marker="o", markersize=3, label=f"mean of {len(returns)} seeds")
ax.set_xlabel("environment steps")
ax.set_ylabel("mean evaluation return")
ax.set_title(f"PPO on CartPole-v1, {len(returns)} seeds", fontsize=10)
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
plt.show()

# %% [markdown]
# `sandbox.compare.compare` draws the same sweep the way `sandbox compare DIR --out curves.png` does (and as
# the sweep already did, in `DIR/curves.png`): the seeds of one configuration as one group, its mean
# with a min–max band, against steps and against wall time. The seeds ran two at a time, so in wall
# time they start apart: the mean covers only the span every seed reached, each seed's curve goes on
# dotted outside it.

# %%
from IPython.display import Image, display
from sandbox.compare import compare, format_table

trial_dirs, groups = sweep.compare_groups(folder)
picture = OUT / "compare.png"
rows = compare(trial_dirs, picture, metrics=["eval/mean_return"], groups=groups)
print(format_table(rows))
display(Image(filename=str(picture)))

# %% [markdown]
# ## Why one seed is not enough
#
# Where each seed ended, and the spread half way through training:

# %%
final = returns[:, -1]
middle = returns[:, n // 2]
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar([name.split("-", 1)[-1] for name in curves], final, color="C0")  # trial names: 000-seed=0, ...
ax.axhline(final.mean(), color="k", linestyle="--")
ax.set_ylabel(f"eval return at step {int(steps[-1]):,}")
ax.set_title(f"where each seed ended (dashed: their mean, {final.mean():.0f})", fontsize=10)
plt.show()
print(f"at step {int(steps[n // 2]):,} the seeds scored {middle.min():.0f} to {middle.max():.0f}; "
      f"at the end {final.min():.0f} to {final.max():.0f} (mean {final.mean():.0f}, std {final.std(ddof=1):.0f})")

# %% [markdown]
# The seed changes only the random numbers (the network's first weights, the envs' starting states,
# the actions sampled), yet the runs above can be as far apart as two different algorithms. A
# single run of each of two configs would rank them by luck as often as by merit: compare means
# over several seeds, with their spread, and trust a difference only when it is larger than the
# band (Henderson et al. 2018, "Deep Reinforcement Learning that Matters"; Agarwal et al. 2021,
# "Deep RL at the Edge of the Statistical Precipice").
#
# From the command line: `sandbox sweep ppo-cartpole seed=0,1,2,3,4 --out sweeps/seeds`, then
# `sandbox compare sweeps/seeds --out curves.png`; vary a setting too
# (`agent.learning_rate=1e-3,3e-4`) and each value gets its own line and band.
