"""``sandbox play PATH.zip`` / ``sandbox eval PATH.zip``: a stable-baselines3 zip's policy (read by
:mod:`sandbox.sb3_import`, without unpickling) playing its env in a window or recorded, or
evaluated over episodes, as the sandbox's agents play and evaluate."""

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


def make_env_for(path: Path, env_id: str | None, policy: Any, **kwargs: Any) -> tuple[Any, str]:
    """The zip's env (``env_id``, or the one its name says), checked to give the observations the
    policy reads; anything else is one sentence."""
    import gymnasium as gym

    env_id = env_id_for(Path(path), env_id)
    try:
        env = gym.make(env_id, **kwargs)
    except (gym.error.Error, TypeError, ValueError, ModuleNotFoundError) as exc:
        raise SandboxError(f"--env {env_id} cannot be made ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}).") from None
    if tuple(env.observation_space.shape or ()) != policy.obs_shape:
        env.close()
        raise SandboxError(f"{env_id}'s observations have shape {env.observation_space.shape} and {Path(path).name} reads {policy.obs_shape}; give its own env with --env.")
    n = getattr(env.action_space, "n", None)
    if n is not None and int(n) != policy.n_actions:
        env.close()
        raise SandboxError(f"{env_id} has {int(n)} actions and {Path(path).name} chooses among {policy.n_actions}; give its own env with --env.")
    return env, env_id


def eval_zip(path: str | Path, env_id: str | None = None, episodes: int = 10, seed: int = 0) -> dict[str, Any]:
    """The zip's greedy policy over ``episodes`` episodes of its env: ``mean_return``, ``std_return``,
    ``episodes``, as ``sandbox eval`` reports an agent. The first episode starts from
    ``reset(seed=seed)``, the others go on from the env's own generator (as stable-baselines3's
    ``evaluate_policy`` plays a seeded one-env ``DummyVecEnv``)."""
    import numpy as np

    policy = load_zip(path)
    env, _ = make_env_for(Path(path), env_id, policy)
    returns = []
    try:
        obs, _ = env.reset(seed=seed)
        for _ in range(episodes):
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            obs, _ = env.reset()
    finally:
        env.close()
    return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": episodes}


def play_zip(path: str | Path, env_id: str | None = None, episodes: int = 1, record: Path | None = None, seed: int = 0) -> dict[str, Any]:
    """Play ``episodes`` of the zip's policy in a window, or record them to ``record`` (.mp4/.gif)."""
    from sandbox.envs.window import watch_episodes

    policy = load_zip(path)
    env, env_id = make_env_for(Path(path), env_id, policy, render_mode="rgb_array")
    return watch_episodes(env, policy.act, episodes, record, f"sandbox: {Path(path).name} plays {env_id}", seed=seed)
