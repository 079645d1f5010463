"""Sampling that is fast by default and shows itself: DPM-Solver++ in 20 steps unless asked otherwise
(also for runs that recorded the old default), batches of bounded size, an --n that cannot fit
refused in one sentence, a progress bar on a terminal only. Real diffusers UNets at tiny sizes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import yaml

import sandbox
from sandbox.errors import ConfigError

TINY_UNET = ["backbone.channels=[8,16]", "backbone.hidden=32"]
FAST = ["steps=2", "wandb.mode=disabled", "model.batch=16", "model.grid=4", "model.log_every=1",
        "model.timesteps=50", "model.eval_steps=2", "model.export_pipeline=false"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SANDBOX_CACHE", str(tmp_path_factory.getbasetemp() / "sandbox-cache"))


@pytest.fixture(scope="module")
def unet_run(tmp_path_factory):
    """A tiny class-conditional UNet DDPM on the digits, trained with the sampling defaults."""
    out = tmp_path_factory.mktemp("sampling") / "ddpm-unet"
    sandbox.train(None, ["model=ddpm", "data=digits", "backbone=cnn", *TINY_UNET, *FAST, "model.sample_batch=3", f"out={out}"],
                  progress=False)
    return out


def spy(model):
    """Record the schedulers ``model`` builds and the batch size of every denoiser call."""
    made, calls = [], []
    original = model.make_sampler

    def make_sampler(sampler, steps):
        s = original(sampler, steps)
        made.append(s)
        return s

    model.make_sampler = make_sampler
    model.denoise_fn().register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    return made, calls


def test_default_is_dpm_solver_in_20_steps_and_recorded(unet_run):
    from diffusers import DPMSolverMultistepScheduler

    saved = yaml.safe_load((unet_run / "config.yaml").read_text())["model"]
    assert (saved["sampler"], saved["steps"]) == ("dpm", 20)
    m = sandbox.load(unet_run)
    assert m.sampling_plan() == ("dpm", 20)
    made, calls = spy(m)
    x = m.sample(3, seed=0)
    assert x.shape == (3, 1, 8, 8)
    assert made and all(isinstance(s, DPMSolverMultistepScheduler) for s in made)
    assert made[0].config.algorithm_type == "dpmsolver++" and len(made[0].timesteps) == 20
    assert len(calls) == 20  # one batch, 20 denoiser calls
    # sandbox eval takes the same default
    made.clear()
    calls.clear()
    m.evaluate(n=6)
    assert isinstance(made[0], DPMSolverMultistepScheduler) and len(calls) == 2 * 20  # 6 samples, batches of 3


def test_the_runs_own_sampler_and_the_old_default(unet_run, tmp_path, capsys):
    m = sandbox.load(unet_run)
    # asked for: another sampler takes its own default steps, not the run's
    assert m.sampling_plan("ddpm") == ("ddpm", 50)
    assert m.sampling_plan("ddim") == ("ddim", 20)
    assert m.sampling_plan("ddim", 7) == ("ddim", 7)
    # a run trained to use ancestral DDPM records its steps and keeps it
    out = tmp_path / "own-ddpm"
    sandbox.train(None, ["model=ddpm", "data=digits", "backbone=mlp", "backbone.hidden=[16]", *FAST, "model.sampler=ddpm", f"out={out}"],
                  progress=False)
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["steps"] == 50
    own = sandbox.load(out)
    assert own.sampling_plan() == ("ddpm", 50) and own.sampling_plan("dpm") == ("dpm", 20)
    capsys.readouterr()
    # a run from before: config.yaml says sampler ddpm, steps 0 (the old default): sampled with DPM-Solver++, said once
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    cfg["model"]["steps"] = 0
    (out / "config.yaml").write_text(yaml.safe_dump(cfg))
    old = sandbox.load(out)
    assert old.sampling_plan() == ("dpm", 20)
    old.sample(2, seed=0, progress=False)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "old default" in err and "--sampler ddpm" in err
    old.sample(2, seed=0, progress=False)
    assert capsys.readouterr().err == ""
    assert old.sampling_plan("ddpm") == ("ddpm", 50)


def test_batches_are_bounded_deterministic_and_make_the_same_shape(unet_run):
    m = sandbox.load(unet_run)
    assert m.cfg.sample_batch == 3
    _, calls = spy(m)
    a = m.sample(7, seed=4, sampler="ddim", steps=3)
    assert a.shape == (7, 1, 8, 8) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert max(calls) <= 3 and len(calls) == 3 * 3  # batches of 3, 3, 1; 3 steps each
    torch.testing.assert_close(a, m.sample(7, seed=4, sampler="ddim", steps=3), rtol=0, atol=0)
    torch.testing.assert_close(a, sandbox.load(unet_run).sample(7, seed=4, sampler="ddim", steps=3), rtol=0, atol=0)
    assert not torch.equal(a, m.sample(7, seed=5, sampler="ddim", steps=3))
    # the stochastic sampler and labels are deterministic for a seed too
    b = m.sample(5, seed=1, sampler="ddpm", steps=4, label=2)
    torch.testing.assert_close(b, m.sample(5, seed=1, sampler="ddpm", steps=4, label=2), rtol=0, atol=0)
    m.cfg.sample_batch = 500
    calls.clear()
    assert m.sample(7, seed=4, sampler="ddim", steps=3).shape == (7, 1, 8, 8) and calls == [7] * 3


def test_an_n_that_cannot_fit_is_refused_in_one_sentence(unet_run, monkeypatch):
    import sandbox.generative.base as base

    m = sandbox.load(unet_run)
    with pytest.raises(ConfigError, match=r"GiB of memory, more than the .* GiB available here; ask for at most [\d,]+ \(--n\)"):
        m.sample(10**13)
    monkeypatch.setattr(base, "available_memory", lambda: 1000)  # bytes: three 8×8 float samples fit, four do not
    with pytest.raises(ConfigError, match="ask for at most 3 "):
        m.sample(4, sampler="ddim", steps=2)
    assert m.sample(3, sampler="ddim", steps=2).shape == (3, 1, 8, 8)


def test_evaluation_samples_only_what_the_metrics_use(unet_run):
    m = sandbox.load(unet_run)
    m.cfg.sample_batch = 500
    _, calls = spy(m)
    out = m.evaluate(n=5000, sampler="ddim", steps=2)
    half = len(m.data.all_x) // 2
    assert out["fid_n"] == half and sum(calls) == 2 * half


def test_progress_bar_when_asked_or_on_a_terminal(unet_run, capsys):
    from sandbox.generative.base import progress_bar, show_progress

    m = sandbox.load(unet_run)
    m.sample(4, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "sampling 4 (dpm, 20 steps)" in err and "100%" in err and "40/40" in err  # 2 batches of (up to) 3, 20 steps each
    assert "step/s" in err and "<00:00" in err  # the rate and the time left
    m.sample(4, seed=0, progress=False)
    m.sample(4, seed=0)  # stderr is not a terminal here: no bar
    m.progress = False  # sandbox sample --no-progress
    m.sample(4, seed=0)
    assert capsys.readouterr().err == ""

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert show_progress(None, Terminal()) and not show_progress(None, io.StringIO())
    assert show_progress(True, io.StringIO()) and not show_progress(False, Terminal())
    assert progress_bar(10, "x", False) is None


def test_cli_sample_and_eval_default_fast_quiet_and_refuse_a_huge_n(unet_run, tmp_path, cli):
    npz = tmp_path / "s.npz"
    r = cli("sample", str(unet_run), "--n", "7", "--seed", "3", "--out", str(npz))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # not a terminal: no bar in the log
    arr = np.load(npz)["samples"]
    assert arr.shape == (7, 1, 8, 8) and arr.dtype == np.float32
    torch.testing.assert_close(torch.from_numpy(arr), sandbox.load(unet_run).sample(7, seed=3, sampler="dpm", steps=20))
    png = tmp_path / "g.png"
    r = cli("sample", str(unet_run), "--n", "7", "--out", str(png), "--no-progress")
    assert r.returncode == 0 and png.stat().st_size > 100, r.stderr
    huge = tmp_path / "huge.png"
    r = cli("sample", str(unet_run), "--n", str(10**13), "--out", str(huge))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--n" in r.stderr and "GiB" in r.stderr
    assert not huge.exists()
    r = cli("eval", str(unet_run), "--n", "6", "--json")
    assert r.returncode == 0, r.stderr
    assert "step/s" not in r.stderr
    import json

    assert {"fid", "fid_floor", "precision", "recall"} <= set(json.loads(r.stdout))
    r = cli("eval", str(unet_run), "--n", "6", "--draws", "2", "--json")
    assert r.returncode == 0, r.stderr
    two = json.loads(r.stdout)
    assert two["draws"] == 2 and two["fid_std"] >= 0 and two["fid_floor_std"] > 0


@pytest.mark.parametrize("steps", [50, 49, 20])
def test_dpm_solver_with_steps_near_t_gives_distinct_timesteps_and_real_images(unet_run, steps):
    """With T=50, 50 (or 49) linspace-spaced steps round two onto one timestep, a zero gap the solver
    divides by: every image was NaN. Each step's timestep is now distinct and the images finite."""
    m = sandbox.load(unet_run)
    s = m.make_sampler("dpm", steps)
    assert len(s.timesteps) == steps and len(set(s.timesteps.tolist())) == steps
    x = torch.as_tensor(m.sample(3, seed=0, sampler="dpm", steps=steps))
    assert torch.isfinite(x).all()


def test_checkpoint_flag_picks_best_or_latest_and_is_refused_where_there_is_none(unet_run, tmp_path, capsys):
    """--checkpoint best|latest on sample (and eval, play): a run whose best and latest differ samples
    differently by the flag, best by default; a folder with one set of weights, a zip or an env id
    refuse the flag in one sentence."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    from sandbox.cli import main

    run = tmp_path / "run"
    shutil.copytree(unet_run, run)
    ckpts = run / "checkpoints"
    first = json.loads((ckpts / "latest.json").read_text())
    stem = ckpts / first["file"]
    later = f"step-{int(first['file'][5:]) + 1:012d}"
    tensors = load_file(str(stem.with_suffix(".safetensors")))
    tensors = {k: v * 1.5 if v.is_floating_point() else v for k, v in tensors.items()}  # other weights
    save_file(tensors, str(ckpts / f"{later}.safetensors"))
    shutil.copyfile(stem.with_suffix(".json"), ckpts / f"{later}.json")
    (ckpts / "best.json").write_text(json.dumps(first))
    (ckpts / "latest.json").write_text(json.dumps({**first, "file": later}))

    def sample(*flags):
        out = tmp_path / f"s{len(list(tmp_path.glob('s*.npz')))}.npz"
        assert main(["sample", str(run), "--n", "2", "--steps", "2", "--no-progress", "--out", str(out), *flags]) == 0
        return np.load(out)["samples"]

    default, best, latest = sample(), sample("--checkpoint", "best"), sample("--checkpoint", "latest")
    assert np.array_equal(default, best)
    assert not np.array_equal(best, latest)
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "3", "--steps", "2", "--checkpoint", "latest", "--json"]) == 0  # 3 samples: k-NN of 2
    assert 0 <= json.loads(capsys.readouterr().out)["precision"] <= 1
    assert main(["sample", str(run), "--n", "2", "--out", str(tmp_path / "x.png"), "--checkpoint", "newest"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["play", "CartPole-v1", "--human", "--checkpoint", "latest"]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint is for a run folder" in err and "an env" in err and "Traceback" not in err
    exported = tmp_path / "exported"
    assert main(["export", str(run), "--to", str(exported), "--n", "2"]) == 0
    capsys.readouterr()
    assert main(["eval", str(exported), "--n", "2", "--checkpoint", "latest"]) == 2
    assert "one set of weights" in capsys.readouterr().err
    # export takes the flag too: each folder samples as its checkpoint does
    assert main(["export", str(run), "--to", str(tmp_path / "latest"), "--n", "2", "--checkpoint", "latest"]) == 0
    for folder, which in ((exported, "best"), (tmp_path / "latest", "latest")):
        torch.testing.assert_close(sandbox.load(folder).sample(2, seed=1, steps=2), sandbox.load(run, which).sample(2, seed=1, steps=2))
    capsys.readouterr()
    assert main(["export", str(exported), "--to", str(tmp_path / "again"), "--checkpoint", "latest"]) == 2
    assert "one set of weights" in capsys.readouterr().err and not (tmp_path / "again").exists()
