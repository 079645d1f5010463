"""max_minutes is a promise for the whole run: the closing evaluation and video (agents), the closing
evaluation games (AlphaZero) and the closing sample grid (generative models) are cut to fit inside
it, say what was cut in a metric, and leave a loadable last checkpoint and no half-written file.

Each run here asks for closing work far longer than its budget. The wall time is measured, but the
tests assert on what was cut; the time check has a generous margin and is only a behaviour check."""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest  # noqa: E402

import sandbox  # noqa: E402
from sandbox.run import load_checkpoint, read_pointer  # noqa: E402
from sandbox.tracking import read_metrics  # noqa: E402

BUDGET_MINUTES = 0.1
#: the closing work asked for takes minutes; an uncut run would overrun by far more than this
MARGIN_SECONDS = 15.0


def timed_train(overrides: list[str]) -> tuple[sandbox.run.Run, float]:
    t = time.time()
    run = sandbox.train(None, [*overrides, f"max_minutes={BUDGET_MINUTES}", "wandb.mode=disabled"], progress=False)
    return run, time.time() - t


def assert_whole_and_loadable(run_dir: Path) -> None:
    latest = read_pointer(run_dir, "latest")
    assert latest is not None and load_checkpoint(run_dir, "latest") is not None
    assert sandbox.load(run_dir, which="latest") is not None
    leftovers = [p for p in run_dir.rglob("*") if ".tmp-" in p.name]
    assert not leftovers, leftovers


def test_agent_closing_evaluation_is_cut_and_its_video_skipped_to_fit(tmp_path: Path) -> None:
    # an untrained CartPole policy: 50 000 closing episodes take a minute or more
    run, wall = timed_train(["agent=ppo", "env=CartPole-v1", "backbone=mlp", "backbone.hidden=[16,16]", "steps=100000000",
                             "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=1",
                             "agent.eval_every=1000000000", "agent.eval_episodes=50000", "agent.eval_video=true",
                             f"out={tmp_path / 'ppo'}"])
    assert run.stop_reason == "time" and run.step > 0
    rows = read_metrics(run.dir)
    cut = [r for r in rows if "eval/episodes" in r]
    assert len(cut) == 1 and cut[0]["eval/episodes"] < 50000
    assert any("eval/video_skipped" in r or "eval/video_steps" in r for r in rows)
    assert read_pointer(run.dir, "best") is None  # a cut evaluation scores no checkpoint
    assert_whole_and_loadable(run.dir)
    assert wall < BUDGET_MINUTES * 60 + MARGIN_SECONDS, wall


def test_agent_video_is_cut_at_its_deadline_and_written_whole(tmp_path: Path) -> None:
    run = sandbox.train(None, ["agent=ppo", "env=CartPole-v1", "backbone=mlp", "backbone.hidden=[8]", "steps=64",
                               "agent.n_envs=2", "agent.n_steps=32", "agent.batch_size=32", "agent.eval_every=0",
                               "wandb.mode=disabled", f"out={tmp_path / 'r'}"], progress=False)
    agent = sandbox.load(run.dir)
    path = tmp_path / "cut.mp4"
    result = agent.play(1, record=path, max_steps=500, seed=0, deadline=time.time())
    assert result["cut_at_step"] == 1
    import imageio.v2 as imageio

    assert len(imageio.mimread(path)) >= 1
    assert "cut_at_step" not in agent.play(1, record=tmp_path / "whole.mp4", max_steps=3, seed=0)


def test_agent_without_max_minutes_evaluates_in_full(tmp_path: Path) -> None:
    run = sandbox.train(None, ["agent=ppo", "env=CartPole-v1", "backbone=mlp", "backbone.hidden=[8]", "steps=64",
                               "agent.n_envs=2", "agent.n_steps=32", "agent.batch_size=32", "agent.eval_every=1000",
                               "agent.eval_episodes=3", "agent.eval_video=true", "wandb.mode=disabled", f"out={tmp_path / 'r'}"],
                        progress=False)
    rows = read_metrics(run.dir)
    assert [r for r in rows if "eval/mean_return" in r] and not [r for r in rows if any(k.startswith("eval/") and k not in
                                                                                      ("eval/mean_return", "eval/std_return") for k in r)]
    assert list((run.dir / "media").glob("eval-step-*.mp4")) and read_pointer(run.dir, "best") is not None


def test_alphazero_evaluation_games_are_cut_to_fit(tmp_path: Path) -> None:
    # 2000 Connect Four games against a 50-simulation search, at the start and at the end: minutes of play
    run, wall = timed_train(["agent=alphazero", "env=connect_four", "backbone=mlp", "backbone.hidden=[16]", "steps=100000000",
                             "agent.simulations=4", "agent.games=8", "agent.batch_size=16", "agent.min_buffer=16", "agent.actors=0",
                             "agent.eval_games=2000", "agent.eval_simulations=4", "agent.eval_opponents=[mcts:50]",
                             "agent.log_seconds=0", f"out={tmp_path / 'az'}"])
    assert run.stop_reason == "time"
    rows = read_metrics(run.dir)
    cut = [r["eval/games"] for r in rows if "eval/games" in r]
    assert cut and all(n < 2000 for n in cut)
    assert_whole_and_loadable(run.dir)
    assert wall < BUDGET_MINUTES * 60 + MARGIN_SECONDS, wall


@pytest.fixture
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SANDBOX_CACHE", str(tmp_path_factory.getbasetemp() / "sandbox-cache"))


def test_generative_closing_sample_grid_is_cut_to_fit(tmp_path: Path, cache: None) -> None:
    # 4096 images of 1000 ancestral steps each on a UNet: far more than the budget
    run, wall = timed_train(["model=ddpm", "data=digits", "backbone=cnn", "backbone.channels=[8,16]", "backbone.hidden=32",
                             "steps=100000000", "model.batch=16", "model.sample_every=0", "model.eval_every=0",
                             "model.grid=4096", "model.eval_sampler=ddpm", "model.eval_steps=1000", "model.sample_batch=512",
                             "model.export_pipeline=false", f"out={tmp_path / 'ddpm'}"])
    assert run.stop_reason == "time"
    rows = read_metrics(run.dir)
    assert any(r.get("charts/samples_in_grid", 4096) < 4096 or "charts/samples_skipped" in r for r in rows)
    assert_whole_and_loadable(run.dir)
    assert wall < BUDGET_MINUTES * 60 + MARGIN_SECONDS, wall
