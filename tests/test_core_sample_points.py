"""`sandbox sample` on a model of 2-D points writes a scatter plot (images get a grid)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from conftest import run_cli


def test_sample_points_as_scatter_png_and_npz(tmp_path):
    run = tmp_path / "pts"
    out = run_cli("train", "model=ddpm", "data=moons", "backbone.hidden=[16]", "model.batch=32", "steps=5",
                  "wandb.mode=disabled", f"out={run}", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    png = run_cli("sample", str(run), "--n", "50", "--sampler", "ddim", "--steps", "5", "--out", str(tmp_path / "p.png"))
    assert png.returncode == 0, png.stderr
    assert Image.open(tmp_path / "p.png").size == (480, 480)
    npz = run_cli("sample", str(run), "--n", "50", "--sampler", "ddim", "--steps", "5", "--out", str(tmp_path / "p.npz"))
    assert npz.returncode == 0, npz.stderr
    assert np.load(tmp_path / "p.npz")["samples"].shape == (50, 2)
