"""`sandbox compare`: curves of several runs against steps and wall time, groups as mean and band."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import sandbox
from conftest import run_cli

TINY = ["model=tiny/regress", "wandb.mode=disabled", "backbone.hidden=[8]"]


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cmp")
    a = sandbox.train(None, [*TINY, "steps=60", "model.lr=0.01", f"out={base / 'a'}"], progress=False).dir
    b = sandbox.train(None, [*TINY, "steps=90", "model.lr=0.001", f"out={base / 'b'}"], progress=False).dir
    g = [sandbox.train(None, [*TINY, "steps=60", f"seed={s}", "wandb.group=seeds", f"out={base / f'g{s}'}"], progress=False).dir
         for s in (1, 2)]
    return base, a, b, g


def has_colour(png, rgb, tol=30) -> bool:
    arr = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return bool((np.abs(arr - np.array(rgb)).sum(-1) < tol).sum() > 50)


def test_compare_two_runs_draws_both_curves_and_prints_a_table(three_runs):
    base, a, b, _ = three_runs
    out = run_cli("compare", str(a), str(b), "--out", str(base / "ab.png"))
    assert out.returncode == 0, out.stderr
    png = base / "ab.png"
    assert png.stat().st_size > 10_000
    assert has_colour(png, (31, 119, 180)) and has_colour(png, (255, 127, 14)), "both runs' lines are drawn"
    table = out.stdout.splitlines()
    assert table[0].split()[:6] == ["run", "metric", "final", "best", "steps", "time"]
    rows = {line.split()[0]: line.split() for line in table[1:-1]}
    assert rows["a"][4] == "60" and rows["b"][4] == "90"
    assert float(rows["b"][3]) <= float(rows["b"][2])  # best loss is the lowest


def test_runs_of_a_group_are_drawn_as_mean_and_band(three_runs):
    from sandbox.compare import compare

    base, a, _, g = three_runs
    rows = compare([a, *g], base / "group.png", metrics=["loss"])
    assert {r["run"] for r in rows} == {"a", "g1", "g2"}
    assert (base / "group.png").exists()


def test_smoothing_is_a_debiased_moving_average_and_the_table_stays_raw(three_runs):
    from sandbox.compare import compare, smooth

    values = np.array([0.0, 10.0, 0.0, 10.0])
    np.testing.assert_allclose(smooth(values, 0.0), values)
    expected, acc = [], 0.0
    for i, v in enumerate(values):
        acc = 0.5 * acc + 0.5 * v
        expected.append(acc / (1 - 0.5 ** (i + 1)))
    np.testing.assert_allclose(smooth(values, 0.5), expected)
    assert smooth(values, 0.5)[0] == 0.0 and 0 < smooth(values, 0.9)[-1] < 10
    base, a, b, _ = three_runs
    raw = compare([a, b], base / "raw.png", metrics=["loss"], smoothing=0.0)
    smoothed = compare([a, b], base / "smooth.png", metrics=["loss"], smoothing=0.9)
    assert raw == smoothed  # final and best are the logged values
    assert (base / "raw.png").read_bytes() != (base / "smooth.png").read_bytes()
