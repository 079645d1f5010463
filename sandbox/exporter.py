"""``sandbox export RUN --to DIR [--format hub|onnx|sb3|diffusers]``: a trained run as a folder to share.

Every format is written from the run's best checkpoint (the latest when it has no best), as
:func:`sandbox.run.load` loads it. ``hub`` is the sandbox's own folder (below); the other three are
read by other libraries, without the sandbox:

- ``onnx`` (agents): ``policy.onnx``, the policy network from the observation as the env gives it
  to the logits or Q-values (AlphaZero: from the PettingZoo observation to the policy logits and
  the value),
  named inputs and outputs, a dynamic batch axis; ``policy.json`` describes them. The plugin hands
  over its network as an :class:`OnnxGraph` (``export_onnx``), and :func:`write_onnx` writes it.
- ``sb3`` (PPO, DQN, A2C on the backbones SB3's own policies can express): a zip that plain
  stable-baselines3 loads with ``PPO.load`` / ``DQN.load`` / ``A2C.load``.
- ``diffusers`` (DDPM on the UNet or the DiT, flow matching on the UNet): for the UNet, a folder that
  ``diffusers.DDPMPipeline.from_pretrained`` loads (flow matching with its Euler scheduler); for the DiT, its ``SD3Transformer2DModel`` (the
  same noise) and ``DDPMScheduler``, which diffusers' ``from_pretrained`` loads and its README's
  loop samples (no diffusers pipeline takes that model).

A plugin writes a format with its method ``export_<format>(folder)``; the core dispatches to it (it
imports no plugin district) and refuses, in one sentence, a run whose plugin has none. Each of these
folders also holds a README.md: what the files are, how to load them, the run's config.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.errors import SandboxError

if TYPE_CHECKING:
    from sandbox.plugin import Plugin

FORMATS = ("hub", "onnx", "sb3", "diffusers")
#: what each format is, for ``sandbox export --help``
FORMAT_HELP = {
    "hub": "a Hugging Face Hub model folder (model card, config, safetensors weights, evaluation, replay or samples), "
           "read back by sandbox load/eval/play/sample",
    "onnx": "agents: policy.onnx (observation -> action logits or Q-values; AlphaZero: PettingZoo observation -> policy logits and value) "
            "with policy.json describing its inputs, outputs and preprocessing",
    "sb3": "ppo, dqn, a2c on the mlp backbone (or the Nature cnn on frames): a zip that stable-baselines3's own "
           "PPO.load / DQN.load / A2C.load reads without the sandbox",
    "diffusers": "ddpm and flow on the cnn backbone (a UNet): a folder that diffusers' DDPMPipeline.from_pretrained loads; "
                 "ddpm on the transformer backbone (a DiT): diffusers' SD3Transformer2DModel and DDPMScheduler",
}
#: which runs write each format other than hub, for the sentence that refuses the others
FORMAT_FOR = {
    "onnx": "agents (ppo, dqn, a2c, reinforce, alphazero)",
    "sb3": "ppo, dqn and a2c agents",
    "diffusers": "ddpm models on the cnn or transformer backbone (a UNet or DiT denoiser) and flow models on the cnn backbone",
}
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
           games: int | None = None, n: int | None = None, video: bool = True, which: str = "best") -> Path:
    """Write the run's best checkpoint (``which="latest"``: its latest) to the new folder ``to`` in
    ``format`` (hub, onnx, sb3 or diffusers: see the module's docstring) and return its path.

    ``hub``: a Hugging Face Hub model folder, evaluated on ``episodes``
    episodes (agents, default 10), ``games`` games against a random player (board games, default
    20) or ``n`` samples (generative models, the model's default); ``video=False`` records no
    replay when the run has none. ``push``: a Hub repository id to upload the folder to.
    """
    from sandbox.files import check_contained, check_run_dir
    from sandbox.run import is_exported

    check_format(format)
    if format != "hub":
        given = [f"--{k}" for k, v in (("episodes", episodes), ("games", games), ("n", n)) if v is not None] + ([] if video else ["--no-video"])
        if given:
            raise SandboxError(f"{given[0]} is for --format hub (its evaluation and replay); --format {format} evaluates nothing, drop it.")
    if push is not None and not REPO_ID.match(push):
        raise SandboxError(f"--push {push!r} is not a Hub repository id; give OWNER/NAME (letters, digits, '-', '_', '.').")
    for name, value in (("episodes", episodes), ("games", games), ("n", n)):
        if value is not None and value <= 0:
            raise SandboxError(f"--{name} must be a positive number, not {value}.")
    if which not in ("best", "latest"):
        raise SandboxError(f"--checkpoint {which!r} is not a checkpoint of a run; give best or latest.")
    run_dir = check_contained(check_run_dir(run_dir))
    if which == "latest" and is_exported(run_dir):
        raise SandboxError(f"--checkpoint is for a run folder made by 'sandbox train'; {run_dir} is an exported folder with one set of weights.")
    target = _check_target(Path(to), run_dir)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    try:
        tmp.mkdir()
    except OSError as exc:
        raise SandboxError(f"cannot write the export beside {target} ({exc.strerror or exc}); choose a --to in a folder you can write to.") from None
    try:
        if format == "hub":
            write_hub_folder(run_dir, tmp, episodes=episodes, games=games, n=n, video=video, folder_name=target.name, which=which)
        else:
            write_format(run_dir, tmp, format, folder_name=target.name, which=which)
        if target.exists():
            target.rmdir()  # empty (checked above)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if push is not None:
        push_folder(target, push)
    return target


def check_format(format: str) -> None:
    """Refuse, in one sentence naming the valid ones, a format ``sandbox export`` does not write."""
    if format in FORMATS:
        return
    from sandbox.registry import closest

    near = closest(str(format), list(FORMATS), n=1)
    hint = f"; did you mean {near[0]!r}?" if near else "."
    raise SandboxError(f"--format {format!r} is not one of {', '.join(FORMATS)}{hint}")


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
                     video: bool = True, folder_name: str = "THIS_FOLDER", which: str = "best") -> None:
    """Write the hub folder's files into the existing, empty folder ``out`` (to be renamed ``folder_name``)."""
    from sandbox import checkpoint
    from sandbox.plugin import Agent
    from sandbox.run import EXPORTED_WEIGHTS, load

    tensors, doc, which = best_weights(run_dir, which)
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


def best_weights(run_dir: Path, which: str = "best") -> tuple[dict[str, Any], dict[str, Any], str]:
    """The best checkpoint's module tensors and its JSON (the latest when there is no best or
    ``which`` is latest; an exported folder's own weights), less optimisers, buffers, RNG and the
    state of those buffers."""
    from sandbox import checkpoint
    from sandbox.errors import RunDirError
    from sandbox.run import EXPORTED_WEIGHTS, is_exported, load_checkpoint, read_pointer

    if is_exported(run_dir):
        which = "exported"
        loaded = checkpoint.read(run_dir / EXPORTED_WEIGHTS, which)
    else:
        which = "best" if which == "best" and read_pointer(run_dir, "best") is not None else "latest"
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


# -- the other formats: onnx, sb3, diffusers ---------------------------------------------------------------
def write_format(run_dir: Path, out: Path, format: str, folder_name: str = "THIS_FOLDER", which: str = "best") -> None:
    """Write ``format`` (not hub) into the existing, empty folder ``out`` through the plugin's
    ``export_<format>(out)``, which writes its files and returns the README's lines about them
    (``THIS_FOLDER`` standing for the folder's name, ``folder_name``); then README.md (those
    lines, where the weights come from, the run's config)."""
    from sandbox.run import load, load_run_config

    plugin = load(run_dir, which)
    name = plugin.config.plugin.name
    method = getattr(plugin, f"export_{format}", None)
    if method is None:
        raise SandboxError(f"--format {format} is for {FORMAT_FOR[format]}, not for {name} runs such as {run_dir}; "
                           "--format hub exports every run.")
    lines = [line.replace("THIS_FOLDER", folder_name) for line in method(out)]
    which, step = _checkpoint_of(run_dir, which)
    cfg = load_run_config(run_dir)
    cfg.out = None
    where = cfg.env.name if cfg.env is not None else (cfg.data.name if cfg.data is not None else "")
    backbone = f" on the `{cfg.backbone.name}` backbone" if cfg.backbone is not None else ""
    text = [f"# {DISPLAY.get(name, name)} {where} ({format})", "",
            f"A sandbox run of **{name}**{backbone}, exported with `sandbox export RUN --to {folder_name} --format {format}` "
            f"from its {which} checkpoint (step {step}).", "", *lines, "",
            "## The run's config", "", "Everything needed to train it again (saved as config.yaml: `sandbox train config.yaml`):", "",
            "```yaml", cfg.to_yaml().rstrip(), "```"]
    (out / "README.md").write_text("\n".join(text) + "\n")


def _checkpoint_of(run_dir: Path, wanted: str = "best") -> tuple[str, int | None]:
    """Which checkpoint :func:`sandbox.run.load` reads (best, latest, or an exported folder's) and its step."""
    from sandbox.run import EXPORTED_WEIGHTS, is_exported, read_pointer

    if is_exported(run_dir):
        try:
            return "exported", int(json.loads((run_dir / f"{EXPORTED_WEIGHTS}.json").read_text()).get("step"))
        except (ValueError, TypeError, OSError):
            return "exported", None
    for which in ("best", "latest") if wanted == "best" else ("latest",):
        pointer = read_pointer(run_dir, which)
        if pointer is not None:
            return which, int(pointer["file"][len("step-"):])
    return "latest", None


@dataclass
class OnnxGraph:
    """What an agent hands ``--format onnx``: its policy network and what its input and outputs are.

    ``module`` maps a batch of ``input`` (shaped and typed as ``example``, a batch of at least two
    real inputs) to the outputs named in ``outputs`` (name -> what it holds), in that order; it
    holds every step from the raw input on (casting, scaling), so a user feeds the observation
    as it comes. ``preprocessing`` says how to make the input; ``act`` how to pick an action from
    the outputs; ``about`` adds facts to policy.json (the env, the number of actions)."""

    module: Any
    example: Any
    input: str
    input_doc: str
    outputs: dict[str, str]
    preprocessing: str
    act: str
    about: dict[str, Any] = field(default_factory=dict)


#: the largest difference between onnxruntime's outputs and torch's that an export accepts
ONNX_TOLERANCE = 1e-4


def write_onnx(graph: OnnxGraph, out: Path) -> list[str]:
    """Write ``graph`` as ``out/policy.onnx`` (torch.onnx's exporter, a dynamic batch axis, the
    weights inside the file) and ``out/policy.json``; check that onnxruntime gives torch's outputs
    on ``graph.example`` (at most :data:`ONNX_TOLERANCE` apart). Returns the README's lines."""
    import contextlib
    import io
    import logging
    import warnings

    import numpy as np
    import torch

    try:
        import onnx  # noqa: F401  (torch.onnx's exporter writes through these)
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise SandboxError(f"--format onnx needs {exc.name} (pip install 'sandbox[export]', which brings onnx, onnxscript and onnxruntime).") from None
    module = graph.module.eval()
    example = graph.example
    names = list(graph.outputs)
    with torch.no_grad():
        expected = module(example)  # also lays out what a first call lays out, before tracing
    expected = expected if isinstance(expected, tuple) else (expected,)
    path = out / "policy.onnx"
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # 'torchvision is not installed' lines and the like
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), str(path), dynamo=True, verbose=False, external_data=False,
                              input_names=[graph.input], output_names=names,
                              dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise SandboxError(f"torch.onnx could not export this policy ({reason}).") from None
    finally:
        quiet.setLevel(level)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(names, {graph.input: example.cpu().numpy()})
    diff = max(float(np.max(np.abs(g - e.detach().cpu().numpy()))) for g, e in zip(got, expected))
    if not diff <= ONNX_TOLERANCE:
        raise SandboxError(f"the exported policy.onnx gives outputs up to {diff:.3g} away from torch's (more than {ONNX_TOLERANCE}); it is not kept.")

    def described(arg: Any, doc: str) -> dict[str, Any]:
        kind = arg.type.removeprefix("tensor(").removesuffix(")")
        dtype = {"float": "float32", "double": "float64"}.get(kind, kind)
        return {"name": arg.name, "shape": list(arg.shape), "dtype": dtype, "description": doc}

    inputs = [described(session.get_inputs()[0], graph.input_doc)]
    outputs = [described(o, graph.outputs[o.name]) for o in session.get_outputs()]
    model = onnx.load(str(path), load_external_data=False)
    info = {
        "file": path.name, "opset": int(max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))),
        "producer": f"torch {torch.__version__} (torch.onnx.export, dynamo)",
        "inputs": inputs, "outputs": outputs, "preprocessing": graph.preprocessing, "act": graph.act, **graph.about,
        "check": {"inputs": int(example.shape[0]), "max_abs_difference": diff, "runtime": f"onnxruntime {onnxruntime.__version__}"},
    }
    (out / "policy.json").write_text(json.dumps(info, indent=1) + "\n")

    def shape(entry: dict[str, Any]) -> str:
        return "×".join(str(s) for s in entry["shape"])

    lines = ["## Files", "",
             f"- `policy.onnx`: the policy network as an ONNX graph (opset {info['opset']}, batch axis `batch` dynamic)",
             "- `policy.json`: its inputs, outputs and preprocessing, as below", "",
             "## Inputs and outputs", "", "| name | shape | dtype | what |", "|---|---|---|---|"]
    lines += [f"| `{e['name']}` (input) | {shape(e)} | {e['dtype']} | {e['description']} |" for e in inputs]
    lines += [f"| `{e['name']}` | {shape(e)} | {e['dtype']} | {e['description']} |" for e in outputs]
    lines += ["", f"**Preprocessing.** {graph.preprocessing}", "", f"**Acting.** {graph.act}", "",
              f"onnxruntime gave torch's outputs on {info['check']['inputs']} inputs at export (largest difference {diff:.2g}).", "",
              "## Use it", "", "```python", "import numpy as np", "import onnxruntime", "",
              'session = onnxruntime.InferenceSession("THIS_FOLDER/policy.onnx")',
              f"{', '.join(names)} = session.run(None, {{\"{graph.input}\": batch}})  # batch: {shape(inputs[0])}, {inputs[0]['dtype']}",
              "```"]
    return lines


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
