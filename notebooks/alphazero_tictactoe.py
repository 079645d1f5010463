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
# # AlphaZero on tic-tac-toe
#
# Self-play with tree search (Silver et al. 2018): the network proposes moves (priors) and judges
# positions (a value); PUCT search turns them into better moves; the games it plays against itself
# are what it learns from. Then a game against it, and one position's search: the priors, the
# share of visits each move got, and the value.
#
# At its default sizes the notebook runs in a few minutes on a laptop CPU;
# `SANDBOX_NOTEBOOK_TINY=1` shrinks every budget (the tests run it so).

# %% tags=["parameters"]
import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets: plain bars

TINY = os.environ.get("SANDBOX_NOTEBOOK_TINY") == "1"
MINUTES = 0.3 if TINY else 3               # self-play time budget
SIMULATIONS = 8 if TINY else 32            # searches per self-play move
EVAL_EVERY = 10**9 if TINY else 25_600     # self-play moves between evaluations
LOG_EVERY = 64 if TINY else 1_600          # self-play moves between logged losses
OUT = Path(os.environ.get("SANDBOX_NOTEBOOK_OUT", "runs/notebooks")) / "alphazero_tictactoe"
print(f"{MINUTES} minutes of self-play, run in {OUT}")

# %% [markdown]
# ## Self-play
#
# `alphazero-tictactoe` is a preset: the tuned values for tic-tac-toe (64 games played in lockstep,
# a small residual CNN). `steps` counts self-play moves; `max_minutes` stops the run cleanly, with a
# closing evaluation against a random player, pure Monte-Carlo tree search and perfect play.

# %%
import sandbox

overrides = [f"max_minutes={MINUTES}", f"agent.simulations={SIMULATIONS}", f"agent.eval_every={EVAL_EVERY}",
             f"agent.log_every={LOG_EVERY}", "wandb.mode=disabled", f"out={OUT}"]
if TINY:
    overrides += ["agent.games=8", "agent.eval_games=2", "agent.eval_opponents=[random]", "agent.eval_simulations=8"]
run = sandbox.train("alphazero-tictactoe", overrides, progress=False)
agent = sandbox.load(run.dir)
history = sandbox.metrics(run.dir)
print(history.names)

# %%
import matplotlib.pyplot as plt

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
for name in ("train/loss", "train/policy_loss", "train/value_loss"):
    x, y = history.series(name)
    left.plot(x, y, label=name)
left.set_xlabel("self-play moves")
left.legend()
for name in [n for n in history.names if n.startswith("eval/win_rate/")]:
    x, y = history.series(name)
    right.plot(x, y, marker="o", label=name)
right.set_xlabel("self-play moves")
right.set_ylim(-0.05, 1.05)
right.legend()
plt.show()

# %% [markdown]
# ## A game against it
#
# The env is a PettingZoo AEC env with `tictactoe_v3`'s observations and actions (cells 0–8, column
# by column). "You" play the moves of `MY_MOVES` (the first legal one each turn; change them), the
# agent answers with `agent.act(observation)`; the board is drawn after every move.

# %%
import numpy as np

MY_MOVES = [4, 0, 8, 2, 6, 1, 3, 5, 7]
env = sandbox.make_env("tictactoe", render_mode="rgb_array")
env.reset(seed=0)
frames, titles, you = [], [], env.agents[0]
for player in env.agent_iter():
    observation, reward, terminated, truncated, _ = env.last()
    if terminated or truncated:
        print(f"{'you' if player == you else 'agent'}: {reward:+.0f}")
        env.step(None)
        continue
    if player == you:
        legal = np.flatnonzero(observation["action_mask"])
        move = next(m for m in MY_MOVES if m in legal)
    else:
        move = agent.act(observation)
    env.step(move)
    frames.append(env.render())
    titles.append(f"{'you' if player == you else 'agent'}: {move}")
env.close()
print("moves:", ", ".join(titles))

fig, axes = plt.subplots(1, len(frames), figsize=(1.8 * len(frames), 2))
for ax, frame, title in zip(np.atleast_1d(axes), frames, titles):
    ax.imshow(frame)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## One position's search
#
# `agent.think(state)` searches one position and says what the agent thinks: the network's priors
# over the moves, the share of the search's visits each move got (the move played is the most
# visited), and the value of the position for the player to move. `agent.game.from_observation`
# turns a PettingZoo observation into the rules core's state.

# %%
env = sandbox.make_env("tictactoe")
env.reset(seed=0)
marks = {4: "X", 0: "O", 8: "X"}  # X in the centre, O in a corner, X in the opposite corner
for move in marks:
    env.step(move)
observation = env.observe(env.agent_selection)["observation"]
env.close()
move, thought = agent.think(agent.game.from_observation(observation))
print(f"the agent (O) plays {move}; value for O {thought['value']:+.2f}")

fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, key, title in zip(axes, ("prior", "probs"), ("network prior", "share of visits")):
    grid = np.asarray(thought[key], dtype=float)[:9].reshape(3, 3).T   # cells go column by column
    ax.imshow(grid, cmap="Blues", vmin=0, vmax=max(grid.max(), 1e-6))
    for r in range(3):
        for c in range(3):
            cell = c * 3 + r
            mark = marks.get(cell, "")
            ax.text(c, r, mark or f"{grid[r, c]:.2f}", ha="center", va="center", fontsize=12 if mark else 9)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# From the command line: `sandbox play runs/notebooks/alphazero_tictactoe --human` to play it with
# the mouse, and `sandbox eval runs/notebooks/alphazero_tictactoe --opponent perfect --games 20 --json`.
