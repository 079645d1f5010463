"""Several processes training one generative run under ``accelerate launch`` (gloo on the CPU):
one run directory, one set of checkpoints, metrics written once, the effective batch recorded,
resume with two processes, and agents refused in one sentence."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
                                reason="accelerate's launcher is not installed")

TINY = ["ddpm-digits", "device=cpu", "model.batch=8", "model.log_every=1", "model.sample_every=0", "model.eval_every=0",
        "model.grid=4", "wandb.mode=disabled"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(*args: str, cwd: Path, processes: int = 2) -> subprocess.CompletedProcess[str]:
    """``accelerate launch --multi_gpu --num_processes N -m sandbox train ...``: accelerate 1.x starts
    several CPU processes through torchrun only with --multi_gpu (--cpu alone starts one)."""
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", str(processes),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), "-m", "sandbox", "train", *args, "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_two_processes_train_one_run_and_resume(tmp_path: Path) -> None:
    r = launch(*TINY, "steps=12", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs  # the default name (a timestamp) chosen by the main process, followed by the other
    run = runs[0]
    assert r.stdout.count("run: ") == 1 and "effective batch 16 (model.batch=8 per process × 2)" in r.stderr
    info = json.loads((run / "run.json").read_text())
    assert info["processes"] == 2 and info["effective_batch"] == 16 and info["status"] == "finished"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.json", "step-000000000012.json", "step-000000000012.safetensors"]
    assert not list(run.glob("**/*.tmp-*"))
    first = rows(run)
    assert first[0] == {"step": 0, "time": first[0]["time"], "train/processes": 2, "train/effective_batch": 16}
    losses = [row["step"] for row in first if "train/loss" in row]
    assert losses == list(range(1, 13))  # once per step: no process but the main one writes

    # resumed in two processes, until max_minutes: both stop at the same step (else one would hang)
    minutes = (info["elapsed_seconds"] + 25) / 60
    r = launch(f"out={run}", "steps=100000", f"max_minutes={minutes:.3f}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run.name]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "time-up" and info["elapsed_seconds"] <= minutes * 60
    last = json.loads((run / "checkpoints" / "latest.json").read_text())["step"]
    assert last == info["step"] > 12
    after = rows(run)
    losses = [row["step"] for row in after if "train/loss" in row]
    assert losses == list(range(1, last + 1))  # continued from the checkpoint: steps strictly increase
    assert [row["step"] for row in after] == sorted(row["step"] for row in after)
    assert [row["step"] for row in after if "train/processes" in row] == [0, 12]


def test_ctrl_c_stops_every_process_at_one_checkpoint(tmp_path: Path) -> None:
    """SIGINT to the launcher's process group (a Ctrl-C in the terminal): every process stops at the
    same step, the main one writes its checkpoint, exit 130, no process left."""
    import signal
    import time

    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
           "-m", "sandbox", "train", *TINY, "steps=100000", "out=run", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    run = tmp_path / "run"
    deadline = time.time() + 300
    while time.time() < deadline and not any("train/loss" in row for row in (rows(run) if (run / "metrics.jsonl").exists() else [])):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-3000:]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted"
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == info["step"] > 0
    assert "stopped because interrupted" in out
    time.sleep(1)
    with pytest.raises(ProcessLookupError):  # no process of the group is left
        os.killpg(proc.pid, 0)


def test_one_process_is_unchanged(tmp_path: Path) -> None:
    """A plain run records nothing about processes."""
    from sandbox import train

    run = train("ddpm-digits", [*TINY[1:], "steps=3", f"out={tmp_path / 'one'}"], progress=False)
    assert run.main and run.step == 3
    assert "processes" not in json.loads((run.dir / "run.json").read_text())
    assert all("train/processes" not in row for row in rows(run.dir))


def test_an_agent_under_accelerate_is_refused(tmp_path: Path) -> None:
    r = launch("agent=ppo", "env=CartPole-v1", "steps=64", "wandb.mode=disabled", cwd=tmp_path)
    assert r.returncode != 0
    assert "ppo trains in one process; run it without 'accelerate launch'" in r.stderr
    assert not (tmp_path / "runs").exists()
