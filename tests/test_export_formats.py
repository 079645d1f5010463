"""sandbox export --format onnx | sb3 | diffusers, each from tiny runs.

- onnx: every agent kind (ppo, dqn, a2c, reinforce, alphazero) and every backbone family (mlp, cnn
  small and Nature, rnn, transformer on vectors and on frames) as policy.onnx: onnxruntime gives
  what the agent's own torch network gives on 100 observations (max abs difference < 1e-4, printed),
  greedy actions equal to the agent's, a batch of one, policy.json describing it.
- sb3: PPO, DQN and A2C on the mlp (MlpPolicy) and on the Nature CNN (CnnPolicy) as a zip that plain
  stable-baselines3 loads in a process where the sandbox cannot be imported, acting as the run on
  300 observations; the backbones SB3's policies cannot express refused in one sentence.
- diffusers: a UNet DDPM folder that diffusers' own DDPMPipeline.from_pretrained loads and samples
  (the same images as the run for the same seed and steps); a DiT DDPM folder whose
  SD3Transformer2DModel diffusers' own from_pretrained loads, computing the run's noise (max abs
  difference < 1e-4, printed) and sampling, in the README's loop, the run's images; a DiT that
  SD3Transformer2DModel cannot compute exactly, and the MLP, refused in one sentence.
- the command line: --help lists the formats, an unknown one is one sentence naming them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import sandbox  # noqa: E402
from sandbox.errors import SandboxError  # noqa: E402

pytest.importorskip("onnxruntime", reason="the export extra (pip install -e '.[export]') brings onnx, onnxscript and onnxruntime")

CARTPOLE = ["env=CartPole-v1", "agent.eval_every=128", "agent.eval_episodes=2", "agent.eval_video=false"]
CATCH = ["env=Catch-v0", "agent.eval_every=128", "agent.eval_episodes=2", "agent.eval_video=false"]
NATURE = [*CATCH[:1], "env.size=40", *CATCH[1:], "backbone=cnn", "backbone.arch=nature", "backbone.hidden=64"]
PPO = ["agent=ppo", "steps=256", "agent.n_envs=4", "agent.n_steps=32", "agent.batch_size=64", "agent.n_epochs=2"]
DQN = ["agent=dqn", "steps=300", "agent.learning_starts=50", "agent.train_freq=16", "agent.gradient_steps=2", "agent.buffer_size=1000"]
A2C = ["agent=a2c", "steps=256", "agent.n_envs=4"]
REINFORCE = ["agent=reinforce", "steps=300", "agent.n_envs=4", "agent.batch_steps=64"]
MLP = ["backbone=mlp", "backbone.hidden=[16,16]"]
RUNS: dict[str, list[str]] = {
    # every agent kind on the mlp (AlphaZero on its default residual cnn)
    "ppo-mlp": [*PPO, *CARTPOLE, *MLP],
    "dqn-mlp": [*DQN, *CARTPOLE, *MLP, "backbone.activation=tanh"],
    "a2c-mlp": [*A2C, *CARTPOLE, *MLP, "agent.net_arch=[8]", "backbone.activation=tanh"],
    "reinforce-mlp": [*REINFORCE, *CARTPOLE, *MLP],
    "alphazero-cnn": ["agent=alphazero", "env=tictactoe", "steps=160", "agent.simulations=8", "agent.games=8", "agent.batch_size=32",
                      "agent.min_buffer=32", "agent.eval_games=2", "agent.eval_simulations=8", "agent.eval_opponents=[random]",
                      "agent.eval_every=64", "agent.log_every=16", "backbone=cnn", "backbone.arch=small", "backbone.channels=[16]", "backbone.residual_blocks=1", "backbone.hidden=32"],
    # every other backbone family and input kind
    "ppo-rnn": [*PPO, *CARTPOLE, "backbone=rnn", "backbone.hidden=16"],  # CartPole stacked 4 deep: a sequence
    "ppo-transformer": [*PPO, *CARTPOLE, "backbone=transformer", "backbone.d_model=16", "backbone.layers=1", "backbone.heads=2"],
    "a2c-cnn-small": [*A2C, *CATCH, "backbone=cnn", "backbone.channels=[8,8]", "backbone.hidden=32", "backbone.batch_norm=true"],
    "reinforce-transformer-frames": [*REINFORCE, *CATCH, "backbone=transformer", "backbone.d_model=16", "backbone.layers=1",
                                     "backbone.heads=2", "backbone.image_mode=frames"],
    "reinforce-rnn-rows": [*REINFORCE, *CATCH, "backbone=rnn", "backbone.hidden=16", "backbone.cell=lstm", "backbone.image_mode=rows"],
    # the Nature CNN on 40×40 frames: SB3's CnnPolicy
    "ppo-cnn-nature": [*PPO, *NATURE],
    "dqn-cnn-nature": [*DQN, *NATURE],
    # a run that learned under agent.bf16: its exports are float32 graphs all the same
    "ppo-cnn-nature-bf16": [*PPO, *NATURE, "agent.bf16=true"],
}
ONNX_CASES = list(RUNS)
SB3_CASES = ["ppo-mlp", "dqn-mlp", "a2c-mlp", "ppo-cnn-nature", "dqn-cnn-nature", "ppo-cnn-nature-bf16"]
SB3_REFUSED = {"ppo-rnn": "rnn backbone", "ppo-transformer": "transformer backbone", "a2c-cnn-small": "small arch",
               "reinforce-mlp": "is for ppo, dqn and a2c", "alphazero-cnn": "is for ppo, dqn and a2c"}


class Runs(dict):
    """Each tiny run's directory by case, trained on first use."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Path:
        run = sandbox.train(None, [*RUNS[name], "seed=1", f"out={self.root / name}", "wandb.mode=disabled"], progress=False)
        self[name] = run.dir
        return run.dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("runs"))


def env_observations(agent: Any, n: int, seed: int = 0) -> np.ndarray:
    """Observations of the agent's env met by random play (several episodes)."""
    env = agent.make_env()
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


def board_observations(n: int) -> list[dict[str, np.ndarray]]:
    """PettingZoo tictactoe_v3 observations of the player to move, met by random legal play."""
    from pettingzoo.classic import tictactoe_v3

    env = tictactoe_v3.env()
    rng = np.random.default_rng(0)
    seen: list[dict[str, np.ndarray]] = []
    games = 0
    while len(seen) < n:
        env.reset(seed=games)
        games += 1
        for _ in env.agent_iter():
            obs, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            seen.append({k: np.array(v) for k, v in obs.items()})
            env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
    env.close()
    return seen[:n]


def torch_outputs(agent: Any, obs: np.ndarray) -> dict[str, np.ndarray]:
    """What the agent's own torch network computes, by the agent's own code paths (not the export's):
    SB3 actor-critics' log-probabilities and values, DQN's Q-values, REINFORCE's logits and
    baseline, AlphaZero's network on the encoded states."""
    name = agent.config.plugin.name
    with torch.no_grad():
        if name == "alphazero":
            states = np.stack([agent.game.from_observation(o) for o in obs])
            logits, value = agent.net(torch.from_numpy(agent.game.encode(states)))
            return {"policy_logits": logits.numpy(), "value": value.numpy()}
        if name == "reinforce":
            x = agent.tensor(obs)
            return {"logits": agent.policy(x).numpy(), "value": agent.baseline(x).squeeze(-1).numpy()}
        policy = agent.model.policy
        policy.set_training_mode(False)  # as SB3's predict acts (BatchNorm on its running statistics)
        x, _ = policy.obs_to_tensor(obs)
        if name == "dqn":
            return {"q_values": policy.q_net(x).numpy()}
        return {"log_probs": policy.get_distribution(x).distribution.logits.numpy(), "value": policy.predict_values(x).squeeze(-1).numpy()}


@pytest.mark.parametrize("case", ONNX_CASES)
def test_onnx_policy_agrees_with_torch(runs, tmp_path: Path, case: str) -> None:
    import onnxruntime

    run_dir = runs[case]
    out = sandbox.export(run_dir, tmp_path / "onnx", format="onnx")
    assert {p.name for p in out.iterdir()} == {"policy.onnx", "policy.json", "README.md"}
    agent = sandbox.load(run_dir)
    name = agent.config.plugin.name
    info = json.loads((out / "policy.json").read_text())
    session = onnxruntime.InferenceSession(str(out / "policy.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    outputs = [o.name for o in session.get_outputs()]
    expected_outputs = {"dqn": ["q_values"], "alphazero": ["policy_logits", "value"]}.get(name, ["logits", "value"])
    assert outputs == expected_outputs and inp.name == "observation"
    assert [o["name"] for o in info["outputs"]] == outputs and info["inputs"][0]["name"] == "observation"
    assert inp.shape[0] == "batch" and info["inputs"][0]["shape"][0] == "batch" and all(o.shape[0] == "batch" for o in session.get_outputs())
    assert info["preprocessing"] and info["act"] and info["check"]["max_abs_difference"] < 1e-4
    if name == "alphazero":
        boards = board_observations(100)
        obs = np.stack([b["observation"] for b in boards])
        assert info["inputs"][0]["dtype"] == "int8" and list(inp.shape[1:]) == [3, 3, 2]
    else:
        obs = env_observations(agent, 100)
        assert info["inputs"][0]["dtype"] == str(obs.dtype) and list(inp.shape[1:]) == list(obs.shape[1:])
    got = dict(zip(outputs, session.run(None, {"observation": obs})))
    ref = torch_outputs(agent, obs)
    if "log_probs" in ref:  # SB3's distribution normalises its logits: compare log-probabilities
        logits = torch.as_tensor(got["logits"])
        got = {"log_probs": torch.log_softmax(logits, dim=1).numpy(), "value": got["value"]}
    diff = max(float(np.abs(got[k] - ref[k]).max()) for k in ref)
    print(f"\nonnx {case}: max abs difference {diff:.3g} over {len(obs)} observations (outputs {', '.join(outputs)})")
    assert diff < 1e-4, (case, diff)
    # greedy actions: the agent's own (AlphaZero's network alone: the masked argmax of its prior)
    first = session.run(None, {"observation": obs})[0]
    if name == "alphazero":
        masks = np.stack([b["action_mask"] for b in boards]).astype(bool)
        greedy = np.where(masks, first, -np.inf).argmax(1)
        assert all(masks[i, a] for i, a in enumerate(greedy))
    else:
        assert np.array_equal(first.argmax(1), agent.act(obs)), case
    one = session.run(None, {"observation": obs[:1]})
    assert one[0].shape == (1, first.shape[1]) and np.allclose(one[0], first[:1], atol=1e-5)


def test_onnx_card_and_refusals(runs, tmp_path: Path) -> None:
    out = sandbox.export(runs["ppo-mlp"], tmp_path / "card", format="onnx")
    readme = (out / "README.md").read_text()
    assert "`logits`" in readme and "`value`" in readme and "batch×4" in readme and "card/policy.onnx" in readme
    assert "CartPole-v1" in json.loads((out / "policy.json").read_text())["preprocessing"]
    with pytest.raises(SandboxError, match="--episodes is for --format hub"):
        sandbox.export(runs["ppo-mlp"], tmp_path / "x", format="onnx", episodes=3)
    with pytest.raises(SandboxError, match=r"not one of hub, onnx, sb3, diffusers; did you mean 'onnx'"):
        sandbox.export(runs["ppo-mlp"], tmp_path / "x", format="onxx")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".*tmp-*"))


# -- sb3 ----------------------------------------------------------------------------------------------
#: run in a fresh interpreter with neither site nor PYTHONPATH (-I -S), only the installed
#: packages' folder on sys.path (no .pth file read, so no editable sandbox), from an empty folder
PLAIN_SB3 = """
import importlib, json, sys
sys.path.append(sys.argv[2])
try:
    import sandbox
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("sandbox is importable here: " + str(sandbox.__file__))
import numpy as np
import stable_baselines3
for algo, path, obs, out in json.load(open(sys.argv[1])):
    model = getattr(stable_baselines3, algo).load(path, device="cpu")
    np.save(out, model.predict(np.load(obs), deterministic=True)[0])
    extractor = getattr(model.policy, "q_net", model.policy).features_extractor
    print(algo, type(model.policy).__name__, type(extractor).__name__)
loaded = sorted(m for m in sys.modules if m == "sandbox" or m.startswith("sandbox."))
if loaded:
    raise SystemExit(f"sandbox modules were imported: {loaded}")
"""


def test_sb3_zip_loads_and_acts_without_the_sandbox(runs, tmp_path: Path) -> None:
    import base64
    import zipfile

    jobs, expected = [], {}
    for case in SB3_CASES:
        out = sandbox.export(runs[case], tmp_path / case, format="sb3")
        agent = sandbox.load(runs[case])
        env_id = agent.config.env.name
        (zip_path,) = out.glob("*.zip")
        assert zip_path.name == f"{agent.config.plugin.name}-{env_id}.zip" and (out / "README.md").is_file()
        with zipfile.ZipFile(zip_path) as z:
            for member in z.namelist():
                raw = z.read(member)
                assert b"sandbox" not in raw, (case, member)
            data = json.loads(z.read("data"))
        for key, value in data.items():  # the pickled entries name no sandbox module either
            if isinstance(value, dict) and ":serialized:" in value:
                assert b"sandbox" not in base64.b64decode(value[":serialized:"]), (case, key)
        obs = env_observations(agent, 300, seed=3)
        np.save(tmp_path / f"{case}-obs.npy", obs)
        expected[case] = agent.act(obs)
        jobs.append((agent.config.plugin.name.upper(), str(zip_path), str(tmp_path / f"{case}-obs.npy"), str(tmp_path / f"{case}-actions.npy")))
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SANDBOX_PLUGINS")}
    r = subprocess.run([sys.executable, "-I", "-S", "-c", PLAIN_SB3, str(tmp_path / "jobs.json"), sysconfig.get_paths()["purelib"]],
                       cwd=empty, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    print("\n" + r.stdout)
    assert "PPO ActorCriticCnnPolicy NatureCNN" in r.stdout and "DQN CnnPolicy NatureCNN" in r.stdout
    assert "DQN DQNPolicy FlattenExtractor" in r.stdout and "A2C ActorCriticPolicy FlattenExtractor" in r.stdout
    for case in SB3_CASES:
        actions = np.load(tmp_path / f"{case}-actions.npy")
        assert np.array_equal(actions, expected[case]), (case, int((actions != expected[case]).sum()))
        assert len(set(expected[case].tolist())) >= 1


@pytest.mark.parametrize("case", list(SB3_REFUSED))
def test_sb3_refuses_what_sb3_policies_cannot_express(runs, tmp_path: Path, case: str) -> None:
    with pytest.raises(SandboxError, match=SB3_REFUSED[case]) as info:
        sandbox.export(runs[case], tmp_path / "zip", format="sb3")
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
    assert not (tmp_path / "zip").exists() and not list(tmp_path.glob(".*tmp-*"))


# -- diffusers -----------------------------------------------------------------------------------------
DDPM = ["model=ddpm", "data=digits", "steps=6", "model.batch=16", "model.grid=4", "model.log_every=1", "model.sample_every=3",
        "model.eval_every=3", "model.eval_n=16", "model.timesteps=20", "model.sample_batch=4", "model.eval_steps=2", "model.steps=2",
        "model.export_pipeline=false", "wandb.mode=disabled", "seed=1"]


def test_diffusers_folder_samples_with_ddpm_pipeline(tmp_path: Path) -> None:
    from diffusers import DDPMPipeline

    run = sandbox.train(None, [*DDPM, "backbone=cnn", "backbone.channels=[8,16]", "backbone.hidden=32", "model.conditional=no",
                               f"out={tmp_path / 'unet'}"], progress=False)
    out = sandbox.export(run.dir, tmp_path / "pipe", format="diffusers")
    assert {p.name for p in out.iterdir()} == {"model_index.json", "unet", "scheduler", "README.md"}
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").is_file() and not list(out.rglob("*.bin"))
    pipe = DDPMPipeline.from_pretrained(str(out))
    images = pipe(batch_size=3, num_inference_steps=4, generator=torch.Generator().manual_seed(5), output_type="pt").images
    assert images.shape == (3, 1, 8, 8) and torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    ours = sandbox.load(run.dir).sample(3, seed=5, sampler="ddpm", steps=4)
    torch.testing.assert_close(images, ours, rtol=0, atol=1e-5)
    assert 'DDPMPipeline.from_pretrained("pipe")' in (out / "README.md").read_text()


DIT = ["backbone=transformer", "backbone.d_model=16", "backbone.layers=1", "backbone.heads=2"]


@pytest.mark.parametrize("conditional", ["no", "yes"])
def test_diffusers_dit_folder_computes_and_samples_as_the_run(tmp_path: Path, conditional: str) -> None:
    from diffusers import DDPMScheduler, SD3Transformer2DModel

    # no EMA, no warm-up and a large step: six updates move the zero-initialised gates and output layer
    # away from zero, so that the noise compared below is not zero
    run = sandbox.train(None, [*DDPM, *DIT, "model.ema=0", "model.warmup=0", "model.lr=0.01", f"model.conditional={conditional}",
                               f"out={tmp_path / 'dit'}"], progress=False)
    out = sandbox.export(run.dir, tmp_path / "dit-diffusers", format="diffusers")
    assert {p.name for p in out.iterdir()} == {"transformer", "scheduler", "README.md"}
    weights = sorted(p.name for p in out.rglob("*") if p.suffix in (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl"))
    assert weights == ["diffusion_pytorch_model.safetensors"]
    model = SD3Transformer2DModel.from_pretrained(str(out), subfolder="transformer").eval()
    scheduler = DDPMScheduler.from_pretrained(str(out), subfolder="scheduler")
    plugin = sandbox.load(run.dir)
    assert scheduler.config.num_train_timesteps == 20 and scheduler.config.beta_schedule == plugin.scheduler.config.beta_schedule
    # 1. the same noise on random inputs (a class-conditional run: its "no label" prediction)
    net = plugin.denoise_fn().eval()
    assert type(net).__name__ == "DiT"
    g = torch.Generator().manual_seed(3)
    x, t = torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 20, (64,), generator=g)
    with torch.no_grad():
        ours = net(x, t)
        theirs = model(x, encoder_hidden_states=torch.zeros(64, 0, 1), pooled_projections=torch.zeros(64, 1), timestep=t).sample
    diff = float((ours - theirs).abs().max())
    print(f"DiT (conditional={conditional}) vs SD3Transformer2DModel: max abs difference {diff:.2e} (outputs up to {float(ours.abs().max()):.2f})")
    assert diff < 1e-4 and float(ours.abs().max()) > 0.05
    # 2. the README's loop, run as written, draws the run's images for the same seed and steps
    readme = (out / "README.md").read_text()
    code = readme.split("```python\n")[1].split("```")[0].replace("n, steps, g = 16, 20,", "n, steps, g = 3, 4,")
    code = code.replace("manual_seed(0)", "manual_seed(5)")
    assert 'SD3Transformer2DModel.from_pretrained("dit-diffusers", subfolder="transformer")' in code
    scope: dict[str, Any] = {}
    exec(code.replace('"dit-diffusers"', repr(str(out))), scope)
    images = scope["images"]
    assert images.shape == (3, 1, 8, 8) and torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    if conditional == "no":
        ours = plugin.sample(3, seed=5, sampler="ddpm", steps=4)
        print(f"DiT samples, README loop vs sandbox: max abs difference {float((images - ours).abs().max()):.2e}")
        torch.testing.assert_close(images, ours, rtol=0, atol=1e-5)
        assert "draws the same images as this loop" in readme
    else:
        assert '"no label"' in readme


@pytest.mark.parametrize("shape, d_model, heads, layers, classes, patch", [
    ((1, 8, 8), 16, 2, 1, None, 0), ((1, 8, 8), 16, 2, 2, 10, 0), ((3, 16, 12), 64, 4, 3, 5, 2),
    ((3, 12, 16), 32, 4, 2, None, 2), ((3, 16, 16), 256, 8, 2, None, 4), ((1, 8, 8), 4, 1, 1, 3, 0)])
def test_dit_to_diffusers_computes_the_same_noise(shape, d_model: int, heads: int, layers: int, classes: int | None, patch: int) -> None:
    """Every weight random (none left at its zero initialisation), square and oblong images,
    patches of 1 to 4 pixels, widths 4 to 256, with and without labels."""
    from sandbox.backbones.base import InputSpec
    from sandbox.backbones.transformer import DiT, TransformerConfig, dit_to_diffusers

    torch.manual_seed(0)
    dit = DiT(TransformerConfig(d_model=d_model, heads=heads, layers=layers, patch=patch), InputSpec("image", shape), classes).eval()
    with torch.no_grad():
        for p in dit.parameters():
            p.normal_(0, 0.1)
    model = dit_to_diffusers(dit)
    x, t = torch.randn(16, *shape), torch.randint(0, 1000, (16,))
    with torch.no_grad():
        ours = dit(x, t)
        theirs = model(x, encoder_hidden_states=torch.zeros(16, 0, 1), pooled_projections=torch.zeros(16, 1), timestep=t).sample
    diff = float((ours - theirs).abs().max())
    print(f"DiT {shape} d={d_model} layers={layers} classes={classes}: max abs difference {diff:.2e} (outputs up to {float(ours.abs().max()):.2f})")
    assert diff < 1e-4 and float(ours.abs().max()) > 0.1


def test_diffusers_refuses_what_no_diffusers_model_computes(tmp_path: Path, cli) -> None:
    cases = {"dit-ff": ([*DIT, "backbone.ff_mult=2"], "backbone.ff_mult=2"),
             "dit-d24": (["backbone=transformer", "backbone.d_model=24", "backbone.layers=1", "backbone.heads=2"], "power of two"),
             "mlp": (["backbone=mlp"], "an MLP")}
    for name, (overrides, words) in cases.items():
        run = sandbox.train(None, [*DDPM, *overrides, f"out={tmp_path / name}"], progress=False)
        r = cli("export", str(run.dir), "--to", str(tmp_path / f"{name}-out"), "--format", "diffusers")
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert words in r.stderr and "--format hub" in r.stderr, r.stderr
        assert not (tmp_path / f"{name}-out").exists() and not list(tmp_path.glob(".*tmp-*"))


# -- the command line -----------------------------------------------------------------------------------
def test_command_line(runs, cli, tmp_path: Path) -> None:
    r = cli("export", "--help")
    assert r.returncode == 0 and all(f in r.stdout for f in ("hub", "onnx", "sb3", "diffusers")), r.stdout
    r = cli("export", str(runs["dqn-mlp"]), "--to", str(tmp_path / "x"), "--format", "tflite")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "'tflite' is not one of hub, onnx, sb3, diffusers" in r.stderr
    r = cli("export", str(runs["dqn-mlp"]), "--to", str(tmp_path / "zip"), "--format", "sb3")
    assert r.returncode == 0, r.stderr
    assert "dqn-CartPole-v1.zip" in r.stdout and "kB" in r.stdout
    r = cli("export", str(runs["reinforce-mlp"]), "--to", str(tmp_path / "r"), "--format", "sb3")
    assert r.returncode == 2 and "is for ppo, dqn and a2c agents" in r.stderr and r.stderr.count("\n") == 1, r.stderr
