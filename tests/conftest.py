"""Shared test setup: headless SDL, W&B off unless a test turns it on, the tests' own tiny plugins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
_plugins = [p for p in os.environ.get("SANDBOX_PLUGINS", "").split(",") if p]
if "tests.plugins.tiny" not in _plugins:
    os.environ["SANDBOX_PLUGINS"] = ",".join(_plugins + ["tests.plugins.tiny"])
if str(ROOT) not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))


def run_cli(*args: str, cwd: Path | str | None = None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`sandbox ARGS` in a fresh process (the installed command line, as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
    )


def processes_left(sid: int) -> list[str]:
    """Live (not zombie) processes still in the session ``sid`` (a command started with a new
    session) or its process group: Ray's workers put themselves in process groups of their own but
    stay in the session."""
    out = subprocess.run(["ps", "-eo", "sid=,pgid=,stat=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines()
            if str(sid) in line.split(None, 3)[:2] and not line.split(None, 3)[2].startswith("Z")]


def wait_processes_gone(sid: int, seconds: float = 20.0) -> list[str]:
    """:func:`processes_left` once they are gone or ``seconds`` have passed."""
    import time

    deadline = time.time() + seconds
    while (left := processes_left(sid)) and time.time() < deadline:
        time.sleep(0.5)
    return left


def start_in_session(*args: str, cwd: Path | str, env: dict | None = None) -> subprocess.Popen:
    """`sandbox ARGS` in a session (and process group) of its own, as a terminal starts a command."""
    return subprocess.Popen([sys.executable, "-m", "sandbox", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env={**os.environ, **(env or {})})


def finish_in_session(proc: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    """Wait for a command of :func:`start_in_session` (killed past ``timeout``) and its stdout and
    stderr; fail when anything of its session outlives it (what was left is killed)."""
    import signal

    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    left = wait_processes_gone(proc.pid)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not left, f"processes left behind by sandbox {' '.join(map(str, proc.args[3:]))}: {left}"
    return out, err


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny networks on two shared cores: one torch thread is faster than two that wait for each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cli():
    return run_cli
