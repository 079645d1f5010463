"""The built wheel installs one top-level name, ``sandbox``, and lives beside distributions that own
the names ``agents`` (openai-agents) and ``envs`` (envs): in a fresh virtual environment with both,
``sandbox list`` shows every plugin, a tiny run trains, and both still import their own packages.

The fresh environment gets the sandbox's dependencies (torch, gymnasium, ...) from this test's own
environment through a path file, so that only the wheel and the two other distributions install
into it (those two from the package registry).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def sh(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SANDBOX_PLUGINS")}
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, ROOT, cwd=out, env=env)
    (path,) = out.glob("sandbox-*.whl")
    return path


def test_the_wheel_holds_one_top_level_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"sandbox"}
    for path in ("sandbox/agents/ppo.py", "sandbox/agents/alphazero/search.py", "sandbox/envs/games/go.py",
                 "sandbox/generative/ddpm.py", "sandbox/generative/flow.py", "sandbox/agents/presets/ppo-pong.yaml", "sandbox/py.typed"):
        assert path in names, path
    top_level = [n for n in names if n.endswith("top_level.txt")]
    if top_level:
        assert zipfile.ZipFile(wheel).read(top_level[0]).decode().split() == ["sandbox"]


def test_beside_openai_agents_and_envs(wheel: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SANDBOX_PLUGINS", "VIRTUAL_ENV")}
    env.update(WANDB_MODE="disabled", SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PIP_DISABLE_PIP_VERSION_CHECK="1")
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env)
    py = venv / "bin" / "python"
    site = Path(sh(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path, env=env).stdout.strip())
    # the sandbox's dependencies come from this environment, after the fresh one's own packages
    (site / "zz_outer_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    sh(py, "-m", "pip", "install", "-q", "openai-agents", "envs", cwd=tmp_path, env=env)
    sh(py, "-m", "pip", "install", "-q", "--no-deps", wheel, cwd=tmp_path, env=env)

    # both other distributions still import their own names
    sh(py, "-c", "from agents import Agent, Runner; import agents; assert 'site-packages' in agents.__file__", cwd=tmp_path, env=env)
    sh(py, "-c", "from envs import env; import envs; assert 'site-packages' in envs.__file__", cwd=tmp_path, env=env)
    # and the sandbox comes from the wheel, with every plugin listed
    where = sh(py, "-c", "import sandbox.agents; print(sandbox.agents.__file__)", cwd=tmp_path, env=env).stdout.strip()
    assert where.startswith(str(site)), where
    listing = json.loads(sh(py, "-m", "sandbox", "list", "--json", cwd=tmp_path, env=env).stdout)
    names = {kind: {e["name"] for e in entries} for kind, entries in listing.items() if kind != "presets"}
    assert {"ppo", "dqn", "a2c", "reinforce", "alphazero"} <= names["agents"]
    assert {"vae", "gan", "ddpm", "flow"} <= names["generative"]
    assert {"mlp", "cnn", "rnn", "transformer"} <= names["backbones"]
    assert {"ALE/Pong-v5", "Catch-v0", "tictactoe", "connect_four", "go9"} <= names["envs"]
    assert "ppo-cartpole" in {p["name"] if isinstance(p, dict) else p for p in listing["presets"]}
    # a tiny training run, through the installed command
    out = tmp_path / "run"
    sh(venv / "bin" / "sandbox", "train", "agent=reinforce", "env=CartPole-v1", "steps=64", "agent.n_envs=2", "agent.batch_steps=32",
       "agent.eval_every=0", "backbone.hidden=[8]", f"out={out}", cwd=tmp_path, env=env)
    assert (out / "checkpoints" / "latest.json").is_file()
    ev = json.loads(sh(py, "-m", "sandbox", "eval", out, "--episodes", "2", "--json", cwd=tmp_path, env=env).stdout)
    assert ev["episodes"] == 2
