"""Tracking: ``metrics.jsonl`` always (one JSON object per logged step, flushed per line), W&B when
wanted, images and videos written to ``media/`` and logged explicitly.

W&B never stops training: a bad mode, an init error or a media upload that fails warns once and the
run goes on with ``metrics.jsonl`` whole.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

from sandbox.faults import fault_point
from sandbox.wandb_worker import INIT_FAILED, warning

#: bytes of W&B messages the trainer holds for a W&B process that lags (``SANDBOX_WANDB_QUEUE_BYTES``
#: overrides it), besides what the pipe itself holds; past that, rows are dropped from W&B
QUEUE_BYTES = 4 << 20
#: bytes the pipe to W&B's process holds (Linux; elsewhere the system's default)
PIPE_BYTES = 16 << 10

#: The sections a built-in plugin's metric names start with, as stable-baselines3 and CleanRL name
#: theirs (W&B draws one panel group a section):
#: ``train/`` the optimisation (losses, learning rate, gradient norm, updates);
#: ``rollout/`` what acting collected (episodic return and length, games, the replay buffer);
#: ``eval/`` evaluations (mean return, win rates, Elo, FID);
#: ``time/`` speeds (steps, images, games or simulations a second);
#: ``charts/`` pictures and videos (sample grids, gameplay).
#: ``step`` and ``time`` are the row's own keys; a third party's plugin may log any names.
SECTIONS = ("train", "rollout", "eval", "time", "charts")

#: names the built-in plugins logged before they were put in sections: ``compare --metric`` and
#: ``run.metrics.series`` asked for one of these (and not finding it) look for its new name
LEGACY_NAMES = {
    "loss": "train/loss", "lr": "train/learning_rate", "grad_norm": "train/grad_norm",
    "policy_loss": "train/policy_loss", "value_loss": "train/value_loss", "updates": "train/updates",
    "loss_d": "train/loss_d", "loss_g": "train/loss_g", "r1": "train/r1", "recon_nats": "train/recon_nats",
    "kl_nats": "train/kl_nats", "train_bits_per_dim": "train/bits_per_dim",
    "episodic_return": "rollout/episodic_return", "episodic_length": "rollout/episodic_length",
    "games": "rollout/games", "game_length": "rollout/game_length", "draws": "rollout/draws",
    "first_player_wins": "rollout/first_player_wins", "buffer": "rollout/buffer",
    "actors/lag": "rollout/actor_lag", "actors/lag_max": "rollout/actor_lag_max",
    "steps_per_second": "time/steps_per_second", "sims_per_s": "time/simulations_per_second",
    "games_per_s": "time/games_per_second", "moves_per_s": "time/moves_per_second", "train_share": "time/train_share",
    "fid": "eval/fid", "fid_floor": "eval/fid_floor", "precision": "eval/precision", "recall": "eval/recall",
    "sliced_wasserstein": "eval/sliced_wasserstein", "sliced_wasserstein_floor": "eval/sliced_wasserstein_floor",
    "elbo_nats": "eval/elbo_nats", "bits_per_dim": "eval/bits_per_dim", "elo": "eval/elo", "score/previous": "eval/score_previous",
}
_LEGACY_PREFIXES = {"elo/": "eval/elo/", "win_rate/": "eval/win_rate/", "loss_rate/": "eval/loss_rate/"}


def section_name(name: str) -> str:
    """A metric's name as the built-in plugins log it now (an older name moves to its section)."""
    if name in LEGACY_NAMES:
        return LEGACY_NAMES[name]
    for old, new in _LEGACY_PREFIXES.items():
        if name.startswith(old):
            return new + name[len(old):]
    return name


def in_section(section: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with every name put in ``section`` (``in_section("eval", {"fid": 3.1})`` →
    ``{"eval/fid": 3.1}``): a plugin's step or evaluation returns plain names, its log sections them."""
    return {f"{section}/{k}": v for k, v in metrics.items()}


def media_stem(name: str) -> str:
    """The file-name stem of a picture or video logged as ``name`` (``charts/samples`` → ``samples``)."""
    head, _, rest = name.partition("/")
    return (rest if head in SECTIONS and rest else name).replace("/", "_")


def _plain(value: Any) -> Any:
    """A metric value as a JSON number (tensors and NumPy scalars included)."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            return None
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f if math.isfinite(f) else None


def logged_in_to_wandb() -> bool:
    """True when this user has W&B credentials (an API key in the environment or in ~/.netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        import netrc

        hosts = netrc.netrc().hosts
    except (FileNotFoundError, OSError, Exception):  # netrc.NetrcParseError and friends
        return False
    return any("wandb" in host for host in hosts)


def offline_wandb_folders(run_dir: str | Path) -> list[Path]:
    """The W&B offline run folders of a run (``RUN/wandb/offline-run-<time>-<id>``, one per
    session: a resumed run has several) that ``wandb sync`` has not uploaded yet, oldest first."""
    run_dir = Path(run_dir)
    wandb_dir = run_dir / "wandb"
    if not wandb_dir.is_dir() or wandb_dir.is_symlink():
        return []
    run_id = None
    try:
        run_id = json.loads((run_dir / "run.json").read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        pass
    pattern = f"offline-run-*-{run_id}" if isinstance(run_id, str) and re.fullmatch(r"[A-Za-z0-9_-]+", run_id) else "offline-run-*"
    folders = []
    for folder in sorted(wandb_dir.glob(pattern)):  # the name starts with the time: sorted is oldest first
        if folder.is_symlink() or not folder.is_dir():
            continue
        logs = list(folder.glob("*.wandb"))
        if any(not log.with_suffix(".wandb.synced").exists() for log in logs):  # wandb sync leaves that marker
            folders.append(folder)
    return folders


def wandb_sync_line(run_dir: str | Path) -> str | None:
    """The line a run ends with when W&B ran offline: the folder its W&B run is in and the exact
    ``wandb sync`` command that uploads it (with a resumed run's earlier sessions, when those are
    not uploaded yet either). None when nothing waits to be uploaded: W&B was disabled or online."""
    folders = offline_wandb_folders(run_dir)
    if not folders:
        return None
    earlier = len(folders) - 1
    also = f" (and {earlier} earlier session{'s' * (earlier != 1)} of this run not uploaded yet)" if earlier else ""
    command = "wandb sync " + " ".join(shlex.quote(str(f)) for f in folders)
    return f"W&B ran offline: its files are in {folders[-1]}{also}; to upload them (after 'wandb login'): {command}"


def to_uint8_images(images: Any) -> np.ndarray:
    """N×C×H×W (or C×H×W, H×W) floats in [0, 1] or uint8 as N×H×W×3 uint8."""
    arr = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None, None]
    elif arr.ndim == 3:
        arr = arr[None]
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.shape[1] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = arr.transpose(0, 2, 3, 1)  # N×C×H×W -> N×H×W×C
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return arr[..., :3]


def image_grid(images: Any, ncols: int | None = None, pad: int = 2, scale: int | None = None) -> np.ndarray:
    """Images tiled into one H×W×3 uint8 picture, upscaled (nearest) when they are tiny."""
    arr = to_uint8_images(images)
    n, h, w, _ = arr.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    if scale is None:
        scale = max(1, 64 // max(h, w))
    arr = arr.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = h * scale, w * scale
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = arr[i]
    return grid


def scatter_picture(data: np.ndarray, samples: np.ndarray, title: str = "", size: int = 480) -> np.ndarray:
    """An H×W×3 uint8 plot of a 2-D set: held-out data in grey, samples in red, with axes, a legend
    and a title (matplotlib, drawn off-screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dpi = 100
    fig, ax = plt.subplots(figsize=(size / dpi, size / dpi), dpi=dpi)
    try:
        ax.scatter(data[:, 0], data[:, 1], s=3, c="#aaaaaa", alpha=0.6, linewidths=0, label=f"data (held out, {len(data)})")
        ax.scatter(samples[:, 0], samples[:, 1], s=3, c="#d62728", alpha=0.6, linewidths=0, label=f"samples ({len(samples)})")
        lo = np.minimum(data.min(0), np.percentile(samples, 1, axis=0)) - 0.2
        hi = np.maximum(data.max(0), np.percentile(samples, 99, axis=0)) + 0.2
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.legend(loc="upper right", fontsize=8, markerscale=3, framealpha=0.8)
        if title:
            ax.set_title(title, fontsize=10)
        fig.tight_layout()
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(fig)


def write_png(path: str | Path, picture: np.ndarray) -> Path:
    """Write an H×W×3 uint8 array as a PNG, atomically."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    Image.fromarray(picture).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 30.0) -> Path:
    """Write H×W×3 uint8 frames to ``path``: .mp4 through ffmpeg, .gif through Pillow."""
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    frames = [np.ascontiguousarray(f[..., :3]) for f in frames]
    if not frames:
        raise ValueError("no frames to write")
    if suffix == ".mp4":
        h, w = frames[0].shape[:2]
        ph, pw = (16 - h % 16) % 16, (16 - w % 16) % 16  # codecs want sizes divisible by 16
        if ph or pw:
            frames = [np.pad(f, ((0, ph), (0, pw), (0, 0))) for f in frames]
        with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=7, macro_block_size=16) as writer:
            for f in frames:
                writer.append_data(f)
    elif suffix == ".gif":
        from PIL import Image

        pics = [Image.fromarray(f) for f in frames]
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=int(1000 / fps), loop=0)
    else:
        raise ValueError(f"unsupported video format {suffix}")
    os.replace(tmp, path)
    return path


class Tracker:
    """Writes metrics to ``metrics.jsonl`` and, when on, to a W&B run under the run directory.

    W&B runs in a process of its own (:mod:`sandbox.wandb_worker`) that this one feeds one JSON
    line per row, image or video, through a pipe it never waits on: a row the pipe cannot take
    now waits in a bounded buffer here (:data:`QUEUE_BYTES`), and when that is full too (W&B slow,
    stopped or gone) the row is dropped from W&B only, with one warning line and a count when the
    run closes. ``metrics.jsonl`` is written here, whole, and flushed per line. ``close`` gives W&B
    :func:`close_seconds` to finish its run, then stops its process.
    """

    def __init__(self, run_dir: Path, config: dict[str, Any], wandb_cfg: Any, run_id: str, name: str,
                 resume_row: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        #: a resume's W&B row: the rows its checkpoint had sent (``wandb_row``), which W&B rewinds to
        self._resume_row = resume_row if isinstance(resume_row, int) and resume_row >= 0 else None
        self._row = 1  # the W&B row (wandb's ``_step``) of the next row, image or video
        self.media_dir = self.run_dir / "media"
        self._file = open(self.run_dir / "metrics.jsonl", "a", buffering=1)
        self._t0 = time.time()
        self._time_offset = 0.0
        self._worker: subprocess.Popen[bytes] | None = None
        self._pending = bytearray()  # bytes the pipe has not taken yet
        self.sent = 0  # rows, images and videos handed to W&B's process
        self.dropped = 0  # those dropped from W&B (never from metrics.jsonl)
        self._lagging = False
        self._gone = False
        self._queue_bytes = _env_number("SANDBOX_WANDB_QUEUE_BYTES", QUEUE_BYTES)
        if wandb_cfg.mode != "disabled":
            self._start_wandb(config, wandb_cfg, run_id, name)

    # -- W&B, in its own process -------------------------------------------------------------------
    @property
    def wandb_on(self) -> bool:
        """True while W&B's process is taking this run's rows."""
        return self._worker is not None

    @property
    def wandb_row(self) -> int | None:
        """The W&B row the next row gets (rows numbered from 0 across the sessions of the run), or
        None when W&B is off. A checkpoint records it, so that a resume rewinds W&B to it."""
        return self._row if (self._worker is not None or self._gone) else None

    def _start_wandb(self, config: dict[str, Any], cfg: Any, run_id: str, name: str) -> None:
        mode = cfg.mode
        if mode == "auto":
            mode = "online" if logged_in_to_wandb() else "offline"
        kwargs = {"project": cfg.project, "entity": cfg.entity, "group": cfg.group, "tags": list(cfg.tags) or None,
                  "name": name, "id": run_id, "resume": "allow", "mode": mode, "dir": str(self.run_dir),
                  "config": config, "reinit": "create_new"}
        # W&B rows are numbered from 1: a checkpoint written before any row (step 0) is at row 1, and a
        # resume from it rewinds to row 0, where nothing was logged
        self._row = max(1, self._rows_so_far())
        if self._resume_row:  # a resume from a checkpoint that recorded its W&B row: the same run, rewound to it
            # wandb's rewind (resume_from, 'run?_step=N': rows up to N kept, later ones archived) keeps the
            # rows the checkpoint had sent and drops the progress the resume throws away, as metrics.jsonl does
            del kwargs["resume"]
            kwargs["resume_from"] = f"{run_id}?_step={self._resume_row - 1}"
            self._row = self._resume_row
        try:
            self._worker = subprocess.Popen([sys.executable, "-m", "sandbox.wandb_worker"], stdin=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL, bufsize=0)
            assert self._worker.stdin is not None
            os.set_blocking(self._worker.stdin.fileno(), False)  # a full pipe raises instead of waiting
            if hasattr(fcntl, "F_SETPIPE_SZ"):  # a small pipe: what W&B has not taken waits here, counted
                try:
                    fcntl.fcntl(self._worker.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
                except OSError:
                    pass
        except OSError as exc:
            print(warning("start", exc), file=sys.stderr)
            self._worker = None
            return
        self._send({"op": "init", "kwargs": kwargs, "first_row": self._row}, droppable=False)

    def _rows_so_far(self) -> int:
        """How many W&B rows earlier sessions of this run can have logged (rows kept and discarded by
        a resume, media files): this session's rows are numbered after them, so that W&B's row
        counter never goes backwards when the sessions of an offline run are uploaded."""
        rows = 0
        for file in (self.run_dir / "metrics.jsonl", self.run_dir / DISCARDED):
            try:
                with open(file, "rb") as fh:
                    rows += sum(1 for _ in fh)
            except OSError:
                pass
        if self.media_dir.is_dir():
            rows += sum(1 for _ in self.media_dir.iterdir())
        return rows

    def _flush(self) -> bool:
        """Hand the pipe what it takes now, without waiting; False when W&B's process is gone."""
        assert self._worker is not None and self._worker.stdin is not None
        while self._pending:
            try:
                n = os.write(self._worker.stdin.fileno(), self._pending)
            except BlockingIOError:
                return True
            except (OSError, ValueError):  # BrokenPipeError: the W&B process is gone
                self._lost()
                return False
            del self._pending[:n]
        return True

    def _abandon(self) -> None:
        """Give up on what the pipe has not taken: its rows count as missed by W&B."""
        rows = self._pending.count(b"\n") - self._pending.count(b'{"op": "init"') - self._pending.count(b'{"op": "finish"')
        self.sent -= rows
        self.dropped += rows
        self._pending.clear()

    def _lost(self) -> None:
        """W&B's process ended before the run did: say so once (unless it already has) and go on."""
        worker, self._worker = self._worker, None
        self._abandon()
        if worker is None:
            return
        try:
            code = worker.wait(timeout=2)  # its end of the pipe closed: it has exited, or is about to
        except subprocess.TimeoutExpired:
            code = None
        _close_quietly(worker)
        if code == INIT_FAILED:  # a W&B run that could not start has said so itself; W&B is simply off
            self.sent = self.dropped = 0
        else:
            self._gone = True
            print(f"warning: W&B's process ended (exit status {code}); training goes on with metrics.jsonl only.",
                  file=sys.stderr, flush=True)

    def _send(self, message: dict[str, Any], droppable: bool = True) -> None:
        if droppable:  # every row, image or video has its W&B row, sent or dropped
            message["row"] = self._row
            self._row += 1
        if self._worker is None:
            if self._gone:  # W&B was on and is gone: these rows never reach it
                self.dropped += droppable
            return
        if self._pending and not self._flush():
            self.dropped += droppable
            return
        data = (json.dumps(message) + "\n").encode()
        if droppable and len(self._pending) + len(data) > self._queue_bytes:
            self.dropped += 1
            if not self._lagging:
                self._lagging = True
                print("warning: W&B is not keeping up (its process is slow or stopped): rows it cannot take are "
                      "dropped from W&B; training goes on, metrics.jsonl keeps every row.", file=sys.stderr, flush=True)
            return
        self.sent += droppable
        self._pending += data
        self._flush()

    # -- logging ----------------------------------------------------------------------------------
    def set_time_offset(self, seconds: float) -> None:
        """Seconds this run already trained before this process (a resumed run's clock goes on)."""
        self._time_offset = seconds

    def log(self, metrics: dict[str, Any], step: int) -> None:
        """One line of metrics.jsonl (flushed at once) and the same scalars to W&B, a row of their own
        there even when another row has the same step."""
        row = {"step": int(step), "time": round(self._time_offset + time.time() - self._t0, 3)}
        row.update({k: _plain(v) for k, v in metrics.items()})
        line = json.dumps(row) + "\n"
        fault_point("metrics.jsonl:half-row", lambda: (self._file.write(line[: len(line) // 2]), self._file.flush()))
        self._file.write(line)
        self._file.flush()
        self._send({"op": "log", "data": {k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float))}, "step": int(step)})

    def image(self, name: str, images: Any, step: int, caption: str | None = None) -> Path:
        """Save images (one, or a batch tiled as a grid) to media/ and log them to W&B."""
        picture = image_grid(images) if not (isinstance(images, np.ndarray) and images.ndim == 3 and images.shape[-1] == 3) else images
        path = write_png(self.media_dir / f"{media_stem(name)}-{step:09d}.png", picture)
        self._send({"op": "image", "name": name, "path": str(path), "caption": caption, "step": int(step)})
        return path

    def video(self, name: str, frames_or_path: Any, step: int, fps: float = 30.0) -> Path:
        """Save a video (frames, or an existing file) under media/ and log it to W&B."""
        if isinstance(frames_or_path, (str, Path)):
            path = Path(frames_or_path)
        else:
            path = write_video(self.media_dir / f"{media_stem(name)}-{step:09d}.mp4", frames_or_path, fps)
        self._send({"op": "video", "name": name, "path": str(path), "step": int(step)})
        return path

    def close(self, exit_code: int = 0) -> None:
        """Close metrics.jsonl, then give W&B's process :func:`close_seconds` to log what it was sent
        and finish its run; one still busy then is stopped (its files stay under wandb/). Says how
        many rows W&B missed, if any."""
        self._file.close()
        cut = False
        if self._worker is not None:
            self._send({"op": "finish", "exit_code": exit_code}, droppable=False)
        worker = self._worker
        if worker is not None:
            deadline = time.monotonic() + close_seconds()
            assert worker.stdin is not None
            while self._pending and time.monotonic() < deadline:
                select.select([], [worker.stdin], [], min(0.5, max(0.0, deadline - time.monotonic())))
                if not self._flush():
                    break
            worker = self._worker
        if worker is not None:
            self._worker = None
            self._abandon()
            _close_quietly(worker)
            try:
                code = worker.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                code, cut = None, True
                _stop(worker)
                print(f"warning: W&B did not finish its run within {close_seconds():g} s; stopped it. Its files are "
                      f"under {self.run_dir / 'wandb'}.", file=sys.stderr, flush=True)
            if code == INIT_FAILED:
                self.sent = self.dropped = 0
        if self.dropped:
            at_least = "at least " if cut else ""  # what the stopped process held was lost uncounted
            print(f"W&B missed {at_least}{self.dropped} of {self.sent + self.dropped} rows (it was slow, stopped or gone); "
                  "metrics.jsonl has them all.", file=sys.stderr, flush=True)


def _env_number(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


def close_seconds() -> float:
    """How long closing a run waits for W&B to finish (``SANDBOX_WANDB_CLOSE_SECONDS``, default 30)."""
    return _env_number("SANDBOX_WANDB_CLOSE_SECONDS", 30.0)


def _close_quietly(worker: subprocess.Popen[bytes]) -> None:
    try:
        if worker.stdin is not None:
            worker.stdin.close()
    except OSError:
        pass


def _stop(worker: subprocess.Popen[bytes]) -> None:
    """End W&B's process: SIGTERM (and SIGCONT, should it be stopped), then SIGKILL."""
    try:
        worker.terminate()
        if hasattr(signal, "SIGCONT"):
            worker.send_signal(signal.SIGCONT)
        worker.wait(timeout=3)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    except OSError:
        pass


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of a run's metrics.jsonl, as written; a torn last line (a killed process) is skipped."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = []
    if not path.exists():
        return rows
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


#: where a resume puts the rows of the progress it threw away
DISCARDED = "metrics.discarded.jsonl"


def rewind_metrics(run_dir: str | Path, step: int) -> int:
    """A resume from the checkpoint at ``step``: metrics.jsonl keeps the rows up to that step, so
    that its steps never go backwards; the rows logged after it (progress the resume throws away)
    and a torn last line move to metrics.discarded.jsonl. Returns how many rows moved."""
    from sandbox.files import atomic_write

    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return 0
    keep: list[str] = []
    drop: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row_step = json.loads(line).get("step")
        except (json.JSONDecodeError, AttributeError):
            row_step = None
        (keep if isinstance(row_step, int) and row_step <= step else drop).append(line)
    if not drop:
        return 0
    with open(Path(run_dir) / DISCARDED, "a") as fh:  # first the copy, then the rewrite: a kill loses nothing
        fh.write("".join(line + "\n" for line in drop))
        fh.flush()
        os.fsync(fh.fileno())
    atomic_write(path, "".join(line + "\n" for line in keep))
    return len(drop)

