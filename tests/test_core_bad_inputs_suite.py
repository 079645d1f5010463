"""The bad-input suite: every bad input gets one sentence.

Each case is a command line (``sandbox train``, a resume, ``eval``, ``play``, ``sample``,
``compare``) that is wrong in one way. The rule for every case:

- exit code 2 for bad input (1 for a failure of the machine: an unwritable place);
- exactly one line on stderr, starting ``error:``, nothing on stdout, no traceback;
- every file already written stays byte-identical (the runs and the case's folder are hashed
  before and after).

The bulk runs the command line in this process (``sandbox.cli.main``), under a clock (a case
that blocks, on a FIFO say, fails instead of hanging) and an address-space limit (a size that
cannot fit fails as an exception instead of taking the machine's memory); training itself is
replaced by an exception, since a bad input must be refused before a run starts. A handful of
cases run as real processes to prove the process-level behaviour.

Families: numbers, memory, env keys, yaml, damaged run directories, output paths, flags.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

import sandbox
from conftest import run_cli

DISABLED = ["wandb.mode=disabled", "--no-progress"]
TINY_MODEL = ["model=tiny/regress", "backbone.hidden=[8]", "steps=5", "wandb.mode=disabled"]
TINY_AGENT = ["agent=tiny/bandit", "env=CartPole-v1", "steps=5", "wandb.mode=disabled"]
SMALL = {  # each real plugin at its smallest, for the fixtures' runs and as the base of the train cases
    "ppo": ["agent=ppo", "env=CartPole-v1", "agent.n_envs=1", "agent.n_steps=64", "agent.batch_size=32", "agent.n_epochs=1",
            "agent.eval_episodes=1", "agent.eval_video=false", "backbone.hidden=[8]"],
    "dqn": ["agent=dqn", "env=CartPole-v1", "agent.buffer_size=64", "agent.learning_starts=8", "agent.batch_size=8",
            "agent.eval_episodes=1", "agent.eval_video=false", "backbone.hidden=[8]"],
    "a2c": ["agent=a2c", "env=CartPole-v1", "agent.n_envs=1", "agent.eval_episodes=1", "agent.eval_video=false", "backbone.hidden=[8]"],
    "reinforce": ["agent=reinforce", "env=CartPole-v1", "agent.n_envs=1", "agent.batch_steps=32", "agent.eval_episodes=1",
                  "agent.eval_video=false", "backbone.hidden=[8]"],
    "alphazero": ["agent=alphazero", "env=tictactoe", "agent.simulations=2", "agent.games=2", "agent.eval_every=0", "agent.eval_games=1",
                  "agent.eval_opponents=[random]", "agent.min_buffer=4", "agent.batch_size=4", "agent.buffer_size=64"],
    "ddpm": ["model=ddpm", "data=digits", "backbone=mlp", "model.batch=8", "model.eval_every=0", "model.sample_every=0", "model.grid=4",
             "model.timesteps=10", "model.eval_steps=5", "backbone.hidden=[16]"],
    "flow": ["model=flow", "data=digits", "backbone=mlp", "model.batch=8", "model.eval_every=0", "model.sample_every=0", "model.grid=4",
             "model.eval_steps=2", "backbone.hidden=[16]"],
    "gan": ["model=gan", "data=digits", "backbone=mlp", "model.batch=8", "model.eval_every=0", "model.sample_every=0", "model.grid=4",
            "backbone.hidden=[16]"],
    "vae": ["model=vae", "data=digits", "backbone=mlp", "model.batch=8", "model.eval_every=0", "model.sample_every=0", "model.grid=4",
            "model.recon_every=0", "backbone.hidden=[16]"],
}
AGENTS = ("ppo", "dqn", "a2c", "reinforce", "alphazero")
MODELS = ("ddpm", "flow", "gan", "vae")


@dataclass
class Case:
    family: str
    name: str
    argv: list[str]
    expect: str = ""  # a part of the error line
    code: int = 2
    damage: Callable[[Path], None] | None = None  # applied to a copy of the run `of`, which the argv calls {run}
    of: str = "model"
    skip: str = ""


CASES: list[Case] = []


def case(*args: Any, **kwargs: Any) -> None:
    CASES.append(Case(*args, **kwargs))


def train(plugin: str, *overrides: str) -> list[str]:
    return ["train", *SMALL[plugin], *overrides, "out={tmp}/new", *DISABLED]


# -- numbers out of range or not finite -----------------------------------------------------------
for override, expect in [
    ("seed=-1", "seed=-1"), ("seed=4294967296", "out of range"), ("seed=1e30", "out of range"), ("seed=nan", "seed"),
    ("steps=-5", "steps=-5"), ("steps=0", "steps=0"), ("steps=1e400", "steps"), ("steps=inf", "steps"), ("steps=2.5", "steps"),
    ("max_minutes=nan", "max_minutes"), ("max_minutes=-1", "max_minutes"), ("max_minutes=0", "max_minutes"), ("max_minutes=inf", "max_minutes"),
    ("checkpoint_minutes=nan", "checkpoint_minutes"), ("checkpoint_minutes=0", "checkpoint_minutes"),
    ("checkpoint_minutes=-3", "checkpoint_minutes"),
]:
    case("numbers", f"run {override}", ["train", *TINY_MODEL, override, "out={tmp}/new", "--no-progress"], expect)

AGENT_NUMBERS = {
    "ppo": ["learning_rate=-1", "learning_rate=0", "learning_rate=nan", "learning_rate=inf", "gamma=1.5", "gamma=-0.1", "gae_lambda=2",
            "clip_range=-0.2", "batch_size=0", "n_steps=-5", "n_epochs=0", "n_envs=0", "ent_coef=nan", "vf_coef=-1", "max_grad_norm=-1",
            "target_kl=-1", "eval_episodes=0", "net_arch=[0]"],
    "dqn": ["learning_rate=-1", "learning_rate=0", "gamma=2", "gamma=-1", "batch_size=0", "buffer_size=0", "learning_starts=-1",
            "exploration_initial_eps=2", "exploration_final_eps=-0.5", "target_update_interval=0", "max_grad_norm=nan"],
    "a2c": ["learning_rate=-1", "learning_rate=nan", "gamma=1.01", "gae_lambda=-1", "n_steps=0", "n_envs=-2", "max_grad_norm=-1"],
    "reinforce": ["learning_rate=-1", "gamma=0", "gamma=3", "batch_steps=0", "baseline_steps=-1", "max_grad_norm=-1", "vf_coef=-1"],
    "alphazero": ["learning_rate=-1", "learning_rate=nan", "simulations=0", "games=0", "batch_size=0", "buffer_size=-1", "c_puct=0",
                  "noise_fraction=2", "weight_decay=-1", "train_ratio=-1", "dirichlet_alpha=-1", "threads=-1"],
}
MODEL_NUMBERS = {
    "ddpm": ["lr=-1", "lr=0", "lr=nan", "batch=0", "timesteps=1", "ema=1.5", "label_dropout=-0.1", "guidance=nan", "guidance=-1",
             "eval_steps=0", "sample_batch=0", "grad_clip=-1", "warmup=-1"],
    "flow": ["lr=-1", "lr=nan", "batch=0", "shift=0", "shift=inf", "ema=1", "label_dropout=1", "guidance=-1", "steps=-1", "eval_steps=0",
             "sample_batch=0", "warmup=-1"],
    "gan": ["lr=-1", "lr=inf", "batch=-8", "latent=0", "r1=-1", "beta1=1.5", "beta2=-0.1", "ema=1", "augment=2"],
    "vae": ["lr=-1", "lr=nan", "batch=0", "latent=0", "beta=-1", "min_scale=0", "prior_components=0", "weight_decay=-1"],
}
for plugin, fields in AGENT_NUMBERS.items():
    for f in fields:
        case("numbers", f"{plugin} agent.{f}", train(plugin, f"agent.{f}"), f"agent.{f.split('=')[0]}")
for plugin, fields in MODEL_NUMBERS.items():
    for f in fields:
        case("numbers", f"{plugin} model.{f}", train(plugin, f"model.{f}"), f"model.{f.split('=')[0]}")
for override in ["backbone.hidden=[-4]", "backbone.hidden=[0]"]:
    case("numbers", f"ppo {override}", train("ppo", override), "backbone.hidden")
case("numbers", "data.test_fraction=2", train("ddpm", "data.test_fraction=2"), "data.test_fraction")
case("numbers", "data.size=-8", train("ddpm", "data.size=-8"), "data.size")

# -- sizes that cannot fit in memory ---------------------------------------------------------------
BIG = str(10**9)
case("memory", "ppo backbone.hidden=[10**9]", train("ppo", f"backbone.hidden=[{BIG}]"), "GiB")
case("memory", "ppo backbone.hidden=[10**5,10**5]", train("ppo", "backbone.hidden=[100000,100000]"), "GiB")
case("memory", "ppo net_arch=[10**9]", train("ppo", f"agent.net_arch=[{BIG}]"), "GiB")
case("memory", "reinforce backbone.hidden=[10**9]", train("reinforce", f"backbone.hidden=[{BIG}]"), "GiB")
case("memory", "ddpm backbone.hidden=[10**9]", train("ddpm", f"backbone.hidden=[{BIG}]"), "GiB")
case("memory", "gan backbone.hidden=[10**9]", train("gan", f"backbone.hidden=[{BIG}]"), "GiB")
case("memory", "vae backbone.hidden=[10**9]", train("vae", f"backbone.hidden=[{BIG}]"), "GiB")
case("memory", "vae latent=10**9", train("vae", f"model.latent={BIG}"), "GiB")
case("memory", "gan latent=10**9", train("gan", f"model.latent={BIG}"), "GiB")
case("memory", "ddpm cnn channels 10**6", train("ddpm", "backbone=cnn", "backbone.channels=[1000000]"), "GiB")
case("memory", "alphazero cnn channels 10**6", train("alphazero", "backbone.channels=100000"), "GiB")
case("memory", "dqn buffer_size=10**12", train("dqn", f"agent.buffer_size={10**12}"), "GiB")
case("memory", "alphazero buffer_size=10**12", train("alphazero", f"agent.buffer_size={10**12}"), "GiB")
case("memory", "alphazero games=10**9", train("alphazero", f"agent.games={BIG}"), "GiB")
case("memory", "ppo n_envs=10**9", train("ppo", f"agent.n_envs={BIG}"), "agent.n_envs")  # refused by its bound, before the size
case("memory", "ppo n_steps=10**12", train("ppo", f"agent.n_steps={10**12}", "agent.batch_size=64"), "GiB")
case("memory", "sample --n 10**9", ["sample", "{ddpm}", "--n", BIG, "--out", "{tmp}/g.png"], "GiB")
case("memory", "sample --n 10**13 npz", ["sample", "{gan}", "--n", str(10**13), "--out", "{tmp}/g.npz"], "GiB")
case("memory", "eval --n 10**13", ["eval", "{ddpm}", "--n", str(10**13)], "GiB")
case("memory", "eval --n 10**13 on a GAN", ["eval", "{gan}", "--n", str(10**13)], "GiB")
case("memory", "sample --n 10**12 on flow", ["sample", "{flow}", "--n", str(10**12), "--out", "{tmp}/g.png"], "GiB")
case("memory", "a2c n_steps=10**12", train("a2c", f"agent.n_steps={10**12}"), "GiB")
case("memory", "dqn net_arch=[10**9]", train("dqn", f"agent.net_arch=[{BIG}]"), "GiB")
case("memory", "flow backbone.hidden=[10**9]", train("flow", f"backbone.hidden=[{BIG}]"), "GiB")
case("memory", "alphazero simulations=10**9 in lockstep", train("alphazero", f"agent.simulations={BIG}", "agent.games=64"), "GiB")
case("memory", "alphazero backbone.hidden=10**9", train("alphazero", f"backbone.hidden={BIG}"), "GiB")

# -- keys and values a Gymnasium env's constructor rejects -----------------------------------------
for plugin in ("ppo", "dqn", "a2c", "reinforce"):
    case("env keys", f"{plugin} env.foo=1", train(plugin, "env.foo=1"), "env=CartPole-v1 does not take env.foo")
case("env keys", "ppo env.max_episode_steps=abc", train("ppo", "env.max_episode_steps=abc"), "env.max_episode_steps")
case("env keys", "ppo env.max_episode_steps=-3", train("ppo", "env.max_episode_steps=-3"), "env.max_episode_steps")
case("env keys", "ppo env.render_mode=bogus", train("ppo", "env.render_mode=bogus"), "render_mode")
case("env keys", "ppo MountainCar env.goal_velocity=[1]", ["train", *SMALL["ppo"], "env=MountainCar-v0", "env.goal_velocity=[1]",
                                                            "out={tmp}/new", *DISABLED], "goal_velocity")
case("env keys", "ppo Pendulum env.g=abc", ["train", *SMALL["ppo"], "env=Pendulum-v1", "env.g=abc", "out={tmp}/new", *DISABLED], "env.g")
case("env keys", "ppo Catch env.foo", ["train", "agent=ppo", "env=Catch-v0", "env.foo=1", "out={tmp}/new", *DISABLED], "env.foo")
case("env keys", "alphazero tictactoe env.foo", train("alphazero", "env.foo=1"), "env.foo")
case("env keys", "no such env", train("ppo", "env=NoSuchEnv-v9"), "NoSuchEnv-v9")
case("env keys", "ppo env.sutton_barto_reward=abc", train("ppo", "env.sutton_barto_reward=abc"), "env.sutton_barto_reward")
case("env keys", "ppo Acrobot env.render_mode=ansi", ["train", *SMALL["ppo"], "env=Acrobot-v1", "env.render_mode=ansi", "out={tmp}/new",
                                                      *DISABLED], "render_mode")

# -- YAML that expands enormously, nests deeply or is huge ------------------------------------------


def laughs(levels: int = 9, leaf: str = "8") -> str:
    """A flow list whose every level holds the previous one nine times through an alias: small as
    text, 9**levels leaves once expanded (the billion laughs)."""
    parts = [f"&l0 [{', '.join([leaf] * 9)}]"]
    parts += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


YAML_FILES = {
    "billion laughs in wandb.tags": f"model: tiny/regress\nwandb:\n  mode: disabled\n  tags: {laughs(leaf='x')}\n",
    "billion laughs in backbone.hidden": f"model: tiny/regress\nbackbone:\n  hidden: {laughs()}\n",
    "billion laughs in a float": f"model:\n  name: tiny/regress\n  lr: {laughs()}\n",
    "billion laughs of mappings": "model:\n  name: tiny/regress\n  lr: {" + ", ".join(
        ["k0: &m0 {a: 1, b: 1, c: 1, d: 1}"] + [f"k{i}: &m{i} {{a: *m{i - 1}, b: *m{i - 1}, c: *m{i - 1}, d: *m{i - 1}}}" for i in range(1, 14)]) + "}\n",
    "deep flow nesting": "model: tiny/regress\nsteps: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep block nesting": "model: tiny/regress\nwandb:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(2000)),
    "deep mapping nesting": "model: tiny/regress\nx: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "huge file": "model: tiny/regress\n" + "# padding\n" * 2_000_000,
    "huge value": "model: tiny/regress\nwandb:\n  project: " + "x" * 5_000_000 + "\n",
    "many keys": "model: tiny/regress\n" + "".join(f"k{i}: {i}\n" for i in range(200_000)),
    "binary garbage": "\x00\x01\x02model: \xff\xfe",
    "a python tag": "model: !!python/object/apply:os.system ['true']\n",
    "a scalar": "just a string\n",
}
for name in YAML_FILES:
    case("yaml", f"config file: {name}", ["train", "{tmp}/config.yaml", "out={tmp}/new", "--no-progress"], "")
case("yaml", "config file that is a directory", ["train", "{tmp}/adir.yaml", "out={tmp}/new", "--no-progress"], "adir.yaml")
case("yaml", "config file that is a FIFO", ["train", "{tmp}/fifo.yaml", "out={tmp}/new", "--no-progress"], "fifo.yaml")
case("yaml", "override value: billion laughs", ["train", *TINY_MODEL, "backbone.hidden=" + laughs(), "out={tmp}/new", "--no-progress"], "")
case("yaml", "override value: billion laughs in tags", ["train", *TINY_MODEL, "wandb.tags=" + laughs(leaf="x"), "out={tmp}/new",
                                                         "--no-progress"], "")
case("yaml", "override value: deep nesting", ["train", *TINY_MODEL, "backbone.hidden=" + "[" * 5000 + "]" * 5000, "out={tmp}/new",
                                               "--no-progress"], "backbone.hidden")
case("yaml", "override value: huge", ["train", *TINY_MODEL, "wandb.project=" + "x" * 2_000_000, "out={tmp}/new", "--no-progress"], "wandb.project")

# -- damaged run directories ----------------------------------------------------------------------


def _docs(run: Path) -> list[Path]:
    return sorted((run / "checkpoints").glob("step-*.json"))


def _edit_docs(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        for p in _docs(run):
            doc = json.loads(p.read_text())
            change(doc)
            p.write_text(json.dumps(doc))
    return damage


def _set(key: str, value: Any) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        target = doc
        *path, last = key.split(".")
        for k in path:
            target = target[k]
        target[last] = value
    return change


def _drop(key: str) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        target = doc
        *path, last = key.split(".")
        for k in path:
            target = target[k]
        del target[last]
    return change


def _edit_tensors(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        from safetensors.torch import load_file, save_file

        for p in sorted((run / "checkpoints").glob("step-*.safetensors")):
            tensors = load_file(str(p))
            change(tensors)
            save_file(tensors, str(p))
    return damage


def _first_module(tensors: dict) -> str:
    return sorted(k for k in tensors if k.startswith("modules/"))[0]


def _wrong_shape(tensors: dict) -> None:
    import torch

    k = _first_module(tensors)
    tensors[k] = torch.zeros(*(s + 3 for s in tensors[k].shape))


def _missing_tensor(tensors: dict) -> None:
    del tensors[_first_module(tensors)]


def _extra_tensor(tensors: dict) -> None:
    import torch

    tensors["modules/net/bogus.weight"] = torch.zeros(2)


def _rng_tensor(tensors: dict) -> None:
    import torch

    tensors["rng/torch"] = torch.zeros(7, dtype=torch.uint8)


def _rng_float(tensors: dict) -> None:
    import torch

    tensors["rng/torch"] = torch.full((5056,), 0.5, dtype=torch.float64)


def _replace(rel: str, kind: str, text: str = "") -> Callable[[Path], None]:
    """Replace run/rel (a glob for checkpoint names) with a directory, a FIFO, a file of ``text`` or nothing."""
    def damage(run: Path) -> None:
        paths = sorted(run.glob(rel)) or [run / rel]
        for p in paths:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            elif p.exists() or p.is_symlink():
                p.unlink()
            if kind == "dir":
                p.mkdir()
            elif kind == "fifo":
                os.mkfifo(p)
            elif kind == "text":
                p.write_text(text)
            elif kind == "bytes":
                p.write_bytes(text.encode("latin-1"))
    return damage


def _config_edit(change: Callable[[str], str]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        p = run / "config.yaml"
        p.write_text(change(p.read_text()))
    return damage


DAMAGES: dict[str, Callable[[Path], None]] = {
    "checkpoint step a string": _edit_docs(_set("step", "abc")),
    "checkpoint step a list": _edit_docs(_set("step", [1])),
    "checkpoint step negative": _edit_docs(_set("step", -4)),
    "checkpoint elapsed_seconds a string": _edit_docs(_set("elapsed_seconds", "soon")),
    "checkpoint best_score a string": _edit_docs(_set("best_score", "high")),
    "checkpoint optimizers a number": _edit_docs(_set("optimizers", 5)),
    "checkpoint optimizers missing": _edit_docs(_drop("optimizers")),
    "checkpoint param_groups garbage": _edit_docs(_set("optimizers.opt.param_groups", "x")),
    "checkpoint state a list": _edit_docs(_set("state", [1, 2])),
    "checkpoint rng a string": _edit_docs(_set("rng", "garbage")),
    "checkpoint rng.numpy short": _edit_docs(_set("rng.numpy", [1, 2])),
    "checkpoint rng.python garbage": _edit_docs(_set("rng.python", [3, "x", None])),
    "checkpoint json a list": _replace("checkpoints/step-*.json", "text", "[1, 2]"),
    "checkpoint json empty": _replace("checkpoints/step-*.json", "text", ""),
    "checkpoint json missing": _replace("checkpoints/step-*.json", "none"),
    "checkpoint json a directory": _replace("checkpoints/step-*.json", "dir"),
    "checkpoint json a FIFO": _replace("checkpoints/step-*.json", "fifo"),
    "tensors of the wrong shape": _edit_tensors(_wrong_shape),
    "a tensor missing": _edit_tensors(_missing_tensor),
    "an extra tensor": _edit_tensors(_extra_tensor),
    "rng tensor of the wrong size": _edit_tensors(_rng_tensor),
    "rng tensor of floats": _edit_tensors(_rng_float),
    "safetensors empty": _replace("checkpoints/step-*.safetensors", "text", ""),
    "safetensors garbage": _replace("checkpoints/step-*.safetensors", "bytes", "\xff" * 64),
    "safetensors missing": _replace("checkpoints/step-*.safetensors", "none"),
    "safetensors a directory": _replace("checkpoints/step-*.safetensors", "dir"),
    "safetensors a FIFO": _replace("checkpoints/step-*.safetensors", "fifo"),
    "latest.json a list": _replace("checkpoints/*.json", "text", "[1]") ,
    "latest.json names a missing step": _replace("checkpoints/latest.json", "text", '{"file": "step-000000999999"}'),
    "pointers a directory": lambda run: [_replace(f"checkpoints/{w}.json", "dir")(run) for w in ("latest", "best")],
    "pointers a FIFO": lambda run: [_replace(f"checkpoints/{w}.json", "fifo")(run) for w in ("latest", "best")],
    "checkpoints folder missing": _replace("checkpoints", "none"),
    "checkpoints folder a file": _replace("checkpoints", "text", "x"),
    "config.yaml garbage bytes": _replace("config.yaml", "bytes", "\x00\xff\xfe garbage"),
    "config.yaml a list": _replace("config.yaml", "text", "- model\n- steps\n"),
    "config.yaml empty": _replace("config.yaml", "text", ""),
    "config.yaml without the plugin": _config_edit(lambda t: "\n".join(x for x in t.splitlines() if not x.startswith(("model:", "  name: tiny")))),
    "config.yaml with an unknown key": _config_edit(lambda t: t + "bogus_key: 1\n"),
    "config.yaml with a bad value": _config_edit(lambda t: t.replace("steps: 5", "steps: many")),
    "config.yaml billion laughs": _config_edit(lambda t: t.replace("tags: []", f"tags: {laughs(leaf='x')}")),
    "config.yaml whose backbone does not fit the tensors": _config_edit(lambda t: t.replace("- 8", "- 12")),
    "config.yaml a FIFO": _replace("config.yaml", "fifo"),
    "metrics.jsonl a FIFO": _replace("metrics.jsonl", "fifo"),
    "metrics.jsonl a directory": _replace("metrics.jsonl", "dir"),
}
RESUME_ONLY = {
    "run.json a list": _replace("run.json", "text", "[1, 2]"),
    "run.json a string": _replace("run.json", "text", '"hello"'),
    "run.json not JSON": _replace("run.json", "text", "{nope"),
    "run.json id a number": _replace("run.json", "text", '{"id": 5, "created": "x"}'),
    "run.json a FIFO": _replace("run.json", "fifo"),
    "run.json a directory": _replace("run.json", "dir"),
}
for name, damage in DAMAGES.items():
    if name != "checkpoints folder missing":  # a run killed before its first checkpoint looks so, and starts afresh (issue 11.5)
        case("damaged run", f"resume: {name}", ["train", "out={run}", "steps=1000", "--no-progress"], "", damage=damage, of="model")
    case("damaged run", f"eval: {name}", ["eval", "{run}"], "", damage=damage, of="model")
    if name.startswith(("checkpoint", "tensors", "a tensor", "safetensors", "pointers", "config.yaml a")):
        case("damaged run", f"sample: {name}", ["sample", "{run}", "--n", "4", "--out", "{tmp}/g.png"], "", damage=damage, of="model")
for name, damage in RESUME_ONLY.items():
    case("damaged run", f"resume: {name}", ["train", "out={run}", "steps=1000", "--no-progress"], "", damage=damage, of="model")
for name in ("checkpoint step a string", "tensors of the wrong shape", "checkpoint json a FIFO", "pointers a FIFO",
             "config.yaml garbage bytes", "a tensor missing"):
    case("damaged run", f"play ppo: {name}", ["play", "{run}", "--record", "{tmp}/g.gif"], "", damage=DAMAGES[name], of="ppo")
for name in ("checkpoint state a list", "checkpoint rng a string"):
    case("damaged run", f"eval agent: {name}", ["eval", "{run}"], "", damage=DAMAGES[name], of="agent")
# the test bandit keeps no module (its one tensor is a buffer, any shape): a real agent's network
case("damaged run", "eval agent: tensors of the wrong shape", ["eval", "{run}"], "", damage=DAMAGES["tensors of the wrong shape"], of="ppo")

# -- output paths that cannot be written ----------------------------------------------------------
for cmd, argv in {
    "sample": ["sample", "{model}", "--n", "4", "--out"],
    "sample npz": ["sample", "{model}", "--n", "4", "--out"],
    "compare": ["compare", "{model}", "--out"],
    "play --record": ["play", "{ppo}", "--record"],
    "export --to": ["export", "{model}", "--to"],
    "sweep --out": ["sweep", *TINY_MODEL, "seed=0,1", "--out"],
}.items():
    ext = ".npz" if "npz" in cmd else ".gif" if "record" in cmd else "" if cmd.startswith(("export", "sweep")) else ".png"
    if ext:
        case("output paths", f"{cmd} to an existing directory", [*argv, "{tmp}/adir" + ext], "folder")
    else:  # a folder: an existing file is what cannot be written
        case("output paths", f"{cmd} to an existing file", [*argv, "{tmp}/afile"], "afile")
    case("output paths", f"{cmd} under a regular file", [*argv, "{tmp}/afile/x" + ext], "afile")
    case("output paths", f"{cmd} into /proc", [*argv, "/proc/sandbox-x" + ext], "/proc", code=1)
    case("output paths", f"{cmd} under a missing folder of /proc", [*argv, "/proc/nope/x" + ext], "/proc", code=1)
    case("output paths", f"{cmd} into /sys", [*argv, "/sys/sandbox-x" + ext], "/sys", code=1)
    case("output paths", f"{cmd} into a read-only folder", [*argv, "{tmp}/readonly/x" + ext], "readonly", code=1,
         skip="root writes into a read-only folder" if os.geteuid() == 0 else "")
case("output paths", "train out= under a regular file", ["train", *TINY_MODEL, "out={tmp}/afile/run", "--no-progress"], "afile")
case("output paths", "train out= an existing file", ["train", *TINY_MODEL, "out={tmp}/afile", "--no-progress"], "afile")
case("output paths", "train out= in /proc", ["train", *TINY_MODEL, "out=/proc/sandbox-run", "--no-progress"], "/proc", code=1)
case("output paths", "train out= in /sys", ["train", *TINY_MODEL, "out=/sys/sandbox/run", "--no-progress"], "/sys", code=1)

# -- flags that do not apply to the run's kind, requests that cannot be measured -------------------
case("flags", "play --opponent on CartPole", ["play", "{ppo}", "--opponent", "random", "--record", "{tmp}/g.gif"], "--opponent")
case("flags", "eval --opponent on CartPole", ["eval", "{ppo}", "--opponent", "random"], "--opponent")
case("flags", "eval --games on CartPole", ["eval", "{ppo}", "--games", "3"], "--games")
for address in ("localhost:99999", "localhost:\u00b2", "localhost:0"):
    case("flags", f"sweep --address {address}", ["sweep", *TINY_MODEL, "seed=0,1", "--address", address, "--out", "{tmp}/sw"], "HOST:PORT")
case("numbers", "device=cuda:\u00b2", ["train", *TINY_MODEL, "device=cuda:\u00b2", "out={tmp}/new", "--no-progress"], "cuda:N")
case("numbers", "agent.eval_opponents=[gnugo:\u00b2]", train("alphazero", "env=go9", "agent.eval_opponents=[gnugo:\u00b2]"),
     "agent.eval_opponents 'gnugo:\u00b2': GNU Go's level is a whole number from 0 to 10")
case("flags", "eval --episodes on a board game", ["eval", "{alphazero}", "--episodes", "3"], "--episodes")
case("flags", "eval --opponent unknown", ["eval", "{alphazero}", "--opponent", "grandmaster"], "grandmaster")
case("flags", "eval --opponent mcts:0", ["eval", "{alphazero}", "--opponent", "mcts:0"], "mcts")
case("flags", "eval --opponent mcts:abc", ["eval", "{alphazero}", "--opponent", "mcts:abc"], "mcts")
case("flags", "eval --games 0", ["eval", "{alphazero}", "--games", "0"], "--games")
case("flags", "sample on an agent run", ["sample", "{ppo}", "--n", "4", "--out", "{tmp}/g.png"], "agent run")
case("flags", "sample --sampler on a GAN", ["sample", "{gan}", "--n", "4", "--sampler", "ddim", "--out", "{tmp}/g.png"], "--sampler")
case("flags", "sample --steps on a GAN", ["sample", "{gan}", "--n", "4", "--steps", "5", "--out", "{tmp}/g.png"], "--steps")
case("flags", "sample --label on a GAN", ["sample", "{gan}", "--n", "4", "--label", "3", "--out", "{tmp}/g.png"], "--label")
case("flags", "sample --sampler unknown", ["sample", "{ddpm}", "--n", "4", "--sampler", "euler", "--out", "{tmp}/g.png"], "euler")
case("flags", "sample --steps beyond timesteps", ["sample", "{ddpm}", "--n", "4", "--steps", "50", "--out", "{tmp}/g.png"], "--steps")
case("flags", "sample --label out of range", ["sample", "{ddpm}", "--n", "4", "--label", "99", "--out", "{tmp}/g.png"], "--label")
case("flags", "sample --label negative", ["sample", "{ddpm}", "--n", "4", "--label", "-1", "--out", "{tmp}/g.png"], "--label")
case("flags", "sample --seed negative", ["sample", "{ddpm}", "--n", "4", "--seed", "-1", "--out", "{tmp}/g.png"], "--seed")
case("flags", "sample --seed huge", ["sample", "{ddpm}", "--n", "4", "--seed", str(2**70), "--out", "{tmp}/g.png"], "--seed")
case("flags", "sample --sampler of ddpm on flow", ["sample", "{flow}", "--n", "4", "--sampler", "dpm", "--out", "{tmp}/g.png"], "euler")
case("flags", "sample --label out of range on flow", ["sample", "{flow}", "--n", "4", "--label", "10", "--out", "{tmp}/g.png"], "--label")
case("flags", "eval --steps 0 on flow", ["eval", "{flow}", "--steps", "0"], "--steps")
case("flags", "eval --n 1 for FID", ["eval", "{ddpm}", "--n", "1"], "--n")
case("flags", "eval --n 1 for a GAN's FID", ["eval", "{gan}", "--n", "1"], "--n")
case("flags", "eval --sampler on a GAN", ["eval", "{gan}", "--sampler", "ddim", "--n", "8"], "--sampler")
case("flags", "eval --sampler on a VAE", ["eval", "{vae}", "--sampler", "ddim", "--n", "8"], "--sampler")
case("flags", "eval --steps 0 on ddpm", ["eval", "{ddpm}", "--steps", "0"], "--steps")
case("flags", "eval --episodes on a model", ["eval", "{ddpm}", "--episodes", "3"], "--episodes")
case("flags", "eval --draws 0", ["eval", "{ddpm}", "--n", "8", "--draws", "0"], "--draws")
case("flags", "eval --draws huge", ["eval", "{gan}", "--n", "8", "--draws", str(10**9)], "--draws")
case("flags", "eval --draws on an agent", ["eval", "{ppo}", "--draws", "3"], "--draws")
case("flags", "play --episodes -1", ["play", "{ppo}", "--episodes", "-1", "--record", "{tmp}/g.gif"], "--episodes")
case("flags", "play --human with --record", ["play", "{ppo}", "--human", "--record", "{tmp}/g.gif"], "human play")
case("flags", "compare --smooth nan", ["compare", "{model}", "--out", "{tmp}/c.png", "--smooth", "nan"], "--smooth")
case("flags", "compare --smooth -1", ["compare", "{model}", "--out", "{tmp}/c.png", "--smooth", "-1"], "below 1")
case("flags", "compare a missing run", ["compare", "{tmp}/nope", "--out", "{tmp}/c.png"], "nope")
case("flags", "compare --out .jpg", ["compare", "{model}", "--out", "{tmp}/c.jpg"], ".png")


# Cases not yet clean, by family or "family: name" (none today: every case runs): skipped so that CI
# stays fast (a case that is not refused may run until the clock stops it); SANDBOX_BAD_INPUTS_ALL=1
# runs them all.
NOT_YET: set[str] = set()
NOT_YET_CASES: set[str] = set()
if not os.environ.get("SANDBOX_BAD_INPUTS_ALL"):
    for c in CASES:
        if c.family in NOT_YET or f"{c.family}: {c.name}" in NOT_YET_CASES:
            c.skip = c.skip or "not yet clean (issue 11); SANDBOX_BAD_INPUTS_ALL=1 runs it"


# -- the machinery ---------------------------------------------------------------------------------
class WouldTrain(Exception):
    """Raised in place of a run's session: a bad input must be refused before a run starts."""


def tree_hash(*folders: Path) -> dict[str, str]:
    """Every entry under ``folders``: its kind, and the sha256 of each regular file (FIFOs are never opened)."""
    out = {}
    for folder in folders:
        for p in sorted(Path(folder).rglob("*")):
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[str(p)] = stat.filemode(st.st_mode)[0]
    return out


class Clock(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Clock("the case took more than its time (blocked on a FIFO, or did the work it should have refused)")


def call(argv: list[str], capsys: Any, seconds: int = 30) -> tuple[Any, str, str]:
    """``sandbox ARGV`` in this process: (exit code or the exception it raised, stdout, stderr)."""
    from sandbox.cli import main

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    limit = vm + 6 * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        code: Any = main(argv)
    except SystemExit as exc:
        code = exc.code
    except BaseException as exc:  # noqa: BLE001 - any escape is the failure this suite looks for
        code = f"raised {type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("suite-runs")
    made = {"model": sandbox.train(None, [*TINY_MODEL, f"out={base / 'model'}"], progress=False).dir,
            "agent": sandbox.train(None, [*TINY_AGENT, f"out={base / 'agent'}"], progress=False).dir}
    for name in ("ppo", "ddpm", "flow", "gan", "vae", "alphazero"):
        steps = {"ppo": 64, "alphazero": 20}.get(name, 2)
        made[name] = sandbox.train(None, [*SMALL[name], f"steps={steps}", "wandb.mode=disabled", f"out={base / name}"], progress=False).dir
    return {**{k: Path(v) for k, v in made.items()}, "base": base}


def _prepare(case: Case, tmp: Path, runs: dict) -> dict[str, Any]:
    (tmp / "adir.png").mkdir()
    (tmp / "adir.npz").mkdir()
    (tmp / "adir.gif").mkdir()
    (tmp / "adir.yaml").mkdir()
    (tmp / "afile").write_text("a file of the user's")
    (tmp / "readonly").mkdir()
    (tmp / "readonly").chmod(0o500)
    os.mkfifo(tmp / "fifo.yaml")
    if case.name.startswith("config file: "):
        text = YAML_FILES[case.name.removeprefix("config file: ")]
        (tmp / "config.yaml").write_bytes(text.encode("utf-8", "surrogateescape") if "\xff" not in text else text.encode("latin-1"))
    ctx: dict[str, Any] = {**runs, "tmp": tmp}
    if case.damage is not None:
        run = tmp / "run"
        shutil.copytree(runs[case.of], run, symlinks=True)
        case.damage(run)
        ctx["run"] = run
    return ctx


def check(code: Any, out: str, err: str, case: Case) -> None:
    assert code == case.code, f"exit {code!r}, not {case.code}; stderr: {err[-2000:]}"
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"{len(lines)} lines on stderr: {err[-2000:]}"
    assert lines[0].startswith("error: "), lines[0]
    assert case.expect in lines[0], f"{case.expect!r} not in {lines[0]!r}"
    assert out == "", f"stdout: {out[-500:]}"
    if case.family == "yaml":
        assert len(lines[0]) <= 250, f"{len(lines[0])} characters: {lines[0][:300]}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.family}: {c.name}" for c in CASES])
def test_bad_input_is_one_sentence(case, runs, tmp_path, capsys, monkeypatch):
    if case.skip:
        pytest.skip(case.skip)

    def refuse_to_train(self, *args, **kwargs):
        raise WouldTrain("the bad input was not refused: training began")

    monkeypatch.setattr(sandbox.run.Run, "session", refuse_to_train)
    ctx = _prepare(case, tmp_path, runs)
    argv = [a.format(**ctx) for a in case.argv]
    before = tree_hash(runs["base"], tmp_path)
    code, out, err = call(argv, capsys)
    after = tree_hash(runs["base"], tmp_path)
    new = sorted(set(after) - set(before))
    changed = sorted(k for k in before if after.get(k) != before[k])
    check(code, out, err, case)
    assert not changed, f"files already written changed: {changed[:5]}"
    assert not [p for p in new if "/new" not in p], f"files were written: {new[:5]}"
    assert not (tmp_path / "new").exists(), "a refused run made its run directory"


def test_the_suite_is_large_and_every_family_has_many_cases():
    families: dict[str, int] = {}
    for c in CASES:
        families[c.family] = families.get(c.family, 0) + 1
    assert len(CASES) >= 150, len(CASES)
    assert all(n >= 10 for n in families.values()), families
    assert len({(c.family, c.name) for c in CASES}) == len(CASES), "two cases share a name"


# -- a handful as real processes --------------------------------------------------------------------
def test_real_processes_get_one_sentence_and_the_right_exit_code(runs, tmp_path):
    (tmp_path / "bomb.yaml").write_text(YAML_FILES["billion laughs in wandb.tags"])
    damaged = tmp_path / "run"
    shutil.copytree(runs["model"], damaged)
    DAMAGES["pointers a FIFO"](damaged)
    cases = [
        (["train", str(tmp_path / "bomb.yaml"), f"out={tmp_path / 'new'}"], 2),
        (["eval", str(damaged)], 2),
        (["sample", str(runs["model"]), "--n", "4", "--out", "/proc/sandbox-x.png"], 1),
    ]
    before = tree_hash(runs["base"], tmp_path)
    for argv, code in cases:
        out = run_cli(*argv, cwd=tmp_path, timeout=120)
        assert out.returncode == code, (argv, out.returncode, out.stderr[-2000:])
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in out.stderr, (argv, out.stderr[-2000:])
        assert len(lines[0]) <= 400, lines[0]
    assert tree_hash(runs["base"], tmp_path) == before


if __name__ == "__main__":  # pragma: no cover - the per-family table: python tests/test_core_bad_inputs_suite.py
    print(len(CASES), {f: sum(c.family == f for c in CASES) for f in dict.fromkeys(c.family for c in CASES)}, file=sys.stderr)
