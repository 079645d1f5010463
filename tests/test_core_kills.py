"""Kills planted in every write window (sandbox/faults.py), then resume.

Each case runs ``sandbox train`` in a fresh process with ``SANDBOX_FAULT`` naming a kill point
(the process SIGKILLs itself there: the test checks it died of it, so no case passes by missing
its window), then ``sandbox train out=DIR`` with no other key, as a person would after a crash.
The run must finish; ``metrics.jsonl`` must hold whole rows whose steps never go backwards; every
checkpoint in checkpoints/ must load, and the run with it; no temporary file may be left.

The core's points (config.yaml, run.json, checkpoint tensors, JSON and pointers, metrics rows,
the rewrite of metrics.jsonl on resume) run on the tests' tiny plugin, which starts in about three
seconds; each kind of plugin (an SB3 agent, REINFORCE, AlphaZero, a diffusion model with its
pipeline export) then gets the windows that its own loop reaches.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import checkpoint
from sandbox.faults import ENV
from sandbox.run import load_checkpoint, read_pointer

TINY = ["model=tiny/regress", "backbone.hidden=[8]", "steps=30", "model.checkpoint_every=10"]
RL = ["env=CartPole-v1", "backbone=mlp", "backbone.hidden=[16]", "agent.eval_episodes=2", "agent.eval_video=false"]
PLUGINS = {
    "ppo": ["agent=ppo", *RL, "steps=256", "agent.eval_every=128", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64",
            "agent.n_epochs=1"],
    "reinforce": ["agent=reinforce", *RL, "steps=256", "agent.eval_every=128", "agent.n_envs=4", "agent.batch_steps=64"],
    "alphazero": ["agent=alphazero", "env=tictactoe", "backbone=mlp", "backbone.hidden=[16]", "steps=64", "agent.simulations=4",
                  "agent.games=4", "agent.batch_size=16", "agent.min_buffer=16", "agent.eval_games=2", "agent.eval_simulations=4",
                  "agent.eval_opponents=[random]", "agent.eval_every=32", "agent.log_every=8"],
    # Go with the ownership head and the convolutional heads
    "alphazero-go": ["agent=alphazero", "env=go9", "backbone.channels=[8]", "backbone.residual_blocks=1", "backbone.hidden=16",
                     "steps=96", "agent.simulations=4", "agent.gumbel_actions=4", "agent.games=4", "agent.batch_size=16",
                     "agent.min_buffer=16", "agent.eval_games=2", "agent.eval_simulations=4", "agent.eval_every=48",
                     "agent.log_every=8", "agent.actors=0", "agent.ownership=1", "agent.policy_head=conv"],
    "ddpm": ["model=ddpm", "data=digits", "backbone=cnn", "backbone.channels=[8,16]", "steps=4", "model.batch=8", "model.grid=4",
             "model.log_every=1", "model.sample_every=0", "model.eval_every=0", "model.timesteps=10", "model.sample_batch=4",
             "model.eval_steps=2"],
}

#: (plugin, kill points): the first process is killed at the first point, each resume after it at the next,
#: and a last resume runs clean; ``NAME@N`` kills at the N-th pass (a new run's ``@2``: the first checkpoint after step 0's)
CASES: list[tuple[str, list[str]]] = [
    ("tiny", ["run-dir:created",  # an empty folder: the first command again starts afresh
              "config.yaml:half-written",  # the folder holds only a temporary file: it starts afresh too
              "config.yaml:written",
              "config.yaml:renamed",  # a whole config.yaml and nothing else: out=DIR resumes it from step 0
              "run.json:half-written",
              "step.safetensors:half-written"]),  # the step-0 checkpoint, before any pointer
    ("tiny", ["step.safetensors:written@2",  # the step-10 checkpoint; each resume below (from step 0) dies in its first one
              "step.safetensors:renamed",
              "step.json:written",
              "latest.json:written",
              "checkpoint:pair-written"]),
    ("tiny", ["metrics.jsonl:half-row@15",  # a torn row...
              "metrics.jsonl:written",  # ...then a kill while the resume rewinds metrics.jsonl
              "checkpoint:pointed@2"]),
    ("tiny", ["best.json:half-written", "run.json:half-written@2"]),  # the closing status, after the last checkpoint
    ("ppo", ["checkpoint:pair-written@2", "metrics.jsonl:half-row@2", "run.json:half-written@2"]),  # then closed by a resume
    ("reinforce", ["step.safetensors:written@2"]),
    ("alphazero", ["checkpoint:pointed@2"]),
    ("alphazero-go", ["step.safetensors:written@2", "checkpoint:pair-written@2"]),
    ("ddpm", ["pipeline:removed"]),  # the old pipeline deleted, the new one still in pipeline.tmp (the widest of the two windows)
]


def train(args: list[str], fault: str | None, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    env.pop(ENV, None)
    if fault is not None:
        env[ENV] = fault
    return subprocess.run([sys.executable, "-m", "sandbox", "train", *args, "--no-progress"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def check_finished(d: Path) -> None:
    """The run finished, with whole metrics rows whose steps never go back, loadable checkpoints, no temporary files."""
    info = json.loads((d / "run.json").read_text())
    latest = read_pointer(d, "latest")
    assert latest is not None and latest["step"] > 0
    lines = (d / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]  # every row whole
    assert steps and steps == sorted(steps), f"steps go backwards: {steps}"
    assert steps[-1] <= latest["step"]
    for tensors_file in sorted((d / "checkpoints").glob("step-*.safetensors")):
        checkpoint.read(tensors_file.with_suffix(""))
    for which in ("latest", "best"):
        if read_pointer(d, which) is not None:
            assert load_checkpoint(d, which) is not None
    left = [str(p.relative_to(d)) for p in d.rglob("*") if ".tmp" in p.name]
    assert not left, f"temporary files left: {left}"
    assert info["status"] == "finished", info  # also where the kill came after the last checkpoint: the resume closed it


def again_args(d: Path, args: list[str]) -> list[str]:
    """What a person types after the crash: ``out=DIR`` alone resumes a run; before config.yaml was
    whole there is no run to resume, and the first command again starts it afresh in the same folder."""
    return [f"out={d}"] if (d / "config.yaml").exists() else args


@pytest.mark.parametrize("plugin,faults", CASES, ids=[f"{p}-{f[0]}" for p, f in CASES])
def test_a_kill_in_a_write_window_then_resume(tmp_path: Path, plugin: str, faults: list[str]) -> None:
    d = tmp_path / "run"
    args = [*(TINY if plugin == "tiny" else PLUGINS[plugin]), "wandb.mode=disabled", f"out={d}"]
    first = train(args, faults[0], tmp_path)
    assert first.returncode == -signal.SIGKILL, f"the planted kill {faults[0]} was not reached:\n{first.stderr[-2000:]}"
    for fault in faults[1:]:  # a resume killed in its own window
        again = train(again_args(d, args), fault, tmp_path)
        assert again.returncode == -signal.SIGKILL, f"the planted kill {fault} was not reached:\n{again.stderr[-2000:]}"
    resumed = train(again_args(d, args), None, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Traceback" not in resumed.stderr
    check_finished(d)
    if plugin == "ddpm":
        assert (d / "pipeline" / "model_index.json").is_file()
    import sandbox

    agent = sandbox.load(d)  # the run itself loads from what was kept
    if plugin == "alphazero-go":  # (its games, of about 120 moves in 4 lockstep, have not ended: the buffer is still empty)
        agent = sandbox.load(d, which="latest")
        assert agent.net.spatial and agent.net.ownership is not None and agent.buffer.o is not None
