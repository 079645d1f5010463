"""What the VAE, the GAN and the DDPM share: the data set, the training loop's outer shape
(batches, logging, sample grids, metrics on a schedule, checkpoints), an EMA of weights,
accelerate for devices and data parallelism, and what a checkpoint holds (``saved()``).

Training draws its batches from a generator seeded by the run's seed, and its noise from torch's
global generator (seeded by the run); everything on the side of training (sample grids, metrics,
a model's own periodic pictures) runs inside :func:`~sandbox.device.isolated_rng`, so that the
same seed and config give the same weights and metrics whether that work ran, was cut short by
``max_minutes``, or trained a cached metric network on first use.

Each model file keeps its own algorithm top to bottom: ``build`` its networks, ``train_step`` on a
batch, ``generate`` samples. This file runs the loop around them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from sandbox.generative.data import Dataset, factory, load_data
from sandbox.backbones.base import InputSpec
from sandbox.checkpoint import Saved
from sandbox.config import RunConfig, option
from sandbox.device import isolated_rng, set_threads
from sandbox.errors import ConfigError
from sandbox.progress import show_progress
from sandbox.memory import available_memory  # read through this module, so a test can replace it here
from sandbox.plugin import GenerativeModel
from sandbox.tracking import in_section

if TYPE_CHECKING:
    from sandbox.run import Run


@dataclass
class TrainConfig:
    """Fields every generative model has."""

    lr: float = option(2e-4, "AdamW learning rate", above=0)
    batch: int = option(128, "batch size (per process)", low=1)
    grad_clip: float = option(1.0, "clip the gradient norm to this (0: no clipping)", low=0)
    amp: Literal["auto", "bf16", "no"] = option("auto", "mixed precision: auto is bf16 autocast on CUDA, none elsewhere")
    log_every: int = option(50, "log the losses every N steps", low=1)
    sample_every: int = option(1000, "log a grid of samples every N steps (0: only at the end)", low=0)
    eval_every: int = option(2000, "compute FID etc. (or the 2-D distances) every N steps, log them, keep the best checkpoint (0: never)", low=0)
    eval_n: int = option(256, "samples used by the scheduled evaluation", low=2)
    eval_draws: int = option(3, "draws of eval_n samples each scheduled evaluation averages, each against its own split of the real "
                             "data (one draw is too noisy to choose the best checkpoint by)", low=1, high=20)
    grid: int = option(64, "images in a logged sample grid", low=1)
    threads: int = option(0, "torch CPU threads (0: the process's own count before any run set one); CPU results depend on it", low=0,
                          resumable=True)

    def validate(self) -> None:
        if self.lr <= 0 or self.batch <= 0 or self.eval_n < 2 or self.grid <= 0 or self.threads < 0:
            raise ConfigError("model.lr and model.batch must be positive, model.eval_n ≥ 2, model.grid ≥ 1, model.threads ≥ 0.")
        if min(self.log_every, self.sample_every, self.eval_every) < 0 or self.log_every == 0:
            raise ConfigError("model.log_every must be positive; model.sample_every and model.eval_every ≥ 0.")


class EMA:
    """An exponential moving average of a module's weights (buffers are copied as they are)."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the average towards ``module``'s weights; the decay warms up as 1 - 10/(updates + 10)."""
        self.updates += 1
        d = min(self.decay, 1.0 - 10.0 / (self.updates + 10.0))
        ema_p = [p for p in self.module.parameters()]
        new_p = [p.detach().to(q.dtype) for p, q in zip(module.parameters(), ema_p)]
        torch._foreach_lerp_(ema_p, new_p, 1.0 - d)
        for b, nb in zip(self.module.buffers(), module.buffers()):
            b.copy_(nb)


def progress_bar(total: int, desc: str, progress: bool | None, unit: str = "step") -> Any:
    """A tqdm bar on stderr with the rate and the time left, in the style of the training bar
    (``Run.session``), or None where :func:`show_progress` says no. With ``progress=None`` it
    appears only once the work has taken 2 s, so that quick work draws nothing."""
    import sys

    if not show_progress(progress):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, mininterval=1.0, file=sys.stderr,
                delay=0.0 if progress else 2.0)


def adamw(params: Any, lr: float, **kwargs: Any) -> torch.optim.Optimizer:
    """AdamW with the fused kernel where torch has one for the device (CPU and CUDA do), else foreach."""
    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, **kwargs)


class DataModel(GenerativeModel):
    """A generative model of a data set from ``generative.data``."""

    evaluates_draws = True  # evaluate(n, draws=K)

    default_backbone = "cnn"
    #: several processes train one run under ``accelerate launch`` (each its own batches of
    #: ``model.batch``, gradients averaged: an effective batch of ``model.batch`` × processes)
    data_parallel = True
    #: the model handles 2-D point sets as well as images
    handles_points: ClassVar[bool] = False
    #: progress bars of sampling and evaluation: None shows them on a terminal (see
    #: :func:`show_progress`); ``sandbox sample --no-progress`` sets False
    progress: bool | None = None

    @classmethod
    def default_backbone_for(cls, config: RunConfig) -> str | None:
        """cnn for images, mlp for point sets (data sets whose registered factory's ``kind`` is "points")."""
        if config.data is not None and getattr(factory(config.data.name), "kind", "image") == "points":
            return "mlp"
        return cls.default_backbone

    @classmethod
    def score_metric(cls, config: RunConfig) -> tuple[str, str]:
        """FID for images; the sliced Wasserstein distance to held-out points for 2-D sets."""
        if config.data is not None and getattr(factory(config.data.name), "kind", "image") == "points":
            return ("eval/sliced_wasserstein", "min")
        return ("eval/fid", "min")

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.data: Dataset = load_data(config.data, config.seed)
        name = config.plugin.name
        if self.data.kind == "points" and not self.handles_points:
            raise ConfigError(f"model={name} makes images, but data={config.data.name} is a 2-D point set; use model=ddpm (with backbone=mlp) for it.")
        if self.data.kind == "points":
            self.spec = InputSpec.vector(2)
        else:
            self.spec = InputSpec.image(*self.data.shape)
        self.num_classes = self.data.num_classes
        self.accelerator: Any = None
        if self.device.type == "cpu":
            set_threads(self.cfg.threads)

    # -- what each model writes ----------------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        """The trained networks by name (EMA copies included)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, float]:
        """One update on a batch (x in [0, 1], or points); returns the numbers to log."""
        raise NotImplementedError

    def prepare(self, accelerator: Any) -> None:
        """Hand the trained networks and optimisers to accelerate (DDP wrappers on several GPUs)."""
        raise NotImplementedError

    # -- devices and precision -----------------------------------------------------------------------
    @property
    def use_bf16(self) -> bool:
        amp = self.cfg.amp
        return amp == "bf16" or (amp == "auto" and self.device.type == "cuda")

    def make_accelerator(self) -> Any:
        """An ``accelerate.Accelerator``: one process here, data parallel under ``accelerate launch``."""
        from accelerate import Accelerator

        if self.cfg.amp == "bf16" and self.device.type != "cuda":
            raise ConfigError("model.amp=bf16 needs a CUDA GPU; use model.amp=auto (bf16 on CUDA only) or no.")
        from accelerate.state import AcceleratorState

        precision = "bf16" if self.use_bf16 else "no"
        if AcceleratorState._shared_state and AcceleratorState().mixed_precision != precision:
            # a second run in the same process with another precision; the process group is kept
            AcceleratorState._reset_state()
        acc = Accelerator(cpu=self.device.type == "cpu", mixed_precision=precision)
        if acc.device != self.device:
            self.device = acc.device
            for m in self.modules().values():
                m.to(self.device)
        return acc

    def autocast(self) -> Any:
        """bf16 autocast on CUDA (when asked), a no-op elsewhere. Losses are computed in fp32."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16)

    def backward_step(self, loss: torch.Tensor, module: nn.Module, opt: torch.optim.Optimizer) -> float:
        """Backward, clip, step; returns the gradient norm before clipping."""
        opt.zero_grad(set_to_none=True)
        if self.accelerator is not None:
            self.accelerator.backward(loss)
        else:
            loss.backward()
        norm = 0.0
        if self.cfg.grad_clip > 0:
            params = [p for p in module.parameters() if p.grad is not None]
            if self.accelerator is not None:
                norm = float(self.accelerator.clip_grad_norm_(params, self.cfg.grad_clip))
            else:
                norm = float(nn.utils.clip_grad_norm_(params, self.cfg.grad_clip))
        opt.step()
        return norm

    def unwrap(self, module: nn.Module) -> nn.Module:
        return self.accelerator.unwrap_model(module) if self.accelerator is not None else module

    # -- the loop ------------------------------------------------------------------------------------
    def fit(self, run: Run) -> None:
        self.accelerator = acc = self.make_accelerator()
        self.prepare(acc)
        main = acc.is_main_process
        x_all = self.data.x_train.to(self.device)
        y_all = None if self.data.y_train is None else self.data.y_train.to(self.device)
        # a fresh batch stream per process and per resume (run.step), reproducible from the seed
        g = torch.Generator(device="cpu").manual_seed(self.config.seed * 100_003 + run.step * 7 + acc.process_index)
        batch = min(self.cfg.batch, len(x_all))
        if acc.num_processes > 1:
            self.announce_processes(run, acc.num_processes, batch)
            if not main:  # the main process's noise comes from the run's seed (and its checkpoint); the others draw their own
                torch.manual_seed(self.config.seed * 1_000_003 + acc.process_index * 7_919 + run.step)
        for m in self.modules().values():
            m.train()
        if main and run.config.max_minutes is not None:
            self.time_closing_samples(run)
        while not run.should_stop():
            idx = torch.randint(0, len(x_all), (batch,), generator=g).to(self.device)
            logs = self.train_step(x_all[idx], None if y_all is None else y_all[idx])
            run.step += 1
            if not main:
                continue
            if run.step % self.cfg.log_every == 0:
                run.log(in_section("train", logs))
            if self.cfg.sample_every and run.step % self.cfg.sample_every == 0:
                self.log_samples(run)
            with isolated_rng():
                self.periodic(run)
            if self.cfg.eval_every and run.step % self.cfg.eval_every == 0:
                self.evaluate_and_checkpoint(run)
            elif run.checkpoint_due():
                run.checkpoint(self)
        if main:
            self.evaluate_at_end(run)
            self.log_closing_samples(run)
        acc.wait_for_everyone()

    def evaluate_and_checkpoint(self, run: Run) -> None:
        """The scheduled evaluation (``eval_draws`` draws of ``eval_n`` samples), logged under
        ``eval/``, then a checkpoint scored by it (the best when its FID, or 2-D distance, is the lowest yet)."""
        was = {k: m.training for k, m in self.modules().items()}
        t = time.time()
        with isolated_rng():  # the metrics' feature network is trained (seeded) on first use
            metrics = self.evaluate(n=self.cfg.eval_n, during_training=True, draws=self.cfg.eval_draws)
        for k, m in self.modules().items():
            m.train(was[k])
        if self.seconds_per_sample is not None and run.config.max_minutes is not None:
            # samples in batches cost far less each than the few timed at the start: keep for the
            # closing evaluation and grid what this evaluation took, not that first guess
            self.seconds_per_sample = (time.time() - t) / self.eval_samples()
            run.reserve_for_closing(1.2 * self.seconds_per_sample * (self.grid_size() + self.eval_samples()))
        run.log(in_section("eval", metrics))
        key = "fid" if "fid" in metrics else "sliced_wasserstein"
        run.checkpoint(self, score=-float(metrics[key]))

    def evaluate_at_end(self, run: Run) -> None:
        """The closing evaluation, so that the last checkpoint is scored and can be the best (a run
        stopped by ``max_minutes`` at step 7,790 kept step 2,000 as its best): once a scheduled
        evaluation has chosen a best, unless the run was interrupted, has just been evaluated, or has
        too little of ``max_minutes`` left. A run shorter than ``eval_every`` has no best (its latest
        checkpoint stands in) and gets none."""
        every = self.cfg.eval_every
        if not every or run.interrupted or run.step < every or run.step % every == 0:
            return
        left = run.closing_time_left()
        if left is not None and self.seconds_per_sample is not None and 1.2 * self.seconds_per_sample * self.eval_samples() > left:
            print(f"closing evaluation skipped: {max(left, 0.0):.1f} s of max_minutes left for it", file=sys.stderr)
            return
        self.evaluate_and_checkpoint(run)

    def eval_samples(self) -> int:
        """Samples one scheduled evaluation draws (all its draws)."""
        return self.cfg.eval_n * self.cfg.eval_draws

    def announce_processes(self, run: Run, processes: int, batch: int) -> None:
        """One line at the start, a metrics row and run.json's ``processes`` and ``effective_batch``
        for a run trained by several processes (main process only)."""
        if not run.main:
            return
        print(f"{processes} processes train this run: effective batch {batch * processes} "
              f"(model.batch={batch} per process × {processes})", file=sys.stderr)
        run.record(processes=processes, effective_batch=batch * processes)
        run.log({"train/processes": processes, "train/effective_batch": batch * processes})

    # -- the closing sample grid inside max_minutes --------------------------------------------------
    #: seconds one image (or point) of a sample grid takes, once timed
    seconds_per_sample: float | None = None

    def grid_size(self) -> int:
        """The samples of a logged grid: ``grid`` images, or 2000 points over a 2-D set."""
        return self.cfg.grid if self.data.kind == "image" else 2000

    def time_closing_samples(self, run: Run) -> None:
        """Time a small batch of samples (an eighth of a grid, at most 8 images; seeded, so no
        random stream moves) and keep that much time per sample for the closing grid: training
        stops early enough for it to fit inside ``max_minutes``."""
        n = max(1, self.grid_size() // 8)
        if self.data.kind == "image":
            n = min(n, 8)
        was = {k: m.training for k, m in self.modules().items()}
        t = time.time()
        with isolated_rng():
            self.sample(n, seed=0, **self.quick_sample_options())
        self.seconds_per_sample = (time.time() - t) / n
        for k, m in self.modules().items():
            m.train(was[k])
        closing = self.grid_size() + (self.eval_samples() if self.cfg.eval_every else 0)
        run.reserve_for_closing(1.2 * self.seconds_per_sample * closing)

    def log_closing_samples(self, run: Run) -> None:
        """The grid logged when training ends; with ``max_minutes``, as many samples as fit in
        the time left (``samples_in_grid`` and one line when fewer), or none (``samples_skipped``)."""
        left = run.closing_time_left()
        full = self.grid_size()
        if left is None or self.seconds_per_sample is None or 1.2 * self.seconds_per_sample * full <= left:
            self.log_samples(run)
            return
        n = int(left / (1.2 * self.seconds_per_sample))
        if self.data.kind == "image":
            n = int(np.sqrt(n)) ** 2 if n >= 4 else n  # a square grid where it can be
        if n < 1:
            run.log({"charts/samples_skipped": 1})
            print(f"closing sample grid skipped: {max(left, 0.0):.1f} s of max_minutes left for it", file=sys.stderr)
            return
        run.log({"charts/samples_in_grid": n})
        print(f"closing sample grid cut to {n} of {full} samples to end within max_minutes", file=sys.stderr)
        self.log_samples(run, n)

    def periodic(self, run: Run) -> None:
        """Called after every step on the main process: a model's own periodic logging."""

    def log_samples(self, run: Run, n: int | None = None) -> None:
        """Log a grid of ``n`` samples (images; default ``grid``) or a scatter over the data (2-D sets; default 2000)."""
        was = {k: m.training for k, m in self.modules().items()}
        with isolated_rng():
            samples = self.sample(n or self.grid_size(), seed=0, **self.quick_sample_options())
        if self.data.kind == "image":
            run.log_image("charts/samples", samples)
        else:
            from sandbox.tracking import scatter_picture

            run.log_image("charts/samples", scatter_picture(self.data.x_test.numpy(), np.asarray(samples), f"{self.config.data.name}: samples at step {run.step}"))
        for k, m in self.modules().items():
            m.train(was[k])

    def quick_sample_options(self) -> dict[str, Any]:
        """Options of :meth:`sample` for grids and metrics during training (a fast sampler)."""
        return {}

    # -- state ---------------------------------------------------------------------------------------
    def saved(self) -> Saved:
        """The model's networks (unwrapped from accelerate) and optimisers, and its extra JSON state."""
        modules = {name: self.unwrap(m) for name, m in self.modules().items()}
        return Saved(modules=modules, optimizers=self.optimizers(), state=self.extra_state())

    def restore(self, buffers: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.load_extra_state(state)

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # -- evaluation ----------------------------------------------------------------------------------
    def evaluate(self, n: int | None = None, during_training: bool = False, draws: int = 1, **options: Any) -> dict[str, Any]:
        """fid, fid_floor, precision, recall of n samples (2-D sets: sliced Wasserstein and MMD).

        With ``draws`` k > 1 the measure is made k times, draw i with samples of seed 1 + i against
        split i of the real data (its own halves, so its own floor), and the figures are the means,
        with ``fid_std`` and ``fid_floor_std``: one draw of a few hundred digits moves the FID by a
        third of the floor either way."""
        from sandbox.generative.metrics import MAX_DRAWS, average_draws, image_metrics, point_metrics

        if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or not 1 <= draws <= MAX_DRAWS:
            raise ConfigError(f"the number of draws (draws=, or --draws of sandbox eval) must be a whole number from 1 to {MAX_DRAWS}, not {draws}.")
        # the metrics compare with at most half the data set (2000 points for 2-D sets): more samples
        # than that would be drawn only to be dropped
        half = len(self.data.all_x) // 2
        results = []
        for i in range(int(draws)):
            if self.data.kind == "points":
                m = min(n or 2000, half, 2000)
                results.append(point_metrics(self.data, torch.as_tensor(self.sample(m, seed=1 + i, **options)), split=i))
                continue
            m = min(n or 1000, half)
            samples = self.sample(m, seed=1 + i, **options)
            progress = False if during_training else show_progress(self.progress)
            results.append(image_metrics(self.data, torch.as_tensor(samples), progress=progress, split=i))
        return average_draws(results)

    def sample_bytes(self, n: int) -> int:
        """Bytes that ``n`` samples take as float32 (images N×C×H×W, or N×2 points)."""
        return int(n) * int(np.prod(self.data.shape)) * 4

    def check_fits(self, n: int, extra_bytes_per_sample: int = 0) -> None:
        """Refuse ``n`` samples (plus ``extra_bytes_per_sample`` each, for a picture made of them)
        that do not fit in the memory available, with one sentence, before anything is allocated."""
        per = self.sample_bytes(1) + int(extra_bytes_per_sample)
        need, free = int(n) * per, available_memory()
        if free is None or need <= free:
            return
        shape = "×".join(str(s) for s in self.data.shape)
        raise ConfigError(
            f"{n:,} samples of {shape} need about {need / 2**30:,.1f} GiB of memory, more than the "
            f"{free / 2**30:.1f} GiB available here; ask for at most {free // per:,} (--n), or for several "
            "parts with different seeds (--seed)."
        )

    def demo_media(self, run: Run) -> list[Path]:
        """A grid of 64 samples in the run's media folder."""
        from sandbox.tracking import image_grid, scatter_picture, write_png

        samples = self.sample(64 if self.data.kind == "image" else 2000, seed=0, **self.quick_sample_options())
        if self.data.kind == "image":
            picture = image_grid(samples)
        else:
            picture = scatter_picture(self.data.x_test.numpy(), np.asarray(samples), f"{self.config.data.name}: {len(samples)} samples")
        return [write_png(Path(run.media_dir) / "demo-samples.png", picture)]
