"""``sandbox sample DIR`` / ``sandbox eval DIR --data NAME`` on a diffusers pipeline folder.

A folder written by diffusers' ``DDPMPipeline`` or ``DDIMPipeline`` ``save_pretrained`` (ours from
``RUN_DIR/pipeline`` or ``sandbox export --format diffusers``, or anyone's) holds
``model_index.json``, ``unet/`` (``config.json`` and the weights) and ``scheduler/``
(``scheduler_config.json``). It is read as data, never as code:

1. ``model_index.json`` must name ``DDPMPipeline`` or ``DDIMPipeline`` with a ``UNet2DModel`` and a
   ``DDPMScheduler``, ``DDIMScheduler`` or ``FlowMatchEulerDiscreteScheduler`` (diffusers' own
   classes: nothing is imported by a name the folder chooses);
2. the UNet is built from its ``config.json`` and its weights read from
   ``diffusion_pytorch_model.safetensors`` only: a folder with ``.bin`` weights alone (a pickle)
   is refused in one sentence, never unpickled;
3. the scheduler's config is the training schedule (T, betas, prediction type, clipping).

The result is a :class:`~sandbox.generative.ddpm.DDPM` whose denoiser is that UNet, so the sandbox's
samplers (``dpm``, ``ddim``, ``ddpm``, any number of steps), its progress bar, its ``--n`` memory
check and, with a data set, its FID all apply. Without ``--sampler``, a ``DDIMPipeline`` folder
samples with ``ddim`` and a ``DDPMPipeline`` one with ``dpm`` (DPM-Solver++), both in 20 steps; with
the same seed, ``--sampler ddim --steps K`` draws what ``DDIMPipeline(num_inference_steps=K)``
draws.

A ``DDPMPipeline`` whose scheduler is ``FlowMatchEulerDiscreteScheduler`` (what a flow-matching run
exports) is a :class:`~sandbox.generative.flow.Flow` instead: its UNet predicts the velocity, and it
samples with ``euler`` (what the pipeline's own loop draws, for the same seed) or ``heun``, 10 and 5
steps by default.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sandbox.errors import ConfigError, RunDirError, SandboxError
from sandbox.generative.ddpm import DDPM, DDPMConfig, default_steps
from sandbox.generative.flow import Flow, FlowConfig
from sandbox.generative.flow import default_steps as flow_steps

#: the pipelines read, with the sampler each samples with by default
PIPELINES = {"DDPMPipeline": "dpm", "DDIMPipeline": "ddim"}
#: the schedulers whose config is a training schedule these pipelines use
SCHEDULERS = ("DDPMScheduler", "DDIMScheduler", "FlowMatchEulerDiscreteScheduler")
#: the largest JSON file read from a folder (a config is a few kilobytes)
JSON_BYTES = 1 << 20
WEIGHTS = "diffusion_pytorch_model.safetensors"


def _read_json(path: Path) -> dict[str, Any]:
    if path.is_symlink() or not path.is_file():
        raise RunDirError(f"{path} should be a regular file of the pipeline folder and is not (missing, a link or not a file); "
                          "give a folder written by diffusers' save_pretrained.")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(JSON_BYTES + 1)
        if len(raw) > JSON_BYTES:
            raise RunDirError(f"{path} is larger than {JSON_BYTES >> 10} KiB, too large for a diffusers config.")
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        if isinstance(exc, SandboxError):
            raise
        raise RunDirError(f"{path} is not readable JSON ({str(exc).splitlines()[0][:120]}).") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path} holds JSON of the wrong shape (a {type(data).__name__}, not an object).")
    return data


def _component(index: dict[str, Any], name: str, allowed: tuple[str, ...], folder: Path) -> str:
    entry = index.get(name)
    if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == "diffusers" and entry[1] in allowed):
        raise RunDirError(f"{folder}/model_index.json names {name} {entry!r}; the sandbox reads diffusers' "
                          f"{' or '.join(allowed) if len(allowed) < 3 else ', '.join(allowed[:-1]) + ' or ' + allowed[-1]} there.")
    return str(entry[1])


def read_unet(folder: Path) -> Any:
    """The ``UNet2DModel`` of ``folder/unet``: built from its config, weights from safetensors only."""
    from diffusers import UNet2DModel
    from safetensors.torch import load_file

    unet_dir = folder / "unet"
    weights = unet_dir / WEIGHTS
    if not weights.exists():
        pickled = sorted(p.name for p in unet_dir.glob("*.bin")) if unet_dir.is_dir() else []
        if pickled:
            raise RunDirError(f"{unet_dir} holds its weights only as {pickled[0]} (a pickle), which the sandbox never loads; "
                              "save the pipeline with save_pretrained(..., safe_serialization=True) for safetensors.")
        raise RunDirError(f"{unet_dir} has no {WEIGHTS}; give a pipeline folder written by diffusers' save_pretrained.")
    if weights.is_symlink() or not weights.is_file():
        raise RunDirError(f"{weights} should be a regular file of the pipeline folder and is not (a link or not a file).")
    config = _read_json(unet_dir / "config.json")
    if config.get("num_class_embeds") or config.get("class_embed_type"):
        raise ConfigError(f"{unet_dir}'s UNet is class-conditional, and a {', '.join(PIPELINES)} passes it no labels; "
                          "the sandbox reads unconditional UNets from pipeline folders.")
    if config.get("in_channels") != config.get("out_channels"):
        raise ConfigError(f"{unet_dir}'s UNet maps {config.get('in_channels')} channels to {config.get('out_channels')}; "
                          "a denoiser gives as many as it takes.")
    try:
        with _quiet_diffusers():
            unet = UNet2DModel.from_config(config)
        state = load_file(str(weights))
        unet.load_state_dict(state, strict=True)
    except SandboxError:
        raise
    except Exception as exc:  # a config diffusers cannot build, tensors that do not fit it, a damaged file
        raise RunDirError(f"{unet_dir} does not hold a UNet2DModel diffusers can build with its weights "
                          f"({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}).") from None
    return unet.float().eval()


class _quiet_diffusers:
    """diffusers' info and warning lines (unused config keys, deprecations) off while a folder is read."""

    def __enter__(self) -> None:
        from diffusers.utils import logging

        self.level = logging.get_verbosity()
        logging.set_verbosity_error()

    def __exit__(self, *exc: Any) -> None:
        from diffusers.utils import logging

        logging.set_verbosity(self.level)


class PipelineUNet(nn.Module):
    """A pipeline's ``UNet2DModel`` behind the sandbox's denoiser protocol (no labels)."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.unet(x, t).sample


class PipelineParts:
    """What a pipeline folder is, whatever it samples: a UNet without labels, built by
    :func:`load_pipeline` rather than from a config; it samples and evaluates, it does not train."""

    folder: Path
    data: Any

    def _set_up(self, folder: Path, unet: nn.Module, data: Any) -> None:
        from sandbox.device import resolve_device

        # not DataModel.__init__: there is no run config and no data set to train on
        self.config = None
        self.folder = folder
        self.device = resolve_device("auto")
        self.data = data
        self.spec = None
        self.num_classes = None
        self.conditional = False
        self.accelerator = None
        self.model = PipelineUNet(unet).to(self.device)
        self.ema = None
        self.progress = None

    def make_sampler(self, sampler: str, steps: int) -> Any:
        with _quiet_diffusers():
            return super().make_sampler(sampler, steps)  # type: ignore[misc]

    def sample_labels(self, n: int, label: int | None, g: torch.Generator) -> torch.Tensor | None:
        if label is not None:
            raise ConfigError(f"{self.folder} is an unconditional pipeline (its UNet takes no labels); drop --label.")
        return None

    def fit(self, run: Any) -> None:
        raise ConfigError(f"{self.folder} is a diffusers pipeline folder, which the sandbox samples and evaluates; "
                          "it does not train it.")

    def evaluate(self, n: int | None = None, during_training: bool = False, **options: Any) -> dict[str, Any]:
        """FID, precision and recall against the data set given with ``--data``."""
        if self.data.name is None:
            raise ConfigError(f"evaluating the pipeline folder {self.folder} needs the data set its FID compares with: "
                              "add --data NAME (e.g. --data digits).")
        return super().evaluate(n=n, during_training=during_training, **options)  # type: ignore[misc, no-any-return]


class PipelineModel(PipelineParts, DDPM):
    """A diffusers ``DDPMPipeline`` / ``DDIMPipeline`` folder as a sandbox DDPM: its UNet, its
    training schedule, and the sandbox's samplers, progress bar and metrics."""

    def __init__(self, folder: Path, unet: nn.Module, scheduler: Any, own_sampler: str, data: Any) -> None:  # noqa: D107
        self._set_up(folder, unet, data)
        cfg = DDPMConfig()
        cfg.timesteps = int(scheduler.config.num_train_timesteps)
        cfg.beta_schedule = scheduler.config.beta_schedule
        cfg.ema, cfg.sampler, cfg.eval_sampler = 0.0, own_sampler, own_sampler
        cfg.steps = default_steps(own_sampler, cfg.timesteps)
        self.cfg = cfg
        self.scheduler = scheduler
        self._noted_old_default = False


class PipelineFlow(PipelineParts, Flow):
    """A ``DDPMPipeline`` folder with diffusers' ``FlowMatchEulerDiscreteScheduler`` (a flow-matching
    UNet, as a flow run exports it) as a sandbox Flow: Euler (the pipeline's own loop) or Heun."""

    def __init__(self, folder: Path, unet: nn.Module, scheduler: Any, data: Any) -> None:  # noqa: D107
        self._set_up(folder, unet, data)
        cfg = FlowConfig()
        cfg.ema, cfg.guidance = 0.0, 1.0
        cfg.steps = flow_steps(cfg.sampler)
        self.cfg = cfg
        self.scheduler = scheduler
        self.updates = 0


def _data_for(spec: str | None, shape: tuple[int, int, int], folder: Path) -> Any:
    """The data set ``spec`` names (``NAME`` or ``NAME,key=value,...``: ``mnist,path=DIR``) at the
    pipeline's image shape (its ``size`` option, unless given, set to the UNet's side, said on
    stderr, where the data set has one), or a stand-in with the shape alone."""
    import yaml

    from sandbox.config import parse_yaml
    from sandbox.generative.data import Dataset, factory, load_data

    c, h, w = shape
    if spec is None:
        empty = torch.empty((0, c, h, w))
        return Dataset(None, "image", empty, None, empty, None, None)  # type: ignore[arg-type]
    name, *pairs = spec.split(",")
    make = factory(name)  # an unknown name: one sentence with the closest ones
    if getattr(make, "kind", "image") != "image":
        raise ConfigError(f"--data {name} is a 2-D point set; a pipeline folder makes {c}×{h}×{w} images.")
    options: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--data {spec}: {pair!r} is not key=value; give --data NAME or NAME,key=value (e.g. mnist,path=DIR).")
        try:
            options[key.strip()] = parse_yaml(value, f"--data {name}.{key.strip()}") if value.strip() else value
        except yaml.YAMLError:
            options[key.strip()] = value
    given_size = "size" in options
    fields = getattr(getattr(make, "Config", None), "__dataclass_fields__", {})
    if "size" in fields and h == w and "size" not in options:
        options["size"] = h
    section = type("Section", (), {"name": name, "config": options})()
    try:
        ds = load_data(section, seed=0)
    except ConfigError as exc:
        raise ConfigError(f"--data {name} cannot be made at the pipeline's {h}×{w} images ({str(exc).rstrip('.')}); "
                          f"its options go after its name: --data {name},key=value.") from None
    if tuple(ds.shape) != (c, h, w):
        raise ConfigError(f"--data {name} has {'×'.join(map(str, ds.shape))} images and {folder}'s UNet makes {c}×{h}×{w}; "
                          "give a data set of the pipeline's images.")
    if not given_size and options.get("size") is not None and getattr(fields.get("size"), "default", h) != h:
        print(f"note: --data {name} made at size {h}, the pipeline's images.", file=sys.stderr)
    return ds


def _check_flow_schedule(folder: Path, kind: str, config: Any) -> None:
    """One sentence for a flow-matching schedule the sandbox's flow samplers cannot follow."""
    if kind != "DDPMPipeline":
        raise RunDirError(f"{folder} pairs a {kind} with a flow-matching scheduler; the sandbox reads a flow-matching UNet in a DDPMPipeline folder.")
    if config.get("use_dynamic_shifting"):
        raise RunDirError(f"{folder}'s flow-matching scheduler shifts its schedule by the image size (use_dynamic_shifting, as "
                          "Stable Diffusion 3 and Flux pipelines do), which a DDPMPipeline never sets; the sandbox reads a fixed shift.")
    shift = config.get("shift")
    if isinstance(shift, bool) or not isinstance(shift, (int, float)) or not 0 < shift <= 100:
        raise RunDirError(f"{folder}'s flow-matching scheduler has shift {shift!r}; a shift is a number above 0 and at most 100 (1: evenly spaced).")


def load_pipeline(folder: str | Path, data: str | None = None) -> PipelineModel | PipelineFlow:
    """The diffusers pipeline at ``folder`` (DDPMPipeline or DDIMPipeline, safetensors weights) as a
    sandbox generative model; ``data`` names the data set ``evaluate`` compares with. Reads only
    JSON and safetensors; anything else is a SandboxError in one sentence."""
    from diffusers import DDIMScheduler, DDPMScheduler, FlowMatchEulerDiscreteScheduler

    folder = Path(folder)
    index = _read_json(folder / "model_index.json")
    kind = index.get("_class_name")
    if kind not in PIPELINES:
        raise RunDirError(f"{folder} holds a diffusers {kind or 'pipeline of no named class'}; the sandbox samples "
                          f"{' and '.join(PIPELINES)} folders.")
    _component(index, "unet", ("UNet2DModel",), folder)
    sched_name = _component(index, "scheduler", SCHEDULERS, folder)
    sched_config = _read_json(folder / "scheduler" / "scheduler_config.json")
    cls = {"DDPMScheduler": DDPMScheduler, "DDIMScheduler": DDIMScheduler, "FlowMatchEulerDiscreteScheduler": FlowMatchEulerDiscreteScheduler}[sched_name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    try:
        with _quiet_diffusers():
            scheduler = cls.from_config({k: v for k, v in sched_config.items() if k in accepted})
    except Exception as exc:
        raise RunDirError(f"{folder}/scheduler/scheduler_config.json is not a {sched_name} diffusers can build "
                          f"({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}).") from None
    flow = sched_name == "FlowMatchEulerDiscreteScheduler"
    if flow:
        _check_flow_schedule(folder, kind, scheduler.config)
    if int(scheduler.config.num_train_timesteps) < 2:
        raise RunDirError(f"{folder}'s scheduler has {scheduler.config.num_train_timesteps} training steps; a diffusion needs at least 2.")
    unet = read_unet(folder)
    size = unet.config.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    shape = (int(unet.config.in_channels), int(h), int(w))
    if flow:
        return PipelineFlow(folder, unet, scheduler, _data_for(data, shape, folder))
    return PipelineModel(folder, unet, scheduler, PIPELINES[kind], _data_for(data, shape, folder))
