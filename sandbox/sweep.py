"""``sandbox sweep``: many runs of one config, on Ray Tune, from a laptop to a cluster.

A sweep is a config (a preset, a YAML file, ``key=value`` overrides) with some keys varied:

- ``key=a,b,c`` is a grid axis: every combination of the axes is a trial (``seed=0,1,2`` repeats
  each configuration over seeds);
- ``key=lo:hi`` (or ``lo:hi:log``) is a range the search draws from: uniformly (integers when both
  ends are), or uniformly in the logarithm.

``--search grid`` runs the combinations; ``random`` draws ``--trials`` values of the ranges for each
combination; ``optuna`` lets Optuna's TPE sampler (through Ray Tune's ``OptunaSearch``) choose
``--trials`` configurations from the ranges and lists, each repeated over the listed seeds. ``--scheduler
asha`` stops the poor trials early (asynchronous successive halving, Li et al. 2020, "A System for
Massively Parallel Hyperparameter Tuning"), judged on the metric at the step it was logged.

The sweep folder::

    sweeps/<name>/
      sweep.json        the spec (what was asked) and every trial: values, status, steps, time, metric
      trials/<trial>/   an ordinary run directory per trial: eval, play, sample, compare and resume it
      curves.png        'sandbox compare' of the trials: a line per varied value, a band over seeds

Ray runs the trials: locally, ``ray.init`` starts a cluster of this machine's cores and the sweep
stops it at the end (also on Ctrl-C and on errors); ``--address ADDRESS`` (or ``RAY_ADDRESS``) joins
a running cluster instead, whose nodes must see the sweep folder at the same path (a shared file
system) and have the sandbox installed. Each trial is one Ray task with ``--cpus-per-trial`` CPUs
(torch uses that many threads) and ``--gpus-per-trial`` GPUs.

A sweep is resumed from its ``sweep.json`` alone (``--resume DIR``): finished trials are kept, the
others resume their run directories from their last checkpoints, and the trials not yet started
run. Nothing in the folder is unpickled: Ray Tune's own experiment state (which is pickled) lives in
a temporary folder for the life of the command and is deleted after it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError, SandboxError

SEARCHES = ("grid", "random", "optuna")
SCHEDULERS = ("none", "asha")
SWEEP_FILE = "sweep.json"
TRIALS = "trials"
#: a trial's run ended on its own (budget spent, time up) or was stopped early by the scheduler
DONE_STATUSES = ("finished", "time-up", "stopped")
#: trials one sweep may hold: a sweep of more is almost certainly a typo in a list
MAX_TRIALS = 10_000

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"^({_NUMBER}):({_NUMBER})(:log)?$")
_SAFE = re.compile(r"[^A-Za-z0-9._=+-]")


# -- the spec -----------------------------------------------------------------------------------------
@dataclass
class Range:
    """A key drawn from ``low`` to ``high`` (integers when both ends are), in the log when ``log``."""

    key: str
    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass
class Spec:
    """Everything ``--resume`` needs to finish a sweep: what was asked, with the defaults filled in."""

    name: str
    source: str | None
    fixed: list[str]
    axes: dict[str, list[str]]
    ranges: list[Range]
    search: str
    trials: int
    metric: str
    mode: str
    scheduler: str
    parallel: int | None
    cpus_per_trial: float
    gpus_per_trial: float
    seed: int = 0
    plugin: str = ""
    steps: int = 0
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))

    @property
    def varied(self) -> list[str]:
        """The keys the sweep varies, in the order given."""
        return list(self.axes) + [r.key for r in self.ranges]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        """The spec ``to_dict`` wrote; a ValueError says what does not fit (``sweep.json`` is data)."""
        data = dict(data)
        if not isinstance(data.get("ranges", []), list) or not all(isinstance(r, dict) for r in data.get("ranges", [])):
            raise ValueError("'ranges' must be a list of mappings")
        data["ranges"] = [Range(**r) for r in data.get("ranges", [])]
        spec = cls(**data)
        number = (int, float)
        checks = [
            (isinstance(spec.name, str), "name"), (spec.source is None or isinstance(spec.source, str), "source"),
            (isinstance(spec.fixed, list) and all(isinstance(f, str) for f in spec.fixed), "fixed"),
            (isinstance(spec.axes, dict) and all(isinstance(k, str) and isinstance(v, list) and v and all(isinstance(x, str) for x in v)
                                                 for k, v in spec.axes.items()), "axes"),
            (all(isinstance(r.key, str) and isinstance(r.low, number) and isinstance(r.high, number) and r.low < r.high
                 and isinstance(r.log, bool) and isinstance(r.integer, bool) and (not r.log or r.low > 0) for r in spec.ranges), "ranges"),
            (isinstance(spec.trials, int) and 0 < spec.trials <= MAX_TRIALS, "trials"), (isinstance(spec.metric, str), "metric"),
            (spec.parallel is None or (isinstance(spec.parallel, int) and spec.parallel > 0), "parallel"),
            (isinstance(spec.cpus_per_trial, number) and spec.cpus_per_trial > 0, "cpus_per_trial"),
            (isinstance(spec.gpus_per_trial, number) and spec.gpus_per_trial >= 0, "gpus_per_trial"),
            (isinstance(spec.seed, int) and isinstance(spec.steps, int), "seed and steps"),
        ]
        for ok, what in checks:
            if not ok:
                raise ValueError(f"its spec's {what} is not what 'sandbox sweep' writes")
        return spec


def split_values(text: str) -> list[str]:
    """``text`` split at its commas that are not inside brackets or quotes (``[64,64],[128,128]``
    is two values)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_overrides(overrides: list[str]) -> tuple[list[str], dict[str, list[str]], list[Range]]:
    """The ``key=value`` words of a sweep as fixed overrides, grid axes (``a,b,c``) and ranges (``lo:hi[:log]``)."""
    fixed: list[str] = []
    axes: dict[str, list[str]] = {}
    ranges: list[Range] = []
    seen: set[str] = set()
    for text in overrides:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{text!r} is not a key=value setting; write key=value, key=a,b,c (a grid axis) or key=lo:hi[:log] (a range).")
        if key == "out":
            raise ConfigError("out= is chosen by the sweep for each trial (SWEEP/trials/<trial>); name the sweep's folder with --out DIR.")
        values = split_values(value)
        match = _RANGE.match(value.strip())
        if len(values) > 1 or match:
            if key in seen:
                raise ConfigError(f"{key} is varied twice; give each varied key once.")
            seen.add(key)
        if len(values) > 1:
            if any(v == "" for v in values):
                raise ConfigError(f"{key}={value} has an empty value between its commas; write {key}=a,b,c.")
            if len(set(values)) != len(values):
                raise ConfigError(f"{key}={value} repeats a value; give each value once.")
            axes[key] = values
        elif match:
            low, high, log = float(match.group(1)), float(match.group(2)), bool(match.group(3))
            integer = all(re.fullmatch(r"[+-]?\d+", g) for g in (match.group(1), match.group(2)))
            if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
                raise ConfigError(f"{key}={value}: a range lo:hi needs finite ends with lo below hi, e.g. {key}=1e-4:1e-2:log.")
            if log and low <= 0:
                raise ConfigError(f"{key}={value}: a :log range needs ends above 0, e.g. {key}=1e-5:1e-2:log.")
            ranges.append(Range(key, low, high, log, integer))
        else:
            fixed.append(f"{key}={value}")
    return fixed, axes, ranges


def format_value(value: Any) -> str:
    """A drawn or listed value as the ``key=value`` word that sets it."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def draw(r: Range, u: float) -> int | float:
    """The value of range ``r`` at the quantile ``u`` in [0, 1)."""
    if r.log:
        x = math.exp(math.log(r.low) + u * (math.log(r.high) - math.log(r.low)))
    else:
        x = r.low + u * (r.high - r.low)
    if r.integer:
        return int(min(r.high, max(r.low, math.floor(x + 0.5) if r.log else math.floor(r.low + u * (r.high - r.low + 1)))))
    return float(f"{x:.6g}")


def short_key(key: str, varied: list[str]) -> str:
    """``agent.learning_rate`` as ``learning_rate`` in a trial's name, unless another varied key ends alike."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in varied) == 1 else key


def trial_name(label: int | str, values: dict[str, str], varied: list[str]) -> str:
    """``003-learning_rate=0.0003-seed=1``: the trial's number (a grid's place, or Ray's trial id for
    an Optuna trial) and its varied values, safe as a folder name."""
    words = [f"{short_key(k, varied)}={values[k]}" for k in varied if k in values]
    name = "-".join([f"{label:03d}" if isinstance(label, int) else label, *words])
    return _SAFE.sub("_", name)[:120]


def group_label(values: dict[str, str], varied: list[str]) -> str | None:
    """What a trial is drawn as by 'compare': its varied values less the seed (its seeds form a band)."""
    words = [f"{short_key(k, varied)}={values[k]}" for k in varied if k != "seed" and k in values]
    return " ".join(words) if words else None


def grid_trials(spec: Spec) -> list[dict[str, str]]:
    """The values of every trial of a grid or random search, in order: the combinations of the
    axes (the first axis slowest), each with ``trials`` draws of the ranges (random search)."""
    import itertools

    import numpy as np

    combos = [dict(zip(spec.axes, vals)) for vals in itertools.product(*spec.axes.values())] or [{}]
    draws = spec.trials if spec.ranges else 1
    rng = np.random.default_rng(spec.seed)
    out = []
    for combo in combos:
        for _ in range(draws):
            drawn = {r.key: format_value(draw(r, float(rng.random()))) for r in spec.ranges}
            out.append({**combo, **drawn})
    return out


# -- building a spec from the command line ------------------------------------------------------------
def _check_values(source: str | None, fixed: list[str], axes: dict[str, list[str]], ranges: list[Range]) -> Any:
    """Every listed value and both ends of every range checked as a run's config would be: one
    sentence for the first that does not fit. Returns the resolved config of the first trial."""
    from sandbox import tuned
    from sandbox.config import from_raw, raw_config

    def resolve(extra: list[str]) -> Any:
        raw, _ = tuned.apply(raw_config(source, fixed + extra))
        return from_raw(raw)

    first = [f"{k}={v[0]}" for k, v in axes.items()] + [f"{r.key}={format_value(int(r.low) if r.integer else r.low)}" for r in ranges]
    cfg = resolve(first)
    for key, values in axes.items():
        for v in values[1:]:
            resolve([w for w in first if not w.startswith(f"{key}=")] + [f"{key}={v}"])
    for r in ranges:
        for end in (r.low, r.high):
            resolve([w for w in first if not w.startswith(f"{r.key}=")] + [f"{r.key}={format_value(int(end) if r.integer else end)}"])
    return cfg


def make_spec(source: str | None, overrides: list[str], *, search: str | None, trials: int | None, metric: str | None,
              mode: str | None, scheduler: str, parallel: int | None, cpus_per_trial: float, gpus_per_trial: float,
              name: str, seed: int = 0) -> Spec:
    """A checked :class:`Spec` from the command line's words: one sentence for anything wrong."""
    fixed, axes, ranges = parse_overrides(overrides)
    if search is None:
        search = "random" if ranges else "grid"
    if search not in SEARCHES:
        raise ConfigError(f"--search {search} is not a search; use grid, random or optuna.")
    if scheduler not in SCHEDULERS:
        raise ConfigError(f"--scheduler {scheduler} is not a scheduler; use none or asha.")
    if not axes and not ranges:
        raise ConfigError("nothing is varied: give key=a,b,c (a grid axis, e.g. seed=0,1,2) or key=lo:hi (a range, e.g. "
                          "agent.learning_rate=1e-4:1e-2:log).")
    if search == "grid" and ranges:
        raise ConfigError(f"--search grid runs listed values, and {ranges[0].key} is a range; list values ({ranges[0].key}=a,b,c) "
                          "or draw from the range with --search random or --search optuna.")
    if search == "grid" and trials is not None:
        raise ConfigError("--trials is for --search random and optuna; a grid runs every combination of its lists once.")
    if search == "optuna" and not ranges and not [k for k in axes if k != "seed"]:
        raise ConfigError("--search optuna needs something to choose: a range (key=lo:hi) or a list other than seed=.")
    if trials is None:
        trials = 8 if search == "optuna" else 4
    if trials <= 0 or trials > MAX_TRIALS:
        raise ConfigError(f"--trials {trials} must be from 1 to {MAX_TRIALS}.")
    if parallel is not None and parallel <= 0:
        raise ConfigError(f"--parallel {parallel} must be a positive number of trials at a time.")
    if not (cpus_per_trial > 0 and math.isfinite(cpus_per_trial)):
        raise ConfigError(f"--cpus-per-trial {cpus_per_trial:g} must be a positive number of CPUs (fractions share a core).")
    if not (gpus_per_trial >= 0 and math.isfinite(gpus_per_trial)):
        raise ConfigError(f"--gpus-per-trial {gpus_per_trial:g} must be 0 or more GPUs (fractions share a GPU).")
    if mode is not None and mode not in ("max", "min"):
        raise ConfigError(f"--mode {mode} must be max or min.")
    cfg = _check_values(source, fixed, axes, ranges)
    from sandbox.registry import plugin_class

    default_metric, default_mode = plugin_class(cfg).score_metric(cfg)
    if metric is None:
        metric, mode = default_metric, mode or default_mode
    elif mode is None:
        from sandbox.compare import lower_is_better

        mode = "min" if lower_is_better(metric) else "max"
    n = len(grid_trials(Spec(name, source, fixed, axes, ranges, search, trials, metric, mode, scheduler, parallel,
                             cpus_per_trial, gpus_per_trial, seed))) if search != "optuna" else trials * len(axes.get("seed", ["0"]))
    if n > MAX_TRIALS:
        raise ConfigError(f"this sweep has {n:,} trials, more than the {MAX_TRIALS:,} one sweep may hold; list fewer values.")
    return Spec(name, None if source is None else str(source), fixed, axes, ranges, search, trials, metric, mode, scheduler,
                parallel, cpus_per_trial, gpus_per_trial, seed, plugin=cfg.plugin.name, steps=cfg.steps)


# -- the sweep folder -----------------------------------------------------------------------------------
def new_spec(folder: Path, source: str | None, overrides: list[str], *, search: str | None = None, trials: int | None = None,
             metric: str | None = None, mode: str | None = None, scheduler: str = "none", parallel: int | None = None,
             cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0, cpus: float | None = None, seed: int = 0) -> Spec:
    """The checked spec of a new sweep into ``folder`` (new or empty): one sentence for anything wrong."""
    from sandbox.files import check_output_folder

    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        hint = f"; to finish that sweep use --resume {folder}" if (folder / SWEEP_FILE).exists() else ""
        raise ConfigError(f"--out {folder} already exists and is not empty; choose a new folder{hint}.")
    check_output_folder(folder, "--out")
    if cpus is not None and not cpus > 0:
        raise ConfigError(f"--cpus {cpus} must be a positive number of CPUs.")
    if not 0 <= seed < 2**32:
        raise ConfigError(f"--seed {seed} is out of range; seeds are whole numbers from 0 to {2**32 - 1}.")
    return make_spec(source, overrides, search=search, trials=trials, metric=metric, mode=mode, scheduler=scheduler, parallel=parallel,
                     cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, name=folder.name, seed=seed)


def run(source: str | None, overrides: list[str], out: str | Path, *, search: str | None = None, trials: int | None = None,
        metric: str | None = None, mode: str | None = None, scheduler: str = "none", parallel: int | None = None,
        cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0, cpus: float | None = None, address: str | None = None,
        seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """``sandbox sweep`` from Python: run the sweep of ``source`` (a preset or YAML file) over
    ``overrides`` (``key=a,b,c`` lists, ``key=lo:hi[:log]`` ranges, fixed ``key=value``) into the
    folder ``out``, and return its ``sweep.json`` (the spec, every trial, the best). A folder that
    already holds a sweep is finished with its own settings (as ``--resume``), so running a notebook
    cell again does not train again what has ended. The options are the command's flags::

        doc = sandbox.sweep.run("ppo-cartpole", ["seed=0,1,2"], "sweeps/seeds", cpus=2)
        sandbox.compare.compare(["sweeps/seeds"], "seeds.png")
    """
    folder = Path(out)
    if (folder / SWEEP_FILE).is_file():
        spec, _ = read_sweep(folder)
    else:
        spec = new_spec(folder, source, list(overrides), search=search, trials=trials, metric=metric, mode=mode, scheduler=scheduler,
                        parallel=parallel, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, cpus=cpus, seed=seed)
    run_sweep(folder, spec, address=address, cpus=cpus, progress=progress)
    return read_sweep(folder)[1]


def read_sweep(folder: str | Path) -> tuple[Spec, dict[str, Any]]:
    """The spec and the whole ``sweep.json`` of a sweep folder; one sentence when it is not one."""
    from sandbox.config import read_regular
    from sandbox.errors import RunDirError

    folder = Path(folder)
    path = folder / SWEEP_FILE
    if not folder.is_dir():
        raise RunDirError(f"no sweep folder at {folder}; give the --out folder of a 'sandbox sweep'.")
    if not path.exists():
        raise RunDirError(f"{folder} has no {SWEEP_FILE}, so it is not a sweep folder; give the --out folder of a 'sandbox sweep'.")
    try:
        data = json.loads(read_regular(path, 16 << 20, RunDirError))
        if not isinstance(data, dict) or not isinstance(data.get("spec"), dict) or not isinstance(data.get("trials", []), list):
            raise ValueError("it needs a 'spec' mapping and a 'trials' list")
        spec = Spec.from_dict(data["spec"])
        if spec.search not in SEARCHES or spec.scheduler not in SCHEDULERS or spec.mode not in ("max", "min"):
            raise ValueError("its search, scheduler or mode is not one the sandbox knows")
        for t in data.get("trials", []):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not isinstance(t.get("values"), dict):
                raise ValueError("a trial needs a 'name' and 'values'")
            if _SAFE.search(t["name"]) or t["name"] in ("", ".", ".."):
                raise ValueError(f"the trial name {t['name'][:60]!r} is not a folder name the sandbox writes")
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is damaged ({str(exc)[:160]}); start the sweep again in a new folder.") from None
    return spec, data


def trial_status(run_dir: Path) -> dict[str, Any]:
    """A trial's status, steps and time from its run directory (``not started`` when it has none;
    ``interrupted`` when it says ``running`` for a process of this machine that is gone)."""
    if not (run_dir / "config.yaml").is_file():
        return {"status": "not started", "steps": 0, "time_s": 0.0}
    info: dict[str, Any] = {}
    path = run_dir / "run.json"
    if path.is_file() and not path.is_symlink():
        try:
            info = json.loads(path.read_text()[: 1 << 16])
        except (ValueError, OSError):
            info = {}
    status = info.get("status") if isinstance(info, dict) else None
    from sandbox.run import gone_here

    if status == "running" and gone_here(run_dir):  # its process is gone (a Ctrl-C at its start-up, a kill)
        status = "interrupted"
    return {"status": status if isinstance(status, str) else "started",
            "steps": int(info.get("step", 0)) if isinstance(info.get("step"), (int, float)) else 0,
            "time_s": float(info.get("elapsed_seconds", 0.0)) if isinstance(info.get("elapsed_seconds"), (int, float)) else 0.0}


def summarise(folder: Path, spec: Spec, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each trial's row of ``sweep.json``: name, values, status, steps, time, the metric's last and best values."""
    from sandbox.tracking import read_metrics

    rows = []
    for t in trials:
        run_dir = folder / TRIALS / t["name"]
        row = {"name": t["name"], "values": t["values"], **trial_status(run_dir)}
        if t.get("error"):
            row["status"], row["error"] = "error", t["error"]
        last = best = None
        if (run_dir / "metrics.jsonl").is_file():
            try:
                vals = [float(r[spec.metric]) for r in read_metrics(run_dir)
                        if isinstance(r.get(spec.metric), (int, float)) and not isinstance(r.get(spec.metric), bool)]
            except (OSError, ValueError, SandboxError):
                vals = []
            if vals:
                last, best = vals[-1], (max(vals) if spec.mode == "max" else min(vals))
        row[spec.metric], row["best"] = last, best
        rows.append(row)
    return rows


def write_sweep(folder: Path, spec: Spec, trials: list[dict[str, Any]], status: str) -> dict[str, Any]:
    """Write ``sweep.json`` (atomically): the spec, the status, every trial's row and the best trial."""
    from sandbox.files import atomic_write

    rows = summarise(folder, spec, trials)
    scored = [r for r in rows if r[spec.metric] is not None]
    best = (max if spec.mode == "max" else min)(scored, key=lambda r: r[spec.metric]) if scored else None
    doc = {"format": 1, "spec": spec.to_dict(), "status": status, "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "metric": spec.metric, "mode": spec.mode, "best": None if best is None else best["name"], "trials": rows}
    atomic_write(folder / SWEEP_FILE, json.dumps(doc, indent=1))
    return doc


def format_trials(doc: dict[str, Any]) -> str:
    """The trials as an aligned table: varied values, the metric (last value), status, steps, time."""
    spec = Spec.from_dict(doc["spec"])
    varied = spec.varied
    metric = spec.metric
    head = ["trial", *[short_key(k, varied) for k in varied], metric, "status", "steps", "time"]
    body = []
    for r in doc["trials"]:
        value = r.get(metric)
        body.append([r["name"].split("-", 1)[0], *[str(r["values"].get(k, "")) for k in varied], "-" if value is None else f"{value:.4g}",
                     r["status"], str(r["steps"]), f"{r['time_s']:.0f}s"])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in body]
    if doc.get("best"):
        lines.append(f"best ({spec.mode} {metric}, its last value): {doc['best']}")
    return "\n".join(lines)


def compare_groups(folder: str | Path) -> tuple[list[Path], dict[Path, str | None]]:
    """The trial run directories of a sweep folder that have metrics, and what 'compare' draws each
    as: its varied values less the seed (one line per value, a band over the seeds). A sweep that
    varies the seed alone is one group, named after the sweep: one line and a band over all of it."""
    spec, data = read_sweep(folder)
    dirs, groups = [], {}
    for t in data.get("trials", []):
        d = Path(folder) / TRIALS / t["name"]
        if (d / "metrics.jsonl").is_file():
            dirs.append(d)
            label = group_label({k: str(v) for k, v in t["values"].items()}, spec.varied)
            groups[d] = label if label is not None or spec.varied != ["seed"] else spec.name
    if not dirs:
        from sandbox.errors import RunDirError

        raise RunDirError(f"no trial of the sweep {folder} has logged anything yet; resume it with 'sandbox sweep --resume {folder}'.")
    return dirs, groups


# -- running the trials on Ray Tune ---------------------------------------------------------------------
def _need_ray(search: str) -> None:
    """One sentence naming what to install when Ray Tune (or, for ``--search optuna``, Optuna) is missing."""
    import importlib.util

    missing = []
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        missing.append("ray[tune]")
    if search == "optuna" and importlib.util.find_spec("optuna") is None:
        missing.append("optuna")
    if missing:
        raise SandboxError(f"'sandbox sweep' needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed; "
                           'install the sandbox\'s scale extra: pip install -e ".[scale]" (or pip install "ray[tune]" optuna).')


def die_with_parent() -> None:
    """On Linux, have the kernel kill this process when its parent (the node's raylet) dies: a
    sweep killed as a whole (its process group) must not leave a trial running on, writing into its
    run directory while ``--resume`` starts it again. Elsewhere a no-op."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def optuna_trial_name(spec: Spec, trial_id: str, config: dict[str, Any], known_dirs: dict[str, str]) -> str:
    """The folder of an Optuna trial: a trial of the sweep with the same values (one to resume), or
    a new name from Ray's trial id."""
    values = optuna_values(spec, config)
    return known_dirs.get(json.dumps(values, sort_keys=True)) or trial_name(trial_id, values, spec.varied)


def trial_class(folder: str, spec_dict: dict[str, Any], known_dirs: dict[str, str]) -> Any:
    """The Ray Tune trainable of a trial: an ordinary ``sandbox train`` run in the trial's folder, in
    a thread of the trial's process, each logged value of the metric one Tune result. When Tune stops
    the trial (the scheduler, or the sweep interrupted), :meth:`cleanup` asks the run to stop and
    waits for it to close as a spent budget closes it (closing evaluation, last checkpoint,
    ``run.json``), so that no trial is cut off in the middle of a write. ``known_dirs`` maps the
    values of trials the sweep already has to their folders (an Optuna trial with the same values
    resumes that folder)."""
    import queue
    import threading

    from ray import tune

    class SweepTrial(tune.Trainable):  # type: ignore[misc]
        def setup(self, config: dict[str, Any]) -> None:
            import torch

            die_with_parent()
            os.environ["SANDBOX_JOB_TYPE"] = "sweep"  # the trial's W&B run: job_type sweep
            spec = self.spec = Spec.from_dict(spec_dict)
            if "__trial__" in config:  # grid and random: the driver fixed the trial's name and values
                self.name, values = str(config["__trial__"]["name"]), dict(config["__trial__"]["values"])
            else:  # optuna: the searcher chose these values
                values = optuna_values(spec, config)
                self.name = optuna_trial_name(spec, self.trial_id, config, known_dirs)
            torch.set_num_threads(max(1, int(spec.cpus_per_trial)))
            self.run_dir = Path(folder) / TRIALS / self.name
            overrides = [*spec.fixed, *(f"{k}={v}" for k, v in values.items()), f"out={self.run_dir}"]
            given = {f.split("=", 1)[0] for f in spec.fixed}
            if "wandb.group" not in given:
                overrides.append(f"wandb.group={spec.name}")
            if "wandb.tags" not in given:
                overrides.append("wandb.tags=[" + ",".join(["sweep", *(_SAFE.sub("_", short_key(k, spec.varied)) for k in spec.varied)]) + "]")
            self.results: queue.Queue[dict[str, Any] | None] = queue.Queue()
            self.last: dict[str, Any] = {"step": 0}
            self.run: Any = None
            self.stopping = False
            self.thread = threading.Thread(target=self._train, args=(overrides,), name=f"sandbox-{self.name}", daemon=True)
            self.thread.start()

        def _on_log(self, run: Any, metrics: dict[str, Any], step: int) -> None:
            self.run = run
            if self.stopping:
                run.request_stop("stopped")
            value = metrics.get(self.spec.metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.results.put({self.spec.metric: float(value), "step": int(step)})

        def _train(self, overrides: list[str]) -> None:
            from sandbox.run import train

            try:
                train(self.spec.source, overrides, progress=False, on_log=self._on_log)
                if (last := last_value(self.run_dir, self.spec.metric)) is not None:  # e.g. a run resumed with its budget spent
                    self.last = {self.spec.metric: last[0], "step": last[1]}
            except SandboxError as exc:
                self.results.put({"sandbox_error": str(exc)[:400], "step": 0})
            except BaseException as exc:  # noqa: BLE001 - reported to the driver as the trial's error
                self.results.put({"failure": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}", "step": 0})
            finally:
                self.results.put(None)

        def step(self) -> dict[str, Any]:
            item = self.results.get()
            if item is None:
                return {**self.last, "done": True}
            if "failure" in item:
                raise RuntimeError(item["failure"])
            if "sandbox_error" in item:
                return {**item, "done": True}
            self.last = item
            return item

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            """The next trial in this process (Tune reuses it: no second start-up, imports included)."""
            self.cleanup()
            self.setup(new_config)
            return True

        def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
            """The trial's state is its run directory, which checkpoints itself; Tune keeps only where it is."""
            return {"run_dir": str(self.run_dir)}

        def load_checkpoint(self, checkpoint: Any) -> None:
            """Nothing to load: the run resumes from its own latest checkpoint when it starts."""

        def cleanup(self) -> None:
            if self.thread.is_alive():
                self.stopping = True
                if self.run is not None:
                    self.run.request_stop("stopped")
                self.thread.join()

    return SweepTrial


def optuna_values(spec: Spec, config: dict[str, Any]) -> dict[str, str]:
    """An Optuna trial's values as ``sweep.json`` keeps them (strings), with its seed from the
    repeat index when ``seed=`` is listed."""
    values = {k: format_value(config[k]) for k in spec.varied if k in config and k != "seed"}
    seeds = spec.axes.get("seed")
    if seeds:
        values["seed"] = seeds[int(config.get("__trial_index__", 0)) % len(seeds)]
    return values


def last_value(run_dir: Path, metric: str) -> tuple[float, int] | None:
    """The last logged value of ``metric`` in a run's ``metrics.jsonl`` and its step (None when never logged)."""
    from sandbox.tracking import read_metrics

    if not (run_dir / "metrics.jsonl").is_file():
        return None
    try:
        rows = [r for r in read_metrics(run_dir) if isinstance(r.get(metric), (int, float)) and not isinstance(r.get(metric), bool)]
    except (OSError, ValueError, SandboxError):
        return None
    return (float(rows[-1][metric]), int(rows[-1].get("step", 0))) if rows else None


def _optuna_searcher(spec: Spec, folder: Path, known: list[dict[str, Any]], done: set[str]) -> tuple[Any, int]:
    """Ray Tune's ``OptunaSearch`` (TPE, seeded by the sweep) told the results of the trials already
    finished, with the unfinished ones evaluated first (they resume their folders), repeated over
    the listed seeds; and the number of trials left to run."""
    import optuna
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter, Repeater
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space: dict[str, Any] = {k: tune.choice(v) for k, v in spec.axes.items() if k != "seed"}
    for r in spec.ranges:
        if r.integer:
            space[r.key] = tune.lograndint(int(r.low), int(r.high) + 1) if r.log else tune.randint(int(r.low), int(r.high) + 1)
        else:
            space[r.key] = tune.loguniform(r.low, r.high) if r.log else tune.uniform(r.low, r.high)
    seeds = len(spec.axes.get("seed", ["0"]))

    def config_of(t: dict[str, Any]) -> tuple[tuple[str, Any], ...] | None:
        if not all(k in t["values"] for k in space):
            return None
        return tuple((k, _typed(t["values"][k])) for k in space)

    by_config: dict[Any, list[dict[str, Any]]] = {}
    for t in known:
        if (c := config_of(t)) is not None:
            by_config.setdefault(c, []).append(t)
    rows = {r["name"]: r for r in summarise(folder, spec, known)}
    complete = {c: ts for c, ts in by_config.items() if len([t for t in ts if t["name"] in done]) >= seeds}
    redo = [dict(c) for c in by_config if c not in complete]
    searcher = OptunaSearch(space=space, metric=spec.metric, mode=spec.mode, points_to_evaluate=redo or None,
                            sampler=optuna.samplers.TPESampler(seed=spec.seed))
    for c, ts in complete.items():  # what is known already: the mean over its seeds, as Repeater would give
        scores = [rows[t["name"]][spec.metric] for t in ts if rows[t["name"]][spec.metric] is not None]
        if scores:
            searcher.add_evaluated_point(dict(c), float(sum(scores) / len(scores)))
    searcher_any: Any = Repeater(searcher, repeat=seeds, set_index=True) if seeds > 1 else searcher
    if spec.parallel:
        searcher_any = ConcurrencyLimiter(searcher_any, max_concurrent=spec.parallel)
    left = max(0, spec.trials - len(complete)) * seeds
    return searcher_any, left


def _typed(text: Any) -> Any:
    """A value of ``sweep.json`` back as the number or string Optuna chose."""
    if not isinstance(text, str):
        return text
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _progress_callback(folder: Path, spec: Spec, known: dict[str, dict[str, Any]], known_dirs: dict[str, str], total: int,
                       progress: bool) -> Any:
    """A Ray Tune callback on the driver: each trial into ``sweep.json`` when it starts and when it
    ends; with ``progress``, a bar over the trials (the time left, the best value so far) and a line
    per ended trial."""
    from ray.tune import Callback
    from tqdm.auto import tqdm

    class SweepProgress(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.ended = 0
            self.best: float | None = None
            self.bar = tqdm(total=total, desc=f"sweep {spec.name}", unit="trial", dynamic_ncols=True, file=sys.stderr,
                            disable=not progress, bar_format="{desc} {n}/{total} trials|{bar}| [{elapsed}<{remaining}{postfix}]")

        def close(self) -> None:
            self.bar.close()

        def name(self, trial: Any) -> str:
            if "__trial__" in trial.config:
                return str(trial.config["__trial__"]["name"])
            return optuna_trial_name(spec, trial.trial_id, trial.config, known_dirs)

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            name = self.name(trial)
            if name not in known:
                values = dict(trial.config["__trial__"]["values"]) if "__trial__" in trial.config else optuna_values(spec, trial.config)
                known[name] = {"name": name, "values": values}
                write_sweep(folder, spec, list(known.values()), "running")

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            if isinstance(result.get("sandbox_error"), str) and self.name(trial) in known:
                known[self.name(trial)]["error"] = result["sandbox_error"]

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._ended(trial, None)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            message = "the trial's process failed"
            try:
                lines = Path(trial.error_file).read_text().strip().splitlines() if getattr(trial, "error_file", None) else []
                message = lines[-1][:300] if lines else message
            except OSError:
                pass
            self._ended(trial, message)

        def _ended(self, trial: Any, error: str | None) -> None:
            self.ended += 1
            name = self.name(trial)
            if name not in known:
                return
            if error is not None:
                known[name]["error"] = error
            write_sweep(folder, spec, list(known.values()), "running")
            if progress:
                last = trial.last_result or {}
                value = last.get(spec.metric)
                how = (f"failed: {error}" if error else f"error: {last['sandbox_error']}" if last.get("sandbox_error")
                       else "ended" if last.get("done") else "stopped early by the scheduler")
                self.bar.write(f"[{self.ended}/{total}] {name}: {spec.metric} {'-' if value is None else f'{value:.4g}'} at step "
                               f"{last.get('step', 0)}, {how}", file=sys.stderr)
                if isinstance(value, (int, float)) and (self.best is None or (value > self.best if spec.mode == "max" else value < self.best)):
                    self.best = float(value)
                if self.best is not None:
                    self.bar.set_postfix_str(f"best {spec.metric} {self.best:.4g}", refresh=False)
                self.bar.update(1)

    return SweepProgress()


def check_address(address: str) -> None:
    """Before Ray tries (and retries for half a minute): one sentence when nothing answers at a
    ``HOST:PORT`` address. Where a Ray token exists (``~/.ray/auth_token``, ``RAY_AUTH_TOKEN``), it
    is sent, as 'ray start' clusters on a machine that has one require it (Ray sends it on its own
    only to a cluster it found without an address)."""
    import socket

    from sandbox.errors import MachineError

    if address not in ("auto", "local") and not address.startswith("ray://"):
        host, _, port = address.rpartition(":")
        if not host or not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            raise ConfigError(f"--address {address} is not HOST:PORT (the head's GCS address that 'ray start --head' prints), auto or ray://HOST:PORT.")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as exc:
            raise MachineError(f"could not join the Ray cluster at {address}: nothing answers there ({exc.strerror or exc}); "
                               "start it with 'ray start --head --port=PORT' or check the address ('ray status').") from None
    if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                                              or (Path.home() / ".ray" / "auth_token").is_file()):
        os.environ["RAY_AUTH_MODE"] = "token"


def run_sweep(folder: Path, spec: Spec, *, address: str | None = None, cpus: int | None = None, progress: bool = True) -> int:
    """Run (or finish) the sweep in ``folder``; print its table. 0 when every trial ended, 130 when
    some did not (interrupted), 1 when every trial failed."""
    where = address or os.environ.get("RAY_ADDRESS")
    if where:
        check_address(where)  # before Ray is imported: it reads RAY_AUTH_MODE once
    _need_ray(spec.search)
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")  # trials use absolute paths; keep the working directory
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no TensorBoard or CSV files of Ray's own
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # a trial's last result may carry no metric (it logged none)
    import ray
    from ray import tune

    folder = folder.resolve()
    (folder / TRIALS).mkdir(parents=True, exist_ok=True)
    data = read_sweep(folder)[1] if (folder / SWEEP_FILE).exists() else {"trials": []}
    known: list[dict[str, Any]] = [{"name": t["name"], "values": {k: str(v) for k, v in t["values"].items()}} for t in data.get("trials", [])]
    done = {t["name"] for t in known if trial_status(folder / TRIALS / t["name"])["status"] in DONE_STATUSES}
    if spec.search != "optuna":
        known = [{"name": trial_name(i, v, spec.varied), "values": v} for i, v in enumerate(grid_trials(spec))]
        pending = [t for t in known if t["name"] not in done]
        left = len(pending)
    write_sweep(folder, spec, known, "running")
    storage = tempfile.mkdtemp(prefix="sandbox-sweep-")  # Ray Tune's own (pickled) state: never kept in the sweep folder
    init_args: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if address is not None:
        init_args["address"] = address
    elif not os.environ.get("RAY_ADDRESS"):  # a cluster of its own, even where 'ray start' runs one on this machine
        init_args.update(address="local", num_cpus=cpus or os.cpu_count() or 1)
    started_ray = interrupted = False
    table = {t["name"]: t for t in known}
    watcher: Any = None
    try:
        if spec.search == "optuna":
            search_alg, left = _optuna_searcher(spec, folder, known, done)
            space: dict[str, Any] = {}
        else:
            search_alg, space = None, {"__trial__": tune.grid_search(pending)}
        if left == 0:
            print(f"every trial of {folder} has ended; nothing left to run.", file=sys.stderr)
        else:
            try:
                ray.init(**init_args)
                started_ray = True
            except (ConnectionError, ValueError, RuntimeError) as exc:
                from sandbox.errors import MachineError

                raise MachineError(f"could not {'join the Ray cluster at ' + where if where else 'start a local Ray cluster'} "
                                   f"({str(exc).splitlines()[0][:160]}); check the address ('ray status') or leave --address out.") from None
            import logging

            logging.getLogger("ray.tune").setLevel(logging.CRITICAL)  # a failed trial is one line of ours, not Ray's traceback
            resources = ray.cluster_resources()
            for what, asked in (("CPU", spec.cpus_per_trial), ("GPU", spec.gpus_per_trial)):
                if asked > resources.get(what, 0):
                    raise ConfigError(f"--{what.lower()}s-per-trial {asked:g} is more than the {resources.get(what, 0):g} {what}s of the Ray "
                                      f"cluster; ask for fewer{' or join a cluster with GPUs (--address)' if what == 'GPU' else ''}.")
            if progress:
                at_once = spec.parallel or int(resources.get("CPU", 1) // spec.cpus_per_trial) or 1
                print(f"sweep {spec.name}: {left} trial{'s' * (left != 1)} to run ({spec.search} search over {', '.join(spec.varied)}), "
                      f"up to {at_once} at a time on {'the Ray cluster at ' + where if where else 'a local Ray'} of "
                      f"{resources.get('CPU', 0):g} CPUs; runs in {folder / TRIALS}", file=sys.stderr, flush=True)
            known_dirs = {json.dumps(t["values"], sort_keys=True): t["name"] for t in known}
            watcher = _progress_callback(folder, spec, table, known_dirs, left, progress)
            fn = tune.with_resources(trial_class(str(folder), spec.to_dict(), known_dirs), {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
            scheduler = None
            if spec.scheduler == "asha":
                from ray.tune.schedulers import ASHAScheduler

                # max_t past the budget: a trial that reaches its budget ends as its run does, not stopped by ASHA
                scheduler = ASHAScheduler(time_attr="step", max_t=spec.steps + 1, grace_period=max(1, spec.steps // 8), reduction_factor=2)
            tuner = tune.Tuner(
                fn,
                param_space=space,
                tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, search_alg=search_alg, scheduler=scheduler,
                                            num_samples=left if spec.search == "optuna" else 1, reuse_actors=True,
                                            max_concurrent_trials=None if spec.search == "optuna" else spec.parallel),
                run_config=tune.RunConfig(storage_path=storage, name="tune", verbose=0,
                                          callbacks=[watcher]),
            )
            try:
                tuner.fit()
            except KeyboardInterrupt:
                interrupted = True
    finally:
        if watcher is not None:
            watcher.close()
        if started_ray:
            ray.shutdown()
        shutil.rmtree(storage, ignore_errors=True)
    return _finish(folder, spec, list(table.values()), interrupted=interrupted)


def _finish(folder: Path, spec: Spec, known: list[dict[str, Any]], *, interrupted: bool = False) -> int:
    """Write the closing ``sweep.json``, draw the curves, print the table; the exit code."""
    rows = summarise(folder, spec, known)
    unfinished = [r for r in rows if r["status"] not in DONE_STATUSES and r["status"] != "error"]
    errors = [r for r in rows if r["status"] == "error" or r.get("error")]
    status = "interrupted" if (interrupted or unfinished) else ("finished with errors" if errors else "finished")
    doc = write_sweep(folder, spec, known, status)
    drawn = [r for r in rows if (folder / TRIALS / r["name"] / "metrics.jsonl").is_file()]
    curves = False
    if drawn:
        try:
            from sandbox.compare import compare

            dirs, groups = compare_groups(folder)
            metrics = [spec.metric] if any(r[spec.metric] is not None for r in rows) else None
            compare(dirs, folder / "curves.png", metrics, groups=groups)
            curves = True
        except SandboxError as exc:
            print(f"no curves drawn: {exc}", file=sys.stderr)
    print(format_trials(doc))
    where = f"curves in {folder / 'curves.png'}" if curves else "no trial has logged yet, so no curves"
    print(f"sweep: {folder}  ({len(rows) - len(unfinished)} of {len(rows)} trials ended; {status}; {where})")
    if unfinished or interrupted:
        print(f"resume it with: sandbox sweep --resume {folder}", file=sys.stderr)
        return 130
    return 1 if errors and len(errors) == len(rows) else 0
