"""Built-in agents. Registered lazily: listing them imports no torch.

Each agent is one readable file (or folder); the registration lines below name where it lives.
"""

from pathlib import Path

from sandbox.config import add_preset_dir
from sandbox.registry import agents as _agents

add_preset_dir(Path(__file__).parent / "presets")

# -- stable-baselines3 agents and REINFORCE (issue: agents that learn and play) -----------------------

# -- AlphaZero (issue: self-play tree search) -------------------------------------------------------
