"""What the single-agent RL agents share: the envs they learn on, evaluation, play and recording.

PPO, DQN and A2C (stable-baselines3, agents/sb3.py) and REINFORCE (agents/reinforce.py) all:

- learn on a stable-baselines3 ``VecEnv``: for Atari the C++ vector env of ale-py
  (``sandbox.envs.atari_vector.AtariVecEnv``), otherwise Gymnasium envs in a ``DummyVecEnv`` with ``VecMonitor``, so
  each finished episode's true return is in ``info["episode"]["r"]``;
- read observations through a sandbox backbone chosen by :func:`observation_spec`. A vector
  observation with ``frame_stack`` K > 1 becomes a K×D sequence (the last K observations), which is
  what the rnn backbone needs (CartPole with rnn stacks 4 by default);
- evaluate deterministically on ``eval_episodes`` episodes in parallel envs, play in a pygame
  window at the game's speed with the score on screen, or record the same pictures to .mp4/.gif.

With ``max_minutes``, the closing evaluation and its video fit inside the budget: training stops
early enough to hold them (the time the last evaluation and video took, or a quarter of the budget
before any was timed), and each evaluation and video is cut at the run's closing deadline. A cut
evaluation logs ``eval/episodes`` (the episodes it finished) and scores no checkpoint; a cut video
logs ``eval/video_steps``, a skipped one ``eval/video_skipped``; each says so in one line.

Evaluations and videos are scheduled by env steps and run inside
:func:`~sandbox.device.isolated_rng` (their envs have their own seeds): training's random stream
is the same whether they ran, were cut short or were skipped, so the same seed and config give the
same run.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from sandbox.config import RunConfig, option, to_dict
from sandbox.device import isolated_rng, set_threads
from sandbox.errors import ConfigError
from sandbox.plugin import Agent

if TYPE_CHECKING:
    from sandbox.backbones.base import InputSpec
    from sandbox.run import Run


@dataclass
class RLConfig:
    """Fields every single-agent RL agent has (each agent adds its own)."""

    n_envs: int = option(8, "envs stepped together", low=1, high=1024)
    frame_stack: int = option(0, "vector observations: read the last K as a K×D sequence (0: auto, 4 for rnn, else 1)", low=0)
    clip_reward: bool | None = option(None, "clip rewards to their sign for learning only (null: on for Atari)")
    eval_every: int = option(25_000, "evaluate every this many env steps (0: never); the best checkpoint is the best evaluation", low=0)
    eval_episodes: int = option(10, "episodes per evaluation", low=1)
    eval_video: bool = option(True, "record gameplay videos to media/ (and W&B) at evaluations")
    eval_video_every: int = option(4, "record a video at every Nth evaluation and at the last one", low=1)
    target_return: float | None = option(None, "stop training once an evaluation's mean return reaches this (null: never)")
    video_max_steps: int = option(5_000, "at most this many agent steps in an evaluation video", low=0)
    anneal_over: Literal["steps", "budget"] = option(
        "steps", "what linear schedules (learning rate, PPO's clip range, DQN's exploration) run down over: steps (the run's steps, "
                 "as RL Zoo), or budget (steps or max_minutes, whichever ends first: a max_minutes run anneals to its end)")
    torch_threads: int = option(1, "torch CPU threads (0: the process's own count before any run set one); small networks run fastest on one", low=0, high=256,
                                resumable=True)

    def validate(self) -> None:
        if self.n_envs < 1 or self.frame_stack < 0 or self.eval_every < 0 or self.eval_episodes < 1 or self.torch_threads < 0 or self.eval_video_every < 1:
            raise ConfigError("agent.n_envs and agent.eval_episodes must be ≥ 1, agent.frame_stack and agent.eval_every ≥ 0.")


# -- envs -----------------------------------------------------------------------------------------
def env_factory(config: RunConfig) -> tuple[Any, dict[str, Any]]:
    """The registered factory of the run's env and its keyword arguments."""
    from sandbox.registry import envs

    if config.env is None:
        raise ConfigError(f"agent={config.plugin.name} needs an env; add env=CartPole-v1 (or ALE/Pong-v5, Catch-v0).")
    factory = envs.get(config.env.name).load()
    kwargs = config.env.config if isinstance(config.env.config, dict) else to_dict(config.env.config)
    return factory, dict(kwargs or {})


def is_atari(config: RunConfig) -> bool:
    """True when the run's env is one of the Atari games registered by envs/atari.py."""
    from sandbox.envs.atari import AtariGame

    return isinstance(env_factory(config)[0], AtariGame)


def frame_stacked(config: RunConfig) -> bool:
    """True when the env's image observations are stacks of consecutive frames (Atari, Catch)."""
    return bool(getattr(env_factory(config)[0], "observation_is_frame_stack", False))


def observation_shape(config: RunConfig) -> tuple[int, ...]:
    """The shape of the env's own observations (before any stacking by the agent)."""
    factory, kwargs = env_factory(config)
    env = factory(**kwargs)
    shape = tuple(env.observation_space.shape or ())
    env.close()
    return shape


def make_env(config: RunConfig, render_mode: str | None = None) -> Any:
    """One Gymnasium env of the run, as the agent reads it (stacked when ``frame_stack`` > 1)."""
    from gymnasium.wrappers import FrameStackObservation

    factory, kwargs = env_factory(config)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    try:
        env = factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"env={config.env.name} does not take these settings ({str(exc).splitlines()[0][:160]}).") from None
    k = config.plugin.config.frame_stack
    if k > 1 and len(env.observation_space.shape or ()) == 1:
        env = FrameStackObservation(env, k)
    return env


def make_vec_env(config: RunConfig, n_envs: int, seed: int, training: bool = True) -> Any:
    """A stable-baselines3 VecEnv of ``n_envs`` envs; rewards clipped only when training with clip_reward."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    cfg = config.plugin.config
    clip = bool(cfg.clip_reward) and training
    factory, kwargs = env_factory(config)
    from sandbox.envs.atari import AtariConfig, AtariGame

    if isinstance(factory, AtariGame):
        from sandbox.envs.atari_vector import AtariVecEnv

        return AtariVecEnv(factory.game, n_envs, AtariConfig(**kwargs), seed=seed, clip_rewards=clip)
    venv = DummyVecEnv([lambda: make_env(config) for _ in range(n_envs)])
    venv.seed(seed)
    venv = VecMonitor(venv)
    if clip:
        from stable_baselines3.common.vec_env import VecEnvWrapper

        class ClipReward(VecEnvWrapper):
            def reset(self) -> Any:
                return self.venv.reset()

            def step_wait(self) -> Any:
                obs, reward, done, infos = self.venv.step_wait()
                return obs, np.sign(reward).astype(np.float32), done, infos

        venv = ClipReward(venv)
    return venv


def observation_spec(config: RunConfig, observation_space: Any) -> InputSpec:
    """The backbone input of the run's observations: vector, K×D sequence, or (frame-stacked) image."""
    from sandbox.backbones.base import InputSpec

    return InputSpec.from_shape(tuple(observation_space.shape), frame_stack=frame_stacked(config))


# -- evaluation, play, recording ------------------------------------------------------------------
def run_episodes(act_batch: Callable[[np.ndarray], np.ndarray], config: RunConfig, episodes: int, seed: int,
                 deadline: float | None = None) -> list[float]:
    """True returns of ``episodes`` episodes played by ``act_batch`` in up to 16 parallel envs;
    with a ``deadline`` (a ``time.time()``), only those finished by then (maybe fewer, or none)."""
    n = min(episodes, 16)
    venv = make_vec_env(config, n, seed=seed, training=False)
    quota = [episodes // n + (i < episodes % n) for i in range(n)]
    returns: list[list[float]] = [[] for _ in range(n)]
    obs = venv.reset()
    while any(len(r) < q for r, q in zip(returns, quota)):
        if deadline is not None and time.time() >= deadline:
            break
        obs, _, _, infos = venv.step(act_batch(obs))
        for i, info in enumerate(infos):
            if "episode" in info and len(returns[i]) < quota[i]:
                returns[i].append(float(info["episode"]["r"]))
    venv.close()
    return [r for rs in returns for r in rs]


def cut_at(env: Any, deadline: float) -> Any:
    """``env`` with its episodes truncated once ``time.time()`` passes ``deadline``; the wrapper
    counts the steps played (``.steps``) and says whether it cut one (``.cut``)."""
    import gymnasium

    class CutAt(gymnasium.Wrapper):
        steps, cut = 0, False

        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.steps += 1
            if not (terminated or truncated) and time.time() >= deadline:
                self.cut, truncated = True, True
            return obs, reward, terminated, truncated, info

    return CutAt(env)


#: share of the time left for a closing video that goes to playing; the rest is encoding
VIDEO_PLAY_SHARE = 0.6
#: a closing video with less time than this left is skipped
VIDEO_MIN_SECONDS = 1.0


class RLAgent(Agent):
    """Base of the single-agent RL agents: env building, evaluation, play, recording, demo media."""

    default_backbone = "mlp"

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        if self.device.type == "cpu":
            set_threads(self.cfg.torch_threads)

    @classmethod
    def default_backbone_for(cls, config: RunConfig) -> str | None:
        """cnn for image observations (Atari, Catch), mlp otherwise."""
        return "cnn" if len(observation_shape(config)) == 3 else "mlp"

    @classmethod
    def complete_config(cls, config: RunConfig) -> RunConfig:
        """Fill in the default backbone, frame_stack (4 for rnn on vectors, else 1) and reward
        clipping (on for Atari), so that the saved config says what ran."""
        config = super().complete_config(config)
        cfg = config.plugin.config
        if cfg.clip_reward is None:
            cfg.clip_reward = is_atari(config)
        if cfg.frame_stack == 0:
            vector = len(observation_shape(config)) == 1
            cfg.frame_stack = 4 if (vector and config.backbone is not None and config.backbone.name == "rnn") else 1
        return config

    # the agent's policy on a batch of observations (each agent implements it)
    def act_batch(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        raise NotImplementedError

    def act(self, observation: Any, action_mask: Any = None, deterministic: bool = True) -> Any:
        """The action for one observation of ``self.make_env()`` (or a batch of them)."""
        obs = np.asarray(observation)
        single = obs.shape == tuple(self.observation_space.shape)
        actions = self.act_batch(obs[None] if single else obs, deterministic)
        return int(actions[0]) if single else actions

    def make_env(self, render_mode: str | None = None) -> Any:
        """One env as this agent reads it (frame-stacked where the config says so)."""
        return make_env(self.config, render_mode)

    def evaluate(self, episodes: int | None = None, seed: int | None = None, **options: Any) -> dict[str, Any]:
        """Deterministic play on ``episodes`` episodes: mean and std of the true returns."""
        n = episodes or self.cfg.eval_episodes
        returns = run_episodes(lambda o: self.act_batch(o, True), self.config, n, seed=self.eval_seed if seed is None else seed)
        return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": n}

    #: evaluations done by this process; True once an evaluation reached ``target_return``
    evaluations = 0
    reached_target = False
    #: the env step of this process's last evaluation (-1: none yet)
    last_eval_step = -1
    #: seconds the last (whole) evaluation and the last whole video took, when timed
    eval_seconds: float | None = None
    video_seconds: float | None = None
    _reserved = False

    @property
    def eval_seed(self) -> int:
        """The seed of every evaluation's envs (the same episodes each time, apart from training's)."""
        return 10_000 + self.config.seed

    # -- the evaluation schedule: every eval_every env steps, and once more when the run ends ------------
    def next_eval_after(self, step: int) -> int | None:
        """The first multiple of ``eval_every`` past ``step`` (None when evaluation is off)."""
        every = self.cfg.eval_every
        return (step // every + 1) * every if every else None

    def evaluate_or_checkpoint(self, run: Run, next_eval: int | None) -> int | None:
        """Evaluate (and checkpoint) once ``run.step`` reaches ``next_eval``, else checkpoint when
        due; returns the next evaluation's step."""
        if not self._reserved:
            self._reserved = True
            run.reserve_for_closing(self.closing_seconds(run))
        if next_eval is not None and run.step >= next_eval:
            self.evaluate_and_checkpoint(run, seed=self.eval_seed, last=run.step >= self.config.steps)
            return self.next_eval_after(run.step)
        if run.checkpoint_due():
            run.checkpoint(self)
        return next_eval

    def evaluate_at_end(self, run: Run) -> None:
        """The closing evaluation, unless the run was interrupted, reached its target, or has just been evaluated (whole)."""
        if self.cfg.eval_every and self.last_eval_step != run.step and not run.interrupted and not self.reached_target:
            self.evaluate_and_checkpoint(run, seed=self.eval_seed, last=True)

    def closing_seconds(self, run: Run) -> float:
        """The time to keep for the closing evaluation, its video and checkpoint: what the last
        ones took (a video not yet timed: three rounds of the evaluation's parallel episodes), or,
        before any evaluation was timed, a quarter of ``max_minutes`` (at most 5 minutes)."""
        if not self.cfg.eval_every or run.config.max_minutes is None:
            return 0.0
        if self.eval_seconds is None:
            return min(0.25 * run.config.max_minutes * 60.0, 300.0)
        seconds = self.eval_seconds + run.checkpoint_seconds
        if self.cfg.eval_video:
            rounds = -(-self.cfg.eval_episodes // min(self.cfg.eval_episodes, 16))
            seconds += self.video_seconds if self.video_seconds is not None else 3.0 * self.eval_seconds / rounds
        return 1.2 * seconds

    def evaluate_and_checkpoint(self, run: Run, seed: int, last: bool = False) -> float | None:
        """Evaluate, log ``eval/*``, record a video at every ``eval_video_every``-th (and the last)
        evaluation, and checkpoint (the best checkpoint is the best evaluation). With
        ``max_minutes``, the evaluation and video end by the run's closing deadline: a cut
        evaluation logs ``eval/episodes`` and scores no checkpoint (its mean, None when no
        episode finished, is returned)."""
        with run.aside():
            return self._evaluate_and_checkpoint(run, seed, last)

    def _evaluate_and_checkpoint(self, run: Run, seed: int, last: bool) -> float | None:
        n = self.cfg.eval_episodes
        deadline = self._deadline(run, last)
        t = time.time()
        if deadline is not None and t >= deadline:
            returns: list[float] = []
        else:
            with isolated_rng():
                returns = run_episodes(lambda o: self.act_batch(o, True), self.config, n, seed=seed, deadline=deadline)
        cut = len(returns) < n
        if not cut:  # a cut evaluation on the way leaves the closing one to be done
            self.eval_seconds = time.time() - t
            self.last_eval_step = run.step
        self.evaluations += 1
        mean = float(np.mean(returns)) if returns else None
        metrics: dict[str, Any] = {}
        if mean is not None:
            metrics.update({"eval/mean_return": mean, "eval/std_return": float(np.std(returns))})
        if cut:
            metrics["eval/episodes"] = len(returns)
            print(f"{'closing ' if last else ''}evaluation cut to {len(returns)} of {n} episodes to end within max_minutes", file=sys.stderr)
        run.log(metrics)
        target = self.cfg.target_return
        if target is not None and not cut and mean is not None and mean >= target:
            self.reached_target = True
            last = True
        if self.cfg.eval_video and (last or self.evaluations % self.cfg.eval_video_every == 0):
            self.record_eval_video(run, seed, last)
        run.checkpoint(self, score=None if cut else mean)
        run.reserve_for_closing(self.closing_seconds(run))
        return mean

    def record_eval_video(self, run: Run, seed: int, last: bool) -> Path | None:
        """Record one episode to media/ and log it; with ``max_minutes``, shortened to end by the
        run's closing deadline (``eval/video_steps``), or skipped when under a second is left
        for it (``eval/video_skipped``). Never a half-written file: videos are written whole."""
        path = run.media_dir / f"eval-step-{run.step:09d}.mp4"
        deadline = self._deadline(run, last)
        what = "closing video" if last else "evaluation video"
        t = time.time()
        if deadline is not None and deadline - t < VIDEO_MIN_SECONDS:
            run.log({"eval/video_skipped": 1})
            print(f"{what} skipped: {max(0.0, deadline - t):.1f} s of max_minutes left for it", file=sys.stderr)
            return None
        # playing gets a share of the time left; writing the file (encoding every picture) the rest
        play_until = None if deadline is None else t + VIDEO_PLAY_SHARE * (deadline - t)
        with isolated_rng():
            result = self.play(1, record=path, max_steps=self.cfg.video_max_steps, seed=seed, deadline=play_until)
        if "cut_at_step" in result:
            run.log({"eval/video_steps": result["cut_at_step"]})
            print(f"{what} cut at {result['cut_at_step']} steps to end within max_minutes", file=sys.stderr)
        else:
            self.video_seconds = time.time() - t
        run.log_video("charts/video", path)
        return path

    def _deadline(self, run: Run, last: bool) -> float | None:
        """When an evaluation must end: the run's closing deadline (on the way, less the time
        reserved for the closing evaluation), less the evaluation's own checkpoint."""
        deadline = run.closing_deadline(closing=last)
        return None if deadline is None else deadline - run.checkpoint_seconds

    def play(self, episodes: int = 1, record: Path | None = None, human: bool = False, max_steps: int | None = None,
             seed: int | None = None, deadline: float | None = None) -> dict[str, Any]:
        """Play ``episodes`` in a pygame window at the game's speed (score on screen), or record
        them to ``record`` (.mp4 or .gif). ``human``: a person plays the env instead.
        ``deadline`` (a ``time.time()``): the episode playing then is cut there, and the result
        says at which step (``cut_at_step``)."""
        if human:
            from sandbox.registry import envs

            factory, _ = env_factory(self.config)
            play_human = envs.provided(self.config.env.name, "play_human") or getattr(factory, "play_human", None)
            if play_human is None:
                raise ConfigError(f"the env {self.config.env.name} has no human play; try ALE/Pong-v5.")
            return play_human(self.config.env.name, episodes=episodes, record=record)
        from sandbox.envs.window import watch_episodes

        caption = f"sandbox: {self.config.plugin.name} plays {self.config.env.name}"
        env = self.make_env(render_mode="rgb_array")
        if deadline is not None:
            env = cut_at(env, deadline)
        result = watch_episodes(env, self.act, episodes, record, caption, max_steps=max_steps,
                                seed=self.config.seed + 20_000 if seed is None else seed)
        if deadline is not None and env.cut:
            result["cut_at_step"] = env.steps
        return result

    # -- export (sandbox export --format onnx / sb3) -----------------------------------------------------
    def sample_observations(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` observations of the agent's env (as :meth:`make_env` gives them) met by random play."""
        env = self.make_env()
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        seen = []
        while len(seen) < n:
            seen.append(np.asarray(obs))
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                obs, _ = env.reset()
        env.close()
        return np.stack(seen)

    def observation_doc(self) -> str:
        """How an exported policy's input is made: the env, its settings, the agent's stacking."""
        from sandbox.registry import envs

        name = self.config.env.name
        _, kwargs = env_factory(self.config)
        entry = envs.find(name)
        about = f" ({entry.description.rstrip('.')})" if entry is not None and entry.description else ""
        settings = f" with the settings {kwargs}" if kwargs else ""
        space = self.observation_space
        k = self.cfg.frame_stack
        stacked = f", the last {k} of them stacked (gymnasium's FrameStackObservation)" if k > 1 and len(observation_shape(self.config)) == 1 else ""
        return (f"The observation of {name}{about} as the sandbox's env gives it (sandbox.make_env({name!r}){settings}){stacked}: "
                f"shape {tuple(space.shape)}, dtype {space.dtype}.")

    def demo_media(self, run: Run) -> list[Path]:
        """A recorded episode of the trained agent in the run's media folder."""
        path = Path(run.media_dir) / "demo-episode.mp4"
        self.play(1, record=path, max_steps=self.cfg.video_max_steps)
        return [path]
