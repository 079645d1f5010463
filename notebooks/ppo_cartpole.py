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
# # PPO on CartPole
#
# Train Proximal Policy Optimization on CartPole, watch an episode, swap the backbone for a
# transformer without touching the algorithm, and compare the two learning curves.
#
# Everything here is the plain `sandbox` API: `sandbox.train`, `sandbox.load`, `sandbox.make_env`,
# `sandbox.metrics` and `sandbox.compare.compare`. At its default sizes the notebook runs in a few
# minutes on a laptop CPU; `SANDBOX_NOTEBOOK_TINY=1` shrinks every budget (the tests run it so).

# %% tags=["parameters"]
import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets: plain bars

TINY = os.environ.get("SANDBOX_NOTEBOOK_TINY") == "1"
STEPS = 512 if TINY else 30_000            # environment steps per run
EVAL_EVERY = 256 if TINY else 2_500         # steps between evaluations
EVAL_EPISODES = 2 if TINY else 10
OUT = Path(os.environ.get("SANDBOX_NOTEBOOK_OUT", "runs/notebooks")) / "ppo_cartpole"
print(f"{STEPS} steps per run, runs in {OUT}")

# %% [markdown]
# ## Train
#
# `ppo-cartpole` is a preset: PPO on `CartPole-v1` with the tuned values the sandbox ships for that
# pair (RL Zoo's), on an MLP backbone. `key=value` strings override anything. A run directory that
# already exists is resumed, so running this cell twice trains no further.

# %%
import sandbox

common = [f"steps={STEPS}", f"agent.eval_every={EVAL_EVERY}", f"agent.eval_episodes={EVAL_EPISODES}",
          "wandb.mode=disabled", "seed=0"]
mlp_run = sandbox.train("ppo-cartpole", common + [f"out={OUT / 'mlp'}"], progress=False)
print(mlp_run.dir)

# %% [markdown]
# The run logged its metrics to `metrics.jsonl`; `sandbox.metrics` reads them back as arrays.

# %%
import matplotlib.pyplot as plt

history = sandbox.metrics(mlp_run.dir)
print(history.names)
steps, returns = history.series("eval/mean_return")
plt.figure(figsize=(5, 3))
plt.plot(steps, returns, marker="o")
plt.xlabel("environment steps")
plt.ylabel("mean evaluation return")
plt.title("PPO, MLP backbone")
plt.show()

# %% [markdown]
# ## Watch an episode
#
# `sandbox.load` gives back the trained policy; `act(observation)` is greedy unless asked otherwise.
# The env renders frames with `render_mode="rgb_array"`; a strip of them shows the episode.

# %%
import numpy as np

policy = sandbox.load(mlp_run.dir)
env = sandbox.make_env("CartPole-v1", render_mode="rgb_array")
observation, _ = env.reset(seed=0)
frames, total, done = [env.render()], 0.0, False
while not done:
    observation, reward, terminated, truncated, _ = env.step(policy.act(observation))
    total += reward
    done = terminated or truncated
    frames.append(env.render())
env.close()
print(f"the episode lasted {len(frames) - 1} steps, return {total:.0f}")

shown = np.linspace(0, len(frames) - 1, num=min(8, len(frames))).astype(int)
fig, axes = plt.subplots(2, 4, figsize=(8, 2.8))
for ax in axes.flat:
    ax.axis("off")
for ax, i in zip(axes.flat, shown):
    ax.imshow(frames[i])
    ax.set_title(f"step {i}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Swap the backbone
#
# The same algorithm on a transformer: `backbone=transformer` reads the four numbers of the
# observation as four tokens. Nothing in PPO changes.

# %%
transformer_run = sandbox.train("ppo-cartpole", common + ["backbone=transformer", f"out={OUT / 'transformer'}"],
                                progress=False)
print(transformer_run.dir)

# %% [markdown]
# ## Compare the two curves
#
# By hand from the metrics, then with `sandbox.compare.compare`, which draws the curves against
# steps and wall time and prints the same table `sandbox compare` does.

# %%
plt.figure(figsize=(5, 3))
for name, run in (("mlp", mlp_run), ("transformer", transformer_run)):
    x, y = sandbox.metrics(run.dir).series("eval/mean_return")
    plt.plot(x, y, marker="o", label=name)
plt.xlabel("environment steps")
plt.ylabel("mean evaluation return")
plt.legend()
plt.show()

# %%
from IPython.display import Image, display
from sandbox.compare import compare

picture = OUT / "compare.png"
compare([mlp_run.dir, transformer_run.dir], picture, metrics=["eval/mean_return"])
display(Image(filename=str(picture)))

# %% [markdown]
# From the command line, the same runs: `sandbox compare runs/notebooks/ppo_cartpole/mlp
# runs/notebooks/ppo_cartpole/transformer --out curves.png`, and `sandbox play
# runs/notebooks/ppo_cartpole/mlp` to watch it in a window.
