"""``sandbox compare``: learning curves of several runs from their ``metrics.jsonl``, against steps
and against wall time, with runs of one ``wandb.group`` drawn as a mean and a min–max band; and a
table of the final and best values. The offline twin of a W&B dashboard: curves are smoothed as
there (an exponential moving average, the raw points drawn faintly behind), the table is not."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sandbox.errors import ConfigError, RunDirError
from sandbox.registry import did_you_mean
from sandbox.tracking import read_metrics

#: metrics drawn when none are asked for, in this order, if the runs have them
PREFERRED = ("episodic_return", "eval/mean_return", "eval/win_rate", "fid", "loss", "train/loss")
LOWER_IS_BETTER = ("loss", "fid", "distance", "mmd", "elbo_nats", "bits_per_dim", "error")


def lower_is_better(metric: str) -> bool:
    return any(word in metric for word in LOWER_IS_BETTER)


@dataclass
class Curve:
    run: str
    group: str | None
    steps: np.ndarray
    times: np.ndarray
    values: np.ndarray


def _run_group(run_dir: Path) -> str | None:
    import yaml

    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
        return (cfg.get("wandb") or {}).get("group")
    except (OSError, yaml.YAMLError, AttributeError):
        return None


def load_curves(run_dirs: list[Path], metrics: list[str] | None) -> tuple[list[str], dict[str, list[Curve]]]:
    """The metrics to draw and, for each, one curve per run that logged it."""
    rows_by_run: dict[Path, list[dict[str, Any]]] = {}
    for d in run_dirs:
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
    for d, rows in rows_by_run.items():
        group = _run_group(d)
        for m in chosen:
            pts = [(r["step"], r.get("time", 0.0), r[m]) for r in rows if isinstance(r.get(m), (int, float))]
            if pts:
                a = np.array(pts, dtype=float)
                curves[m].append(Curve(d.name, group, a[:, 0], a[:, 1], a[:, 2]))
    return chosen, curves


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


def _draw(ax: Any, curves: list[Curve], use_time: bool, weight: float = 0.0) -> None:
    groups: dict[str, list[Curve]] = {}
    singles: list[Curve] = []
    for c in curves:
        (groups.setdefault(c.group, []) if c.group else singles).append(c)
    for name, members in groups.items():
        if len(members) == 1:
            singles.append(members[0])
            continue
        xs = [c.times if use_time else c.steps for c in members]
        lo, hi = max(x.min() for x in xs), min(x.max() for x in xs)
        if hi <= lo:
            singles.extend(members)
            continue
        grid = np.linspace(lo, hi, 200)
        ys = np.stack([np.interp(grid, x, smooth(c.values, weight)) for x, c in zip(xs, members)])
        line = ax.plot(grid, ys.mean(0), label=f"{name} (mean of {len(members)})")[0]
        ax.fill_between(grid, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.2)
    for c in singles:
        x = c.times if use_time else c.steps
        line = ax.plot(x, smooth(c.values, weight), label=c.run)[0]
        if weight > 0 and len(c.values) > 1:
            ax.plot(x, c.values, color=line.get_color(), alpha=0.25, linewidth=0.8)


def compare(run_dirs: list[str | Path], out: str | Path, metrics: list[str] | None = None, smoothing: float = 0.6) -> list[dict[str, Any]]:
    """Draw the curves to ``out`` (PNG), smoothed by ``smoothing`` (see :func:`smooth`), and return
    the table rows of the raw values (run, metric, final, best, steps, time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out} must end in .png.")
    if not 0 <= smoothing < 1:
        raise ConfigError(f"--smooth {smoothing} must be at least 0 (no smoothing) and below 1 (e.g. 0.6, or 0.9 for noisy curves).")
    dirs = [Path(d) for d in run_dirs]
    chosen, curves = load_curves(dirs, metrics)
    fig, axes = plt.subplots(len(chosen), 2, figsize=(12, 3.6 * len(chosen)), squeeze=False)
    for i, m in enumerate(chosen):
        for j, use_time in enumerate((False, True)):
            ax = axes[i][j]
            _draw(ax, curves[m], use_time, smoothing)
            ax.set_xlabel("wall time (s)" if use_time else "step")
            ax.set_ylabel(m)
            ax.grid(alpha=0.3)
        axes[i][0].set_title(f"{m} against steps")
        axes[i][1].set_title(f"{m} against wall time")
        axes[i][1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    table = []
    for m in chosen:
        for c in curves[m]:
            best = c.values.min() if lower_is_better(m) else c.values.max()
            table.append({"run": c.run, "metric": m, "final": float(c.values[-1]), "best": float(best),
                          "steps": int(c.steps[-1]), "time_s": float(c.times[-1])})
    return table


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    head = ["run", "metric", "final", "best", "steps", "time"]
    body = [[r["run"], r["metric"], f"{r['final']:.4g}", f"{r['best']:.4g}", str(r["steps"]), f"{r['time_s']:.1f}s"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)) for row in body]
    return "\n".join(lines)
