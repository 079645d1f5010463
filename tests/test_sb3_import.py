"""A zip made by stable-baselines3 itself (PPO and DQN trained a few hundred steps here) read by
sandbox.sb3_import without unpickling: the same greedy actions as SB3's own predict on CartPole
observations and over whole episodes; a zip whose data carries a pickle payload plays and the
payload never runs (it does run when unpickled, so the test can fail)."""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from sandbox.errors import SandboxError
from sandbox.sb3_import import load_zip


def cartpole_observations(n: int = 200) -> np.ndarray:
    env = gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    seen = []
    for _ in range(n):
        seen.append(obs)
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        if terminated or truncated:
            obs, _ = env.reset()
    return np.array(seen, np.float32)


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict[str, Path]:
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.logger import Logger

    root = tmp_path_factory.mktemp("sb3")
    ppo = PPO("MlpPolicy", "CartPole-v1", n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu")
    ppo.set_logger(Logger(None, []))  # learn() would otherwise make an empty SB3-<date> folder in /tmp
    ppo.learn(384)
    ppo.save(root / "ppo-CartPole-v1.zip")
    dqn = DQN("MlpPolicy", "CartPole-v1", learning_starts=50, train_freq=4, buffer_size=1000, seed=0, device="cpu",
              policy_kwargs={"net_arch": [32, 32]})
    dqn.set_logger(Logger(None, []))
    dqn.learn(300)
    dqn.save(root / "dqn-CartPole-v1.zip")
    return {"ppo": root / "ppo-CartPole-v1.zip", "dqn": root / "dqn-CartPole-v1.zip"}


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_same_actions_as_stable_baselines3(zips, algo: str) -> None:
    from stable_baselines3 import DQN, PPO

    theirs = {"ppo": PPO, "dqn": DQN}[algo].load(zips[algo], device="cpu")
    ours = load_zip(zips[algo])
    obs = cartpole_observations()
    expected = theirs.predict(obs, deterministic=True)[0]
    assert np.array_equal(ours.act(obs), expected)
    assert [ours.act(o) for o in obs[:20]] == [int(a) for a in expected[:20]]
    # a whole episode played by each gives the same actions
    for player in (ours, theirs):
        env = gym.make("CartPole-v1")
        o, _ = env.reset(seed=3)
        actions, done = [], False
        while not done:
            a = player.act(o) if player is ours else int(player.predict(o, deterministic=True)[0])
            actions.append(a)
            o, _, terminated, truncated, _ = env.step(a)
            done = terminated or truncated
        if player is ours:
            mine = actions
    assert mine == actions


class Payload:
    """Unpickling this creates a file: proof that something ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def test_a_pickle_payload_in_data_never_runs(zips, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    blob = base64.b64encode(pickle.dumps(Payload(marker))).decode()
    with zipfile.ZipFile(zips["ppo"]) as z:
        files = {name: z.read(name) for name in z.namelist()}
    data = json.loads(files["data"])
    for key in ("policy_class", "observation_space", "action_space", "policy_kwargs"):
        data[key] = {**(data[key] if isinstance(data[key], dict) else {}), ":serialized:": blob}
    files["data"] = json.dumps(data).encode()
    poisoned = tmp_path / "poisoned.zip"
    with zipfile.ZipFile(poisoned, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    policy = load_zip(poisoned)
    env = gym.make("CartPole-v1")
    o, _ = env.reset(seed=0)
    for _ in range(50):
        o, _, terminated, truncated, _ = env.step(policy.act(o))
        if terminated or truncated:
            o, _ = env.reset()
    assert not marker.exists()
    # the payload is live (without unpickling it here): its opcodes call open() on the marker
    import pickletools

    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(base64.b64decode(blob))]
    assert ("REDUCE", None) in ops and any(arg == str(marker) for _, arg in ops)


def test_what_cannot_be_rebuilt_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "not-sb3.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(SandboxError, match="without 'data' and 'policy.pth'"):
        load_zip(bad)
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(SandboxError, match="not a readable"):
        load_zip(tmp_path / "junk.zip")


def test_sandbox_play_a_zip(zips, cli, tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    from sandbox.agents.sb3_zip import play_zip

    result = play_zip(zips["ppo"], episodes=1, record=tmp_path / "direct.gif")  # env from the name ppo-CartPole-v1.zip
    theirs = PPO.load(zips["ppo"], device="cpu")
    env = gym.make("CartPole-v1")
    o, _ = env.reset(seed=0)
    score, done = 0.0, False
    while not done:
        o, r, terminated, truncated, _ = env.step(int(theirs.predict(o, deterministic=True)[0]))
        score, done = score + r, terminated or truncated
    assert result["scores"] == [score]
    r = cli("play", str(zips["ppo"]), "--env", "CartPole-v1", "--record", str(tmp_path / "game.gif"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["scores"] == [score] and (tmp_path / "game.gif").stat().st_size > 0
    r = cli("play", str(zips["ppo"]), "--env", "Pendulum-v1", "--record", str(tmp_path / "x.gif"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "shape" in r.stderr, r.stderr


def test_sandbox_eval_a_zip_as_stable_baselines3_evaluates_it(zips, cli, tmp_path: Path) -> None:
    """`sandbox eval PATH.zip`: the same episode returns as SB3's own evaluate_policy (the model
    loaded by SB3, greedy, on a seeded one-env DummyVecEnv), in Python and from the command line;
    --env required when the zip's name does not say it, one sentence for what does not apply."""
    import shutil

    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    from sandbox.agents.sb3_zip import eval_zip

    theirs = PPO.load(zips["ppo"], device="cpu")
    venv = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    venv.seed(0)
    returns, _ = evaluate_policy(theirs, venv, n_eval_episodes=5, deterministic=True, return_episode_rewards=True, warn=False)
    expected = {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "episodes": 5}
    assert eval_zip(zips["ppo"], episodes=5, seed=0) == pytest.approx(expected)
    r = cli("eval", str(zips["ppo"]), "--episodes", "5", "--json")  # the env from the name ppo-CartPole-v1.zip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == pytest.approx(expected)
    unnamed = tmp_path / "agent.zip"
    shutil.copy(zips["ppo"], unnamed)
    r = cli("eval", str(unnamed), "--episodes", "5", "--json")
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and "--env" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("eval", str(unnamed), "--env", "CartPole-v1", "--episodes", "5", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == pytest.approx(expected)
    r = cli("eval", str(zips["dqn"]), "--episodes", "3")
    assert r.returncode == 0 and "mean_return:" in r.stdout, r.stderr
    for bad in (["--env", "Acrobot-v1"], ["--env", "NoSuchEnv-v0"], ["--n", "10"], ["--episodes", "0"]):
        r = cli("eval", str(unnamed), *bad)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr, (bad, r.stderr)
