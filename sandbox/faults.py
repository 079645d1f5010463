"""Planted kill points: where a test kills the process on purpose, inside a write window.

Every place that writes a run directory calls :func:`fault_point` with a name such as
``"config.yaml:half-written"`` or ``"checkpoint:pair-written"``. Normally that is one test of a
module constant and nothing more. With the environment variable ``SANDBOX_FAULT=NAME`` (or
``NAME@N``: at the N-th time the point is passed, counting from 1) the process SIGKILLs itself
there, as a power cut or the OOM killer would, with no ``finally`` run and no buffer flushed:
tests plant kills where they want them instead of hoping a timer hits them.

The points, for a file written by :func:`sandbox.files.atomic_write` (``FILE`` is its name, with a
checkpoint's ``step-<12 digits>`` written ``step``: ``config.yaml``, ``run.json``,
``step.safetensors``, ``step.json``, ``latest.json``, ``best.json``, ``metrics.jsonl``):

- ``FILE:half-written``: the temporary file holds half the bytes;
- ``FILE:written``: the temporary file is whole and synced, not yet renamed;
- ``FILE:renamed``: the file is in place, its folder not yet synced.

And: ``run-dir:created`` (the new run directory exists, empty), ``checkpoint:pair-written`` (the
tensors and JSON of a checkpoint are in place, ``latest.json`` still names the one before),
``checkpoint:pointed`` (``latest.json`` names the new pair, old pairs not yet pruned),
``metrics.jsonl:half-row`` (half a row appended), ``pipeline:written`` (a diffusers pipeline
export whole in its temporary folder), ``pipeline:removed`` (the previous pipeline folder
deleted, the new one not yet renamed into place).
"""

from __future__ import annotations

import os
import signal
from typing import Callable

#: the environment variable that plants a kill point
ENV = "SANDBOX_FAULT"


def _plan(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    name, _, nth = spec.partition("@")
    return name, max(1, int(nth)) if nth.isascii() and nth.isdigit() else 1


_PLAN = _plan(os.environ.get(ENV))
_hits = 0


def fault_point(name: str, before: Callable[[], object] | None = None) -> None:
    """Kill this process here (SIGKILL) when ``SANDBOX_FAULT`` plants ``name`` and this is the
    planted hit; ``before`` is called first (to leave half-written bytes behind). Otherwise nothing."""
    global _hits
    if _PLAN is None or _PLAN[0] != name:
        return
    _hits += 1
    if _hits < _PLAN[1]:
        return
    if before is not None:
        before()
    os.kill(os.getpid(), signal.SIGKILL)
