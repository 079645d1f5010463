"""The W&B side of a run, in a process of its own: ``python -m sandbox.wandb_worker``.

The training process (``sandbox.tracking.Tracker``) writes one JSON message per line to this
process's standard input; this process imports wandb, starts the run and logs what it is sent, in
order. wandb's client work (protobuf, media files, its service) then runs on another core instead
of taking turns with training for the interpreter lock.

Messages: ``{"op": "init", "kwargs": {...}}`` first, then ``log`` (``data``, ``step``), ``image``
(``name``, ``path``, ``caption``, ``step``), ``video`` (``name``, ``path``, ``step``) and
``finish`` (``exit_code``). The end of input without ``finish`` (the trainer was killed) finishes
the W&B run as failed. Failures print one warning each to standard error; nothing here can stop
training.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from typing import Any


def warning(what: str, exc: BaseException | str) -> str:
    """The one line a failing W&B call prints (the same words from the trainer and this process)."""
    return f"warning: W&B {what} failed ({exc}); training goes on, metrics.jsonl is kept."


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the trainer's; this process ends with its input
    warned: set[str] = set()

    def warn(what: str, exc: BaseException | str) -> None:
        if what not in warned:
            warned.add(what)
            print(warning(what, exc), file=sys.stderr, flush=True)

    first = sys.stdin.readline()
    if not first:
        return 0
    run: Any = None
    try:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        kwargs = json.loads(first)["kwargs"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = wandb.init(**kwargs, settings=wandb.Settings(console="off", init_timeout=60, silent=True))
    except BaseException as exc:  # wandb raises several kinds; none may stop the run
        warn("init", exc)
    exit_code = 1
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg["op"]
        if op == "finish":
            exit_code = int(msg["exit_code"])
            break
        if run is None:
            continue
        try:
            if op == "log":
                run.log(msg["data"], step=msg["step"])
            elif op == "image":
                run.log({msg["name"]: wandb.Image(msg["path"], caption=msg["caption"])}, step=msg["step"])
            elif op == "video":
                run.log({msg["name"]: wandb.Video(msg["path"], format=os.path.splitext(msg["path"])[1].lstrip("."))},
                        step=msg["step"])
        except Exception as exc:
            warn({"log": "logging", "image": "image logging", "video": "video logging"}.get(op, op), exc)
    if run is not None:
        try:
            run.finish(exit_code=exit_code)
        except Exception as exc:
            warn("finish", exc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
