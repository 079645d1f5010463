"""`sandbox compare`: curves of several runs against steps and wall time, one colour per run or group
in every panel, groups as mean and band (eval metrics too), single points as markers, a grouped table."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import to_hex
from PIL import Image

import sandbox
from conftest import run_cli

TINY = ["model=tiny/regress", "wandb.mode=disabled", "backbone.hidden=[8]"]
RL = ["agent=reinforce", "env=CartPole-v1", "backbone=mlp", "backbone.hidden=[8]", "wandb.mode=disabled",
      "agent.n_envs=4", "agent.batch_steps=64", "agent.eval_episodes=2", "agent.eval_video=false"]


def train(*overrides: str):
    return sandbox.train(None, list(overrides), progress=False).dir


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cmp")
    a = train(*TINY, "steps=60", "model.lr=0.01", f"out={base / 'a'}")
    b = train(*TINY, "steps=90", "model.lr=0.001", f"out={base / 'b'}")
    g = [train(*TINY, "steps=60", f"seed={s}", "wandb.group=seeds", f"out={base / f'g{s}'}") for s in (1, 2)]
    return base, a, b, g


@pytest.fixture(scope="module")
def rl_runs(tmp_path_factory):
    """Real REINFORCE runs on CartPole: group 'rf' evaluates at different steps per run (every 100
    and every 150 steps); r3 (alone) and group 'once' evaluate once, at the end."""
    base = tmp_path_factory.mktemp("cmp_rl")
    rf = [train(*RL, "steps=400", f"seed={s}", f"agent.eval_every={every}", "wandb.group=rf", f"out={base / f'r{s}'}")
          for s, every in ((1, 100), (2, 150))]
    r3 = train(*RL, "steps=300", "seed=3", "agent.eval_every=100000", f"out={base / 'r3'}")
    once = [train(*RL, f"steps={steps}", f"seed={s}", "agent.eval_every=100000", "wandb.group=once", f"out={base / f'o{s}'}")
            for s, steps in ((4, 300), (5, 400))]
    return base, rf, r3, once


def logged(run_dir, metric):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return np.array([(r["step"], r["time"], r[metric]) for r in rows if metric in r], dtype=float)


def artists(fig):
    """Every line and filled area of the figure's panels, with the run or group (gid) it belongs to."""
    for ax in fig.axes:
        for line in ax.lines:
            yield ax, line, to_hex(line.get_color())
        for coll in ax.collections:  # bands (filled) and error bars (lines)
            colour = coll.get_edgecolor() if isinstance(coll, LineCollection) else coll.get_facecolor()
            yield ax, coll, to_hex(colour[0], keep_alpha=False)


def bands(ax):
    return [coll.get_gid() for coll in ax.collections if isinstance(coll, PolyCollection)]


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
    assert table[0].split() == ["run", "n", "metric", "final", "best", "steps", "time"]
    rows = {line.split()[0]: line.split() for line in table[1:-1]}
    assert rows["a"][1] == "1" and rows["a"][5] == "60" and rows["b"][5] == "90"
    assert float(rows["b"][4]) <= float(rows["b"][3])  # best loss is the lowest
    assert "±" not in out.stdout  # no group, no spread


def test_runs_of_a_group_are_drawn_as_mean_and_band(three_runs):
    from sandbox.compare import compare, figure

    base, a, _, g = three_runs
    rows = compare([a, *g], base / "group.png", metrics=["train/loss"])
    assert [r["run"] for r in rows] == ["a", "seeds"]
    assert (base / "group.png").exists()
    fig = figure([a, *g], metrics=["train/loss"])
    steps_panel, time_panel = fig.axes
    assert bands(steps_panel) == ["seeds"], "the group's band against steps, where both runs logged the same steps"
    assert {line.get_gid() for line in steps_panel.lines} == {"a", "seeds"}, "no line of g1 or g2 alone"
    # against wall time the band covers only the span both runs reached, which depends on how fast each ran
    t1, t2 = logged(g[0], "train/loss")[:, 1], logged(g[1], "train/loss")[:, 1]
    lo, hi = max(t1[0], t2[0]), min(t1[-1], t2[-1])
    shared = np.unique(np.concatenate([t[(t >= lo) & (t <= hi)] for t in (t1, t2)]))
    assert {line.get_gid() for line in time_panel.lines} >= {"a", "seeds"}
    assert {coll.get_gid() for coll in time_panel.collections} <= {"a", "seeds"}, "nothing drawn under g1 or g2's name"
    if len(shared) >= 2:
        assert bands(time_panel) == ["seeds"], "a band wherever two or more times are shared"


def test_a_run_or_group_keeps_its_colour_in_every_panel(three_runs, rl_runs):
    from sandbox.compare import figure

    _, a, _, _ = three_runs
    _, rf, r3, once = rl_runs
    # 'a' logged only loss and the RL runs no loss: each panel has different curves, colours must not move
    fig = figure([a, *rf, r3, *once], metrics=["train/loss", "eval/mean_return", "rollout/episodic_return"])
    colours: dict[str, set[str]] = {}
    for _, artist, colour in artists(fig):
        colours.setdefault(artist.get_gid(), set()).add(colour)
    assert set(colours) == {"a", "rf", "r3", "once"}
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len({c.pop() for c in colours.values()}) == 4, "one colour each"
    fig2 = figure([a, *rf, r3, *once], metrics=["eval/mean_return"])  # the same runs: the same colours, whatever is drawn
    assert {artist.get_gid(): colour for _, artist, colour in artists(fig2)}["r3"] == \
        {artist.get_gid(): colour for _, artist, colour in artists(fig)}["r3"]


def test_a_group_stays_a_mean_and_band_in_an_eval_panel(rl_runs):
    from sandbox.compare import figure

    _, rf, _, once = rl_runs
    r1, r2 = logged(rf[0], "eval/mean_return"), logged(rf[1], "eval/mean_return")
    assert set(r1[:, 0]) != set(r2[:, 0]), "the two runs evaluated at different steps"
    fig = figure([*rf, *once], metrics=["eval/mean_return"], smoothing=0.0)
    for ax, use_time in zip(fig.axes, (False, True)):
        col = 1 if use_time else 0
        assert {line.get_gid() for line in ax.lines} == {"rf", "once"}, "no run is drawn as itself"
        lo, hi = max(r1[0, col], r2[0, col]), min(r1[-1, col], r2[-1, col])
        if use_time and lo > hi:  # the two runs' evaluations took place in wall-time spans that do not meet
            assert bands(ax) == [], "nothing is averaged where the runs share no x"
            assert len([line for line in ax.lines if line.get_gid() == "rf" and line.get_linestyle() == ":"]) == 2
            continue
        assert bands(ax) == ["rf"]
        mean = [line for line in ax.lines if line.get_label().startswith("rf (mean of 2")]
        assert len(mean) == 1
        x, y = (np.asarray(v, dtype=float) for v in mean[0].get_data())
        assert x[0] == lo and x[-1] == hi, "the mean covers where both runs have data, nothing extrapolated"
        expected = (np.interp(x, r1[:, col], r1[:, 2]) + np.interp(x, r2[:, col], r2[:, 2])) / 2
        np.testing.assert_allclose(y, expected)
        assert set(r1[(r1[:, col] >= lo) & (r1[:, col] <= hi), col]) <= set(x), "aligned on the union of the logged x"
        # the group of one evaluation each: one marker at their mean, with min–max bars
        o4, o5 = logged(once[0], "eval/mean_return"), logged(once[1], "eval/mean_return")
        marks = [line for line in ax.lines if line.get_gid() == "once" and line.get_marker() == "o"]
        assert len(marks) == 1 and len(marks[0].get_xdata()) == 1
        assert marks[0].get_ydata()[0] == pytest.approx((o4[0, 2] + o5[0, 2]) / 2)
        assert marks[0].get_xdata()[0] == pytest.approx((o4[0, col] + o5[0, col]) / 2)


def test_a_single_point_is_drawn_as_a_marker(rl_runs):
    from sandbox.compare import compare, figure

    base, _, r3, _ = rl_runs
    assert len(logged(r3, "eval/mean_return")) == 1
    fig = figure([r3], metrics=["eval/mean_return", "rollout/episodic_return"])
    for ax in fig.axes[:2]:
        (line,) = [line for line in ax.lines if line.get_gid() == "r3"]
        assert len(line.get_xdata()) == 1
        assert line.get_marker() not in (None, "None", "", " ") and line.get_markersize() >= 5
    out = base / "single.png"
    compare([r3], out, metrics=["eval/mean_return"])
    assert has_colour(out, (31, 119, 180))


def test_the_table_is_grouped_as_the_picture(three_runs):
    from sandbox.compare import compare, format_table

    base, a, _, g = three_runs
    rows = {r["run"]: r for r in compare([a, *g], base / "table.png", metrics=["train/loss"])}
    assert set(rows) == {"a", "seeds"}
    assert rows["a"]["n"] == 1 and rows["a"]["group"] is None and rows["a"]["final_std"] is None
    loss = [logged(d, "train/loss")[:, 2] for d in g]
    seeds = rows["seeds"]
    assert seeds["n"] == 2 and seeds["group"] == "seeds" and seeds["runs"] == ["g1", "g2"]
    assert seeds["final"] == pytest.approx(np.mean([v[-1] for v in loss]))
    assert seeds["final_std"] == pytest.approx(np.std([v[-1] for v in loss], ddof=1))
    assert seeds["best"] == pytest.approx(np.mean([v.min() for v in loss]))
    assert seeds["best_std"] == pytest.approx(np.std([v.min() for v in loss], ddof=1))
    assert seeds["steps"] == 60 and seeds["steps_range"] == [60, 60]
    text = format_table(list(rows.values()))
    line = next(x for x in text.splitlines() if x.startswith("seeds"))
    assert line.split()[:4] == ["seeds", "(group)", "2", "train/loss"]
    assert f"{seeds['final']:.4g} ± {seeds['final_std']:.2g}" in line
    # "loss", the name from before metrics had sections, still names train/loss
    out = run_cli("compare", str(a), *map(str, g), "--out", str(base / "table_cli.png"), "--metric", "loss")
    assert out.returncode == 0, out.stderr
    assert [x.split()[0] for x in out.stdout.splitlines()[1:3]] == ["a", "seeds"]
    assert out.stdout.splitlines()[1].split()[2] == "train/loss"
    assert "±" in out.stdout and "standard deviation" in out.stdout


def test_axes_are_labelled_and_the_legend_names_every_run_and_group(three_runs, rl_runs):
    from sandbox.compare import figure

    _, a, b, g = three_runs
    _, rf, _, _ = rl_runs
    fig = figure([a, b, *g, *rf], metrics=["train/loss", "rollout/episodic_return"])
    assert all(ax.get_xlabel() in ("step", "wall time (s)") and ax.get_ylabel() and ax.get_title() for ax in fig.axes)
    (legend,) = fig.legends
    names = [t.get_text() for t in legend.get_texts()]
    assert names[:4] == ["a", "b", "seeds (mean of 2, band min–max)", "rf (mean of 2, band min–max)"]


def test_two_runs_of_one_name_are_told_apart_and_a_run_given_twice_is_one_sentence(three_runs):
    from sandbox.compare import compare

    base, a, _, _ = three_runs
    other = base / "elsewhere" / "a"
    if not other.exists():
        shutil.copytree(a, other)
    rows = compare([a, other], base / "same_name.png", metrics=["train/loss"])
    assert len({r["run"] for r in rows}) == 2
    out = run_cli("compare", str(a), str(a), "--out", str(base / "twice.png"))
    assert out.returncode == 2 and "given twice" in out.stderr and "Traceback" not in out.stderr


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
    raw = compare([a, b], base / "raw.png", metrics=["train/loss"], smoothing=0.0)
    smoothed = compare([a, b], base / "smooth.png", metrics=["train/loss"], smoothing=0.9)
    assert raw == smoothed  # final and best are the logged values
    assert (base / "raw.png").read_bytes() != (base / "smooth.png").read_bytes()


def test_drawing_leaves_the_process_matplotlib_backend_alone(three_runs):
    """A notebook's inline backend survives compare (and a sweep's curves.png): it once chose Agg for
    the whole process, and every plot drawn after it in the notebook came out blank."""
    import matplotlib

    from sandbox.compare import compare, figure

    base, a, b, _ = three_runs
    before = matplotlib.get_backend()
    matplotlib.use("svg")  # any backend other than Agg stands for the notebook's
    try:
        compare([a, b], base / "backend.png", metrics=["train/loss"])
        fig = figure([a, b], metrics=["train/loss"])
        assert matplotlib.get_backend() == "svg"
        assert len(fig.axes) >= 2 and (base / "backend.png").stat().st_size > 10_000
    finally:
        matplotlib.use(before)
