"""Built-in agents. Registered lazily: listing them imports no torch.

Each agent is one readable file (or folder); the registration lines below name where it lives.
"""

from pathlib import Path

from sandbox.config import add_preset_dir
from sandbox.tuned import add_tuned_dir
from sandbox.envs.games import GAMES as BOARD_GAMES
from sandbox.registry import agents as _agents
from sandbox.registry import envs as _envs

add_preset_dir(Path(__file__).parent / "presets")
add_tuned_dir(Path(__file__).parent / "tuned")

# -- stable-baselines3 agents and REINFORCE (issue: agents that learn and play) -----------------------
_agents.register_lazy("ppo", "sandbox.agents.ppo:PPO", "Proximal Policy Optimization (stable-baselines3) on any backbone.")
_agents.register_lazy("dqn", "sandbox.agents.dqn:DQN", "Deep Q-Network (stable-baselines3) on any backbone.")
_agents.register_lazy("a2c", "sandbox.agents.a2c:A2C", "Advantage Actor-Critic (stable-baselines3) on any backbone.")
_agents.register_lazy("reinforce", "sandbox.agents.reinforce:REINFORCE", "Vanilla policy gradient with a learned baseline (our own, one file).")


# -- AlphaZero (issue: self-play tree search) -------------------------------------------------------
_agents.register_lazy("alphazero", "sandbox.agents.alphazero.agent:AlphaZero", "AlphaZero: self-play with batched PUCT/Gumbel tree search on board games")

# `sandbox gtp RUN`: an AlphaZero Go agent as a GTP engine (the core holds no search)
_agents.provide("alphazero", "gtp", "sandbox.agents.alphazero.gtp:serve")

# the board games' human play: a person against pure MCTS (the envs district holds no search)
for _game in BOARD_GAMES:
    _envs.provide(_game, "play_human", "sandbox.agents.alphazero.opponents:play_human")

# `sandbox play PATH.zip`: a stable-baselines3 zip (read by the core without unpickling) playing its env
_agents.provide("ppo", "play_zip", "sandbox.agents.sb3_zip:play_zip")
_agents.provide("ppo", "eval_zip", "sandbox.agents.sb3_zip:eval_zip")
