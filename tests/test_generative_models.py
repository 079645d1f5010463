"""VAE, GAN, DDPM and flow matching on every backbone that fits: a few steps, save, reload, same samples for the same
seed; the diffusers pipeline export; metrics; the command line; the accelerate path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import sandbox
from sandbox.errors import ConfigError

TINY = {
    "cnn": ["backbone.channels=[8,16]", "backbone.hidden=32"],
    "transformer": ["backbone.d_model=16", "backbone.layers=1", "backbone.heads=2"],
    "mlp": ["backbone.hidden=[32,32]"],
}
FAST = ["steps=3", "wandb.mode=disabled", "model.batch=16", "model.grid=4", "model.log_every=1"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SANDBOX_CACHE", str(tmp_path_factory.getbasetemp() / "sandbox-cache"))


def train(tmp_path, model, backbone, *extra, data="digits"):
    out = tmp_path / f"{model}-{backbone}-{data}"
    run = sandbox.train(None, [f"model={model}", f"data={data}", f"backbone={backbone}", *TINY[backbone], *FAST, f"out={out}", *extra], progress=False)
    return run


SAMPLE = {"ddpm": {"sampler": "ddim", "steps": 4}, "flow": {"sampler": "heun", "steps": 3}, "vae": {}, "gan": {}}
CASES = [(m, b) for m in ("vae", "gan", "ddpm", "flow") for b in ("cnn", "transformer", "mlp")]
#: the few sampling steps of the diffusion models' tiny runs
EXTRA = {"ddpm": ["model.sample_batch=3", "model.eval_steps=2", "model.timesteps=50"], "flow": ["model.sample_batch=3", "model.eval_steps=2"]}


@pytest.mark.parametrize("model,backbone", CASES)
def test_trains_saves_reloads_and_samples_the_same(tmp_path, model, backbone):
    run = train(tmp_path, model, backbone, *EXTRA.get(model, []))
    assert run.step == 3
    rows = [r for r in map(json.loads, (run.dir / "metrics.jsonl").read_text().splitlines()) if "step" in r]
    assert any(("train/loss" in r or "train/loss_d" in r) and np.isfinite(r.get("train/loss", r.get("train/loss_d"))) for r in rows)
    assert list((run.dir / "media").glob("samples-*.png"))
    a = sandbox.load(run.dir)
    b = sandbox.load(run.dir)
    s1 = a.sample(5, seed=7, **SAMPLE[model])
    s2 = b.sample(5, seed=7, **SAMPLE[model])
    assert s1.shape == (5, 1, 8, 8) and float(s1.min()) >= 0 and float(s1.max()) <= 1
    torch.testing.assert_close(s1, s2, rtol=0, atol=0)
    assert not torch.equal(s1, a.sample(5, seed=8, **SAMPLE[model]))
    if model == "vae":
        assert list((run.dir / "media").glob("reconstructions-*.png"))


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm"])
def test_ddpm_samplers_guidance_and_labels(tmp_path, sampler):
    run = train(tmp_path, "ddpm", "mlp", "model.timesteps=40", "model.export_pipeline=false")
    m = sandbox.load(run.dir)
    x = m.sample(4, seed=1, sampler=sampler, steps=5)
    assert x.shape == (4, 1, 8, 8)
    torch.testing.assert_close(x, m.sample(4, seed=1, sampler=sampler, steps=5))
    g = m.sample(4, seed=1, sampler=sampler, steps=5, label=3, guidance=3.0)
    assert g.shape == (4, 1, 8, 8) and not torch.equal(g, x)
    with pytest.raises(ConfigError, match="use 0 to 9"):
        m.sample(2, label=10)
    with pytest.raises(ConfigError, match="did you mean .*'ddim'"):
        m.sample(2, sampler="ddmi")


def test_vae_mixture_prior_and_kl_warmup(tmp_path):
    """The learned mixture prior: trains, reloads, samples the same for the same seed, keeps a finite ELBO."""
    run = train(tmp_path, "vae", "cnn", "model.prior=mixture", "model.prior_components=3", "model.kl_warmup=2",
                "model.weight_decay=0.01", "model.min_scale=0.05")
    m = sandbox.load(run.dir)
    assert m.updates == 3
    s = m.sample(4, seed=5)
    torch.testing.assert_close(s, sandbox.load(run.dir).sample(4, seed=5), rtol=0, atol=0)
    out = m.held_out_elbo(samples_per_image=1)
    assert np.isfinite(out["elbo_nats"]) and out["bits_per_dim"] > 0
    # the mixture's log-density is a proper one: it integrates to 1 (checked in 1-D by a Riemann sum)
    from sandbox.generative.vae import MixturePrior

    prior = MixturePrior(3, 1)
    z = torch.linspace(-12, 12, 4001)[:, None]
    with torch.no_grad():
        total = float(prior.log_prob(z).exp().sum() * (z[1] - z[0]))
    assert abs(total - 1.0) < 1e-3


def test_gan_augmentation_shifts_real_and_fake_alike(tmp_path):
    from sandbox.generative.gan import translate

    x = torch.rand(6, 1, 8, 8) * 2 - 1
    assert torch.equal(translate(x, 1, 0.0), x)
    y = translate(x, 1, 1.0)
    assert y.shape == x.shape and float(y.min()) >= -1.0
    run = train(tmp_path, "gan", "cnn", "model.augment=1.0")
    assert run.step == 3


def test_ddpm_unet_exports_a_diffusers_pipeline(tmp_path):
    from diffusers import DDPMPipeline

    run = train(tmp_path, "ddpm", "cnn", "model.timesteps=50", "model.eval_steps=2")
    folder = run.dir / "pipeline"
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt*"))
    pipe = DDPMPipeline.from_pretrained(str(folder))
    out = pipe(batch_size=2, num_inference_steps=3, output_type="np", generator=torch.Generator().manual_seed(0)).images
    assert out.shape == (2, 8, 8, 1) and np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    # the class-conditional UNet is exported as its unconditional self ("no label" folded into the bias)
    m = sandbox.load(run.dir)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([3, 20, 45])
    with torch.no_grad():
        torch.testing.assert_close(pipe.unet(x, t).sample, m.denoise_fn()(x, t, None), rtol=1e-4, atol=1e-5)


def test_ddpm_on_points_and_resume(tmp_path):
    run = train(tmp_path, "ddpm", "mlp", "model.timesteps=40", data="moons")
    m = sandbox.load(run.dir)
    pts = m.sample(50, seed=0, sampler="ddim", steps=5)
    assert pts.shape == (50, 2)
    metrics = m.evaluate(n=100, sampler="ddim", steps=5)
    assert {"sliced_wasserstein", "sliced_wasserstein_floor", "mmd", "mmd_floor"} <= set(metrics)
    assert list((run.dir / "media").glob("samples-*.png"))
    again = sandbox.train(None, [f"out={run.dir}", "steps=5"], progress=False)
    assert again.step == 5
    ckpt = json.loads((run.dir / "checkpoints" / "latest.json").read_text())
    assert ckpt["step"] == 5


def test_evaluate_keys_and_cached_classifier(tmp_path):
    run = train(tmp_path, "vae", "mlp")
    m = sandbox.load(run.dir)
    out = m.evaluate(n=60)
    assert {"fid", "fid_floor", "precision", "recall", "elbo_nats", "bits_per_dim"} <= set(out)
    assert out["fid"] > 0 and out["fid_floor"] > 0 and 0 <= out["precision"] <= 1 and out["bits_per_dim"] > 0
    cache = os.environ["SANDBOX_CACHE"]
    infos = [json.loads(p.read_text()) for p in (__import__("pathlib").Path(cache) / "fid").glob("*.json")]
    assert infos and infos[0]["held_out_accuracy"] > 0.8  # the digits classifier is a real one
    assert list((__import__("pathlib").Path(cache) / "fid").glob("*.safetensors"))


def test_evaluate_over_draws_averages_draws_of_new_samples_against_new_real_halves(tmp_path):
    from sandbox.generative import metrics

    run = train(tmp_path, "vae", "mlp")
    m = sandbox.load(run.dir)
    out = m.evaluate(n=40, draws=3)
    singles = [metrics.image_metrics(m.data, m.sample(40, seed=1 + i), progress=False, split=i) for i in range(3)]
    assert out["draws"] == 3 and out["fid_n"] == 40
    assert out["fid"] == pytest.approx(np.mean([r["fid"] for r in singles]))
    assert out["fid_floor"] == pytest.approx(np.mean([r["fid_floor"] for r in singles]))
    assert out["fid_std"] == pytest.approx(np.std([r["fid"] for r in singles], ddof=1))
    assert len({r["fid_floor"] for r in singles}) == 3  # each draw its own split of the real data
    assert m.evaluate(n=40)["fid"] == pytest.approx(singles[0]["fid"])  # one draw is draw 0
    for bad in (10**6, 0, 2.5, "3"):
        with pytest.raises(ConfigError, match="--draws of sandbox eval"):
            m.evaluate(n=40, draws=bad)


def test_the_last_checkpoint_is_scored_by_a_closing_evaluation_of_several_draws(tmp_path):
    run = train(tmp_path, "vae", "mlp", "steps=7", "model.eval_every=3", "model.eval_n=20", "model.eval_draws=2")
    evals = [r for r in map(json.loads, (run.dir / "metrics.jsonl").read_text().splitlines()) if "eval/fid" in r]
    assert [r["step"] for r in evals] == [3, 6, 7]  # the scheduled ones, then the closing one
    assert all(r["eval/draws"] == 2 and r["eval/fid_std"] >= 0 for r in evals)
    latest = json.loads((run.dir / "checkpoints" / "latest.json").read_text())
    doc = json.loads((run.dir / "checkpoints" / f"{latest['file']}.json").read_text())
    assert latest["step"] == 7 and doc["best_score"] == pytest.approx(-min(r["eval/fid"] for r in evals))
    best = json.loads((run.dir / "checkpoints" / "best.json").read_text())
    assert best["score"] == pytest.approx(-min(r["eval/fid"] for r in evals))
    short = train(tmp_path / "short", "vae", "mlp", "steps=2", "model.eval_every=3", "model.eval_n=20")
    assert not any("eval/fid" in r for r in map(json.loads, (short.dir / "metrics.jsonl").read_text().splitlines()))


def test_bad_combinations_fail_before_anything_is_written(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match="2-D point set"):
        sandbox.train(None, ["model=vae", "data=moons", f"out={out}", "wandb.mode=disabled"], progress=False)
    with pytest.raises(ConfigError, match="data.size"):
        sandbox.train(None, ["model=ddpm", "data=digits", "data.size=12", f"out={out}", "wandb.mode=disabled"], progress=False)
    with pytest.raises(ConfigError, match="needs a data set"):
        sandbox.train(None, ["model=gan", f"out={out}", "wandb.mode=disabled"], progress=False)
    assert not out.exists()


def test_cli_sample_eval_and_demo_media(tmp_path, cli):
    run = train(tmp_path, "gan", "mlp")
    r = cli("sample", str(run.dir), "--n", "6", "--seed", "2", "--out", str(tmp_path / "s.npz"))
    assert r.returncode == 0, r.stderr
    arr = np.load(tmp_path / "s.npz")["samples"]
    assert arr.shape == (6, 1, 8, 8)
    torch.testing.assert_close(torch.from_numpy(arr), sandbox.load(run.dir).sample(6, seed=2))
    r = cli("sample", str(run.dir), "--n", "6", "--out", str(tmp_path / "s.png"))
    assert r.returncode == 0 and (tmp_path / "s.png").stat().st_size > 100
    r = cli("sample", str(run.dir), "--n", "6", "--steps", "5", "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "GAN" in r.stderr
    paths = sandbox.load(run.dir).demo_media(run)
    assert paths and paths[0].suffix == ".png" and paths[0].is_file() and paths[0].parent == run.media_dir


def test_demo_preset_is_a_short_ddpm_on_digits():
    from sandbox.config import resolve

    cfg = resolve("demo-digits")
    assert cfg.model.name == "ddpm" and cfg.data.name == "digits"
    assert cfg.steps <= 2000 and cfg.max_minutes <= 6


def test_demo_media_of_a_conditional_image_ddpm_is_one_row_per_class(tmp_path):
    """The demo's digit picture: ten rows (0 to 9), eight guided samples each."""
    from PIL import Image

    run = sandbox.train(None, ["model=ddpm", "data=digits", "backbone=mlp", *TINY["mlp"], *FAST, "steps=2",
                               "model.timesteps=20", "model.eval_steps=2", "model.sample_every=0", "model.eval_every=0",
                               f"out={tmp_path / 'r'}"], progress=False)
    model = sandbox.load(run.dir)
    assert model.conditional and model.num_classes == 10
    (png,) = model.demo_media(run)
    w, h = Image.open(png).size
    assert png.name == "demo-samples.png" and h == pytest.approx(10 / 8 * w, rel=0.05)


def test_accelerate_launch_path_on_cpu(tmp_path):
    """`accelerate launch -m sandbox train ...`, one CPU process: the path that runs data parallel on GPUs."""
    out = tmp_path / "acc"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "sandbox", "train", "model=ddpm", "data=digits",
           "backbone=mlp", *TINY["mlp"], "steps=2", "model.batch=8", "model.timesteps=20", "model.eval_steps=2",
           "model.grid=2", "wandb.mode=disabled", f"out={out}", "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["step"] == 2
    assert sandbox.load(out).sample(2, seed=0, sampler="ddim", steps=2).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("model,backbone", [("ddpm", "cnn"), ("ddpm", "transformer"), ("flow", "cnn"), ("gan", "cnn"), ("vae", "transformer")])
def test_bf16_autocast_path_runs_on_cpu(tmp_path, monkeypatch, model, backbone):
    """The CUDA path (bf16 autocast, fp32 loss, clipping) forced on the CPU's bf16 autocast."""
    from sandbox.generative.base import DataModel

    monkeypatch.setattr(DataModel, "use_bf16", property(lambda self: True))
    extra = {"ddpm": ["model.timesteps=20", "model.eval_steps=2"], "flow": ["model.eval_steps=2"]}.get(model, [])
    run = train(tmp_path, model, backbone, *extra)
    rows = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r.get("train/loss", r.get("train/loss_d", 0.0))) for r in rows)
    m = sandbox.load(run.dir)
    s = m.sample(3, seed=0, **SAMPLE[model])
    assert s.dtype == torch.float32 and s.shape == (3, 1, 8, 8)
