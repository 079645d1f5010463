"""Training throughput (images per second) of the sandbox's DDPM against a plain diffusers training
loop with the same UNet2DModel, DDPMScheduler, optimiser and batch, measured in one process,
alternating the two so that both see the same machine load.

    flock /tmp/sandbox-bench.lock nice -n 5 python benchmarks/generative_ddpm_throughput.py

The plain loop is the core of diffusers' train_unconditional example without its extras: noise,
timesteps, ``scheduler.add_noise``, ``unet(...).sample``, MSE, backward, AdamW step. The sandbox's
loop also keeps an EMA of the weights and clips the gradient norm. Its rate is read from the run's
metrics.jsonl between two logged steps (the steady state, without start-up and checkpoints).
Target: ratio ≥ 1.0. Writes benchmarks/results/generative_ddpm_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import THREADS  # noqa: E402


def plain_loop(model_cfg: dict, sched_cfg: dict, x_all, y_all, batch: int, steps: int, warmup: int, lr: float) -> float:
    """Images per second of a plain diffusers training loop (after ``warmup`` untimed steps)."""
    import torch
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel.from_config(model_cfg)
    scheduler = DDPMScheduler.from_config(sched_cfg)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    unet.train()
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        idx = torch.randint(0, len(x_all), (batch,))
        clean = x_all[idx] * 2 - 1
        noise = torch.randn_like(clean)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch,))
        noisy = scheduler.add_noise(clean, noise, t)
        pred = unet(noisy, t, class_labels=y_all[idx]).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return steps * batch / (time.perf_counter() - t0)


def sandbox_loop(steps: int, warmup: int, out: Path) -> tuple[float, object]:
    """Images per second of `sandbox train ddpm-digits`, from its metrics.jsonl."""
    import sandbox
    from sandbox.tracking import read_metrics

    shutil.rmtree(out, ignore_errors=True)
    run = sandbox.train("ddpm-digits", [f"steps={warmup + steps}", "max_minutes=null", f"out={out}", "wandb.mode=disabled",
                                        "model.log_every=10", "model.sample_every=0", "model.export_pipeline=false"], progress=False)
    rows = {r["step"]: r["time"] for r in read_metrics(out) if "train/loss" in r}
    batch = run.config.plugin.config.batch
    return (steps * batch) / (rows[warmup + steps] - rows[warmup]), run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    import torch

    import sandbox

    out = ROOT / "runs" / "bench-ddpm-throughput"
    ours, plain = [], []
    model = None
    for r in range(args.rounds):
        rate, run = sandbox_loop(args.steps, args.warmup, out)
        ours.append(rate)
        if model is None:
            model = sandbox.load(out, which="latest")
        unet = model.model.unet
        plain.append(plain_loop(dict(unet.config), dict(model.scheduler.config), model.data.x_train, model.data.y_train,
                                model.cfg.batch, args.steps, args.warmup, model.cfg.lr))
        print(f"round {r + 1}: sandbox {ours[-1]:.1f} img/s, plain diffusers {plain[-1]:.1f} img/s", flush=True)
    ratio = statistics.median(ours) / statistics.median(plain)
    result = {"benchmark": "ddpm-unet-throughput", "data": "digits 8x8", "batch": model.cfg.batch,
              "unet_parameters": sum(p.numel() for p in model.model.parameters()), "steps_timed": args.steps,
              "sandbox_images_per_s": ours, "plain_images_per_s": plain, "ratio_of_medians": ratio,
              "target": "ratio >= 1.0", "pass": ratio >= 1.0, "torch_threads": torch.get_num_threads(),
              "load_avg_at_end": os.getloadavg()[0]}
    res = ROOT / "benchmarks" / "results" / "generative_ddpm_throughput.json"
    res.write_text(json.dumps(result, indent=1))
    print(f"\n{'loop':16} {'median img/s':>12}  rounds")
    print(f"{'sandbox ddpm':16} {statistics.median(ours):12.1f}  {', '.join(f'{v:.1f}' for v in ours)}")
    print(f"{'plain diffusers':16} {statistics.median(plain):12.1f}  {', '.join(f'{v:.1f}' for v in plain)}")
    print(f"ratio {ratio:.3f} (target >= 1.0): {'PASS' if ratio >= 1.0 else 'MISS'}")


if __name__ == "__main__":
    main()
