"""W&B never blocks training and every point reaches it: real W&B offline runs at tiny sizes, with
faults planted for real (the W&B process stopped with SIGSTOP, killed with SIGKILL, an online
server that cannot be reached). The run always finishes with metrics.jsonl whole and no traceback;
what W&B missed is said in one warning and counted at the end. Several rows at one step all reach
W&B, read back from the offline run's own .wandb file."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.tracking import Tracker, read_metrics
from test_core_tracking import wandb_records

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the W&B process through /proc")

TINY = ["model=tiny/regress", "backbone.hidden=[8]"]
SMALL_QUEUE = {"SANDBOX_WANDB_QUEUE_BYTES": "2000", "SANDBOX_WANDB_CLOSE_SECONDS": "5"}


def children(pid: int) -> list[tuple[int, str]]:
    """The (pid, command line) of the processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if ppid == pid:
            out.append((int(entry.name), cmdline))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def train(tmp_path: Path, *args: str, env: dict | None = None, fault=None, after_rows: int = 30) -> tuple[subprocess.CompletedProcess, list[int]]:
    """`sandbox train ARGS` as a process; ``fault(worker_pid)`` is called once the run has logged
    ``after_rows`` rows. Returns the finished process and the W&B worker's pid (and its children)."""
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "train", *args, f"out={out}", "--no-progress"],
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        if fault is not None:
            deadline = time.time() + 120
            while time.time() < deadline and proc.poll() is None:
                workers = [p for p, cmd in children(proc.pid) if "sandbox.wandb_worker" in cmd]
                if workers and len(read_metrics(out)) >= after_rows:
                    pids = [workers[0], *(p for p, _ in children(workers[0]))]
                    fault(workers[0])
                    break
                time.sleep(0.05)
            assert pids, "the W&B process was not found while the run was on"
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    for pid in pids:  # nothing the W&B side started outlives the run for long
        deadline = time.time() + 30
        while alive(pid) and time.time() < deadline:
            time.sleep(0.1)
        assert not alive(pid), f"process {pid} outlived the run"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), pids


def assert_whole(tmp_path: Path, steps: int) -> None:
    rows = read_metrics(tmp_path / "r")
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    assert (tmp_path / "r" / "metrics.jsonl").read_text().endswith("\n")


def test_a_stopped_wandb_process_drops_rows_from_wandb_only_and_is_stopped_at_close(tmp_path):
    out, pids = train(tmp_path, *TINY, "steps=2500", "wandb.mode=offline", env=SMALL_QUEUE,
                      fault=lambda pid: os.kill(pid, signal.SIGSTOP))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("warning: W&B is not keeping up") == 1
    assert out.stderr.count("warning: W&B did not finish its run within 5 s; stopped it") == 1
    missed = [line for line in out.stderr.splitlines() if line.startswith("W&B missed ")]
    assert len(missed) == 1 and "metrics.jsonl has them all" in missed[0]
    dropped, total = (int(w) for w in re.match(r"W&B missed at least (\d+) of (\d+) rows", missed[0]).groups())
    assert total == 2500 and dropped >= 2500 - 300  # what the pipe (16 KiB) took before it filled is not counted
    assert_whole(tmp_path, 2500)


def test_a_killed_wandb_process_is_said_once_and_training_goes_on(tmp_path):
    out, _ = train(tmp_path, *TINY, "steps=400", "model.sleep=0.002", "wandb.mode=offline",
                   fault=lambda pid: os.kill(pid, signal.SIGKILL))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("warning: W&B's process ended (exit status -9); training goes on with metrics.jsonl only.") == 1
    missed = [line for line in out.stderr.splitlines() if line.startswith("W&B missed ")]
    assert len(missed) == 1 and re.match(r"W&B missed \d+ of 400 rows", missed[0])
    assert_whole(tmp_path, 400)


def test_an_unreachable_server_is_given_up_on_in_one_line(tmp_path):
    with socket.socket() as s:  # a local port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"WANDB_BASE_URL": f"http://127.0.0.1:{port}", "WANDB_API_KEY": "x" * 40, "HOME": str(tmp_path)}
    out, _ = train(tmp_path, *TINY, "steps=300", "model.sleep=0.01", "wandb.mode=online", env=env)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if "W&B" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: W&B init failed (cannot reach the W&B server"), out.stderr
    assert_whole(tmp_path, 300)


def history(run_dir: Path) -> list[dict]:
    files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    return [{(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
            for r in wandb_records(files[0]) if r.WhichOneof("record_type") == "history"]


def test_rows_that_share_a_step_all_reach_wandb(tmp_path):
    from sandbox.config import WandbConfig

    tracker = Tracker(tmp_path, {}, WandbConfig(mode="offline"), "t3", "t3")
    for step in range(1, 21):
        for episode in range(3):  # three episodes end in the same env step
            tracker.log({"episodic_return": step * 10 + episode}, step)
        tracker.log({"loss": 1.0 / step}, step)
    tracker.close()
    rows = history(tmp_path)
    assert [r["_step"] for r in rows] == list(range(1, len(rows) + 1)), "one W&B row per logged row (numbered from 1)"
    ours = [(r["step"], r["episodic_return"]) for r in read_metrics(tmp_path) if "episodic_return" in r]
    theirs = [(r["step"], r["episodic_return"]) for r in rows if "episodic_return" in r]
    assert len(ours) == 60 and theirs == ours
    assert len([r for r in rows if "loss" in r]) == 20


def test_every_episode_of_a_vector_env_run_reaches_wandb(tmp_path):
    """Catch's episodes all last as long: the 8 envs of REINFORCE end theirs in the same step."""
    import sandbox

    run = sandbox.train(None, ["agent=reinforce", "env=Catch-v0", "backbone=mlp", "backbone.hidden=[16]", "steps=400",
                               "agent.n_envs=8", "agent.batch_steps=64", "agent.eval_every=0", "agent.eval_episodes=1",
                               "agent.eval_video=false", "wandb.mode=offline", f"out={tmp_path / 'r'}"], progress=False)
    ours = [(r["step"], r["rollout/episodic_return"]) for r in read_metrics(run.dir) if "rollout/episodic_return" in r]
    assert len(ours) > len({step for step, _ in ours}), "several episodes end in one step"
    theirs = [(r["step"], r["rollout/episodic_return"]) for r in history(run.dir) if "rollout/episodic_return" in r]
    assert theirs == ours
