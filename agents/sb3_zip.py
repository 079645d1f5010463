"""``sandbox play PATH.zip``: a stable-baselines3 zip's policy (read by :mod:`sandbox.sb3_import`,
without unpickling) playing its env in a window or recorded, as the sandbox's agents play."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError
from sandbox.sb3_import import load_zip


def env_id_for(path: Path, env_id: str | None) -> str:
    """The env to play: ``env_id``, or the one the zip's name says (RL Zoo's ``<env>.zip``,
    huggingface_sb3's ``<algo>-<env>.zip``)."""
    if env_id:
        return env_id
    stem = re.sub(r"^(ppo|a2c|dqn)[-_]", "", Path(path).stem, flags=re.IGNORECASE)
    import gymnasium as gym

    if stem in gym.envs.registry:
        return stem
    raise SandboxError(f"cannot tell the env of {Path(path).name} from its name; give it with --env ID (e.g. --env CartPole-v1).")


def play_zip(path: str | Path, env_id: str | None = None, episodes: int = 1, record: Path | None = None, seed: int = 0) -> dict[str, Any]:
    """Play ``episodes`` of the zip's policy in a window, or record them to ``record`` (.mp4/.gif)."""
    import gymnasium as gym

    from sandbox.envs.window import watch_episodes

    policy = load_zip(path)
    env_id = env_id_for(Path(path), env_id)
    try:
        env = gym.make(env_id, render_mode="rgb_array")
    except gym.error.Error as exc:
        raise SandboxError(f"--env {env_id} cannot be made ({str(exc).splitlines()[0][:120]}).") from None
    if tuple(env.observation_space.shape or ()) != policy.obs_shape:
        raise SandboxError(f"{env_id}'s observations have shape {env.observation_space.shape} and {Path(path).name} reads {policy.obs_shape}; give its own env with --env.")
    return watch_episodes(env, policy.act, episodes, record, f"sandbox: {Path(path).name} plays {env_id}", seed=seed)
