"""`sandbox sample DIR` / `sandbox eval DIR --data NAME` on a diffusers pipeline folder made by
diffusers' own save_pretrained (a random small UNet2DModel): DDIMPipeline and DDPMPipeline folders
sample with the sandbox's samplers the very images diffusers' own pipeline draws for the same seed
and steps (to 1e-4: the same float32 arithmetic, threaded differently), show the sandbox's progress bar, and are measured by its FID; a folder with only .bin
weights (a pickle, here a live payload) is refused in one sentence and never unpickled."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sandbox.errors import SandboxError


def small_unet():  # type: ignore[no-untyped-def]
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16, 32),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       layers_per_block=1, norm_num_groups=8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    from diffusers import DDIMPipeline, DDIMScheduler, DDPMPipeline, DDPMScheduler

    root = tmp_path_factory.mktemp("pipelines")
    DDIMPipeline(small_unet(), DDIMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2")).save_pretrained(
        root / "ddim", safe_serialization=True)
    DDPMPipeline(small_unet(), DDPMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2")).save_pretrained(
        root / "ddpm", safe_serialization=True)
    return {"ddim": root / "ddim", "ddpm": root / "ddpm"}


def theirs(folder: Path, steps: int, seed: int, n: int = 4) -> np.ndarray:
    """diffusers' own pipeline, loaded by diffusers: N×C×H×W in [0, 1]."""
    from diffusers import DDIMPipeline, DDPMPipeline

    cls = DDIMPipeline if json.loads((folder / "model_index.json").read_text())["_class_name"] == "DDIMPipeline" else DDPMPipeline
    pipe = cls.from_pretrained(str(folder))
    pipe.set_progress_bar_config(disable=True)
    images = pipe(batch_size=n, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed), output_type="np").images
    return images.transpose(0, 3, 1, 2)


def test_a_ddim_folder_samples_as_diffusers_ddim_pipeline_does(folders, cli, tmp_path: Path) -> None:
    r = cli("sample", str(folders["ddim"]), "--n", "4", "--sampler", "ddim", "--steps", "10", "--seed", "3", "--out", str(tmp_path / "a.npz"))
    assert r.returncode == 0, r.stderr
    ours = np.load(tmp_path / "a.npz")["samples"]
    assert ours.shape == (4, 1, 8, 8)
    assert np.abs(ours - theirs(folders["ddim"], 10, 3)).max() < 1e-4
    # without --sampler: the folder's own kind, ddim, in 20 steps
    r = cli("sample", str(folders["ddim"]), "--n", "4", "--seed", "1", "--out", str(tmp_path / "b.npz"))
    assert r.returncode == 0, r.stderr
    assert np.abs(np.load(tmp_path / "b.npz")["samples"] - theirs(folders["ddim"], 20, 1)).max() < 1e-4
    # the sandbox's other samplers, and a picture
    r = cli("sample", str(folders["ddim"]), "--n", "4", "--sampler", "dpm", "--steps", "5", "--out", str(tmp_path / "c.png"))
    assert r.returncode == 0 and (tmp_path / "c.png").stat().st_size > 0, r.stderr
    r = cli("sample", str(folders["ddim"]), "--n", "4", "--label", "1", "--out", str(tmp_path / "d.png"))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [r.stderr.strip()] and "--label" in r.stderr, r.stderr


def test_a_ddpm_folder_samples_as_diffusers_ddpm_pipeline_does(folders, cli, tmp_path: Path) -> None:
    r = cli("sample", str(folders["ddpm"]), "--n", "4", "--sampler", "ddpm", "--steps", "10", "--seed", "5", "--out", str(tmp_path / "a.npz"))
    assert r.returncode == 0, r.stderr
    assert np.abs(np.load(tmp_path / "a.npz")["samples"] - theirs(folders["ddpm"], 10, 5)).max() < 1e-4


def test_the_sandbox_progress_bar(folders, capfd) -> None:
    import sandbox

    model = sandbox.load(folders["ddim"])  # the Python API reads the folder as the command line does
    capfd.readouterr()
    model.sample(3, seed=0, steps=4, progress=True)
    err = capfd.readouterr().err
    assert "sampling 3 (ddim, 4 steps)" in err and "4/4" in err


def test_eval_with_the_sandbox_fid(folders, cli) -> None:
    r = cli("eval", str(folders["ddim"]), "--data", "digits", "--n", "60", "--steps", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"fid", "fid_floor", "precision", "recall"} <= set(out) and out["fid"] > out["fid_floor"] > 0
    r = cli("eval", str(folders["ddim"]), "--n", "60")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "--data" in lines[0], r.stderr
    r = cli("eval", str(folders["ddim"]), "--data", "shapes", "--n", "60")  # 3×32×32 images against a 1×8×8 UNet
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "1×8×8" in lines[0], r.stderr


class Payload:
    """Unpickling this creates a file: proof that something ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def test_a_folder_with_only_bin_weights_is_refused_unread(folders, cli, tmp_path: Path) -> None:
    from diffusers import DDIMPipeline, DDIMScheduler

    plain = tmp_path / "bin"
    DDIMPipeline(small_unet(), DDIMScheduler(num_train_timesteps=100)).save_pretrained(plain, safe_serialization=False)
    assert (plain / "unet" / "diffusion_pytorch_model.bin").is_file() and not list(plain.rglob("*.safetensors"))
    marker = tmp_path / "payload-ran"
    (plain / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(Payload(marker)))
    for args in (["sample", str(plain), "--n", "2", "--out", str(tmp_path / "x.png")], ["eval", str(plain), "--data", "digits"]):
        r = cli(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and ".bin" in lines[0] and "safetensors" in lines[0], r.stderr
        assert "Traceback" not in r.stderr
    assert not marker.exists() and not (tmp_path / "x.png").exists()


def test_what_is_not_such_a_pipeline_is_refused_in_one_sentence(folders, tmp_path: Path) -> None:
    from sandbox.generative.pipeline_import import load_pipeline

    other = tmp_path / "other"
    shutil.copytree(folders["ddim"], other)
    index = json.loads((other / "model_index.json").read_text())
    (other / "model_index.json").write_text(json.dumps({**index, "_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(SandboxError, match="samples DDPMPipeline and DDIMPipeline folders"):
        load_pipeline(other)
    (other / "model_index.json").write_text(json.dumps({**index, "scheduler": ["diffusers", "EulerDiscreteScheduler"]}))
    with pytest.raises(SandboxError, match="DDPMScheduler, DDIMScheduler or FlowMatchEulerDiscreteScheduler"):
        load_pipeline(other)
    (other / "model_index.json").write_text(json.dumps(index))
    (other / "unet" / "config.json").write_text(json.dumps({**json.loads((other / "unet" / "config.json").read_text()), "block_out_channels": [8, 8]}))
    with pytest.raises(SandboxError, match="does not hold a UNet2DModel"):
        load_pipeline(other)
    (other / "model_index.json").write_text("[1, 2]")
    with pytest.raises(SandboxError, match="wrong shape"):
        load_pipeline(other)


def test_the_data_set_at_the_pipelines_images(capfd) -> None:
    """--data NAME is made at the UNet's side where it has a size option (said on stderr), or takes
    its options after the name (NAME,key=value); what does not fit is one sentence."""
    from sandbox.generative.pipeline_import import _data_for

    assert _data_for("digits", (1, 16, 16), Path("p")).shape == (1, 16, 16)
    assert "made at size 16" in capfd.readouterr().err
    assert _data_for("digits,test_fraction=0.2", (1, 8, 8), Path("p")).shape == (1, 8, 8)
    for spec, words in (("digits,size=8", "1×8×8 images"), ("digits,oops", "not key=value"), ("digits,foo=1", "unknown key"),
                        ("shapes", "3×16×16"), ("moons", "2-D point set"), ("nosuch", "unknown data set"),
                        ("mnist", "--data mnist,key=value")):
        with pytest.raises(SandboxError, match=words):
            _data_for(spec, (1, 16, 16), Path("p"))


def test_a_flow_matching_folder_samples_as_its_pipeline_and_a_schedule_it_cannot_follow_is_refused(tmp_path: Path) -> None:
    """A DDPMPipeline with FlowMatchEulerDiscreteScheduler (anyone's, here not the sandbox's) is read
    as a flow: Euler draws what the pipeline draws for the same seed. A shift out of range, a
    dynamic shift or a DDIMPipeline around the scheduler is one sentence."""
    from diffusers import DDPMPipeline, FlowMatchEulerDiscreteScheduler

    from sandbox.generative.pipeline_import import load_pipeline

    base = tmp_path / "flow"
    pipe = DDPMPipeline(small_unet(), FlowMatchEulerDiscreteScheduler(shift=3.0))
    pipe.save_pretrained(base)
    model = load_pipeline(base)
    want = pipe(batch_size=2, num_inference_steps=4, output_type="pt", generator=torch.Generator().manual_seed(3)).images
    torch.testing.assert_close(model.sample(2, seed=3, steps=4), want, rtol=0, atol=1e-5)
    assert model.sample(2, seed=3, sampler="heun", steps=2).shape == (2, 1, 8, 8)
    config = json.loads((base / "scheduler" / "scheduler_config.json").read_text())
    for change, words in (({"shift": 0}, "shift 0"), ({"shift": -1.0}, "above 0"), ({"shift": "3"}, "diffusers can build"),
                          ({"use_dynamic_shifting": True}, "use_dynamic_shifting")):
        (base / "scheduler" / "scheduler_config.json").write_text(json.dumps({**config, **change}))
        with pytest.raises(SandboxError, match=words):
            load_pipeline(base)
    (base / "scheduler" / "scheduler_config.json").write_text(json.dumps(config))
    index = json.loads((base / "model_index.json").read_text())
    (base / "model_index.json").write_text(json.dumps({**index, "_class_name": "DDIMPipeline"}))
    with pytest.raises(SandboxError, match="in a DDPMPipeline folder"):
        load_pipeline(base)
