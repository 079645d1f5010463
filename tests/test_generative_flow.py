"""Flow matching (model=flow): the formulas, a loss that falls on a 2-D set, every denoiser backbone
trains, saves, reloads and samples the same for the same seed; the Euler and Heun samplers and their
network calls; guidance and labels; the diffusers pipeline export; bad values in one sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import sandbox
from sandbox.errors import ConfigError
from sandbox.generative import flow

TINY = {
    "cnn": ["backbone.channels=[8,16]", "backbone.hidden=32"],
    "transformer": ["backbone.d_model=16", "backbone.layers=1", "backbone.heads=2"],
    "mlp": ["backbone.hidden=[32,32]"],
}
FAST = ["steps=3", "wandb.mode=disabled", "model.batch=16", "model.grid=4", "model.log_every=1", "model.eval_steps=2",
        "model.sample_batch=3"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SANDBOX_CACHE", str(tmp_path_factory.getbasetemp() / "sandbox-cache"))


def train(tmp_path, backbone, *extra, data="digits"):
    out = tmp_path / f"flow-{backbone}-{data}"
    return sandbox.train(None, ["model=flow", f"data={data}", f"backbone={backbone}", *TINY[backbone], *FAST, f"out={out}", *extra],
                         progress=False)


def calls_of(model):
    """The batch size of every call of ``model``'s sampling network, appended as they happen."""
    calls: list[int] = []
    model.denoise_fn().register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    return calls


def test_the_path_and_its_velocity():
    x0, noise = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(flow.interpolate(x0, noise, torch.zeros(4)), x0)
    torch.testing.assert_close(flow.interpolate(x0, noise, torch.ones(4)), noise)
    # the target is the derivative of the path in σ (a straight line: any two points give it)
    a, b = torch.full((4,), 0.2), torch.full((4,), 0.7)
    slope = (flow.interpolate(x0, noise, b) - flow.interpolate(x0, noise, a)) / 0.5
    torch.testing.assert_close(slope, flow.velocity_target(x0, noise))
    # one Euler step of diffusers' scheduler with the exact velocity lands on the data
    from diffusers import FlowMatchEulerDiscreteScheduler

    s = FlowMatchEulerDiscreteScheduler(num_train_timesteps=flow.TIME_SCALE)
    s.set_timesteps(1)
    assert float(s.timesteps[0]) == flow.TIME_SCALE and s.sigmas.tolist() == [1.0, 0.0]
    torch.testing.assert_close(s.step(flow.velocity_target(x0, noise), s.timesteps[0], noise).prev_sample, x0)
    torch.testing.assert_close(flow.guided(torch.ones(2), torch.zeros(2), 3.0), torch.full((2,), 3.0))
    for how in ("uniform", "logit_normal"):
        sig = flow.draw_sigmas(1000, how, torch.device("cpu"))
        assert sig.shape == (1000,) and float(sig.min()) >= 0 and float(sig.max()) < 1
    middle = lambda s: float(((s > 0.25) & (s < 0.75)).float().mean())  # noqa: E731
    assert middle(flow.draw_sigmas(4000, "logit_normal", torch.device("cpu"))) > middle(flow.draw_sigmas(4000, "uniform", torch.device("cpu"))) + 0.05


def test_the_loss_falls_on_a_2d_set_and_the_run_resumes(tmp_path):
    out = tmp_path / "moons"
    run = sandbox.train(None, ["model=flow", "data=moons", "steps=200", "model.warmup=20", "model.log_every=10", "model.eval_every=0",
                               "wandb.mode=disabled", f"out={out}"], progress=False)
    assert run.tuned is not None  # the 2-D sets have tuned values (an MLP of 128×3, lr 1e-3)
    losses = [r["train/loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "train/loss" in r]
    assert len(losses) == 20 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5]), losses  # from about 2 (= E‖ε - x₀‖² at v = 0)
    m = sandbox.load(out)
    pts = m.sample(300, seed=0)
    assert pts.shape == (300, 2) and torch.isfinite(pts).all()
    metrics = m.evaluate(n=200, sampler="heun", steps=3)
    assert {"sliced_wasserstein", "sliced_wasserstein_floor", "mmd", "mmd_floor"} <= set(metrics)
    again = sandbox.train(None, [f"out={out}", "steps=205"], progress=False)
    assert again.step == 205 and json.loads((out / "checkpoints" / "latest.json").read_text())["step"] == 205
    assert sandbox.load(out).updates == 205


@pytest.mark.parametrize("backbone", ["cnn", "transformer", "mlp"])
def test_trains_saves_reloads_and_samples_the_same(tmp_path, backbone):
    run = train(tmp_path, backbone, "model.sample_every=3", "model.export_pipeline=false")
    assert run.step == 3
    rows = [r for r in map(json.loads, (run.dir / "metrics.jsonl").read_text().splitlines()) if "train/loss" in r]
    assert len(rows) == 3 and all(np.isfinite(r["train/loss"]) for r in rows)
    assert list((run.dir / "media").glob("samples-*.png"))
    a, b = sandbox.load(run.dir), sandbox.load(run.dir)
    for sampler in ("euler", "heun"):
        s1, s2 = a.sample(5, seed=7, sampler=sampler, steps=3), b.sample(5, seed=7, sampler=sampler, steps=3)
        assert s1.shape == (5, 1, 8, 8) and float(s1.min()) >= 0 and float(s1.max()) <= 1
        torch.testing.assert_close(s1, s2, rtol=0, atol=0)
        assert not torch.equal(s1, a.sample(5, seed=8, sampler=sampler, steps=3))
    assert not torch.equal(a.sample(5, seed=7, sampler="euler", steps=3), a.sample(5, seed=7, sampler="heun", steps=3))


def test_both_samplers_their_steps_and_network_calls(tmp_path):
    run = train(tmp_path, "mlp")
    saved = yaml.safe_load((run.dir / "config.yaml").read_text())["model"]
    assert (saved["sampler"], saved["steps"]) == ("euler", 10)  # at most 10 steps by default, written down
    m = sandbox.load(run.dir)
    assert m.sampling_plan() == ("euler", 10) and m.sampling_plan("heun") == ("heun", 5) and m.sampling_plan("heun", 7) == ("heun", 7)
    calls = calls_of(m)
    m.sample(7, seed=0)  # batches of 3, 3, 1: 10 Euler steps each
    assert calls == [3] * 10 + [3] * 10 + [1] * 10
    calls.clear()
    m.sample(3, seed=0, sampler="heun", steps=4)  # two calls a step but the last, an Euler step to σ = 0
    assert calls == [3] * 7
    # more steps integrate the same flow more finely: the results differ, and stay finite
    few, many = m.sample(3, seed=0, steps=2), m.sample(3, seed=0, steps=50)
    assert not torch.equal(few, many) and torch.isfinite(many).all()
    with pytest.raises(ConfigError, match="did you mean .*'euler'"):
        m.sample(2, sampler="eulr")
    with pytest.raises(ConfigError, match="did you mean .*'heun'"):
        m.sample(2, sampler="hen")
    for steps in (-3, 10**9):
        with pytest.raises(ConfigError, match="--steps must be a number from 1 to 10,000"):
            m.sample(2, steps=steps)
    heun = train(tmp_path / "h", "mlp", "model.sampler=heun")
    assert yaml.safe_load((heun.dir / "config.yaml").read_text())["model"]["steps"] == 5
    assert sandbox.load(heun.dir).sampling_plan() == ("heun", 5)


def test_guidance_and_labels(tmp_path):
    run = train(tmp_path, "mlp")
    m = sandbox.load(run.dir)
    assert m.conditional  # the digits have labels
    x = m.sample(4, seed=1, steps=3, label=3)
    calls = calls_of(m)
    g = m.sample(4, seed=1, steps=3, label=3, guidance=3.0)
    assert calls == [6] * 3 + [2] * 3  # batches of 3 and 1, labelled and "no label" halves in one call
    assert g.shape == (4, 1, 8, 8) and not torch.equal(g, x)
    torch.testing.assert_close(g, m.sample(4, seed=1, steps=3, label=3, guidance=3.0), rtol=0, atol=0)
    assert not torch.equal(x, m.sample(4, seed=1, steps=3, label=5))
    with pytest.raises(ConfigError, match="use 0 to 9"):
        m.sample(2, label=10)
    plain = train(tmp_path / "u", "mlp", "model.conditional=no")
    with pytest.raises(ConfigError, match="trained without labels"):
        sandbox.load(plain.dir).sample(2, label=1)
    with pytest.raises(ConfigError, match="needs labels"):
        train(tmp_path / "m", "mlp", "model.conditional=yes", data="moons")


def test_unet_exports_a_diffusers_pipeline_that_samples_as_the_run(tmp_path):
    from diffusers import DDPMPipeline, FlowMatchEulerDiscreteScheduler

    run = train(tmp_path, "cnn", "model.conditional=no")
    folder = run.dir / "pipeline"
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt*"))
    pipe = DDPMPipeline.from_pretrained(str(folder))
    assert isinstance(pipe.scheduler, FlowMatchEulerDiscreteScheduler)
    out = pipe(batch_size=3, num_inference_steps=4, output_type="pt", generator=torch.Generator().manual_seed(5)).images
    m = sandbox.load(run.dir)
    torch.testing.assert_close(out, m.sample(3, seed=5, sampler="euler", steps=4), rtol=0, atol=1e-5)
    # a class-conditional UNet is exported as its unconditional self ("no label" folded into the bias)
    cond = train(tmp_path / "c", "cnn")
    pipe = DDPMPipeline.from_pretrained(str(cond.dir / "pipeline"))
    m = sandbox.load(cond.dir)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([3.5, 200.0, 999.0])
    with torch.no_grad():
        torch.testing.assert_close(pipe.unet(x, t).sample, m.denoise_fn()(x, t, None), rtol=1e-4, atol=1e-5)


def test_export_format_diffusers_writes_the_pipeline_and_refuses_the_dit(tmp_path, cli):
    from diffusers import DDPMPipeline

    run = train(tmp_path, "cnn", "model.conditional=no", "model.export_pipeline=false")
    out = sandbox.export(run.dir, tmp_path / "pipe", format="diffusers")
    assert {p.name for p in out.iterdir()} == {"model_index.json", "unet", "scheduler", "README.md"} and not list(out.rglob("*.bin"))
    pipe = DDPMPipeline.from_pretrained(str(out))
    images = pipe(batch_size=2, num_inference_steps=3, output_type="pt", generator=torch.Generator().manual_seed(4)).images
    torch.testing.assert_close(images, sandbox.load(run.dir).sample(2, seed=4, sampler="euler", steps=3), rtol=0, atol=1e-5)
    assert "--sampler euler --steps 10" in (out / "README.md").read_text()
    # the sandbox reads the folder back as a flow: sample draws what the run draws, by Euler or Heun; eval takes --data
    folder = sandbox.load(out)
    assert type(folder).__name__ == "PipelineFlow" and folder.sampling_plan() == ("euler", 10)
    torch.testing.assert_close(folder.sample(2, seed=4, steps=3), images, rtol=0, atol=1e-5)
    torch.testing.assert_close(folder.sample(2, seed=4, sampler="heun", steps=2),
                               sandbox.load(run.dir).sample(2, seed=4, sampler="heun", steps=2), rtol=0, atol=1e-5)
    r = cli("sample", str(out), "--n", "3", "--out", str(tmp_path / "grid.png"), "--seed", "4")
    assert r.returncode == 0 and (tmp_path / "grid.png").is_file(), r.stderr
    r = cli("sample", str(out), "--n", "3", "--out", str(tmp_path / "x.png"), "--label", "2")
    assert r.returncode == 2 and "unconditional pipeline" in r.stderr and "Traceback" not in r.stderr
    r = cli("eval", str(out), "--n", "8", "--data", "digits", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["fid"] > 0, r.stderr
    dit = train(tmp_path / "d", "transformer", "model.export_pipeline=false")
    r = cli("export", str(dit.dir), "--to", str(tmp_path / "dit"), "--format", "diffusers")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "backbone=cnn" in r.stderr and not (tmp_path / "dit").exists()


def test_demo_media_is_one_row_per_class(tmp_path):
    run = train(tmp_path, "mlp")
    (path,) = sandbox.load(run.dir).demo_media(run)
    assert path.is_file() and path.suffix == ".png"


def test_tuned_values_and_preset():
    from sandbox import tuned
    from sandbox.config import from_raw, raw_config

    def config_of(*overrides: str, source: str | None = None) -> dict:
        raw, _ = tuned.apply(raw_config(source, list(overrides)))
        return from_raw(raw).to_dict()

    preset = config_of(source="flow-digits")
    assert (preset["model"]["name"], preset["data"]["name"], preset["max_minutes"]) == ("flow", "digits", 15)
    assert preset["backbone"]["channels"] == [32, 64] and preset["model"]["lr"] == 1e-3  # the digits' UNet, as DDPM's
    for data, backbone in (("digits", "cnn"), ("digits", "transformer"), ("shapes", "mlp"), ("ring", None)):
        extra = [f"backbone={backbone}"] if backbone else []
        ddpm, flow_ = (config_of(f"model={name}", f"data={data}", *extra) for name in ("ddpm", "flow"))
        assert (flow_["backbone"], flow_["steps"]) == (ddpm["backbone"], ddpm["steps"]), (data, backbone)  # network for network


BAD = [
    ("model.shift=0", "model.shift"), ("model.shift=-1", "model.shift"), ("model.sampler=dpm", "model.sampler"),
    ("model.eval_sampler=eulr", "euler"), ("model.time_sampling=normal", "model.time_sampling"), ("model.steps=-1", "model.steps"), ("model.steps=20000", "model.steps"),
    ("model.eval_steps=0", "model.eval_steps"), ("model.ema=1", "model.ema"), ("model.label_dropout=1.5", "model.label_dropout"),
    ("model.guidance=-1", "model.guidance"), ("model.guidance=nan", "model.guidance"), ("model.sample_batch=0", "model.sample_batch"),
    ("model.warmup=-1", "model.warmup"), ("model.lr=0", "model.lr"),
]


@pytest.mark.parametrize("override,named", BAD)
def test_bad_values_are_one_sentence(tmp_path, override, named):
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")) as err:
        sandbox.train(None, ["model=flow", "data=moons", override, f"out={out}", "wandb.mode=disabled"], progress=False)
    assert "\n" not in str(err.value)
    assert not out.exists()


def test_cli_sample_and_a_bad_value(tmp_path, cli, capsys):
    from sandbox.cli import main

    run = train(tmp_path, "mlp")
    npz = tmp_path / "s.npz"
    r = cli("sample", str(run.dir), "--n", "5", "--seed", "3", "--sampler", "heun", "--steps", "3", "--label", "2", "--out", str(npz))
    assert r.returncode == 0, r.stderr
    torch.testing.assert_close(torch.from_numpy(np.load(npz)["samples"]), sandbox.load(run.dir).sample(5, seed=3, sampler="heun", steps=3, label=2))
    capsys.readouterr()
    assert main(["sample", str(run.dir), "--n", "5", "--sampler", "dpm", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "euler" in err and not (tmp_path / "x.png").exists()
    assert main(["train", "model=flow", "data=moons", "model.shift=0", f"out={tmp_path / 'never'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.shift" in err and not (tmp_path / "never").exists()
