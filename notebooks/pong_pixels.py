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
# # Pong from pixels
#
# An agent that sees only the screen: what the preprocessing makes of it (four stacked 84×84
# grayscale frames), a short PPO run with the Nature-DQN CNN backbone, and the trained agent
# playing one game, as a video.
#
# A few minutes of training on a CPU is far too little to win at Pong: the short run here loses
# nearly every point. PPO needs about a million steps to start winning points (the sandbox's
# benchmark reached +12 after an hour, 2.4 million steps, on two CPU cores). Train a longer run
# once, from the command line, and point `SANDBOX_PONG_RUN` at it to watch that one instead:
#
#     sandbox train ppo-pong max_minutes=60 out=runs/pong-ppo-60
#     SANDBOX_PONG_RUN=runs/pong-ppo-60 jupyter lab notebooks/pong_pixels.py
#
# At its default sizes the notebook runs in a few minutes on a laptop CPU;
# `SANDBOX_NOTEBOOK_TINY=1` shrinks every budget (the tests run it so).

# %% tags=["parameters"]
import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets: plain bars

TINY = os.environ.get("SANDBOX_NOTEBOOK_TINY") == "1"
MINUTES = None if TINY else 3              # training time budget of the short run
STEPS = 128 if TINY else 10_000_000        # ... or this many env steps, whichever comes first
EVAL_EVERY = 128 if TINY else 50_000       # env steps between evaluations
EVAL_EPISODES = 1 if TINY else 2           # games per evaluation
PLAY_STEPS = 40 if TINY else 5_000         # agent steps of the game shown at the end, at most
LONGER_RUN = os.environ.get("SANDBOX_PONG_RUN", "runs/pong-ppo-60")  # played instead, if it exists
OUT = Path(os.environ.get("SANDBOX_NOTEBOOK_OUT", "runs/notebooks")) / "pong_pixels"
print(f"{MINUTES or 'no'} minutes of training at most, run in {OUT}")

# %% [markdown]
# ## What the agent sees
#
# `sandbox.make_env("ALE/Pong-v5")` is the game with the preprocessing of the DQN papers: each
# action is repeated for 4 emulator frames (the last two max-pooled, so sprites that flicker are not
# lost), the screen is turned to grayscale and shrunk to 84×84 by area averaging, and the last 4
# such frames are stacked, so that one observation shows where the ball is going, not only where it
# is. `render()` still gives the full colour screen. A few random moves first, so the ball is in play.

# %%
import matplotlib.pyplot as plt
import numpy as np

import sandbox

env = sandbox.make_env("ALE/Pong-v5", render_mode="rgb_array")
observation, _ = env.reset(seed=0)
env.action_space.seed(0)
for _ in range(60):
    observation, *_ = env.step(env.action_space.sample())
screen = env.render()
env.close()
print(f"the screen: {screen.shape} {screen.dtype}; the observation: {observation.shape} {observation.dtype}")

fig, axes = plt.subplots(1, 1 + len(observation), figsize=(3 + 2.2 * len(observation), 3.2),
                         gridspec_kw={"width_ratios": [1.3] + [1] * len(observation)})
axes[0].imshow(screen)
axes[0].set_title(f"the screen, {screen.shape[0]}×{screen.shape[1]}", fontsize=9)
for k, (ax, frame) in enumerate(zip(axes[1:], observation)):
    ax.imshow(frame, cmap="gray", vmin=0, vmax=255)
    ax.set_title(f"frame t{k - len(observation) + 1 or ''}", fontsize=9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
axes[1].set_ylabel(f"what the agent sees: {len(observation)}×{observation.shape[1]}×{observation.shape[2]}", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# The difference between the newest and the oldest frame is the motion the CNN can read: the
# ball and the paddles, nothing else.

# %%
motion = observation[-1].astype(int) - observation[0].astype(int)
plt.figure(figsize=(3.4, 3.2))
plt.imshow(motion, cmap="coolwarm", vmin=-255, vmax=255)
plt.colorbar(label="newest − oldest frame", shrink=0.8)
plt.xticks([])
plt.yticks([])
plt.title("motion in one observation", fontsize=9)
plt.show()

# %% [markdown]
# ## A short training run
#
# `ppo-pong` is a preset: PPO on `ALE/Pong-v5` with the tuned Atari values the sandbox ships (RL
# Zoo's: 8 envs × 128 steps, clipped rewards for learning, one Nature CNN shared by the policy and
# the value). Training steps ale-py's C++ vector env; evaluation and play use the env above, with
# the same preprocessing. `max_minutes` stops the run cleanly, closing evaluation included; run
# the cell again and the run resumes from its checkpoint for another `MINUTES`.

# %%
overrides = [f"steps={STEPS}", f"max_minutes={MINUTES if MINUTES else 'null'}", f"agent.eval_every={EVAL_EVERY}",
             f"agent.eval_episodes={EVAL_EPISODES}", "agent.eval_video=false", "wandb.mode=disabled", "seed=0",
             f"out={OUT / 'short'}"]
if TINY:  # two envs, short rollouts, and games cut at 400 emulator frames (100 agent steps)
    overrides += ["agent.n_envs=2", "agent.n_steps=32", "agent.batch_size=64", "agent.torch_threads=1", "env.max_episode_frames=400"]
run = sandbox.train("ppo-pong", overrides, progress=False)
print(run.dir)

# %% [markdown]
# ## Load a longer run, if there is one
#
# The run played below is the one in `SANDBOX_PONG_RUN` (default `runs/pong-ppo-60`) when that folder
# exists, else the short run just trained. `sandbox.load` gives back the best checkpoint's policy;
# `sandbox.metrics` the run's logged metrics: the greedy evaluations, and the score of every
# training game as it finished (each game is played to 21 points).

# %%
run_dir = Path(LONGER_RUN) if Path(LONGER_RUN, "config.yaml").is_file() else run.dir
policy = sandbox.load(run_dir)
history = sandbox.metrics(run_dir)
print(f"playing {run_dir}")

trained = int(history[-1]["step"]) if history else 0
fig, ax = plt.subplots(figsize=(5, 3))
for name, label in (("rollout/episodic_return", "training games"), ("eval/mean_return", "evaluation (greedy)")):
    if name in history.names:  # a run too short to finish a game has neither
        x, y = history.series(name)
        greedy = name.startswith("eval/")
        ax.plot(x, y, marker="o" if greedy else ".", linestyle="-" if greedy else "none", alpha=1 if greedy else 0.4, label=label)
    else:
        print(f"no {label} finished in {trained:,} steps: train for longer, or load a longer run")
if not ax.lines:
    ax.text(0.5, 0.5, f"no game finished in {trained:,} steps", transform=ax.transAxes, ha="center", fontsize=9, color="C3")
ax.axhline(-21, color="C7", linestyle=":", label="loses every point")
ax.axhline(21, color="C2", linestyle=":", label="wins every point")
ax.set_xlim(0, max(trained, 1) * 1.02)
ax.set_ylim(-22, 22)
ax.set_xlabel("environment steps")
ax.set_ylabel("return of a game (points won − lost)")
ax.set_title(f"PPO on Pong: {run_dir.name}, {trained:,} steps", fontsize=10)
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
plt.show()

# %% [markdown]
# ## Watch it play
#
# `policy.play(episodes, record=...)` is what `sandbox play RUN_DIR --record game.mp4` does: one game
# with the greedy policy, the score drawn under each picture, written as a video.

# %%
from IPython.display import Video, display

video = OUT / f"{run_dir.name}-game.mp4"
result = policy.play(1, record=video, max_steps=PLAY_STEPS)
print(f"score {result['mean_return']:+g} (points won minus points lost), video {video}")
display(Video(str(video), embed=True, width=320, html_attributes="controls loop"))

# %% [markdown]
# The same game as a strip of pictures, read back from the video:

# %%
import imageio.v2 as imageio

with imageio.get_reader(video) as reader:
    pictures = [np.asarray(p) for p in reader]
shown = np.linspace(0, len(pictures) - 1, num=min(8, len(pictures))).astype(int)
fig, axes = plt.subplots(1, len(shown), figsize=(1.6 * len(shown), 2.6))
for ax, i in zip(np.atleast_1d(axes), shown):
    ax.imshow(pictures[i])
    ax.set_title(f"step {i}", fontsize=8)
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# From the command line: `sandbox eval runs/notebooks/pong_pixels/short --episodes 4` and
# `sandbox play runs/notebooks/pong_pixels/short` (a window at the game's speed), or
# `sandbox play ALE/Pong-v5 --human` to play it yourself.
