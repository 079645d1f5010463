"""Runs: the run directory, seeding, the device, budgets, checkpoints and resume.

::

    runs/<name>/
      config.yaml     the resolved config: everything needed to rebuild the run
      run.json        the run's id (for W&B), when it started, how it last ended, and its sittings
      metrics.jsonl   one JSON object per logged step
      checkpoints/    <step>.safetensors + <step>.json pairs; latest.json and best.json point at one
      media/          sample grids, gameplay videos
      wandb/          the W&B run files, when W&B is on

Checkpoint files are written to a temporary name and renamed into place, and the pointer files are
replaced only after the pair they name is whole: a process killed at any moment leaves the previous
checkpoint loadable. Nothing here unpickles.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from sandbox import checkpoint
from sandbox import tuned as tuned_values
from sandbox.config import RunConfig, from_raw, load_yaml, raw_config, resolve, resumable_keys
from sandbox.device import seed_everything
from sandbox.errors import ConfigError, MachineError, RunDirError, SandboxError
from sandbox.faults import fault_point
from sandbox.files import (CHECKPOINT_STEM, atomic_write, check_contained, check_output_folder, check_run_dir, clean_temporaries, is_run_dir,
                           only_leftovers)
from sandbox.processes import Processes
from sandbox.progress import ProgressLines, show_progress
from sandbox.registry import plugin_class

if TYPE_CHECKING:
    import torch

    from sandbox.plugin import Plugin
    from sandbox.tracking import Tracker

CHECKPOINTS = "checkpoints"
#: keys that may change when a run is resumed; everything else is the run's own
RESUMABLE_KEYS = ("steps", "max_minutes", "device", "checkpoint_minutes", "out")


def read_pointer(run_dir: Path, which: str) -> dict[str, Any] | None:
    """The content of checkpoints/<which>.json, or None when there is none."""
    path = Path(run_dir) / CHECKPOINTS / f"{which}.json"
    if not path.exists():
        return None
    from sandbox.config import read_regular

    try:
        data = json.loads(read_regular(path, 1 << 16, RunDirError))
        if not isinstance(data, dict) or "file" not in data:
            raise ValueError("no 'file' key")
        if not isinstance(data["file"], str) or not CHECKPOINT_STEM.match(data["file"]):
            raise ValueError(f"'file' must name a checkpoint step-<12 digits> inside checkpoints/, not {str(data['file'])[:60]!r}")
        return data
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path} is corrupt ({exc}); restore it or train the run again.") from None


def load_checkpoint(run_dir: str | Path, which: str = "latest") -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The tensors and JSON of the run's ``latest`` or ``best`` checkpoint (None if it has none).

    Only safetensors and JSON are read: nothing is unpickled.
    """
    run_dir = Path(run_dir)
    pointer = read_pointer(run_dir, which)
    if pointer is None:
        return None
    return checkpoint.read(run_dir / CHECKPOINTS / str(pointer["file"]), which)


#: the weights of a folder written by ``sandbox export`` (model.safetensors + model.json, as a checkpoint pair)
EXPORTED_WEIGHTS = "model"


def is_exported(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` is a folder written by ``sandbox export`` (weights, no checkpoints/);
    its weights files must be its own, not symbolic links."""
    run_dir = Path(run_dir)
    if (run_dir / CHECKPOINTS).exists() or not (run_dir / f"{EXPORTED_WEIGHTS}.safetensors").exists():
        return False
    for suffix in (".safetensors", ".json"):
        path = run_dir / f"{EXPORTED_WEIGHTS}{suffix}"
        if path.is_symlink() or not path.is_file():
            raise RunDirError(f"{path} should be a regular file of the exported folder and is not (a symbolic link or missing); export the run again.")
    return True


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The checked config of an existing run."""
    run_dir = check_run_dir(run_dir)
    try:
        return resolve(str(run_dir / "config.yaml"))
    except ConfigError as exc:
        raise RunDirError(f"{run_dir}/config.yaml does not describe a run this sandbox can build: {exc}") from None


# -- the run --------------------------------------------------------------------------------------
class Run:
    """A training run: its directory, budgets, logging and checkpoints.

    Plugins read ``run.step`` / set it as they go, call ``run.log(...)``, stop when
    ``run.should_stop()`` says so, and call ``run.checkpoint(self)`` when ``run.checkpoint_due()``.

    ``max_minutes`` covers the whole run, from ``started`` (when ``train`` was called) to the last
    checkpoint: a plugin with work to do after training (a closing evaluation, a video, a sample
    grid) tells the run how long it takes with :meth:`reserve_for_closing`, so that
    :meth:`should_stop` ends training early enough, and keeps that work inside
    :meth:`closing_deadline` (cutting it short where it must).
    """

    def __init__(self, directory: str | Path, config: RunConfig, started: float | None = None) -> None:
        self.dir = Path(directory)
        self.config = config
        self.tuned: tuned_values.Tuned | None = None  # the tuned values a new run started from (set by train)
        self._step = 0
        self.best_score: float | None = None
        self.interrupted = False
        self.stop_reason: str | None = None
        self._elapsed_before = 0.0
        self._t0 = time.time() if started is None else started
        self._clock_started = started is not None
        self._last_checkpoint = time.time()
        #: seconds the last checkpoint took to write
        self.checkpoint_seconds = 0.0
        self._closing_reserve = 0.0
        # the longest stretch of training between two should_stop() calls (work inside aside() not counted)
        self._longest_gap = 0.0
        self._last_check: float | None = None
        self._aside_seconds = 0.0
        self._aside_depth = 0
        self._bar: Any = None
        self.tracker: Tracker | None = None
        self._wandb_row: int | None = None  # the W&B row of the checkpoint a resume starts from
        self.info: dict[str, Any] = {}
        #: called with (metrics, step) after every :meth:`log` (``sandbox sweep`` reports to Ray Tune this way)
        self.listeners: list[Callable[[dict[str, Any], int], None]] = []
        self._stop_request: str | None = None
        #: the processes training this run (several under ``accelerate launch``); only the main one writes
        self.processes = Processes()

    @property
    def main(self) -> bool:
        """Whether this process writes the run's files (always, but for the other processes of a
        run launched in several; see :mod:`sandbox.processes`)."""
        return self.processes.main

    # -- paths --------------------------------------------------------------------------------------
    @property
    def metrics(self) -> Any:
        """The rows of the run's ``metrics.jsonl`` as a :class:`sandbox.history.Metrics`
        (``run.metrics.series("eval/mean_return")`` gives one metric's steps and values as arrays)."""
        from sandbox.history import Metrics
        from sandbox.tracking import read_metrics

        return Metrics(read_metrics(self.dir), self.dir)

    @property
    def checkpoint_dir(self) -> Path:
        return self.dir / CHECKPOINTS

    @property
    def media_dir(self) -> Path:
        return self.dir / "media"

    # -- budget -------------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Steps done so far (env steps for agents, updates for generative models)."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        self._step = int(value)
        if self._bar is not None:
            self._update_bar()

    def progress(self) -> float:
        """The share of the budget spent, 0 to 1: steps or time, whichever runs out first."""
        done = self._step / self.config.steps
        if self.config.max_minutes is not None:
            done = max(done, self.elapsed / (self.config.max_minutes * 60.0))
        return min(1.0, done)

    def _update_bar(self) -> None:
        target = round(self.progress() * 1000)
        if target > self._bar.n:
            self._bar.update(target - self._bar.n)
            self._bar.set_description(f"{self.dir.name} step {self._step}", refresh=False)

    @property
    def elapsed(self) -> float:
        """Seconds of the run, this process (from the call to ``train``) and earlier ones of the same run."""
        return self._elapsed_before + time.time() - self._t0

    def time_left(self) -> float | None:
        """Seconds left of ``max_minutes`` (None when there is no time limit)."""
        if self.config.max_minutes is None:
            return None
        return self.config.max_minutes * 60.0 - self.elapsed

    def finish_seconds(self) -> float:
        """Seconds kept at the very end of ``max_minutes`` for the run's own last checkpoint and
        closing its files: twice what the last checkpoint took, and half a second."""
        return 0.5 + 2.0 * self.checkpoint_seconds

    def closing_time_left(self) -> float | None:
        """Seconds the plugin's work may still take: what is left of ``max_minutes`` less
        :meth:`finish_seconds` (None when there is no time limit)."""
        left = self.time_left()
        return None if left is None else left - self.finish_seconds()

    def closing_deadline(self, closing: bool = True) -> float | None:
        """The ``time.time()`` by which the plugin's work (its closing evaluation included) must
        be done, for the run to end inside ``max_minutes``; None when there is no time limit.
        ``closing=False``: the deadline of work during training (an evaluation on the way),
        earlier by the time reserved for the closing work."""
        left = self.closing_time_left()
        if left is None:
            return None
        return time.time() + left - (0.0 if closing else self._closing_reserve)

    def reserve_for_closing(self, seconds: float) -> None:
        """Keep ``seconds`` of ``max_minutes`` for the plugin's work after training (its closing
        evaluation, video, sample grid): :meth:`should_stop` stops training that much earlier.
        At most half of ``max_minutes`` is kept; work longer than that must cut itself short."""
        budget = None if self.config.max_minutes is None else self.config.max_minutes * 60.0
        self._closing_reserve = 0.0 if budget is None else min(max(0.0, float(seconds)), 0.5 * budget)

    @contextmanager
    def aside(self) -> Iterator[None]:
        """Work done between two training steps that is not training (an evaluation, a checkpoint):
        its time does not count as the length of a training step. Plugins that keep such work
        inside :meth:`closing_deadline` wrap it in this."""
        self._aside_depth += 1
        t = time.time()
        try:
            yield
        finally:
            self._aside_depth -= 1
            if self._aside_depth == 0:
                self._aside_seconds += time.time() - t

    def should_stop(self) -> bool:
        """True once the step budget is spent, the time is up, or Ctrl-C was pressed.

        With ``max_minutes``, the time is up when what is left would not hold the closing work
        the plugin reserved, one more training step (the longest seen between two calls) and
        the last checkpoint."""
        now = time.time()
        if self._last_check is not None:
            self._longest_gap = max(self._longest_gap, now - self._last_check - self._aside_seconds)
        self._last_check, self._aside_seconds = now, 0.0
        if self.interrupted:
            reason: str | None = "interrupted"
        elif self._stop_request is not None:
            reason = self._stop_request
        elif self._step >= self.config.steps:
            reason = "steps"
        elif (left := self.closing_time_left()) is not None and left <= self._closing_reserve + self._longest_gap:
            reason = "time"
        else:
            reason = None
        if self.processes.several:  # every process stops at the same step, for the most pressing reason any has
            order = [None, "steps", "time", "stopped", "interrupted"]
            mine = order.index(reason) if reason in order else order.index("stopped")
            code = self.processes.agree(mine)
            if code != mine:
                reason = self._stop_request or "stopped" if order[code] == "stopped" else order[code]
        if reason is None:
            return False
        self.stop_reason = reason
        return True

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask training to end at the next :meth:`should_stop`, as the step budget would end it
        (closing evaluation and last checkpoint included); ``reason`` becomes :attr:`stop_reason`
        and the status in ``run.json`` (a sweep's scheduler stopping a trial early: ``stopped``)."""
        self._stop_request = reason

    def checkpoint_due(self) -> bool:
        """True when the last checkpoint is older than ``checkpoint_minutes``."""
        return time.time() - self._last_checkpoint >= self.config.checkpoint_minutes * 60.0

    # -- logging ------------------------------------------------------------------------------------
    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Log scalars at ``step`` (default: the current step); only the main process writes."""
        if not self.main:
            return
        assert self.tracker is not None, "log() is for a started run"
        at = self._step if step is None else step
        self.tracker.log(metrics, at)
        for listener in self.listeners:
            listener(metrics, at)
        if self._bar is not None:
            shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if shown:
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in list(shown.items())[:3]}, refresh=False)

    def log_image(self, name: str, images: Any, step: int | None = None) -> Path:
        """Save images to media/ (a batch as a grid) and log them to W&B (the main process only)."""
        if not self.main:
            return self.media_dir / f"{name}-{self._step if step is None else step:09d}.png"
        assert self.tracker is not None
        return self.tracker.image(name, images, self._step if step is None else step)

    def log_video(self, name: str, frames_or_path: Any, step: int | None = None, fps: float = 30.0) -> Path:
        """Save a video to media/ and log it to W&B (the main process only)."""
        if not self.main:
            return self.media_dir / name
        assert self.tracker is not None
        return self.tracker.video(name, frames_or_path, self._step if step is None else step, fps)

    # -- checkpoints --------------------------------------------------------------------------------
    def checkpoint(self, plugin: Plugin, score: float | None = None, higher_is_better: bool = True) -> Path:
        """Write the plugin's state as the latest checkpoint; with a ``score`` better than any
        before, it is also the best. Returns the path of the tensors file. Only the main
        process writes (the others' weights are the same)."""
        if not self.main:
            return self.checkpoint_dir / f"step-{self._step:012d}.safetensors"
        with self.aside():
            t = time.time()
            path = self._checkpoint(plugin, score, higher_is_better)
            self.checkpoint_seconds = time.time() - t
        return path

    def _checkpoint(self, plugin: Plugin, score: float | None, higher_is_better: bool) -> Path:
        tensors, doc = checkpoint.encode(plugin.saved())
        rng_tensors, rng_state = checkpoint.rng_state()
        is_best = score is not None and (
            self.best_score is None or (score > self.best_score if higher_is_better else score < self.best_score)
        )
        if is_best:
            self.best_score = float(score)  # type: ignore[arg-type]
        tensors.update(rng_tensors)
        doc = {
            "step": self._step,
            "elapsed_seconds": round(self.elapsed, 3),
            "score": score,
            "best_score": self.best_score,
            "time": time.time(),
            "rng": rng_state,
            "wandb_row": self.tracker.wandb_row if self.tracker is not None else None,
            **doc,
        }
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        name = f"step-{self._step:012d}"
        checkpoint.write(self.checkpoint_dir / name, tensors, doc)
        fault_point("checkpoint:pair-written")
        pointer = json.dumps({"file": name, "step": self._step, "score": score})
        atomic_write(self.checkpoint_dir / "latest.json", pointer)
        if is_best:
            atomic_write(self.checkpoint_dir / "best.json", pointer)
        fault_point("checkpoint:pointed")
        self._prune()
        self._last_checkpoint = time.time()
        return self.checkpoint_dir / f"{name}.safetensors"

    def _prune(self) -> None:
        keep = {p["file"] for w in ("latest", "best") if (p := read_pointer(self.dir, w))}
        for f in self.checkpoint_dir.iterdir():
            stem, _, suffix = f.name.partition(".")
            if CHECKPOINT_STEM.match(stem) and suffix in ("safetensors", "json") and stem not in keep and f.is_file():
                f.unlink(missing_ok=True)
            elif f.name.startswith(".") and ".tmp-" in f.name and not f.name.endswith(f".tmp-{os.getpid()}"):
                f.unlink(missing_ok=True)  # left by a killed process

    def restore(self, plugin: Plugin, which: str = "latest") -> bool:
        """Load the run's checkpoint into ``plugin`` and the run's clocks; False if there is none."""
        loaded = load_checkpoint(self.dir, which)
        if loaded is None:  # killed before its first checkpoint: it starts from step 0, and so do its metrics
            from sandbox.tracking import rewind_metrics

            if self.main:
                rewind_metrics(self.dir, -1)
            return False
        tensors, state = loaded
        try:
            checkpoint.decode(plugin, tensors, state)
            checkpoint.set_rng_state(tensors, state.get("rng", {}))
        except SandboxError:
            raise
        except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise RunDirError(f"the {which} checkpoint of {self.dir} does not fit its config ({checkpoint.misfit(exc)}); "
                              "resume with the run's own config.yaml, or train a new run.") from None
        self._step = int(state.get("step", 0))
        self._elapsed_before = float(state.get("elapsed_seconds", 0.0))
        self.best_score = state.get("best_score")
        row = state.get("wandb_row")
        self._wandb_row = row if isinstance(row, int) and not isinstance(row, bool) and row >= 0 else None
        from sandbox.tracking import DISCARDED, rewind_metrics

        moved = rewind_metrics(self.dir, self._step) if self.main else 0
        if moved:
            print(f"resuming {self.dir} from its checkpoint at step {self._step}: {moved} metric rows logged after it "
                  f"moved to {DISCARDED}", file=sys.stderr)
        return True

    # -- the session --------------------------------------------------------------------------------
    def record(self, **fields: Any) -> None:
        """Add JSON fields to run.json (the main process only), e.g. how many processes trained it."""
        if self.main:
            self._write_info(**fields)

    def _write_info(self, **changes: Any) -> None:
        self.info.update(changes)
        atomic_write(self.dir / "run.json", json.dumps(self.info, indent=1))

    def _catch_signals(self) -> dict[int, Any]:
        """Make Ctrl-C and SIGTERM a request to stop (a second one aborts at once); returns the
        handlers they replaced."""
        previous = {}

        def on_signal(signum: int, frame: Any) -> None:
            if self.interrupted:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.interrupted = True
            if self.main:
                print("\nstopping: writing a checkpoint (press Ctrl-C again to abort at once)", file=sys.stderr)

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, on_signal)
            except ValueError:  # not the main thread
                pass
        return previous

    @contextmanager
    def session(self, progress: bool | None = True) -> Iterator[Run]:
        """Open tracking and the progress bar, catch Ctrl-C / SIGTERM as a request to stop.
        ``progress``: True a bar, False nothing, None a bar on a terminal and else a line a minute.
        The other processes of a run launched in several only catch the signals."""
        from sandbox.tracking import Tracker

        if not self.main:
            caught = self._catch_signals()
            try:
                yield self
            finally:
                for sig, handler in caught.items():
                    signal.signal(sig, handler)
            return
        info_path = self.dir / "run.json"
        if info_path.exists():
            try:
                self.info = json.loads(info_path.read_text())
            except ValueError:
                self.info = {}
        self.info.setdefault("id", uuid.uuid4().hex[:12])
        self.info.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
        sittings = self.info.get("sittings")
        sittings = [x for x in sittings if isinstance(x, dict)][-999:] if isinstance(sittings, list) else []
        self._write_info(status="running", pid=os.getpid(), pid_start=process_start(os.getpid()), host=socket.gethostname(),
                         sittings=[*sittings, self._sitting()])
        self.tracker = Tracker(self.dir, self.config.to_dict(), self.config.wandb, self.info["id"], self.dir.name,
                               resume_row=self._wandb_row)
        if not self._clock_started:  # train() starts the clock when it is called; a bare Run when its session opens
            self._t0 = time.time()
        self.tracker.set_time_offset(self.elapsed)  # metrics' "time" is the run's elapsed time
        self._last_checkpoint = time.time()

        previous = self._catch_signals()
        desc = f"{self.dir.name} step {self._step}"
        if show_progress(progress):
            from tqdm.auto import tqdm

            # the bar counts tenths of a percent of the budget (steps or max_minutes, whichever ends first)
            self._bar = tqdm(
                total=1000,
                desc=desc,
                bar_format="{desc}{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
                dynamic_ncols=True,
                mininterval=1.0,
                file=sys.stderr,
            )
        elif progress is None:  # into a file or a pipe: the same figures, a line a minute
            self._bar = ProgressLines(1000, desc, every=60.0)
        if self._bar is not None:
            self._update_bar()
        status = "failed"
        try:
            yield self
            status = {"interrupted": "interrupted", "time": "time-up", "stopped": "stopped"}.get(self.stop_reason or "", "finished")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._bar is not None:
                self._bar.set_description(f"{self.dir.name} step {self._step}", refresh=False)  # the last step too
                self._bar.close()
                self._bar = None
            self.tracker.close(0 if status != "failed" else 1)
            self.info["sittings"][-1].update(to_step=self._step, status=status)
            self._write_info(status=status, step=self._step, elapsed_seconds=round(self.elapsed, 3))

    def _sitting(self) -> dict[str, Any]:
        """run.json's record of this sitting: when it began, from which step, and the keys a resume
        may change (the budget, and where it trains: threads, actors, ...) as this sitting has them."""
        values = self.config.to_dict()
        keys: dict[str, Any] = {k: values[k] for k in RESUMABLE_KEYS if k != "out"}
        for key in resumable_keys(self.config):
            section, name = key.split(".", 1)
            keys[key] = values[section].get(name)
        return {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "from_step": self._step, "host": socket.gethostname(), **keys}


# -- the functions behind `sandbox train` and `sandbox.load` -----------------------------------------
def default_run_dir(config: RunConfig) -> Path:
    where = (config.env or config.data)
    parts = [config.plugin.name.replace("/", "-")]
    if where is not None:
        parts.append(where.name.replace("/", "-"))
    parts += [f"s{config.seed}", time.strftime("%Y%m%d-%H%M%S")]
    return Path("runs") / "-".join(parts)


def _differences(asked: dict[str, Any], saved: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two nested config mappings."""
    out: list[str] = []
    for key in sorted(set(asked) | set(saved)):
        a, s = asked.get(key), saved.get(key)
        if isinstance(a, dict) and isinstance(s, dict):
            out += _differences(a, s, f"{prefix}{key}.")
        elif a != s:
            out.append(prefix + key)
    return out


def _names_a_run(config: Any, overrides: list[str] | tuple[str, ...]) -> bool:
    """Whether the overrides alone name an existing run (``out=RUN``, no preset or file): then a
    plugin field such as ``agent.actors=2`` is one of that run's own plugins."""
    outs = [value.strip() for key, _, value in (item.partition("=") for item in overrides) if key.strip() == "out"]
    return config is None and bool(outs) and is_run_dir(outs[-1])


def _resume_config(run_dir: Path, raw: dict[str, Any]) -> RunConfig:
    """The run's own config, with only the budget keys and its plugins' resumable keys (see
    :func:`sandbox.config.resumable_keys`) taken from what the user gave."""
    saved_raw = load_yaml(run_dir / "config.yaml")
    saved_cfg = load_run_config(run_dir)
    saved = saved_cfg.to_dict()
    merged = dict(saved_raw)
    for key in RESUMABLE_KEYS:
        if key in raw:
            merged[key] = raw[key]
    merged["out"] = str(run_dir)
    try:
        asked = from_raw({**tuned_values.merge(saved_raw, raw), "out": str(run_dir)}).to_dict()  # the user's keys over the saved ones
    except ConfigError as exc:
        raise ConfigError(f"out={run_dir} is an existing run, which resumes with its own config, and your keys do not fit it: {exc}") from None
    plugin_keys = resumable_keys(saved_cfg)
    changed = [k for k in _differences(asked, saved) if k not in RESUMABLE_KEYS and k not in plugin_keys]
    if changed:
        may = [f"{k}=" for k in RESUMABLE_KEYS if k != "out"] + [f"{k}=" for k in plugin_keys]
        raise ConfigError(
            f"out={run_dir} is an existing run, which resumes with its own config, but you changed "
            f"{', '.join(changed)}; drop those keys (only {', '.join(may)} may change) or choose a new out=."
        )
    for key in plugin_keys:  # where and on how many processes it trains: the user's value
        section, name = key.split(".", 1)
        if asked[section].get(name) != saved[section].get(name):
            kept = merged.get(section)
            merged[section] = {**(kept if isinstance(kept, dict) else {"name": kept}), name: asked[section][name]}
    return from_raw(merged)


def train(
    config: str | Path | dict | RunConfig | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    progress: bool | None = True,
    tuned: bool = True,
    on_log: Callable[[Run, dict[str, Any], int], None] | None = None,
) -> Run:
    """Train the agent or generative model a config describes, and return its :class:`Run`.

    ``config`` is a preset name, a YAML path, a mapping or a RunConfig; ``overrides`` are
    ``key=value`` strings. With ``out=`` naming an existing run, that run resumes from its latest
    checkpoint with its own config and what is left of its budget. ``max_minutes`` counts from
    this call to the last checkpoint, closing evaluation included. A new run starts from the
    tuned values shipped for its pair (plugin and env or data set, see :mod:`sandbox.tuned`), with
    the preset or file and the overrides on top; ``tuned=False`` starts from the plugin's defaults.
    ``on_log(run, metrics, step)`` is called after every logged row (it may ``run.request_stop()``).
    ``progress``: True a progress bar, False none, None a bar on a terminal and a line a minute into
    a file or a pipe (``sandbox train``'s default).
    """
    started = time.time()
    notice: tuned_values.Tuned | None = None
    if isinstance(config, RunConfig):
        config = config.to_dict()
    raw = raw_config(config, overrides, open_sections=_names_a_run(config, overrides))
    # under 'accelerate launch', several processes train this run: the main one decides what
    # depends on files or on the moment (see sandbox.processes), and writes alone
    processes = Processes.from_env()
    processes.start(str(raw.get("device") or "auto"))
    out = raw.get("out")
    resume = processes.decide(lambda: out is not None and is_run_dir(str(out)))
    if resume and is_exported(str(out)):
        raise ConfigError(f"out={out} is a folder written by 'sandbox export', which holds weights to use, not a run to resume; choose a new out=.")
    if resume:
        check_contained(str(out))
        check_run_info(Path(str(out)))
        if (pid := processes.decide(lambda: _trained_now(Path(str(out))))) is not None:
            raise RunDirError(f"out={out} is being trained right now by process {pid}; wait for it to end, or stop it "
                              f"(Ctrl-C there, or 'kill {pid}': it checkpoints) and run this again to resume.")
        if processes.main:
            clean_temporaries(str(out))  # left by a process killed while writing
        cfg = _resume_config(Path(str(out)), raw)
    else:
        if tuned:
            raw, notice = tuned_values.apply(raw)
        cfg = from_raw(raw)
    cls = plugin_class(cfg)
    if processes.several and not cls.data_parallel:
        raise ConfigError(f"{cfg.plugin.name} trains in one process; run it without 'accelerate launch' (the generative models train in several).")
    cfg = cls.complete_config(cfg)

    def choose_run_dir() -> Path:
        run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg)
        if not resume and only_leftovers(run_dir):  # a run killed before its config.yaml was whole starts afresh
            clean_temporaries(run_dir)
        if not resume and run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise ConfigError(f"out={run_dir} already exists and is not a sandbox run; choose a new out= (nothing was written).")
        if not resume:
            check_output_folder(run_dir, "out=")
        return run_dir

    run_dir = processes.decide(choose_run_dir)  # the default name holds the main process's clock
    cfg.out = str(run_dir)
    seed_everything(cfg.seed)
    plugin = cls(cfg)  # networks and envs are built, and impossible combinations refused, before anything is written
    if notice is not None and progress is not False and processes.main:
        print(notice.line(), file=sys.stderr)
    run = Run(run_dir, cfg, started=started)
    run.processes = processes
    run.tuned = notice
    if on_log is not None:
        run.listeners.append(lambda metrics, step: on_log(run, metrics, step))
    try:
        return _train_run(run, plugin, resume, notice, progress)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise MachineError(f"the disk of {run_dir} is full ({exc.strerror}); the last whole checkpoint is kept: free some space "
                           f"and resume with 'sandbox train out={run_dir}'.") from None


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (its start time in clock ticks since boot, from /proc), so that a
    process id reused by another program is not taken for the run's; None where /proc has none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after the command's name, which may hold spaces
    return fields[19] if len(fields) > 19 else None


#: a W&B run id as the sandbox makes them (12 hex digits) or W&B does (letters and digits)
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_run_info(run_dir: Path) -> None:
    """Refuse, in one sentence, a run.json that is not what the sandbox writes (a JSON object whose
    ``id``, the W&B run's, is a short word); a missing one is written anew by the resume."""
    from sandbox.config import read_regular

    path = run_dir / "run.json"
    if not os.path.lexists(path):
        return
    try:
        info = json.loads(read_regular(path, 1 << 20, RunDirError).decode("utf-8"))
    except (ValueError, RecursionError, OSError) as exc:  # not JSON, not UTF-8 (a ValueError too), too deep, unreadable
        problem = (exc.strerror or str(exc)) if isinstance(exc, OSError) else f"not JSON: {str(exc).splitlines()[0][:80]}"
    else:
        if not isinstance(info, dict):
            problem = f"a JSON {type(info).__name__}, not an object"
        elif "id" in info and not (isinstance(info["id"], str) and RUN_ID.match(info["id"])):
            problem = "its 'id' is not a W&B run id"
        else:
            return
    raise RunDirError(f"{path} is damaged ({problem}); restore it, or delete it to resume the run under a new W&B id.")


def _writer(run_dir: Path) -> tuple[bool, int | None]:
    """Whether the run's run.json says ``running`` (for another process than this one), and that
    process's id when it still runs on this machine (the same id, started at the same moment)."""
    try:
        info = json.loads((run_dir / "run.json").read_text())
        pid = int(info.get("pid", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return False, None
    if not isinstance(info, dict) or info.get("status") != "running" or pid <= 0 or pid == os.getpid():
        return False, None
    if info.get("host") not in (None, socket.gethostname()):
        return True, None  # trained on another machine: its process cannot be seen from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True, None
    except (PermissionError, OverflowError):
        pass
    started = info.get("pid_start")
    if started is not None and process_start(pid) not in (None, started):
        return True, None  # the id now belongs to another process
    return True, pid


def _trained_now(run_dir: Path) -> int | None:
    """The id of another process of this machine that is training the run right now, or None."""
    return _writer(run_dir)[1]


def _killed_before_closing(run_dir: Path) -> bool:
    """Whether the run's run.json says ``running`` for a process that no longer runs (killed before it closed)."""
    running, pid = _writer(run_dir)
    return running and pid is None


def gone_here(run_dir: Path) -> bool:
    """Whether the run's run.json says ``running`` for a process of this machine that no longer runs
    (killed, or Ctrl-C'd before it could close). A run trained on another machine is not judged."""
    try:
        host = json.loads((run_dir / "run.json").read_text()).get("host")
    except (OSError, ValueError, AttributeError):
        return False
    return host in (None, socket.gethostname()) and _killed_before_closing(run_dir)


def _train_run(run: Run, plugin: Plugin, resume: bool, notice: tuned_values.Tuned | None, progress: bool | None) -> Run:
    """The rest of :func:`train`: resume or write the config, then train and checkpoint."""
    run_dir, cfg = run.dir, run.config
    restored = False
    if resume:
        restored = run.restore(plugin)
        spent = run.processes.decide(lambda: run.step >= cfg.steps or ((left := run.time_left()) is not None and left <= 0))
        if spent and run.processes.decide(lambda: _killed_before_closing(run_dir)):  # its closing work is still to do
            if run.main:
                print(f"{run_dir} was killed after its last checkpoint, before it closed: closing it now", file=sys.stderr)
        elif spent:
            if run.main:
                print(f"{run_dir} has already spent its budget (step {run.step} of {cfg.steps}); raise steps= or max_minutes= to train on.", file=sys.stderr)
            return run
    elif run.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        fault_point("run-dir:created")
        atomic_write(run_dir / "config.yaml", (notice.comment() if notice is not None else "") + cfg.to_yaml())
    with run.session(progress=progress):
        if not restored:
            run.checkpoint(plugin)  # step 0: a killed run always has something to resume from
        plugin.fit(run)
        run.checkpoint(plugin)
    return run


def load(run_dir: str | Path, which: str = "best") -> Plugin:
    """The trained agent or model of a run, with its ``best`` checkpoint (or the latest when it
    has no best), or of a folder written by ``sandbox export`` (its model.safetensors). Reads only
    config.yaml, safetensors and JSON. A diffusers DDPMPipeline or DDIMPipeline folder (model_index.json,
    no config.yaml) loads as the generative model it is (its JSON and safetensors only)."""
    folder = Path(run_dir)
    if folder.is_dir() and (folder / "model_index.json").exists() and not (folder / "config.yaml").exists():
        from sandbox.registry import generative

        load_pipeline = generative.provided("ddpm", "load_pipeline")
        if load_pipeline is not None:
            return load_pipeline(folder)  # type: ignore[no-any-return]
    run_dir = check_contained(check_run_dir(run_dir))
    cfg = load_run_config(run_dir)
    cfg.device = "auto" if cfg.device.startswith(("cuda", "mps")) else cfg.device
    cls = plugin_class(cfg)
    plugin = cls(cfg)
    if is_exported(run_dir):  # a folder written by 'sandbox export': its one set of weights
        which = "exported"
        loaded: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = checkpoint.read(run_dir / EXPORTED_WEIGHTS, which)
    else:
        if which == "best" and read_pointer(run_dir, "best") is None:
            which = "latest"
        loaded = load_checkpoint(run_dir, which)
    if loaded is None:
        raise RunDirError(f"{run_dir} has no checkpoint yet; train it first ('sandbox train out={run_dir}').")
    tensors, state = loaded
    try:
        checkpoint.decode(plugin, tensors, state)
    except SandboxError:
        raise
    except (KeyError, RuntimeError, ValueError) as exc:
        raise RunDirError(f"the {which} checkpoint of {run_dir} does not fit its config ({checkpoint.misfit(exc)}).") from None
    plugin.run_dir = run_dir  # type: ignore[attr-defined]
    return plugin
