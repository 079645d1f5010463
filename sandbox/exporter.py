"""``sandbox export RUN --to DIR``: a trained run as a folder to share (``--format hub``).

The ``hub`` folder is what ``huggingface_hub.upload_folder`` pushes unchanged::

    DIR/
      README.md          the model card: YAML front matter (library_name, tags, model-index with the
                         evaluation laid out as huggingface_sb3 writes it), how it was trained, how to load it
      config.yaml        the run's resolved config (out: null, so that training from it starts a new run)
      model.safetensors  the best checkpoint's modules (no optimiser, replay buffer or RNG state)
      model.json         that checkpoint's JSON (step, score, the plugin's small state)
      results.json       the evaluation done at export (agents: mean_reward / std_reward, as huggingface_sb3)
      replay.mp4         agents: an episode of the exported policy (the run's video of that checkpoint, or a new one)
      samples.png        generative models: a grid of samples (seed 0)

No W&B files, metrics or checkpoint history. ``sandbox.load(DIR)`` and ``sandbox eval/play/sample
DIR`` read it as they read a run (``model.safetensors`` + ``model.json`` stand for the checkpoint
pair, see :func:`sandbox.run.load`): safetensors and JSON only, nothing unpickled.

The folder is written under a temporary name beside ``DIR`` and renamed into place when whole, so a
failed export leaves nothing half-written. ``--push REPO_ID`` uploads the finished folder when there
is a login and a network; without them it says so in one sentence (exit 1) and the folder stays.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.plugin import Plugin

FORMATS = ("hub", "onnx", "sb3", "diffusers")
#: keys of a plugin's checkpoint state that describe the buffers an export leaves out (DQN's replay
#: buffer, AlphaZero's replay buffer and Elo snapshots): dropped with them
STATE_LEFT_OUT = ("replay", "snapshots", "buffer_pos", "elo")
#: the metrics of a generative model's card, when its evaluation has them (the rest stay in results.json)
CARD_METRICS = ("fid", "fid_floor", "precision", "recall", "elbo_nats", "bits_per_dim",
                "sliced_wasserstein", "sliced_wasserstein_floor", "mmd", "mmd_floor")
#: how the card names each plugin
DISPLAY = {"ppo": "PPO", "dqn": "DQN", "a2c": "A2C", "reinforce": "REINFORCE", "alphazero": "AlphaZero",
           "ddpm": "DDPM", "flow": "Flow matching", "gan": "GAN", "vae": "VAE"}
#: the agents whose algorithm is stable-baselines3's (the rest are the sandbox's own implementations)
SB3_AGENTS = ("ppo", "dqn", "a2c")
#: tags of each generative model kind, beside its own name
MODEL_TAGS = {"ddpm": ["diffusion"], "flow": ["flow-matching"], "gan": ["gan"], "vae": ["vae"]}
#: a Hub repository id: NAME or OWNER/NAME (letters, digits, '-', '_', '.')
REPO_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}$")


class PushError(SandboxError):
    """The upload failed (no login, no network); the exported folder is whole and stays."""

    exit_code = 1


def export(run_dir: str | Path, to: str | Path, format: str = "hub", push: str | None = None, episodes: int | None = None,
           games: int | None = None, n: int | None = None, video: bool = True) -> Path:
    """Write the run's best checkpoint to the new folder ``to`` in ``format`` and return its path.

    ``hub``: a Hugging Face Hub model folder (see the module's docstring), evaluated on ``episodes``
    episodes (agents, default 10), ``games`` games against a random player (board games, default
    20) or ``n`` samples (generative models, the model's default); ``video=False`` records no
    replay when the run has none. ``push``: a Hub repository id to upload the folder to.
    """
    from sandbox.files import check_contained, check_run_dir

    if format not in FORMATS:
        raise SandboxError(f"--format {format} is not one of {', '.join(FORMATS)}.")
    if format != "hub":
        raise SandboxError(f"--format {format} is not written yet; --format hub is (the default).")
    if push is not None and not REPO_ID.match(push):
        raise SandboxError(f"--push {push!r} is not a Hub repository id; give OWNER/NAME (letters, digits, '-', '_', '.').")
    for name, value in (("episodes", episodes), ("games", games), ("n", n)):
        if value is not None and value <= 0:
            raise SandboxError(f"--{name} must be a positive number, not {value}.")
    run_dir = check_contained(check_run_dir(run_dir))
    target = _check_target(Path(to), run_dir)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise SandboxError(f"cannot write the export beside {target} ({exc.strerror or exc}); choose a --to in a folder you can write to.") from None
    try:
        write_hub_folder(run_dir, tmp, episodes=episodes, games=games, n=n, video=video, folder_name=target.name)
        if target.exists():
            target.rmdir()  # empty (checked above)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if push is not None:
        push_folder(target, push)
    return target


def _check_target(to: Path, run_dir: Path) -> Path:
    """``to`` if a new folder can be written there: not an existing file or non-empty folder, not
    inside the run, in a folder that exists or can be made and that can be written to."""
    if to.is_symlink():
        raise SandboxError(f"--to {to} is a symbolic link; give a new folder.")
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        what = "a file" if not to.is_dir() else "a folder that is not empty"
        raise SandboxError(f"--to {to} is {what}; give a new or empty folder (nothing was written).")
    resolved, run = to.resolve(), run_dir.resolve()
    if resolved == run or run in resolved.parents:
        raise SandboxError(f"--to {to} lies inside the run directory {run_dir}; give a folder outside it.")
    parent = to.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SandboxError(f"cannot make the folder {parent} for --to ({exc.strerror or exc}); choose a --to you can write to.") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SandboxError(f"cannot write in {parent} (permission denied); choose a --to you can write to.")
    return to


# -- the hub folder ---------------------------------------------------------------------------------
def write_hub_folder(run_dir: Path, out: Path, episodes: int | None = None, games: int | None = None, n: int | None = None,
                     video: bool = True, folder_name: str = "THIS_FOLDER") -> None:
    """Write the hub folder's files into the existing, empty folder ``out`` (to be renamed ``folder_name``)."""
    from sandbox import checkpoint
    from sandbox.plugin import Agent
    from sandbox.run import EXPORTED_WEIGHTS, load

    tensors, doc, which = best_weights(run_dir)
    step = int(doc.get("step", 0))
    _write_config(run_dir, out)
    checkpoint.write(out / EXPORTED_WEIGHTS, tensors, {k: v for k, v in doc.items() if k != "format"})
    plugin = load(out)  # the folder as a user will load it
    results = evaluate(plugin, episodes=episodes, games=games, n=n)
    media = None
    if isinstance(plugin, Agent):
        media = _replay(plugin, run_dir, step, out / "replay.mp4", video)
    else:
        media = _sample_grid(plugin, out / "samples.png")
    info = _run_info(run_dir)
    results.update(checkpoint=which, checkpoint_step=step, checkpoint_score=doc.get("score"),
                   training_steps=info.get("step", step), training_seconds=info.get("elapsed_seconds", doc.get("elapsed_seconds")))
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "README.md").write_text(model_card(plugin, results, (out / "config.yaml").read_text(), media, folder_name))


def best_weights(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The best checkpoint's module tensors and its JSON (the latest when there is no best; an
    exported folder's own weights), less optimisers, buffers, RNG and the state of those buffers."""
    from sandbox import checkpoint
    from sandbox.errors import RunDirError
    from sandbox.run import EXPORTED_WEIGHTS, is_exported, load_checkpoint, read_pointer

    if is_exported(run_dir):
        which = "exported"
        loaded = checkpoint.read(run_dir / EXPORTED_WEIGHTS, which)
    else:
        which = "best" if read_pointer(run_dir, "best") is not None else "latest"
        loaded = load_checkpoint(run_dir, which)
    if loaded is None:
        raise RunDirError(f"{run_dir} has no checkpoint yet; train it first ('sandbox train out={run_dir}').")
    tensors, doc = loaded
    kept = {k: v for k, v in tensors.items() if k.startswith("modules/")}
    state = {k: v for k, v in (doc.get("state") or {}).items() if k not in STATE_LEFT_OUT}
    small = {k: doc[k] for k in ("step", "elapsed_seconds", "score", "best_score") if k in doc}
    return kept, {**small, "state": state}, which


def _write_config(run_dir: Path, out: Path) -> None:
    """config.yaml: the run's config with out: null (its comment lines, such as the tuned values' note, kept)."""
    from sandbox.run import load_run_config

    cfg = load_run_config(run_dir)
    cfg.out = None
    head = "".join(line + "\n" for line in (run_dir / "config.yaml").read_text().splitlines() if line.startswith("#"))
    (out / "config.yaml").write_text(head + cfg.to_yaml())


def _run_info(run_dir: Path) -> dict[str, Any]:
    """run.json (steps and seconds trained), or what an exported folder's results.json kept of it."""
    for name, keys in (("run.json", ("step", "elapsed_seconds")), ("results.json", ("training_steps", "training_seconds"))):
        path = run_dir / name
        if path.is_file() and not path.is_symlink():
            try:
                data = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(data, dict):
                return {"step": data.get(keys[0]), "elapsed_seconds": data.get(keys[1])}
    return {}


def evaluate(plugin: Plugin, episodes: int | None = None, games: int | None = None, n: int | None = None) -> dict[str, Any]:
    """The export's evaluation. Agents: ``mean_reward``, ``std_reward``, ``n_eval_episodes``,
    ``is_deterministic`` and ``eval_datetime`` as huggingface_sb3's results.json has them (board
    games: the score +1 win, 0 draw, -1 loss per game against a random player, and the counts);
    generative models: what ``sandbox eval`` prints. The sandbox's own result is under ``sandbox``."""
    from sandbox.plugin import Agent

    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if not isinstance(plugin, Agent):
        result = plugin.evaluate(**({"n": n} if n else {}))
        return {**{k: v for k, v in result.items()}, "eval_datetime": now, "sandbox": result}
    if plugin.config.plugin.name == "alphazero" or hasattr(plugin, "game"):
        count = games or episodes or 20
        result = plugin.evaluate(games=count, opponent="random")
        played = int(result.get("games", count))
        win, loss = int(result.get("win", 0)), int(result.get("loss", 0))
        mean = (win - loss) / played
        std = math.sqrt(max(0.0, (win + loss) / played - mean * mean))  # scores are +1, 0, -1
        return {"mean_reward": mean, "std_reward": std, "is_deterministic": True, "n_eval_episodes": played,
                "opponent": "random", "win_rate": result.get("win_rate"), "eval_datetime": now, "sandbox": result}
    result = plugin.evaluate(episodes=episodes or 10)
    return {"mean_reward": result["mean_return"], "std_reward": result["std_return"], "is_deterministic": True,
            "n_eval_episodes": result["episodes"], "eval_datetime": now, "sandbox": result}


def _replay(plugin: Plugin, run_dir: Path, step: int, path: Path, video: bool) -> str | None:
    """replay.mp4: the run's video of the exported checkpoint's evaluation when it has one, else a
    new episode recorded (``video``); the file's name, or None."""
    import inspect

    recorded = run_dir / "media" / f"eval-step-{step:09d}.mp4"
    source = run_dir / "replay.mp4" if (run_dir / "replay.mp4").is_file() else recorded
    if source.is_file() and not source.is_symlink():
        shutil.copyfile(source, path)
        return path.name
    if not video:
        return None
    options: dict[str, Any] = {}
    if "max_steps" in inspect.signature(plugin.play).parameters:
        options["max_steps"] = getattr(plugin.cfg, "video_max_steps", None)
    plugin.play(episodes=1, record=path, **options)
    return path.name if path.is_file() else None


def _sample_grid(plugin: Plugin, path: Path) -> str:
    """samples.png: 64 samples of seed 0 as a grid (2-D sets: 2000 points over the held-out data)."""
    import numpy as np

    from sandbox.tracking import image_grid, scatter_picture, write_png

    data = getattr(plugin, "data", None)
    points = data is not None and data.kind == "points"
    samples = plugin.sample(2000 if points else 64, seed=0)
    arr = samples.detach().cpu().numpy() if hasattr(samples, "detach") else np.asarray(samples)
    picture = scatter_picture(data.x_test.numpy(), arr, f"{len(arr)} samples") if points else image_grid(arr)
    write_png(path, picture)
    return path.name


# -- the model card -----------------------------------------------------------------------------------
def card_metadata(plugin: Plugin, results: dict[str, Any]) -> dict[str, Any]:
    """The YAML front matter: library_name, tags, pipeline_tag and the model-index, whose result
    is laid out as huggingface_hub's ``metadata_eval_result`` (which huggingface_sb3 uses) writes it."""
    from sandbox.plugin import Agent

    cfg = plugin.config
    name = cfg.plugin.name
    backbone = cfg.backbone.name if cfg.backbone is not None else None
    if isinstance(plugin, Agent):
        env_id = cfg.env.name
        own = "stable-baselines3" if name in SB3_AGENTS else "custom-implementation"
        tags = [env_id, "reinforcement-learning", "deep-reinforcement-learning", "deep-rl-course", own, name, "sandbox"]
        task = "reinforcement-learning"
        dataset = env_id
        metrics = [{"type": "mean_reward", "value": f"{results['mean_reward']:.2f} +/- {results['std_reward']:.2f}",
                    "name": "mean_reward", "verified": False}]
        model_name = f"{name}-{env_id}"
    else:
        dataset = cfg.data.name
        task = "unconditional-image-generation"  # a class-conditional model also samples without a label
        tags = [*MODEL_TAGS.get(name, []), name, dataset, task, "sandbox"]
        if getattr(plugin, "conditional", False) is True:
            tags.append("class-conditional")
        measured = results.get("sandbox", results)
        metrics = [{"type": k, "value": round(float(measured[k]), 4), "name": k, "verified": False}
                   for k in CARD_METRICS if isinstance(measured.get(k), (int, float))]
        model_name = f"{name}-{dataset}"
    if backbone is not None:
        tags.append(f"backbone-{backbone}")
    seen: set[str] = set()
    tags = [t for t in tags if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]
    return {
        "library_name": "sandbox",
        "tags": tags,
        "pipeline_tag": task,
        "model-index": [{
            "name": model_name,
            "results": [{
                "task": {"type": task, "name": task},
                "dataset": {"name": dataset, "type": dataset},
                "metrics": metrics,
            }],
        }],
    }


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "an unrecorded time"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def model_card(plugin: Plugin, results: dict[str, Any], config_yaml: str, media: str | None, folder: str = "THIS_FOLDER") -> str:
    """README.md: the front matter, then what the model is, how it was trained and how to load it
    (from ``folder``, the exported folder's name)."""
    import yaml

    from sandbox.plugin import Agent

    meta = card_metadata(plugin, results)
    cfg = plugin.config
    name = cfg.plugin.name
    title = DISPLAY.get(name, name)
    backbone = f"the `{cfg.backbone.name}` backbone" if cfg.backbone is not None else "its own networks"
    agent = isinstance(plugin, Agent)
    where = cfg.env.name if agent else cfg.data.name
    steps = results.get("training_steps")
    unit = "env steps" if agent else "updates"
    if agent and hasattr(plugin, "game"):
        unit = "self-play moves"
    score = results.get("checkpoint_score")
    which = {"best": "the best checkpoint", "latest": "the latest checkpoint (the run kept no best)", "exported": "the exported weights"}
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    if agent:
        lines += [f"# {title} agent playing {where}", "",
                  f"A **{name}** agent playing **{where}**, trained with the sandbox on {backbone} "
                  f"({'stable-baselines3' if name in SB3_AGENTS else 'the sandbox'}'s {name})."]
    else:
        lines += [f"# {title} on {where}", "", f"A **{name}** generative model of **{where}**, trained with the sandbox on {backbone}."]
    lines += ["", "## Training", "",
              f"Trained for {steps if steps is not None else 'an unrecorded number of'} {unit} in {_duration(results.get('training_seconds'))} "
              f"with seed {cfg.seed}, from the config below (`config.yaml`). These weights are "
              f"{which.get(str(results.get('checkpoint')), 'a checkpoint')}, at step {results.get('checkpoint_step')}"
              + (f" (evaluation score {score:.4g} during training)." if isinstance(score, (int, float)) else "."),
              "", "```yaml", config_yaml.rstrip(), "```", "", "## Evaluation", ""]
    if agent:
        opponent = " against a random player (score +1 a win, 0 a draw, -1 a loss)" if "opponent" in results else ""
        lines += [f"`mean_reward` {results['mean_reward']:.2f} +/- {results['std_reward']:.2f} over {results['n_eval_episodes']} "
                  f"{'games' if opponent else 'episodes'}{opponent}, greedy actions, at export ({results['eval_datetime']}); "
                  "the whole result is in `results.json`."]
    else:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {m['name']} | {m['value']} |" for m in meta["model-index"][0]["results"][0]["metrics"]]
        lines += ["", "FID here is the sandbox's domain FID (a feature network trained on the data set), not Inception's; "
                  "the whole result is in `results.json`."]
    if media:
        lines += ["", f"![{'replay' if agent else 'samples'}]({media})"]
    lines += ["", "## Use it", "", "With the sandbox installed (`pip install -e .` in its repository), in the folder's parent:", "", "```"]
    if agent:
        lines += [f"sandbox play {folder} --record game.mp4   # or without --record: in a window",
                  f"sandbox eval {folder} --json"]
    else:
        lines += [f"sandbox sample {folder} --n 64 --out grid.png",
                  f"sandbox eval {folder} --json"]
    lines += ["```", "", "From Python:", "", "```python", "import sandbox", "", f'model = sandbox.load("{folder}")']
    if agent and hasattr(plugin, "game"):
        lines += [f"# a PettingZoo {where} observation dict: its 'observation' and 'action_mask'",
                  "action = model.act(obs['observation'], obs['action_mask'])"]
    elif agent:
        lines += ["env = model.make_env()                         # the env as the agent reads it",
                  "obs, _ = env.reset(seed=0)",
                  "action = model.act(obs)                        # greedy unless deterministic=False"]
    else:
        lines += ["images = model.sample(16, seed=0)              # N×C×H×W in [0, 1]"]
    lines += ["```", "",
              "From the Hub: `huggingface_hub.snapshot_download(REPO_ID)` gives the folder. Loading reads `config.yaml`, "
              "`model.safetensors` and `model.json` only; nothing is unpickled.", "",
              "## Files", "",
              "- `config.yaml`: the run's resolved config (everything needed to train it again)",
              "- `model.safetensors`, `model.json`: the weights and their checkpoint's state",
              "- `results.json`: the evaluation above"]
    if media:
        lines += [f"- `{media}`: {'an episode of this policy' if agent else 'samples of seed 0'}"]
    return "\n".join(lines) + "\n"


def read_card(path: str | Path) -> tuple[dict[str, Any], str]:
    """A model card's front matter (parsed YAML) and its text."""
    import yaml

    text = Path(path).read_text()
    if not text.startswith("---\n"):
        raise SandboxError(f"{path} has no YAML front matter.")
    head, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise SandboxError(f"{path}'s front matter is not closed by a '---' line.")
    return yaml.safe_load(head), body


# -- pushing ------------------------------------------------------------------------------------------
def push_folder(folder: Path, repo_id: str) -> str:
    """Upload ``folder`` to the Hub model repository ``repo_id`` (made if need be); a PushError
    (exit 1) in one sentence when there is no login or no network. Returns the repository's address."""
    try:
        import huggingface_hub
    except ImportError:
        raise PushError(f"not pushed: huggingface_hub is not installed (pip install huggingface_hub); the folder is at {folder}.") from None
    again = f"the folder stays at {folder}; push it later with 'hf upload {repo_id} {folder}' (or huggingface_hub.upload_folder)"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise PushError(f"not pushed to {repo_id}: HF_HUB_OFFLINE is set; {again}.")
    token = huggingface_hub.get_token()
    if token is None:
        raise PushError(f"not pushed to {repo_id}: there is no Hugging Face login on this machine ('hf auth login' or HF_TOKEN); {again}.")
    try:
        api = huggingface_hub.HfApi(token=token)
        url = api.create_repo(repo_id, repo_type="model", exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", commit_message="sandbox export")
    except Exception as exc:  # no network, a refused login, a server error: one sentence, the folder stays
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise PushError(f"not pushed to {repo_id} ({reason}); {again}.") from None
    print(f"pushed {folder} to {url}", file=sys.stderr)
    return str(url)
