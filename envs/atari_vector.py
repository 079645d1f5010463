"""The fast path for training on Atari: ale-py's C++ vector env as a stable-baselines3 ``VecEnv``.

It sits beside envs/atari.py rather than in it because it subclasses stable-baselines3's ``VecEnv``
(which imports torch): making one Atari env (``sandbox.make_env("ALE/Pong-v5")``) stays free of
torch and stable-baselines3.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from sandbox.envs.atari import register_ale, rom_name


class AtariVecEnv(VecEnv):
    """ale-py's C++ vector env (threads, preprocessing in C++) as a stable-baselines3 ``VecEnv``.

    Same preprocessing as :class:`~sandbox.envs.atari.AtariPreprocessed`. Rewards are clipped to their sign for
    learning when ``clip_rewards``; each finished episode's true score and length are reported in
    ``info["episode"] = {"r": ..., "l": ...}``, as SB3's monitor does.
    """

    def __init__(self, game: str, num_envs: int, cfg: Any, seed: int = 0, clip_rewards: bool = True, threads: int = 0) -> None:
        from ale_py.vector_env import AtariVectorEnv
        from gymnasium.vector import AutoresetMode

        register_ale()  # quiet: no banner from each of its emulators

        self.venv = AtariVectorEnv(
            rom_name(game), num_envs, num_threads=threads or min(num_envs, os.cpu_count() or 1),
            max_num_frames_per_episode=cfg.max_episode_frames, repeat_action_probability=cfg.repeat_action_probability,
            full_action_space=cfg.full_action_space, autoreset_mode=AutoresetMode.SAME_STEP,
            img_height=cfg.screen_size, img_width=cfg.screen_size, grayscale=True, stack_num=cfg.frame_stack,
            frameskip=cfg.frame_skip, maxpool=True, noop_max=cfg.noop_max, reward_clipping=False, use_fire_reset=cfg.fire_reset,
        )
        super().__init__(num_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self.clip = clip_rewards
        self.returns = np.zeros(num_envs, np.float64)
        self.lengths = np.zeros(num_envs, np.int64)
        self._next_seed: int | None = seed

    def reset(self) -> np.ndarray:
        obs, info = self.venv.reset(seed=self._next_seed)
        self._next_seed = None
        self.returns[:] = 0
        self.lengths[:] = 0
        return obs[np.argsort(info["env_id"])]

    def seed(self, seed: int | None = None) -> list[int | None]:
        self._next_seed = seed
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.send(np.asarray(actions, dtype=np.int32).reshape(self.num_envs))

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, reward, terminated, truncated, info = self.venv.recv()
        order = np.argsort(info["env_id"])
        obs, reward, terminated, truncated = obs[order], reward[order].astype(np.float64), terminated[order], truncated[order]
        self.returns += reward
        self.lengths += 1
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i] = {
                "terminal_observation": info["final_obs"][order][i] if "final_obs" in info else obs[i],
                "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                "episode": {"r": float(self.returns[i]), "l": int(self.lengths[i])},
            }
            self.returns[i] = 0
            self.lengths[i] = 0
        learn_reward = np.sign(reward) if self.clip else reward
        return obs, learn_reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name, None)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        raise AttributeError(f"the C++ Atari vector env has no per-env method {method_name}")

    def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))
