"""Every agent on every backbone that fits: trains a few hundred steps on CartPole and on Catch (a
tiny pixel env), checkpoints without pickles, reloads with sandbox.load and acts; resume, time
budget, evaluation and the CLI around them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import sandbox  # noqa: E402
from sandbox.cli import main  # noqa: E402
from sandbox import checkpoint  # noqa: E402
from sandbox.run import load_checkpoint  # noqa: E402


AGENTS = ["ppo", "dqn", "a2c", "reinforce"]
SMALL_BACKBONE = {
    "mlp": ["backbone.hidden=[16,16]"],
    "cnn": ["backbone.channels=[8,8]", "backbone.hidden=32"],
    "rnn": ["backbone.hidden=16", "backbone.frame_embed=16"],
    "transformer": ["backbone.d_model=16", "backbone.layers=1", "backbone.heads=2"],
}
FAST_AGENT = {
    "ppo": ["agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2"],
    "dqn": ["agent.learning_starts=50", "agent.train_freq=16", "agent.gradient_steps=2", "agent.buffer_size=1000"],
    "a2c": ["agent.n_envs=4"],
    "reinforce": ["agent.n_envs=4", "agent.batch_steps=64"],
}
CASES = [(a, "CartPole-v1", b) for a in AGENTS for b in ("mlp", "rnn", "transformer")]
CASES += [(a, "Catch-v0", b) for a in AGENTS for b in ("mlp", "cnn", "rnn", "transformer")]


def overrides(agent: str, env: str, backbone: str, tmp: Path, steps: int = 300, *extra: str) -> list[str]:
    return [f"agent={agent}", f"env={env}", f"backbone={backbone}", f"steps={steps}", f"out={tmp}",
            "wandb.mode=disabled", "agent.eval_every=200", "agent.eval_episodes=2", "agent.eval_video=false",
            *SMALL_BACKBONE[backbone], *FAST_AGENT[agent], *extra]


def assert_no_pickle(run_dir: Path) -> None:
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert f.suffix not in (".pkl", ".pickle", ".pt", ".pth", ".zip"), f
            head = f.read_bytes()[:2]
            assert not (len(head) == 2 and head[0] == 0x80 and head[1] in (2, 3, 4, 5)), f"{f} looks like a pickle"


@pytest.mark.parametrize("agent,env,backbone", CASES)
def test_train_save_reload_act(agent: str, env: str, backbone: str, tmp_path: Path) -> None:
    run = sandbox.train(None, overrides(agent, env, backbone, tmp_path / "run"), progress=False)
    assert run.step >= 300
    rows = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert any("rollout/episodic_return" in r for r in rows)
    assert any("eval/mean_return" in r for r in rows)
    assert (run.dir / "checkpoints" / "best.json").exists()
    assert_no_pickle(run.dir)

    policy = sandbox.load(run.dir, which="latest")
    tensors, _ = load_checkpoint(run.dir, "latest")
    reloaded, _ = checkpoint.encode(policy.saved())
    for name, value in reloaded.items():
        assert np.allclose(value.detach().cpu().numpy(), tensors[name].numpy()), name
    env_ = policy.make_env()
    obs, _ = env_.reset(seed=0)
    for _ in range(5):
        action = policy.act(obs)
        assert env_.action_space.contains(action)
        obs, *_ = env_.step(action)
    result = policy.evaluate(episodes=2)
    assert set(result) == {"mean_return", "std_return", "episodes"} and result["episodes"] == 2


def test_cartpole_rnn_stacks_observations(tmp_path: Path) -> None:
    run = sandbox.train(None, overrides("ppo", "CartPole-v1", "rnn", tmp_path / "r", 64), progress=False)
    cfg = sandbox.load(run.dir).config
    assert cfg.agent.config.frame_stack == 4
    assert sandbox.load(run.dir).observation_space.shape == (4, 4)


@pytest.mark.parametrize("agent", ["ppo", "dqn", "reinforce"])
def test_resume_continues_from_checkpoint(agent: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    sandbox.train(None, overrides(agent, "CartPole-v1", "mlp", out, 256), progress=False)
    run = sandbox.train(None, [f"out={out}", "steps=512"], progress=False)
    assert run.step >= 512
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) >= 512 and min(steps) < 256
    _, state = load_checkpoint(out, "latest")
    if agent != "reinforce":
        assert state["state"]["num_timesteps"] >= 512


def test_dqn_resume_keeps_its_replay_buffer(tmp_path: Path) -> None:
    out = tmp_path / "run"
    sandbox.train(None, overrides("dqn", "CartPole-v1", "mlp", out, 256), progress=False)
    first, state = load_checkpoint(out, "latest")
    n = state["state"]["replay"]["rows"]
    assert n > 200 and first["buffers/replay.observations"].shape[0] == n
    sandbox.train(None, [f"out={out}", "steps=512"], progress=False)
    later, state = load_checkpoint(out, "latest")
    assert state["state"]["replay"]["pos"] > n + 200  # the resumed run added to the old memories
    for name in ("observations", "actions", "rewards", "dones"):
        assert torch.equal(later[f"buffers/replay.{name}"][:n], first[f"buffers/replay.{name}"])


def test_dqn_buffer_over_its_limit_is_left_out_of_checkpoints(tmp_path: Path) -> None:
    out = tmp_path / "run"
    sandbox.train(None, [*overrides("dqn", "CartPole-v1", "mlp", out, 128), "agent.checkpoint_buffer_mb=0"], progress=False)
    tensors, state = load_checkpoint(out, "latest")
    assert "replay" not in state["state"] and not any(k.startswith("buffers/replay.") for k in tensors)


def test_max_minutes_stops_cleanly(tmp_path: Path) -> None:
    run = sandbox.train(None, overrides("ppo", "CartPole-v1", "mlp", tmp_path / "t", 10_000_000, "max_minutes=0.05"), progress=False)
    assert run.stop_reason == "time"
    assert run.step < 10_000_000
    assert sandbox.load(run.dir) is not None


@pytest.mark.parametrize("over", ["steps", "budget"])
def test_linear_schedules_anneal_over_steps_or_the_time_budget(tmp_path: Path, over: str) -> None:
    """agent.anneal_over: with max_minutes and far more steps than the minutes hold, "steps" (SB3's
    way) leaves the learning rate and clip range where they started; "budget" runs them down with
    the time, to what is left of it when each update starts."""
    run = sandbox.train(None, overrides("ppo", "CartPole-v1", "mlp", tmp_path / over, 10_000_000, "max_minutes=0.1",
                                        "agent.learning_rate=0.001", f"agent.anneal_over={over}"), progress=False)
    rows = [r for r in map(json.loads, (run.dir / "metrics.jsonl").read_text().splitlines()) if "train/learning_rate" in r]
    assert len(rows) >= 3 and run.stop_reason == "time"
    last = rows[-1]
    if over == "steps":
        assert last["train/learning_rate"] > 0.99 * 0.001  # 10M steps: a few thousand done are a fraction of a percent
    else:
        assert last["train/learning_rate"] < 0.8 * 0.001  # the last update comes well into the budget
        assert last["train/clip_range"] < 0.8 * 0.2
        assert all(a["train/learning_rate"] >= b["train/learning_rate"] for a, b in zip(rows, rows[1:]))
        assert last["train/learning_rate"] / 0.001 == pytest.approx(last["train/clip_range"] / 0.2, rel=1e-6)


def test_reinforce_anneals_its_learning_rate_over_the_time_budget(tmp_path: Path) -> None:
    """reinforce (our own loop) has agent.anneal_over too: "budget" runs its linear learning rate
    down with max_minutes where 10M steps would leave it where it started."""
    run = sandbox.train(None, overrides("reinforce", "CartPole-v1", "mlp", tmp_path / "r", 10_000_000, "max_minutes=0.1",
                                        "agent.learning_rate=0.01", "agent.batch_steps=500", "agent.anneal_over=budget"), progress=False)
    lrs = [r["train/learning_rate"] for r in map(json.loads, (run.dir / "metrics.jsonl").read_text().splitlines()) if "train/learning_rate" in r]
    assert len(lrs) >= 3 and run.stop_reason == "time"
    assert lrs[-1] < 0.8 * 0.01 and lrs == sorted(lrs, reverse=True)


def test_anneal_over_takes_steps_or_budget(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "agent=ppo", "env=CartPole-v1", "agent.anneal_over=time", f"out={tmp_path / 'x'}", "wandb.mode=disabled"]) == 2
    err = capsys.readouterr().err
    assert "agent.anneal_over" in err and "steps" in err and "budget" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_backbone_that_cannot_read_vectors_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["train", "agent=ppo", "env=CartPole-v1", "backbone=cnn", f"out={tmp_path / 'x'}", "wandb.mode=disabled"])
    assert code == 2
    assert "cnn" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_atari_pong_with_cnn_trains_on_the_cpp_vector_env(tmp_path: Path) -> None:
    run = sandbox.train(None, [
        "agent=ppo", "env=ALE/Pong-v5", "steps=64", f"out={tmp_path / 'pong'}", "wandb.mode=disabled",
        "agent.n_envs=2", "agent.n_steps=16", "agent.batch_size=32", "agent.n_epochs=1", "agent.eval_every=0",
        "backbone.hidden=64",
    ], progress=False)
    policy = sandbox.load(run.dir)
    assert policy.config.backbone.name == "cnn"  # chosen for frames
    assert policy.config.agent.config.clip_reward is True
    env = policy.make_env()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84)
    assert env.action_space.contains(policy.act(obs))


def test_cnn_on_frames_scales_pixels_in_its_first_convolution(tmp_path: Path) -> None:
    """SB3 hands the CNN uint8 frames as floats in [0, 255]; the CNN's features are those of the
    same network on frames divided by 255, as SB3's own normalisation would give."""
    import copy

    from stable_baselines3.common.policies import BasePolicy

    run = sandbox.train(None, overrides("ppo", "Catch-v0", "cnn", tmp_path, 64), progress=False)
    agent = sandbox.load(run.dir)
    policy = agent.model.policy
    assert policy.normalize_images is False
    extractor = policy.pi_features_extractor
    assert extractor.net.input_scale == pytest.approx(1 / 255)
    obs = torch.as_tensor(agent.env.reset())
    assert obs.dtype == torch.uint8 and int(obs.max()) == 255
    reference = copy.deepcopy(extractor.net)
    reference.input_scale = 1.0
    with torch.no_grad():
        torch.testing.assert_close(BasePolicy.extract_features(policy, obs, extractor), reference(obs.float() / 255), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("agent", ["ppo", "dqn"])
def test_bf16_learns_in_bfloat16_and_acts_in_float32(tmp_path: Path, agent: str) -> None:
    """agent.bf16: the backbone's convolutions run in bfloat16 while learning, the features it hands
    the heads are float32, and acting is float32 throughout (the same actions as without it)."""
    run = sandbox.train(None, overrides(agent, "Catch-v0", "cnn", tmp_path, 64) + ["agent.bf16=true"], progress=False)
    assert run.step == 64
    trained = sandbox.load(run.dir)
    policy = trained.model.policy
    extractor = policy.pi_features_extractor if agent == "ppo" else policy.q_net.features_extractor
    assert extractor.bf16
    seen: list[torch.dtype] = []
    conv = [m for m in extractor.net.modules() if isinstance(m, torch.nn.Conv2d)][-1]  # the first is called through its folded weights
    conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    obs = torch.as_tensor(trained.env.reset()).float()
    with torch.enable_grad():
        learning = extractor(obs)
    with torch.no_grad():
        acting = extractor(obs)
    assert seen == [torch.bfloat16, torch.float32]
    assert learning.dtype == acting.dtype == torch.float32
    torch.testing.assert_close(learning, acting, rtol=0.05, atol=0.05)  # the same features, to bfloat16's precision
    plain = sandbox.load(run.dir)
    plain_extractor = plain.model.policy.pi_features_extractor if agent == "ppo" else plain.model.policy.q_net.features_extractor
    plain_extractor.bf16 = False
    frames = trained.env.reset()
    np.testing.assert_array_equal(trained.act_batch(frames), plain.act_batch(frames))


def test_bf16_auto_is_on_where_this_machine_computes_bfloat16_fast(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """agent.bf16=auto (the Atari tuned value of ppo): bfloat16 on a CPU whose flags list AMX or
    AVX512-BF16, float32 on other CPUs; a value other than a bool or auto is one sentence."""
    from sandbox.device import bf16_is_fast

    flags = set()
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags |= set(line.split(":", 1)[1].split())
        assert bf16_is_fast(torch.device("cpu")) == bool(flags & {"amx_tile", "avx512_bf16"})
    assert bf16_is_fast(torch.device("meta")) is False
    run = sandbox.train(None, overrides("ppo", "Catch-v0", "cnn", tmp_path / "auto", 64) + ["agent.bf16=auto"], progress=False)
    assert run.config.agent.config.bf16 == "auto"
    assert sandbox.load(run.dir).model.policy.pi_features_extractor.bf16 == bf16_is_fast(torch.device("cpu"))
    assert main(["train", "agent=ppo", "env=Catch-v0", "agent.bf16=sometimes", f"out={tmp_path / 'bad'}", "wandb.mode=disabled"]) == 2
    err = capsys.readouterr().err
    assert "agent.bf16='sometimes' is not valid" in err and "'auto'" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


def test_ppo_on_atari_takes_bf16_auto_from_its_tuned_values() -> None:
    from sandbox import tuned
    from sandbox.config import from_raw, raw_config

    def agent_of(*overrides: str) -> object:
        raw, _ = tuned.apply(raw_config("ppo-pong", list(overrides)))
        return from_raw(raw).agent.config

    assert agent_of().bf16 == "auto"
    assert agent_of("agent.bf16=false").bf16 is False


def test_frame_rollout_buffer_hands_out_sb3s_minibatches_channels_last() -> None:
    from gymnasium import spaces
    from stable_baselines3.common.buffers import RolloutBuffer

    from sandbox.agents.sb3 import FrameRolloutBuffer

    space, actions = spaces.Box(0, 255, (4, 12, 12), np.uint8), spaces.Discrete(3)
    buffers = [cls(8, space, actions, n_envs=2) for cls in (RolloutBuffer, FrameRolloutBuffer)]
    rng = np.random.default_rng(0)
    for rollout in range(2):  # the second rollout must not be served the first one's frames
        for b in buffers:
            b.reset()
        for _ in range(8):
            step = (rng.integers(0, 256, (2, 4, 12, 12), dtype=np.uint8), rng.integers(0, 3, (2, 1)), rng.normal(size=2).astype(np.float32),
                    np.zeros(2, bool), torch.randn(2), torch.randn(2))
            for b in buffers:
                b.add(*step)
        for b in buffers:
            b.compute_returns_and_advantage(torch.zeros(2), np.zeros(2, bool))
        batches = []
        for b in buffers:
            np.random.seed(rollout)
            batches.append(list(b.get(batch_size=5)))
        assert len(batches[0]) == len(batches[1]) == 4
        for theirs, ours in zip(*batches):
            assert ours.observations.is_contiguous(memory_format=torch.channels_last)
            for a, b in zip(theirs, ours):
                assert torch.equal(a, b)


def test_cli_eval_json_and_record(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import imageio.v3 as iio

    run = sandbox.train(None, overrides("reinforce", "Catch-v0", "cnn", tmp_path / "c", 128), progress=False)
    capsys.readouterr()
    assert main(["eval", str(run.dir), "--episodes", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 3 and {"mean_return", "std_return"} <= set(result)
    for name in ("catch.gif", "catch.mp4"):
        assert main(["play", str(run.dir), "--record", str(tmp_path / name), "--episodes", "2"]) == 0
        frames = iio.imread(tmp_path / name, index=None)
        assert len(frames) >= 2 * 9 and frames.shape[-1] == 3
        assert frames.reshape(len(frames), -1).std(axis=1).max() > 0  # pictures, not blank frames
    capsys.readouterr()
    assert main(["play", str(run.dir), "--record", str(tmp_path / "one.gif"), "--episodes", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("played 2 episodes: score ") and line.endswith(f"recorded to {tmp_path / 'one.gif'}")
    assert main(["play", str(run.dir), "--record", str(tmp_path / "one.gif"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["episodes"] == 1


def test_demo_preset_trains_and_records_an_episode(tmp_path: Path) -> None:
    import imageio.v3 as iio

    run = sandbox.train("demo-cartpole", ["steps=256", f"out={tmp_path / 'demo'}", "agent.eval_every=128", "agent.eval_episodes=2"], progress=False)
    media = sandbox.load(run.dir).demo_media(run)
    assert len(media) == 1 and media[0].parent == run.media_dir
    frames = iio.imread(media[0], index=None)
    assert len(frames) >= 8 and frames.shape[-1] == 3
    videos = sorted(run.media_dir.glob("eval-*.mp4"))
    assert videos, "an evaluation video is recorded at the last evaluation"


def test_target_return_stops_training_early(tmp_path: Path) -> None:
    run = sandbox.train(None, overrides("ppo", "Catch-v0", "mlp", tmp_path / "t", 100_000, "agent.target_return=-1.0"), progress=False)
    assert run.step < 100_000
    assert run.best_score is not None and run.best_score >= -1.0


def test_play_in_a_window_headless(tmp_path: Path) -> None:
    run = sandbox.train(None, overrides("ppo", "Catch-v0", "mlp", tmp_path / "w", 64), progress=False)
    result = sandbox.load(run.dir).play(episodes=1)
    assert result["episodes"] == 1 and result["scores"][0] in (-1.0, 1.0)
