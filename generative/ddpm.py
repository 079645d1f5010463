"""DDPM (Ho et al. 2020): learn to predict the noise added to data, then walk back from pure noise.

Training, one step:

1. take a batch x₀ (images scaled to [-1, 1], or standardised 2-D points) and its labels;
2. draw noise ε ~ N(0, I) and a timestep t ~ U{0, ..., T-1} per example;
3. x_t = √ᾱ_t x₀ + √(1-ᾱ_t) ε (diffusers' ``DDPMScheduler.add_noise``);
4. with probability ``label_dropout`` replace the label by "no label" (classifier-free guidance);
5. minimise ‖ε - ε_θ(x_t, t, y)‖² (in fp32, under bf16 autocast on CUDA), clip, step, update the EMA.

The denoiser ε_θ is the backbone's denoiser role: diffusers' ``UNet2DModel`` for ``backbone=cnn``, a
DiT for ``backbone=transformer``, an MLP for ``backbone=mlp`` (2-D sets and tiny images).

Sampling uses diffusers' schedulers built from the training schedule: ``dpm`` (DPM-Solver++
multistep, 20 steps: the default), ``ddim`` (deterministic, 20 steps) and ``ddpm`` (ancestral, every
one of the T steps: about 50× slower for a slightly better FID), with any number of steps, and
guidance ε = ε_∅ + w (ε_y - ε_∅) when ``guidance`` w ≠ 1. Samples come from the EMA, ``sample_batch``
images at a time, with a progress bar on a terminal.

A UNet run also writes ``RUN_DIR/pipeline``, a folder that ``diffusers.DDPMPipeline.from_pretrained``
loads. ``DDPMPipeline`` passes no labels, so a class-conditional UNet is exported as the
unconditional model it also learned: the "no label" class embedding is added into the bias of the
UNet's time embedding (the two are summed inside the UNet, so the result is exactly the same
network). Class-conditional sampling goes through ``sandbox sample RUN_DIR --label L``.
"""

from __future__ import annotations

import sys
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

SAMPLERS = ("ddpm", "ddim", "dpm")
#: steps of ``dpm`` and ``ddim`` when none are asked for. On the 8×8 digits (a 15-minute UNet run,
#: benchmarks/results/generative_ddpm_unet_digits.json) DPM-Solver++ in 20 steps scored FID 1.71
#: where ancestral DDPM in all 1000 steps scored 1.53, in 4.3 s instead of 199 s.
FAST_STEPS = 20
#: the largest difference between the DiT's noise and its diffusers export's that ``--format diffusers``
#: accepts (float rounding is about 1e-6: the two sum the same terms in other orders)
DIT_EXPORT_TOLERANCE = 1e-4


def default_steps(sampler: str, timesteps: int) -> int:
    """The steps of ``sampler`` when none are given: all T for ancestral ``ddpm``, else 20 (at most T)."""
    return timesteps if sampler == "ddpm" else min(FAST_STEPS, timesteps)


@dataclass
class DDPMConfig(TrainConfig):
    timesteps: int = option(1000, "diffusion steps T of training", low=2)
    beta_schedule: Literal["linear", "squaredcos_cap_v2", "scaled_linear"] = option("squaredcos_cap_v2", "noise schedule (diffusers' names; squaredcos_cap_v2 is the cosine schedule)")
    ema: float = option(0.999, "EMA decay of the weights used for sampling (0: no EMA)", low=0, below=1)
    warmup: int = option(200, "learning-rate warm-up steps", low=0)
    conditional: Literal["auto", "yes", "no"] = option("auto", "class-conditional training (auto: when the data has labels)")
    label_dropout: float = option(0.1, "share of labels replaced by 'no label' while training (for guidance)", low=0, below=1)
    guidance: float = option(1.0, "default classifier-free guidance scale w (1: plain conditional)", low=0)
    sampler: Literal["ddpm", "ddim", "dpm"] = option("dpm", "sampler of 'sandbox sample' and 'sandbox eval' without --sampler: dpm (DPM-Solver++), ddim, or ddpm (ancestral, every step: slow)")
    steps: int = option(0, "its steps without --steps (0: 20 for dpm and ddim, all T for ddpm; written into config.yaml)", low=0)
    eval_sampler: Literal["ddpm", "ddim", "dpm"] = option("dpm", "sampler of the scheduled evaluation during training")
    eval_steps: int = option(25, "its steps", low=1)
    sample_batch: int = option(500, "images denoised at once when sampling", low=1)
    export_pipeline: bool = option(True, "UNet runs: write RUN_DIR/pipeline for diffusers' DDPMPipeline")

    def validate(self) -> None:
        super().validate()
        if self.timesteps < 2 or not 0.0 <= self.ema < 1.0 or not 0.0 <= self.label_dropout < 1.0:
            raise ConfigError("model.timesteps must be ≥ 2, model.ema and model.label_dropout in [0, 1).")
        if self.steps < 0 or self.eval_steps <= 0 or self.sample_batch <= 0 or self.warmup < 0:
            raise ConfigError("model.steps ≥ 0; model.eval_steps, model.sample_batch positive; model.warmup ≥ 0.")
        if self.steps > self.timesteps:
            raise ConfigError(f"model.steps={self.steps} must be at most model.timesteps={self.timesteps}, the diffusion steps of training.")


class DDPM(DataModel):
    """Denoising diffusion (DDPM) with DDPM, DDIM and DPM-Solver++ sampling and classifier-free guidance."""

    Config = DDPMConfig
    handles_points = True

    @classmethod
    def complete_config(cls, config: RunConfig) -> RunConfig:
        """Also write the steps of the run's sampler into the config (``model.steps=0`` becomes 20, or T
        for ddpm), so that config.yaml says how the run samples."""
        config = super().complete_config(config)
        cfg = config.plugin.config
        if cfg.steps == 0:
            cfg.steps = default_steps(cfg.sampler, cfg.timesteps)
        return config

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        from diffusers import DDPMScheduler

        cfg = self.cfg
        self.conditional = bool(self.num_classes) and cfg.conditional != "no"
        if cfg.conditional == "yes" and not self.num_classes:
            raise ConfigError(f"model.conditional=yes needs labels, but data={self.data.name} has none; use model.conditional=auto.")
        self.model = build(config.backbone, self.spec, "denoiser", num_classes=self.num_classes if self.conditional else None).to(self.device)
        self.ema = EMA(self.model, cfg.ema) if cfg.ema > 0 else None
        self.opt = adamw(self.model.parameters(), cfg.lr, weight_decay=0.0)
        self.scheduler = DDPMScheduler(
            num_train_timesteps=cfg.timesteps, beta_schedule=cfg.beta_schedule,
            clip_sample=self.data.kind == "image", prediction_type="epsilon",
        )
        self.alphas = self.scheduler.alphas_cumprod.to(self.device)
        self.updates = 0
        self._noted_old_default = False
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
        x0 = self.to_model_space(x)
        noise = torch.randn_like(x0)
        t = torch.randint(0, cfg.timesteps, (x0.shape[0],), device=x0.device)
        if self.alphas.device != x0.device:  # accelerate may have chosen another GPU for this process
            self.alphas = self.alphas.to(x0.device)
        a = self.alphas[t].view(-1, *([1] * (x0.dim() - 1)))
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise  # = DDPMScheduler.add_noise(x0, noise, t)
        labels = None
        if self.conditional:
            drop = torch.rand(y.shape[0], device=y.device) < cfg.label_dropout  # type: ignore[union-attr]
            labels = torch.where(drop, torch.full_like(y, self.num_classes), y)  # type: ignore[arg-type]
        self.updates += 1
        lr = cfg.lr * min(1.0, self.updates / max(1, cfg.warmup))
        for group in self.opt.param_groups:
            group["lr"] = lr
        with self.autocast():
            pred = self.model(xt, t, labels)
        loss = nn.functional.mse_loss(pred.float(), noise.float())
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
        """A fresh diffusers scheduler of kind ``sampler`` with ``steps`` steps, on the training schedule."""
        from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

        if sampler not in SAMPLERS:
            from sandbox.registry import did_you_mean

            raise ConfigError(f"unknown sampler {sampler!r}; {did_you_mean(sampler, list(SAMPLERS))}")
        config = self.scheduler.config
        if sampler == "ddpm":
            s = DDPMScheduler.from_config(config)
        elif sampler == "ddim":
            s = DDIMScheduler.from_config(config, set_alpha_to_one=True)
        else:
            # the cosine schedule's last steps have ᾱ ≈ 0, where x₀ = (x - σ ε)/α explodes: images take
            # dynamic thresholding of x₀ (they live in [-1, 1]); unbounded data clips λ(t) instead
            extra = {"thresholding": True, "sample_max_value": 1.0} if self.data.kind == "image" else {"lambda_min_clipped": -5.1}
            s = DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2, **extra)
        if steps > self.cfg.timesteps:
            raise ConfigError(f"--steps {steps} is more than the {self.cfg.timesteps} diffusion steps the model was trained with.")
        s.set_timesteps(steps)
        if sampler == "dpm" and len(set(s.timesteps.tolist())) < len(s.timesteps):
            # with steps near T, linspace spacing rounds two steps onto one timestep, and the solver
            # divides by their zero gap (NaN images); trailing spacing keeps every step distinct
            s = DPMSolverMultistepScheduler.from_config(s.config, timestep_spacing="trailing")
            s.set_timesteps(steps)
        return s

    def denoise_fn(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.unwrap(self.model)

    def sampling_plan(self, sampler: str | None = None, steps: int | None = None) -> tuple[str, int]:
        """The sampler and steps that :meth:`sample` uses: those asked for, else the run's own
        (``model.sampler``, ``model.steps``), else ``dpm`` with 20 steps.

        Runs made while ancestral ``ddpm`` over all T steps was the default recorded it as
        ``sampler: ddpm, steps: 0``; a run made now that asks for ddpm records ``steps: T``
        (:meth:`complete_config`). So ``ddpm`` with steps 0 is the old default, not a choice, and
        samples with the default now, DPM-Solver++ in 20 steps, saying so once on stderr.
        The run's own steps go with the run's own sampler only: ``--sampler ddim`` on a run that
        records ``ddpm, 1000`` takes ddim's 20 steps, not 1000."""
        cfg = self.cfg
        own, own_steps = cfg.sampler, cfg.steps
        if own == "ddpm" and own_steps == 0:
            own, own_steps = "dpm", 0
            if sampler is None and not self._noted_old_default:
                self._noted_old_default = True
                print(f"note: this run's config.yaml has the old default sampler (model.sampler=ddpm, all {cfg.timesteps} steps); "
                      f"sampling with DPM-Solver++ in {default_steps('dpm', cfg.timesteps)} steps, the default now "
                      "(--sampler ddpm for the old one).", file=sys.stderr)
        sampler = sampler or own
        if not steps:
            steps = own_steps if sampler == own and own_steps else default_steps(sampler, cfg.timesteps)
        return sampler, int(steps)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, sampler: str | None = None, steps: int | None = None,
               label: int | None = None, guidance: float | None = None, progress: bool | None = None,
               **options: Any) -> torch.Tensor:
        """n samples (images N×C×H×W in [0, 1], or N×2 points) from noise seeded by ``seed``.

        ``sampler`` and ``steps`` as :meth:`sampling_plan` says (DPM-Solver++ in 20 steps unless
        the run or the caller asks otherwise). The samples are denoised ``model.sample_batch`` at a
        time, each batch's labels and noise drawn in turn from the one seeded generator, into one
        preallocated result: memory is the result plus one batch, whatever ``n`` is, and an ``n``
        whose result cannot fit is refused before anything is allocated. ``progress``: a bar on
        stderr (True), none (False), or, by default, one on a terminal once sampling takes 2 s."""
        if options:
            raise ConfigError(f"ddpm.sample does not take {', '.join(options)}.")
        sampler, steps = self.sampling_plan(sampler, steps)
        first = self.make_sampler(sampler, steps)  # a wrong name or too many steps is refused here
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
                # 1. this batch's labels and starting noise, from the one generator
                labels = self.sample_labels(stop - start, label, g)
                noise = torch.randn((stop - start, *shape), generator=g)
                sched = first if start == 0 else self.make_sampler(sampler, steps)  # multistep solvers keep state
                x = (noise * sched.init_noise_sigma).to(self.device)
                y = None if labels is None else labels.to(self.device)
                # 2. walk the sampler's timesteps from noise to data
                for t in sched.timesteps:
                    tt = torch.full((x.shape[0],), int(t), device=self.device, dtype=torch.long)
                    xin = sched.scale_model_input(x, t)
                    with self.autocast():
                        eps = self.guided_eps(net, xin, tt, y, w)
                    x = sched.step(eps.float(), t, x, generator=g).prev_sample
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

    def guided_eps(self, net: nn.Module, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, w: float) -> torch.Tensor:
        """ε_θ(x, t, y), with classifier-free guidance ε_∅ + w (ε_y - ε_∅) when w ≠ 1."""
        if y is None or w == 1.0:
            return net(x, t, y)
        null = torch.full_like(y, int(self.num_classes))  # type: ignore[arg-type]
        both = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = both.chunk(2)
        return uncond + w * (cond - uncond)

    def quick_sample_options(self) -> dict[str, Any]:
        # no bar of its own: the training bar is on the screen
        return {"sampler": self.cfg.eval_sampler, "steps": self.cfg.eval_steps, "progress": False}

    def evaluate(self, n: int | None = None, during_training: bool = False, **options: Any) -> dict[str, Any]:
        """As :meth:`DataModel.evaluate`; during training with ``eval_sampler`` and ``eval_steps``."""
        if during_training:
            options = {**self.quick_sample_options(), **options}
        return super().evaluate(n=n, during_training=during_training, **options)

    #: classifier-free guidance of the demo's class-by-class grid: w = 3 trades some variety for
    #: digits a person reads at a glance, even from a short run (Ho & Salimans 2022, fig. 3)
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
        """A ``DDPMPipeline`` of the EMA UNet (on the CPU, fp32) and the training scheduler."""
        import copy

        from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

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
        scheduler = DDPMScheduler.from_config(self.scheduler.config)
        return DDPMPipeline(unet=unet, scheduler=scheduler)

    def export_pipeline(self, folder: Path) -> Path:
        """Write a ``DDPMPipeline`` folder (EMA UNet + training scheduler, safetensors) at ``folder``."""
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
        """``sandbox export --format diffusers``: the pipeline folder of :meth:`export_pipeline`
        (from the checkpoint the export reads) in the existing, empty ``folder``; README lines back.

        The DiT of ``backbone=transformer`` is written by :meth:`export_dit` instead. The MLP of
        ``backbone=mlp`` is no diffusers model and is refused in one sentence."""
        from sandbox.backbones.transformer import DiT

        backbone = self.config.backbone.name if self.config.backbone is not None else "none"
        if isinstance(self.denoise_fn(), DiT):
            return self.export_dit(folder)
        if not hasattr(self.denoise_fn(), "unet"):
            what = {"mlp": "an MLP, which no diffusers model is"}.get(backbone, f"the {backbone} backbone's, which no diffusers model is")
            raise ConfigError(f"--format diffusers writes diffusers' UNet2DModel or, for the DiT, SD3Transformer2DModel, so it exports ddpm "
                              f"runs on backbone=cnn or transformer only; this run's denoiser ({backbone}) is {what}: use --format hub.")
        pipe = self.diffusers_pipeline()
        pipe.save_pretrained(str(folder), safe_serialization=True)
        c, h, w = self.data.shape
        steps = self.cfg.timesteps
        return ["## Files", "",
                "- `model_index.json`: the pipeline (diffusers' `DDPMPipeline`)",
                f"- `unet/`: diffusers' `UNet2DModel` ({c}×{h}×{w} images in [-1, 1], the EMA weights) as config.json and safetensors"
                + (", its \"no label\" class embedding folded into the time embedding (DDPMPipeline passes no labels)" if self.conditional else ""),
                f"- `scheduler/`: the training schedule, a `DDPMScheduler` ({steps} steps, {self.cfg.beta_schedule})", "",
                "## Use it", "", "```python", "import torch", "from diffusers import DDPMPipeline", "",
                'pipe = DDPMPipeline.from_pretrained("THIS_FOLDER")',
                f"images = pipe(batch_size=16, num_inference_steps={steps}, generator=torch.Generator().manual_seed(0), output_type=\"np\").images",
                f"# images: 16×{h}×{w}×{c} in [0, 1]; fewer steps sample faster (ancestral DDPM on a subset of the schedule)",
                "```", "",
                f"With the same seed and steps, `sandbox sample RUN --sampler ddpm --steps {steps}` draws the same images as this pipeline."
                if not self.conditional else
                "`sandbox sample RUN` draws a label for each image first (or takes --label); this pipeline samples with the \"no label\" "
                "class: the unconditional model the run learned beside the conditional one."]

    def export_dit(self, folder: Path) -> list[str]:
        """``--format diffusers`` for the DiT: ``transformer/``, the EMA DiT as diffusers'
        ``SD3Transformer2DModel`` computing the same noise (see
        :func:`sandbox.backbones.transformer.dit_to_diffusers`; checked here on random inputs), and
        ``scheduler/``, the training ``DDPMScheduler``; README lines back.

        No diffusers pipeline samples it: ``DDPMPipeline`` calls ``unet(x, t)``, which SD3 reads as
        ``(x, encoder_hidden_states)``, and ``DiTPipeline`` wants ``DiTTransformer2DModel`` (whose
        256-wide time sinusoid with shift 1 and fixed 2-D sine positions no weights of ours can
        reproduce), decodes through a VAE and calls the scheduler without the generator. The README
        shows the denoising loop instead: ``DDPMPipeline.__call__``'s own, step for step."""
        from diffusers import DDPMScheduler

        from sandbox.backbones.transformer import diffusers_refusal, dit_to_diffusers

        dit = self.denoise_fn()
        reason = diffusers_refusal(dit)  # type: ignore[arg-type]
        if reason is not None:
            raise ConfigError(f"--format diffusers writes the DiT as diffusers' SD3Transformer2DModel, which cannot compute this one exactly "
                              f"({reason}): use --format hub.")
        model = dit_to_diffusers(dit)  # type: ignore[arg-type]
        # the same noise as ours on random inputs, or nothing is written
        g = torch.Generator().manual_seed(0)
        c, h, w = self.data.shape
        x = torch.randn(8, c, h, w, generator=g)
        t = torch.randint(0, self.cfg.timesteps, (8,), generator=g)
        was_training = dit.training
        dit.eval()
        try:
            with torch.no_grad():
                ours = dit(x.to(self.device), t.to(self.device)).float().cpu()
                theirs = model(x, encoder_hidden_states=torch.zeros(8, 0, 1), pooled_projections=torch.zeros(8, 1), timestep=t).sample
        finally:
            dit.train(was_training)
        diff = float((ours - theirs).abs().max())
        if not diff <= DIT_EXPORT_TOLERANCE:
            raise ConfigError(f"the DiT written as SD3Transformer2DModel gives noise up to {diff:.3g} away from the run's (more than "
                              f"{DIT_EXPORT_TOLERANCE}); nothing is written: use --format hub.")
        model.save_pretrained(str(folder / "transformer"), safe_serialization=True)
        DDPMScheduler.from_config(self.scheduler.config).save_pretrained(str(folder / "scheduler"))
        steps = self.cfg.timesteps
        return ["## Files", "",
                f"- `transformer/`: the run's DiT (the EMA weights; {c}×{h}×{w} images in [-1, 1]) as diffusers' `SD3Transformer2DModel`, "
                "config.json and safetensors: SD3's blocks are DiT blocks (adaLN-Zero) beside a stream of text tokens, which is "
                "given none (its weights are zero); it computes the run's noise to float rounding "
                f"(at most {diff:.1e} apart on random inputs at export)"
                + (", with the \"no label\" class embedding folded into the time embedding (SD3 takes no class labels)" if self.conditional else ""),
                f"- `scheduler/`: the training schedule, a `DDPMScheduler` ({steps} steps, {self.cfg.beta_schedule})", "",
                "No diffusers pipeline takes this model (`DDPMPipeline` passes a UNet's arguments, `DiTPipeline` wants a VAE and "
                "diffusers' `DiTTransformer2DModel`, whose time and position embeddings differ from the run's), so the loop below "
                "is `DDPMPipeline`'s own, with the model called as SD3 is.", "",
                "## Use it", "", "```python", "import torch", "from diffusers import DDPMScheduler, SD3Transformer2DModel", "",
                'model = SD3Transformer2DModel.from_pretrained("THIS_FOLDER", subfolder="transformer").eval()',
                'scheduler = DDPMScheduler.from_pretrained("THIS_FOLDER", subfolder="scheduler")',
                f"n, steps, g = 16, {steps}, torch.Generator().manual_seed(0)",
                f"x = torch.randn(n, {c}, {h}, {w}, generator=g)",
                "no_text, no_pooled = torch.zeros(n, 0, 1), torch.zeros(n, 1)  # no text tokens: the DiT's blocks alone",
                "scheduler.set_timesteps(steps)",
                "with torch.no_grad():",
                "    for t in scheduler.timesteps:",
                "        eps = model(x, encoder_hidden_states=no_text, pooled_projections=no_pooled, timestep=t.expand(n)).sample",
                "        x = scheduler.step(eps, t, x, generator=g).prev_sample",
                "images = ((x + 1) / 2).clamp(0, 1)",
                f"# images: n×{c}×{h}×{w} in [0, 1]; fewer steps sample faster (ancestral DDPM on a subset of the schedule)",
                "```", "",
                f"With the same seed and steps, `sandbox sample RUN --sampler ddpm --steps {steps}` draws the same images as this loop."
                if not self.conditional else
                "`sandbox sample RUN` draws a label for each image first (or takes --label); this model samples with the \"no label\" "
                "class: the unconditional model the run learned beside the conditional one."]
