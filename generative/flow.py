"""Flow matching (Lipman et al. 2023), as rectified flow (Liu et al. 2023): learn the velocity that
carries noise to data along straight lines, then integrate it from noise in a few ODE steps.

Conventions are diffusers' (``FlowMatchEulerDiscreteScheduler``): a noise level σ ∈ [0, 1] runs from
data (σ = 0) to pure noise (σ = 1), the network sees the timestep t = 1000 σ, and it predicts the
velocity v = dx_σ/dσ = ε - x₀ of the straight path.

Training, one step:

1. take a batch x₀ (images scaled to [-1, 1], or standardised 2-D points) and its labels;
2. draw noise ε ~ N(0, I) and a noise level σ per example (:func:`draw_sigmas`: uniform, or
   logit-normal with ``model.time_sampling=logit_normal``);
3. x_σ = σ ε + (1 - σ) x₀ (:func:`interpolate`, diffusers' ``scale_noise``);
4. with probability ``label_dropout`` replace the label by "no label" (classifier-free guidance);
5. minimise ‖(ε - x₀) - v_θ(x_σ, 1000 σ, y)‖² (:func:`velocity_target`; in fp32, under bf16
   autocast on CUDA), clip, step, update the EMA.

The network v_θ is the backbone's denoiser role, the same one DDPM uses for ε: diffusers'
``UNet2DModel`` for ``backbone=cnn``, a DiT for ``backbone=transformer``, an MLP for ``backbone=mlp``.
Those embed the timestep as DDPM feeds it, an integer in [0, 1000); here it is the real number
1000 σ in the same range (:data:`TIME_SCALE`), so every backbone works unchanged.

Sampling starts from noise at σ = 1 and steps σ down to 0 with diffusers' schedulers: ``euler``
(``FlowMatchEulerDiscreteScheduler``, 10 steps by default) or ``heun``
(``FlowMatchHeunDiscreteScheduler``, second order: two network calls per step but the last, 5 steps
by default), with guidance v = v_∅ + w (v_y - v_∅) when ``guidance`` w ≠ 1. ``model.shift`` s
spends the steps nearer the noise, σ ← s σ / (1 + (s - 1) σ) (Esser et al. 2024). Samples come from
the EMA, ``sample_batch`` at a time, with a progress bar on a terminal.

A UNet run also writes ``RUN_DIR/pipeline``, a ``diffusers.DDPMPipeline`` folder whose scheduler is
the ``FlowMatchEulerDiscreteScheduler``: that pipeline's loop (``unet(x, t)``, then
``scheduler.step``) is exactly an Euler integration of the flow. As for DDPM, a class-conditional
UNet is exported as the unconditional model it also learned (the "no label" embedding folded into the
time embedding's bias); class-conditional sampling goes through ``sandbox sample RUN_DIR --label L``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from sandbox.backbones.base import build
from sandbox.config import RunConfig, option
from sandbox.errors import ConfigError
from sandbox.faults import fault_point
from sandbox.generative.base import EMA, DataModel, TrainConfig, adamw, progress_bar

if TYPE_CHECKING:
    from sandbox.run import Run

SAMPLERS = ("euler", "heun")
#: steps of each sampler when none are asked for: Euler in 10 steps (10 network calls), Heun in 5
#: (9 calls: the last step is an Euler step to σ = 0), about the same cost
FAST_STEPS = {"euler": 10, "heun": 5}
#: the most steps a sampler takes: far more than an 8-bit image can show the difference of, and a
#: bound that keeps a mistyped ``--steps`` from building a schedule of gigabytes
MAX_STEPS = 10_000
#: the timestep the network sees is TIME_SCALE σ: diffusers' flow schedulers' ``num_train_timesteps``
#: (their timesteps are ``sigmas * num_train_timesteps``), which is also the range [0, 1000) of DDPM's
#: integer timesteps that the backbones' time embeddings were made for
TIME_SCALE = 1000


def default_steps(sampler: str) -> int:
    """The steps of ``sampler`` when none are given: 10 for ``euler``, 5 for ``heun``."""
    return FAST_STEPS[sampler]


# -- the formulas ----------------------------------------------------------------------------------
def interpolate(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_σ = σ ε + (1 - σ) x₀: the straight path from data (σ = 0) to noise (σ = 1) of rectified flow
    (Liu et al. 2023, eq. 1; the optimal-transport path of Lipman et al. 2023, §4.1, with σ_min = 0);
    diffusers' ``FlowMatchEulerDiscreteScheduler.scale_noise``. ``sigma`` holds one level per example."""
    s = sigma.view(-1, *([1] * (x0.dim() - 1)))
    return s * noise + (1.0 - s) * x0


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """v = dx_σ/dσ = ε - x₀: the velocity of :func:`interpolate`'s path, the regression target of
    conditional flow matching (Lipman et al. 2023, eq. 23; Liu et al. 2023, eq. 1), in diffusers'
    sign (the samplers step σ down, x ← x + (σ' - σ) v)."""
    return noise - x0


#: the logit-normal density of Esser et al. 2024 (Stable Diffusion 3), §3.1 and table 1: σ = sigmoid(u),
#: u ~ N(m, s²) with m = 0, s = 1, their best setting; it trains the middle noise levels more often
LOGIT_NORMAL_MEAN, LOGIT_NORMAL_STD = 0.0, 1.0


def draw_sigmas(n: int, how: str, device: torch.device) -> torch.Tensor:
    """n noise levels in [0, 1): uniform, as rectified flow trains (Liu et al. 2023), or ``logit_normal``
    (Esser et al. 2024, with :data:`LOGIT_NORMAL_MEAN` and :data:`LOGIT_NORMAL_STD`). From torch's
    generator, which the run seeds."""
    if how == "logit_normal":
        return torch.sigmoid(LOGIT_NORMAL_MEAN + LOGIT_NORMAL_STD * torch.randn(n, device=device))
    return torch.rand(n, device=device)


def guided(cond: torch.Tensor, uncond: torch.Tensor, w: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022, eq. 6, on velocities): v_∅ + w (v_y - v_∅);
    w = 1 is the plain conditional velocity, w = 0 the unconditional one."""
    return uncond + w * (cond - uncond)


@dataclass
class FlowConfig(TrainConfig):
    time_sampling: Literal["uniform", "logit_normal"] = option("uniform", "noise levels σ drawn in training: uniform (rectified flow) or logit_normal (Stable Diffusion 3: more of the middle levels)")
    shift: float = option(1.0, "sampling schedule shift s: σ -> sσ/(1+(s-1)σ) puts more steps near the noise (1: evenly spaced; SD3 uses 3)", above=0, high=100)
    ema: float = option(0.999, "EMA decay of the weights used for sampling (0: no EMA)", low=0, below=1)
    warmup: int = option(200, "learning-rate warm-up steps", low=0)
    conditional: Literal["auto", "yes", "no"] = option("auto", "class-conditional training (auto: when the data has labels)")
    label_dropout: float = option(0.1, "share of labels replaced by 'no label' while training (for guidance)", low=0, below=1)
    guidance: float = option(1.0, "default classifier-free guidance scale w (1: plain conditional)", low=0)
    sampler: Literal["euler", "heun"] = option("euler", "sampler of 'sandbox sample' and 'sandbox eval' without --sampler: euler, or heun (second order, two network calls a step)")
    steps: int = option(0, "its steps without --steps (0: 10 for euler, 5 for heun; written into config.yaml)", low=0, high=MAX_STEPS)
    eval_sampler: Literal["euler", "heun"] = option("euler", "sampler of the scheduled evaluation during training")
    eval_steps: int = option(10, "its steps", low=1, high=MAX_STEPS)
    sample_batch: int = option(500, "images integrated at once when sampling", low=1)
    export_pipeline: bool = option(True, "UNet runs: write RUN_DIR/pipeline for diffusers' DDPMPipeline (with the flow-matching Euler scheduler)")


class Flow(DataModel):
    """Conditional flow matching (rectified flow) with Euler and Heun sampling and classifier-free guidance."""

    Config = FlowConfig
    handles_points = True

    @classmethod
    def complete_config(cls, config: RunConfig) -> RunConfig:
        """Also write the steps of the run's sampler into the config (``model.steps=0`` becomes 10
        for euler, 5 for heun), so that config.yaml says how the run samples."""
        config = super().complete_config(config)
        cfg = config.plugin.config
        if cfg.steps == 0:
            cfg.steps = default_steps(cfg.sampler)
        return config

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        from diffusers import FlowMatchEulerDiscreteScheduler

        cfg = self.cfg
        self.conditional = bool(self.num_classes) and cfg.conditional != "no"
        if cfg.conditional == "yes" and not self.num_classes:
            raise ConfigError(f"model.conditional=yes needs labels, but data={self.data.name} has none; use model.conditional=auto.")
        self.model = build(config.backbone, self.spec, "denoiser", num_classes=self.num_classes if self.conditional else None).to(self.device)
        self.ema = EMA(self.model, cfg.ema) if cfg.ema > 0 else None
        self.opt = adamw(self.model.parameters(), cfg.lr, weight_decay=0.0)
        # the schedule every sampler (and the exported pipeline) is built from
        self.scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=TIME_SCALE, shift=cfg.shift)
        self.updates = 0
        if self.conditional:
            counts = torch.bincount(self.data.y_train, minlength=self.num_classes).float()  # type: ignore[arg-type]
            self.label_freq = counts / counts.sum()

    # -- training ------------------------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        mods = {"model": self.model}
        if self.ema is not None:
            mods["ema"] = self.ema.module
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt}

    def prepare(self, accelerator: Any) -> None:
        self.model, self.opt = accelerator.prepare(self.model, self.opt)

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 - 1.0 if self.data.kind == "image" else x

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        cfg = self.cfg
        # 1. data in model space; 2. noise and a noise level per example
        x0 = self.to_model_space(x)
        noise = torch.randn_like(x0)
        sigma = draw_sigmas(x0.shape[0], cfg.time_sampling, x0.device)
        # 3. the point on the straight path, and the network's timestep
        xt = interpolate(x0, noise, sigma)
        t = sigma * TIME_SCALE
        # 4. label dropout, for guidance
        labels = None
        if self.conditional:
            drop = torch.rand(y.shape[0], device=y.device) < cfg.label_dropout  # type: ignore[union-attr]
            labels = torch.where(drop, torch.full_like(y, self.num_classes), y)  # type: ignore[arg-type]
        # 5. regress the velocity
        self.updates += 1
        lr = cfg.lr * min(1.0, self.updates / max(1, cfg.warmup))
        for group in self.opt.param_groups:
            group["lr"] = lr
        with self.autocast():
            pred = self.model(xt, t, labels)
        loss = nn.functional.mse_loss(pred.float(), velocity_target(x0, noise).float())
        norm = self.backward_step(loss, self.model, self.opt)
        if self.ema is not None:
            self.ema.update(self.unwrap(self.model))
        return {"loss": loss.item(), "grad_norm": norm, "learning_rate": lr}

    def fit(self, run: Run) -> None:
        super().fit(run)
        if self.cfg.export_pipeline and hasattr(self.unwrap(self.model), "unet") and self.accelerator.is_main_process:
            self.export_pipeline(Path(run.dir) / "pipeline")

    def extra_state(self) -> dict[str, Any]:
        return {"updates": self.updates, "ema_updates": self.ema.updates if self.ema else 0}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.updates = int(state.get("updates", 0))
        if self.ema is not None:
            self.ema.updates = int(state.get("ema_updates", 0))

    # -- sampling ------------------------------------------------------------------------------------
    def make_sampler(self, sampler: str, steps: int) -> Any:
        """A fresh diffusers scheduler of kind ``sampler`` with ``steps`` steps from σ = 1 to 0."""
        from diffusers import FlowMatchEulerDiscreteScheduler, FlowMatchHeunDiscreteScheduler

        if sampler not in SAMPLERS:
            from sandbox.registry import did_you_mean

            raise ConfigError(f"unknown sampler {sampler!r} for model=flow; {did_you_mean(sampler, list(SAMPLERS))}")
        if not 1 <= int(steps) <= MAX_STEPS:
            raise ConfigError(f"--steps must be a number from 1 to {MAX_STEPS:,}, not {steps}.")
        config = self.scheduler.config
        if sampler == "euler":
            s = FlowMatchEulerDiscreteScheduler.from_config(config)
        else:
            s = FlowMatchHeunDiscreteScheduler(num_train_timesteps=config.num_train_timesteps, shift=config.shift)
        s.set_timesteps(int(steps))
        return s

    def denoise_fn(self) -> nn.Module:
        """The network that samples: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.unwrap(self.model)

    def sampling_plan(self, sampler: str | None = None, steps: int | None = None) -> tuple[str, int]:
        """The sampler and steps that :meth:`sample` uses: those asked for, else the run's own
        (``model.sampler``, ``model.steps``); a sampler other than the run's takes its own default
        steps (10 for euler, 5 for heun)."""
        cfg = self.cfg
        sampler = sampler or cfg.sampler
        if not steps:
            steps = cfg.steps if sampler == cfg.sampler and cfg.steps else FAST_STEPS.get(sampler, 1)
        return sampler, int(steps)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, sampler: str | None = None, steps: int | None = None,
               label: int | None = None, guidance: float | None = None, progress: bool | None = None,
               **options: Any) -> torch.Tensor:
        """n samples (images N×C×H×W in [0, 1], or N×2 points) from noise seeded by ``seed``.

        ``sampler`` and ``steps`` as :meth:`sampling_plan` says (Euler in 10 steps unless the run or
        the caller asks otherwise). The samples are integrated ``model.sample_batch`` at a time, each
        batch's labels and noise drawn in turn from the one seeded generator, into one preallocated
        result; an ``n`` whose result cannot fit is refused before anything is allocated.
        ``progress``: a bar on stderr (True), none (False), or, by default, one on a terminal once
        sampling takes 2 s."""
        if options:
            raise ConfigError(f"flow.sample does not take {', '.join(options)}.")
        sampler, steps = self.sampling_plan(sampler, steps)
        first = self.make_sampler(sampler, steps)  # a wrong name or steps is refused here
        self.check_fits(n)
        w = self.cfg.guidance if guidance is None else float(guidance)
        g = torch.Generator().manual_seed(int(seed))
        net = self.denoise_fn()
        was_training = net.training
        net.eval()
        shape = tuple(self.data.shape)
        size = self.cfg.sample_batch
        out = torch.empty((n, *shape))
        batches = -(-n // size)
        bar = progress_bar(batches * len(first.timesteps), f"sampling {n} ({sampler}, {steps} steps)",
                           self.progress if progress is None else progress)
        try:
            for start in range(0, n, size):
                stop = min(n, start + size)
                # 1. this batch's labels and starting noise (σ = 1), from the one generator
                labels = self.sample_labels(stop - start, label, g)
                x = torch.randn((stop - start, *shape), generator=g).to(self.device)
                y = None if labels is None else labels.to(self.device)
                sched = first if start == 0 else self.make_sampler(sampler, steps)  # Heun keeps state between calls
                # 2. step σ from 1 down to 0 along the guided velocity
                for t in sched.timesteps:
                    tt = torch.full((x.shape[0],), float(t), device=self.device)
                    with self.autocast():
                        v = self.guided_velocity(net, x, tt, y, w)
                    x = sched.step(v.float(), t, x).prev_sample
                    if bar is not None:
                        bar.update(1)
                # 3. into the result, as images in [0, 1] (or points)
                x = x.float().cpu()
                out[start:stop] = ((x + 1) / 2).clamp(0, 1) if self.data.kind == "image" else x
        finally:
            if bar is not None:
                bar.close()
            net.train(was_training)
        return out

    def sample_labels(self, n: int, label: int | None, g: torch.Generator) -> torch.Tensor | None:
        """The labels to sample: all ``label``, or drawn as often as in the training data."""
        if not self.conditional:
            if label is not None:
                raise ConfigError(f"this model was trained without labels (data={self.data.name}); drop --label.")
            return None
        if label is None:
            return torch.multinomial(self.label_freq, n, replacement=True, generator=g)
        if not 0 <= int(label) < int(self.num_classes):  # type: ignore[arg-type]
            names = f" ({', '.join(self.data.class_names)})" if self.data.class_names else ""
            raise ConfigError(f"--label {label} is not a class of {self.data.name}: use 0 to {int(self.num_classes) - 1}{names}.")  # type: ignore[arg-type]
        return torch.full((n,), int(label), dtype=torch.long)

    def guided_velocity(self, net: nn.Module, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, w: float) -> torch.Tensor:
        """v_θ(x, t, y), with classifier-free guidance (:func:`guided`) when w ≠ 1: the labelled and
        the "no label" halves in one batch."""
        if y is None or w == 1.0:
            return net(x, t, y)
        null = torch.full_like(y, int(self.num_classes))  # type: ignore[arg-type]
        both = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = both.chunk(2)
        return guided(cond, uncond, w)

    def quick_sample_options(self) -> dict[str, Any]:
        # no bar of its own: the training bar is on the screen
        return {"sampler": self.cfg.eval_sampler, "steps": self.cfg.eval_steps, "progress": False}

    def evaluate(self, n: int | None = None, during_training: bool = False, **options: Any) -> dict[str, Any]:
        """As :meth:`DataModel.evaluate`; during training with ``eval_sampler`` and ``eval_steps``."""
        if during_training:
            options = {**self.quick_sample_options(), **options}
        return super().evaluate(n=n, during_training=during_training, **options)

    #: classifier-free guidance of the demo's class-by-class grid, as DDPM's: w = 3 trades some
    #: variety for digits a person reads at a glance (Ho & Salimans 2022, fig. 3)
    DEMO_GUIDANCE = 3.0

    def demo_media(self, run: Run) -> list[Path]:
        """A class-conditional image model shows one row per class (8 samples each, guided);
        other models the plain grid of :meth:`DataModel.demo_media`."""
        if not (self.conditional and self.data.kind == "image" and self.num_classes):
            return super().demo_media(run)
        from sandbox.tracking import image_grid, write_png

        rows = [self.sample(8, seed=k, label=k, guidance=self.DEMO_GUIDANCE, **self.quick_sample_options()) for k in range(int(self.num_classes))]
        return [write_png(Path(run.media_dir) / "demo-samples.png", image_grid(torch.cat(rows), ncols=8))]

    # -- diffusers pipeline ----------------------------------------------------------------------------
    def diffusers_pipeline(self) -> Any:
        """The EMA UNet and a ``FlowMatchEulerDiscreteScheduler`` as diffusers' ``DDPMPipeline``:
        its loop (``scheduler.step`` on the UNet's output) is Euler on the velocity the UNet predicts,
        so ``pipe(num_inference_steps=K)`` samples as ``sandbox sample --sampler euler --steps K``."""
        import copy

        from diffusers import DDPMPipeline, FlowMatchEulerDiscreteScheduler, UNet2DModel

        den = self.denoise_fn()
        unet = copy.deepcopy(den.unet).float().cpu()  # type: ignore[union-attr]
        if self.conditional:  # fold the "no label" embedding into the time embedding's bias
            config = dict(unet.config)
            config["num_class_embeds"] = None
            plain = UNet2DModel.from_config(config)
            state = {k: v for k, v in unet.state_dict().items() if not k.startswith("class_embedding.")}
            null = unet.class_embedding.weight[int(self.num_classes)].detach()  # type: ignore[arg-type]
            state["time_embedding.linear_2.bias"] = state["time_embedding.linear_2.bias"] + null
            plain.load_state_dict(state)
            unet = plain
        return DDPMPipeline(unet=unet, scheduler=FlowMatchEulerDiscreteScheduler.from_config(self.scheduler.config))

    def export_pipeline(self, folder: Path) -> Path:
        """Write the :meth:`diffusers_pipeline` folder (safetensors) at ``folder``, replacing it whole;
        ``DDPMPipeline.from_pretrained(folder)(num_inference_steps=K)`` samples with Euler in K steps."""
        import shutil

        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.diffusers_pipeline().save_pretrained(str(tmp), safe_serialization=True)
        fault_point("pipeline:written")
        shutil.rmtree(folder, ignore_errors=True)
        fault_point("pipeline:removed")
        tmp.rename(folder)
        return folder

    def export_diffusers(self, folder: Path) -> list[str]:
        """``sandbox export --format diffusers``: the :meth:`diffusers_pipeline` folder (from the
        checkpoint the export reads) in the existing, empty ``folder``; README lines back. Only the
        UNet of ``backbone=cnn`` exports this way; the others are refused in one sentence."""
        backbone = self.config.backbone.name if self.config.backbone is not None else "none"
        if not hasattr(self.denoise_fn(), "unet"):
            raise ConfigError(f"--format diffusers writes a flow-matching run as diffusers' DDPMPipeline, whose UNet2DModel is "
                              f"backbone=cnn's denoiser; this run's is the {backbone} backbone's: use --format hub.")
        self.diffusers_pipeline().save_pretrained(str(folder), safe_serialization=True)
        c, h, w = self.data.shape
        return ["## Files", "",
                "- `model_index.json`: the pipeline (diffusers' `DDPMPipeline`)",
                f"- `unet/`: diffusers' `UNet2DModel` ({c}×{h}×{w} images in [-1, 1], the EMA weights): the velocity of the flow"
                + (", its \"no label\" class embedding folded into the time embedding (DDPMPipeline passes no labels)" if self.conditional else ""),
                "- `scheduler/`: `FlowMatchEulerDiscreteScheduler`, so that the pipeline's loop is Euler along the flow", "",
                "## Use it", "", "```python", "import torch", "from diffusers import DDPMPipeline", "",
                'pipe = DDPMPipeline.from_pretrained("THIS_FOLDER")',
                "images = pipe(batch_size=16, num_inference_steps=10, generator=torch.Generator().manual_seed(0), output_type=\"np\").images",
                f"# images: 16×{h}×{w}×{c} in [0, 1]; Euler in 10 steps (more steps follow the flow more closely)",
                "```", "",
                "With the same seed and steps, `sandbox sample RUN --sampler euler --steps 10` draws the same images as this pipeline."
                if not self.conditional else
                "`sandbox sample RUN` draws a label for each image first (or takes --label); this pipeline samples with the \"no label\" "
                "class: the unconditional model the run learned beside the conditional one."]
