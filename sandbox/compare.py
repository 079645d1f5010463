"""``sandbox compare``: learning curves of several runs from their ``metrics.jsonl``, against steps
and against wall time, and a table of the final and best values. The offline twin of a W&B
dashboard: curves are smoothed as there (an exponential moving average, the raw points drawn
faintly behind), the table is not.

Each run, or each group of runs that share ``wandb.group`` in their ``config.yaml``, gets one colour
that it keeps in every panel. A group is drawn in every panel as the mean of its runs with a min–max
band: each run is interpolated linearly at the union of its group's logged x values (steps or
seconds), inside the range that all of the group's runs reached, so every point of the mean is a
mean of all of them (nothing is extrapolated). Where some runs went further than others, those
runs' own curves go on as thin dotted lines. When the runs of a group logged a metric once each
(a closing evaluation), the group is one marker at their mean with min–max bars (in x too, where
they logged it at different steps or times); when its runs share no x at all, nothing is averaged
and each run is drawn alone, dotted, in the group's colour. A series of one point is a marker,
never an invisible line. The table has one row per group (mean ± sample standard deviation over its n runs) and one
row per ungrouped run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.errors import ConfigError, RunDirError
from sandbox.registry import did_you_mean
from sandbox.tracking import read_metrics, section_name

#: metrics drawn when none are asked for, in this order, if the runs have them
PREFERRED = ("rollout/episodic_return", "eval/mean_return", "eval/win_rate/random", "eval/loss_rate/perfect", "eval/elo", "eval/fid",
             "eval/sliced_wasserstein", "train/loss")
LOWER_IS_BETTER = ("loss", "fid", "distance", "wasserstein", "mmd", "elbo_nats", "bits_per_dim", "error")


#: values set by a schedule, not measured: drawn as they are, never smoothed (a smoothed learning rate lags its own schedule)
SCHEDULES = ("learning_rate", "exploration_rate", "epsilon", "clip_range")


def lower_is_better(metric: str) -> bool:
    return any(word in metric for word in LOWER_IS_BETTER)


#: the key of one thing drawn and tabled: ("group", name) for runs that share a wandb.group, ("run", name) otherwise
Key = tuple[str, str]


@dataclass
class Curve:
    run: str  #: the run directory's name (its path where two names clash)
    group: str | None  #: its ``wandb.group``, if any
    steps: np.ndarray
    times: np.ndarray
    values: np.ndarray


def _run_group(run_dir: Path) -> str | None:
    import yaml

    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
        group = (cfg.get("wandb") or {}).get("group")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    return None if group is None or group == "" else str(group)


def load_curves(run_dirs: list[Path], metrics: list[str] | None,
                groups: dict[Path, str | None] | None = None) -> tuple[list[str], dict[str, list[Curve]], list[Key]]:
    """The metrics to draw; for each, one curve per run that logged it; and the runs and groups, in
    the order of ``run_dirs`` (the order of their colours). ``groups`` gives a run's group instead
    of its ``wandb.group`` (a sweep's trials: their varied values less the seed)."""
    rows_by_run: dict[Path, list[dict[str, Any]]] = {}
    seen: dict[Path, Path] = {}
    for d in run_dirs:
        if d.resolve() in seen:
            also = "" if str(seen[d.resolve()]) == str(d) else f" (also as {seen[d.resolve()]})"
            raise ConfigError(f"{d} is given twice{also}; give each run once.")
        seen[d.resolve()] = d
        if not d.is_dir():
            raise RunDirError(f"no run directory at {d}; give folders made by 'sandbox train'.")
        if not (d / "metrics.jsonl").exists():
            raise RunDirError(f"{d} has no metrics.jsonl, so it is not a sandbox run (or it never logged); give folders made by 'sandbox train'.")
        rows_by_run[d] = read_metrics(d)
    numeric: list[set[str]] = []
    for rows in rows_by_run.values():
        keys = {k for r in rows for k, v in r.items() if k not in ("step", "time") and isinstance(v, (int, float)) and not isinstance(v, bool)}
        numeric.append(keys)
    available = sorted(set().union(*numeric)) if numeric else []
    if not available:
        raise RunDirError("none of these runs has logged a numeric metric yet; train them for longer.")
    if metrics:
        metrics = [m if m in available else section_name(m) for m in metrics]  # a name from before the sections still works
        for m in metrics:
            if m not in available:
                raise ConfigError(f"no run logged the metric {m!r}; {did_you_mean(m, available)}")
        chosen = list(metrics)
    else:
        shared = set.intersection(*numeric) or set(available)
        chosen = [m for m in PREFERRED if m in shared]
        chosen += sorted(m for m in shared if m not in chosen)
        chosen = chosen[:4]
    curves: dict[str, list[Curve]] = {m: [] for m in chosen}
    names = [d.name for d in rows_by_run]
    order: list[Key] = []
    for d, rows in rows_by_run.items():
        name = d.name if names.count(d.name) == 1 else str(d)  # two runs/<x>/a: tell them apart by their paths
        group = groups[d] if groups is not None and d in groups else _run_group(d)
        key: Key = ("group", group) if group else ("run", name)
        if key not in order:
            order.append(key)
        for m in chosen:
            pts = [(r["step"], r.get("time", 0.0), r[m]) for r in rows if isinstance(r.get(m), (int, float))]
            if pts:
                a = np.array(pts, dtype=float)
                curves[m].append(Curve(name, group, a[:, 0], a[:, 1], a[:, 2]))
    return chosen, curves, order


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """The exponential moving average of ``values`` with ``weight`` in [0, 1) (0: unchanged),
    debiased at the start as TensorBoard's and W&B's smoothing are, so it starts at the first point."""
    if weight <= 0 or len(values) < 2:
        return values
    out = np.empty(len(values))
    acc = 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        out[i] = acc / (1 - weight ** (i + 1))
    return out


def entity(curve: Curve) -> Key:
    """What ``curve`` is drawn and tabled as: its group, or the run alone."""
    return ("group", curve.group) if curve.group else ("run", curve.run)


def entities(curves: list[Curve]) -> dict[Key, list[Curve]]:
    """``curves`` by what they are drawn as, in the order they come."""
    out: dict[Key, list[Curve]] = {}
    for c in curves:
        out.setdefault(entity(c), []).append(c)
    return out


def colour_map(keys: list[Key]) -> dict[Key, str]:
    """One colour per run or group, the same in every panel: its place in ``keys`` (the order the
    runs were given in) picks it from matplotlib's ``tab10`` (the default cycle), from ``tab20``
    (the strong hues, then the pale) beyond 10, and from an even walk round ``hsv`` beyond 20."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    n = len(keys)
    if n <= 10:
        cols = [f"C{i}" for i in range(n)]
    elif n <= 20:
        cols = [colormaps["tab20"](i) for i in [*range(0, 20, 2), *range(1, 20, 2)][:n]]  # its strong hues first, then their pale twins
    else:
        cols = [colormaps["hsv"](i / n) for i in range(n)]
    return {k: to_hex(c) for k, c in zip(keys, cols)}


def label(key: Key, n: int) -> str:
    """The legend's name for a run, or for a group of ``n`` runs."""
    if key[0] == "run":
        return key[1]
    return f"{key[1]} (mean of {n}, band min–max)" if n > 1 else f"{key[1]} (a group of 1 run)"


#: at most this many points on a line get a marker each (sparse curves such as evaluations show where
#: they were taken), and a metric with no more points than this in any run is drawn unsmoothed: a
#: moving average over three evaluations drew 483 where CartPole's last two had scored 500
MARK_UP_TO = 20


def _draw_run(ax: Any, x: np.ndarray, raw: np.ndarray, weight: float, colour: str, name: str, legend: str) -> None:
    """One run: a marker when it has one point, else its smoothed line over its raw points drawn faintly."""
    if len(x) == 1:
        ax.plot(x, raw, marker="o", markersize=7, linestyle="none", color=colour, label=legend, gid=name)
        return
    ax.plot(x, smooth(raw, weight), color=colour, label=legend, gid=name, marker="o" if len(x) <= MARK_UP_TO else None, markersize=3)
    if weight > 0:
        ax.plot(x, raw, color=colour, alpha=0.25, linewidth=0.8, gid=name)


def _draw_group(ax: Any, members: list[Curve], use_time: bool, weight: float, colour: str, name: str) -> set[str]:
    """A group: the mean of its runs and a min–max band where all of them have data, each run's own
    dotted curve where it goes past the others; one marker with min–max bars when each run has a
    single point; each run alone when they share no x at all. Returns the notes the legend needs
    (``"alone"``: a run drawn alone, ``"bars"``: a marker with bars)."""
    xs = [c.times if use_time else c.steps for c in members]
    ys = [smooth(c.values, weight) for c in members]
    legend = label(("group", name), len(members))
    lo, hi = max(x[0] for x in xs), min(x[-1] for x in xs)  # the range that every run reached
    if lo > hi and all(len(x) == 1 for x in xs):  # one point each, at different x: their mean, bars in x and y
        px, py = np.array([x[0] for x in xs]), np.array([y[0] for y in ys])
        mx, my = px.mean(), py.mean()
        bars = ax.errorbar([mx], [my], xerr=[[mx - px.min()], [px.max() - mx]], yerr=[[my - py.min()], [py.max() - my]],
                           fmt="o", markersize=7, capsize=4, color=colour, label=legend)
        for artist in bars.get_children():
            artist.set_gid(name)
        return {"bars"}
    if lo > hi:  # no x that all of them reached: nothing to average, so each run alone
        for x, y in zip(xs, ys):
            style = {"marker": "o", "markersize": 6, "linestyle": "none"} if len(x) == 1 else {"linestyle": ":"}
            ax.plot(x, y, color=colour, gid=name, **style)
        return {"alone"}
    # 1. every run at the union of the group's x values inside [lo, hi], linearly interpolated (never extrapolated)
    grid = np.unique(np.concatenate([x[(x >= lo) & (x <= hi)] for x in xs]))
    at = np.stack([np.interp(grid, x, y) for x, y in zip(xs, ys)])
    mean = at.mean(0)
    # 2. the mean and its band; a single common x is a marker with min–max bars
    notes = set()
    if len(grid) == 1:
        notes.add("bars")
        bars = ax.errorbar(grid, mean, yerr=[mean - at.min(0), at.max(0) - mean], fmt="o", markersize=7, capsize=4,
                           color=colour, label=legend)
        for artist in bars.get_children():
            artist.set_gid(name)
    else:
        ax.plot(grid, mean, color=colour, label=legend, gid=name, marker="o" if len(grid) <= MARK_UP_TO else None, markersize=3)
        ax.fill_between(grid, at.min(0), at.max(0), color=colour, alpha=0.2, linewidth=0, gid=name)
    # 3. past the range they all reached, each run that went on is drawn alone, dotted, from the edge of the mean
    for x, y in zip(xs, ys):
        for past, edge in ((x < lo, lo), (x > hi, hi)):
            if past.any():
                tx = np.sort(np.append(x[past], edge))
                ax.plot(tx, np.interp(tx, x, y), color=colour, linestyle=":", linewidth=1.2, gid=name)
                notes.add("alone")
    return notes


def draw(ax: Any, curves: list[Curve], use_time: bool, weight: float, colours: dict[Key, str]) -> set[str]:
    """One panel: each run or group of ``curves`` in its colour, against steps or wall time. Returns
    the notes the legend needs (see :func:`_draw_group`)."""
    notes: set[str] = set()
    for key, members in entities(curves).items():
        if key[0] == "group":
            notes |= _draw_group(ax, members, use_time, weight, colours[key], key[1])
        else:
            c = members[0]
            _draw_run(ax, c.times if use_time else c.steps, c.values, weight, colours[key], key[1], label(key, 1))
    return notes


def _legend(fig: Any, curves: dict[str, list[Curve]], colours: dict[Key, str], notes: set[str]) -> None:
    """One legend for the whole figure, under it: a run or group has the same colour in every panel."""
    from matplotlib.lines import Line2D

    runs: dict[Key, set[str]] = {}
    for cs in curves.values():
        for c in cs:
            runs.setdefault(entity(c), set()).add(c.run)
    handles = [Line2D([], [], color=colour, marker="o", markersize=5, label=label(key, len(runs[key])))
               for key, colour in colours.items() if key in runs]
    if "alone" in notes:
        handles.append(Line2D([], [], color="grey", linestyle=":", label="dotted: a group's run alone, where not all its runs have data"))
    if "bars" in notes:
        handles.append(Line2D([], [], color="grey", marker="o", linestyle="none", label="marker with bars: a group's runs with one point each"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(4, len(handles)), fontsize=9, frameon=False)


def figure(run_dirs: list[str | Path], metrics: list[str] | None = None, smoothing: float = 0.6) -> Any:
    """The matplotlib figure :func:`compare` saves: a row per metric, against steps and against wall time."""
    _check_smoothing(smoothing)
    return _figure(*load_curves([Path(d) for d in run_dirs], metrics), smoothing)


def _check_smoothing(smoothing: float) -> None:
    if not 0 <= smoothing < 1:
        raise ConfigError(f"--smooth {smoothing} must be at least 0 (no smoothing) and below 1 (e.g. 0.6, or 0.9 for noisy curves).")


def _figure(chosen: list[str], curves: dict[str, list[Curve]], order: list[Key], smoothing: float) -> Any:
    # a Figure of its own, not pyplot's: drawing never switches the process's backend (a notebook's
    # inline plots went blank after 'compare' or a sweep had chosen Agg) and needs no display
    from matplotlib.figure import Figure

    colours = colour_map(order)
    n_runs = len({c.run for cs in curves.values() for c in cs})
    notes: set[str] = set()
    fig = Figure(figsize=(12, 3.6 * len(chosen) + 0.4))
    axes = fig.subplots(len(chosen), 2, squeeze=False)
    for i, m in enumerate(chosen):
        for j, use_time in enumerate((False, True)):
            ax = axes[i][j]
            scheduled = any(word in m for word in SCHEDULES)
            sparse = max((len(c.values) for c in curves[m]), default=0) <= MARK_UP_TO
            notes |= draw(ax, curves[m], use_time, 0.0 if scheduled or sparse else smoothing, colours)
            ax.set_xlabel("wall time (s)" if use_time else "step")
            ax.set_ylabel(m)
            why = " (a schedule: not smoothed)" if scheduled else " (few points: not smoothed)" if sparse else ""
            ax.set_title(f"{m} against {'wall time' if use_time else 'steps'}" + (why if smoothing > 0 else ""))
            ax.grid(alpha=0.3)
    smoothed = f"smoothed (moving average, weight {smoothing:g}; raw points faint)" if smoothing > 0 else "raw values"
    fig.suptitle(f"{n_runs} run{'s' * (n_runs != 1)}, {smoothed}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # a band at the top for the title, above the panels' own
    _legend(fig, curves, colours, notes)
    return fig


def compare(run_dirs: list[str | Path], out: str | Path, metrics: list[str] | None = None, smoothing: float = 0.6,
            groups: dict[Path, str | None] | None = None) -> list[dict[str, Any]]:
    """Draw the curves to ``out`` (PNG), smoothed by ``smoothing`` (see :func:`smooth`), and return
    the table's rows (see :func:`table`) of the raw values. ``groups``: see :func:`load_curves`."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out} must end in .png.")
    _check_smoothing(smoothing)
    chosen, curves, order = load_curves([Path(d) for d in run_dirs], metrics, groups)
    fig = _figure(chosen, curves, order, smoothing)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")  # "tight" takes in the legend under the panels
    return table(chosen, curves)


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (n - 1 in the denominator; None for one value)."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else None)


def table(chosen: list[str], curves: dict[str, list[Curve]]) -> list[dict[str, Any]]:
    """One row per metric and run or group, of the raw (unsmoothed) values, grouped as the picture is:
    ``run`` (the run's or the group's name), ``group`` (the group's name, or None), ``runs`` (the
    runs' names), ``n``, ``metric``, ``final`` and ``best`` (for a group, the mean over its runs of
    each run's value) with ``final_std`` and ``best_std`` (sample standard deviations over the runs;
    None for one run), ``steps`` and ``time_s`` (the last; for a group, the mean over its runs) and
    ``steps_range`` ([fewest, most] last steps)."""
    rows = []
    for m in chosen:
        for key, members in entities(curves[m]).items():
            bests = [float(c.values.min() if lower_is_better(m) else c.values.max()) for c in members]
            final, final_std = _mean_std([float(c.values[-1]) for c in members])
            best, best_std = _mean_std(bests)
            last = [int(c.steps[-1]) for c in members]
            rows.append({"run": key[1], "group": key[1] if key[0] == "group" else None, "runs": [c.run for c in members],
                         "n": len(members), "metric": m, "final": final, "final_std": final_std, "best": best,
                         "best_std": best_std, "steps": int(round(np.mean(last))), "steps_range": [min(last), max(last)],
                         "time_s": float(np.mean([c.times[-1] for c in members]))})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table; a group's values read mean ± standard deviation over its n runs."""

    def value(r: dict[str, Any], k: str) -> str:
        return f"{r[k]:.4g}" if r.get(f"{k}_std") is None else f"{r[k]:.4g} ± {r[f'{k}_std']:.2g}"

    head = ["run", "n", "metric", "final", "best", "steps", "time"]
    body = []
    for r in rows:
        lo, hi = r.get("steps_range") or [r["steps"], r["steps"]]
        body.append([f"{r['run']} (group)" if r.get("group") else r["run"], str(r.get("n", 1)), r["metric"], value(r, "final"),
                     value(r, "best"), str(lo) if lo == hi else f"{lo}–{hi}", f"{r['time_s']:.1f}s"])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in body]
    if any(r.get("group") for r in rows):
        lines.append("a group's row: final and best are the mean ± sample standard deviation over its n runs; steps: their last step "
                     "(or its range); time: their mean")
    return "\n".join(lines)
