"""The W&B side of a run, in a process of its own: ``python -m sandbox.wandb_worker``.

The training process (``sandbox.tracking.Tracker``) writes one JSON message per line to this
process's standard input; this process imports wandb, starts the run and logs what it is sent, in
order. wandb's client work (protobuf, media files, its service) then runs on another core instead
of taking turns with training for the interpreter lock. The trainer never waits for this process:
what it cannot take in time is dropped from W&B there (``metrics.jsonl`` keeps every row).

The run's ``job_type`` is ``train`` (``sweep`` in a trial of ``sandbox sweep``), its config
records the versions of the sandbox, torch, SB3, diffusers, Gymnasium, ale-py and wandb, and a run
that ends well logs its best checkpoint as a model artifact (by reference, so ``wandb sync``
uploads it).

Messages: ``{"op": "init", "kwargs": {...}, "first_row": N}`` first, then ``log`` (``data``,
``step``), ``image`` (``name``, ``path``, ``caption``, ``step``), ``video`` (``name``, ``path``,
``step``) and ``finish`` (``exit_code``). The end of input without ``finish`` (the trainer was
killed) finishes the W&B run as failed. Failures print one warning each to standard error; nothing
here can stop training. When W&B cannot start (no login, a server that cannot be reached: given
up on within seconds) this process says so in one line and exits with :data:`INIT_FAILED`.

Every message is a W&B row of its own: wandb's own counter (``_step``) counts rows, and the run's
step is the metric ``step``, the x-axis of every other metric (``define_metric``). Several rows
at one step (episodes that end in the same env step) are then all kept, none overwrites another.

A resumed run is the same W&B run (one id). Rows are numbered from 1, and each checkpoint records
the number of the next one (``wandb_row``): the resume rewinds the W&B run to the row before it (``resume_from="ID?_step=N"``,
which an offline run records and ``wandb sync`` applies), so that the rows of the progress the
resume threw away leave W&B's history as they leave ``metrics.jsonl``, and the run's ``step``
never goes backwards there either. A server that cannot rewind gets ``resume="allow"`` instead,
with a note; a checkpoint without ``wandb_row`` (W&B was off, or an older run) resumes that way too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import warnings
from typing import Any
from urllib.parse import urlsplit

#: exit status of a worker whose W&B run could not start (it has already said so in one line)
INIT_FAILED = 3
#: seconds to reach the W&B server before an online run is given up on
CONNECT_SECONDS = 3.0
#: seconds wandb.init may take once the server answered
INIT_SECONDS = 30.0


def warning(what: str, exc: BaseException | str) -> str:
    """The one line a failing W&B call prints (the same words from the trainer and this process)."""
    return f"warning: W&B {what} failed ({exc}); training goes on, metrics.jsonl is kept."


def check_reachable(base_url: str | None, seconds: float = CONNECT_SECONDS) -> None:
    """Raise ConnectionError when the W&B server at ``base_url`` does not accept a TCP connection
    within ``seconds`` (wandb itself would retry for its whole init timeout). Skipped behind a proxy,
    where a direct connection says nothing."""
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return
    url = urlsplit(base_url or "https://api.wandb.ai")
    host = url.hostname or "api.wandb.ai"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach the W&B server {url.scheme}://{host}:{port} ({exc})") from None


#: the packages whose versions every W&B run records in its config (``versions``)
VERSIONED = ("sandbox", "torch", "stable-baselines3", "diffusers", "gymnasium", "ale-py", "wandb")


def versions() -> dict[str, str]:
    """The installed versions of :data:`VERSIONED` (read from package metadata: nothing is imported)."""
    from importlib import metadata

    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def model_artifact(run: Any, run_dir: str) -> None:
    """Log the run's best checkpoint (its latest when it has no best) and ``config.yaml`` as a W&B
    model artifact, by reference (``file://``): nothing is copied while offline, and ``wandb sync``
    uploads the reference. Only a checkpoint pair the pointer names inside ``checkpoints/`` is taken."""
    import wandb

    from sandbox.files import CHECKPOINT_STEM

    checkpoints = os.path.join(run_dir, "checkpoints")
    for which in ("best", "latest"):
        pointer = os.path.join(checkpoints, f"{which}.json")
        if not os.path.isfile(pointer) or os.path.islink(pointer):
            continue
        with open(pointer, "rb") as fh:
            stem = json.loads(fh.read(1 << 16)).get("file")
        if not isinstance(stem, str) or not CHECKPOINT_STEM.match(stem):
            return
        files = [os.path.join(checkpoints, f"{stem}{suffix}") for suffix in (".safetensors", ".json")] + [os.path.join(run_dir, "config.yaml")]
        if not all(os.path.isfile(f) and not os.path.islink(f) for f in files):
            return
        artifact = wandb.Artifact(f"model-{run.id}", type="model", metadata={"checkpoint": stem, "pointer": which})
        for f in files:
            artifact.add_reference("file://" + os.path.abspath(f), name=os.path.basename(f))
        run.log_artifact(artifact, aliases=[which, "latest"] if which == "best" else ["latest"])
        return


def _start(message: dict[str, Any]) -> Any:
    import wandb

    kwargs = dict(message["kwargs"])
    # job_type by W&B's conventions: train, or sweep for a trial of 'sandbox sweep' (which sets it)
    kwargs.setdefault("job_type", os.environ.get("SANDBOX_JOB_TYPE") or "train")
    kwargs["config"] = {**(kwargs.get("config") or {}), "versions": versions()}
    if kwargs.get("mode") == "online":
        check_reachable(os.environ.get("WANDB_BASE_URL") or wandb.Settings().base_url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        settings = wandb.Settings(console="off", init_timeout=INIT_SECONDS, silent=True)
        try:
            run = wandb.init(**kwargs, settings=settings)
        except Exception as exc:
            if "resume_from" not in kwargs:
                raise
            # rewind is a preview feature a W&B server may not offer: continue the same run without it
            kwargs.pop("resume_from")
            print(f"note: W&B could not rewind run {kwargs.get('id')} to the checkpoint ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__}); "
                  "it continues the same run, where the rows logged after the checkpoint stay.", file=sys.stderr, flush=True)
            run = wandb.init(**kwargs, resume="allow", settings=settings)
    run.define_metric("step")
    run.define_metric("*", step_metric="step")  # every metric is plotted against the run's step
    return run


def log_evaluation(run_dir: str, config: Any, result: dict[str, Any], options: dict[str, Any], step: int | None = None,
                   mode: str = "offline") -> str:
    """``sandbox eval RUN --wandb``: the evaluation as a W&B run of its own, ``job_type`` ``eval``, in
    the trained run's group (its name when it has none), with the run's config, the options of the
    evaluation and its numbers under ``eval/`` (a row at ``step``, the checkpoint's, and the summary); its
    files under the run's ``wandb/``; ``mode`` online or offline. Returns the line that says where it went."""
    cfg = config.wandb
    name = os.path.basename(os.path.abspath(run_dir))
    kwargs = {"project": cfg.project, "entity": cfg.entity, "group": cfg.group or name, "tags": [*cfg.tags, "eval"],
              "name": f"{name}-eval", "mode": mode, "dir": str(run_dir), "job_type": "eval", "reinit": "create_new",
              "config": {**config.to_dict(), "evaluation": options}}
    numbers = {f"eval/{k}": v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    run = _start({"kwargs": kwargs})
    try:
        run.log({**numbers, **({"step": int(step)} if step is not None else {})})
        run.summary.update(numbers)
        where = f"{run.dir}" if mode == "offline" else getattr(run, "url", "") or run.id
    finally:
        run.finish()
    return f"W&B ({mode}, job_type eval, group {kwargs['group']}): {where}"


def _messages() -> Any:
    """The messages on standard input; a line that is not whole JSON (a trainer cut off) is skipped."""
    for line in sys.stdin.buffer:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict):
            yield msg


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's; this process ends with its input
    os.environ.setdefault("WANDB_SILENT", "true")
    warned: set[str] = set()

    def warn(what: str, exc: BaseException | str) -> None:
        if what not in warned:
            warned.add(what)
            print(warning(what, exc), file=sys.stderr, flush=True)

    messages = _messages()
    first = next(messages, None)
    if first is None:
        return 0
    try:
        import wandb

        run = _start(first)
    except BaseException as exc:  # wandb raises several kinds; none may stop the run
        warn("init", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return INIT_FAILED
    row = max(int(first.get("first_row") or 0), int(getattr(run, "starting_step", 0) or 0))
    exit_code = 1
    for msg in messages:
        op = msg.get("op")
        if op == "finish":
            exit_code = int(msg.get("exit_code", 0))
            break
        try:
            step = {"step": msg["step"]}
            # the trainer numbers the rows (dropped ones leave a gap), so that a checkpoint knows its W&B row
            at = max(row, int(msg.get("row", row)))
            if op == "log":
                run.log({**msg["data"], **step}, step=at)
            elif op == "image":
                run.log({msg["name"]: wandb.Image(msg["path"], caption=msg["caption"]), **step}, step=at)
            elif op == "video":
                video = wandb.Video(msg["path"], format=os.path.splitext(msg["path"])[1].lstrip("."))
                run.log({msg["name"]: video, **step}, step=at)
            else:
                continue
            row = at + 1
        except Exception as exc:
            warn({"log": "logging", "image": "image logging", "video": "video logging"}.get(op, str(op)), exc)
    if exit_code == 0 and first["kwargs"].get("dir"):
        try:
            model_artifact(run, first["kwargs"]["dir"])
        except Exception as exc:
            warn("model artifact", exc)
    try:
        run.finish(exit_code=exit_code)
    except Exception as exc:
        warn("finish", exc)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (KeyboardInterrupt, BrokenPipeError):  # nothing W&B does at exit prints a traceback
        os._exit(1)
