"""Sizes that cannot fit: refuse them with one sentence, before anything is allocated.

A network of a billion hidden units, a replay buffer of a trillion transitions or a billion games in
lockstep would fail deep inside torch or NumPy (or, with the kernel overcommitting, crawl and be
killed). The plugins ask here first, with the bytes a setting would take, and get a sentence that
names the size it would need and the memory there is.
"""

from __future__ import annotations

from typing import Any

from sandbox.errors import ConfigError

#: bytes a trained parameter takes in all: its float32 value, its gradient and Adam's two moments
TRAINED_PARAMETER_BYTES = 4 * 4


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (Linux's MemAvailable, else psutil's), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # no psutil, or it cannot read this system
        return None


def gib(n: float) -> str:
    """Bytes as GiB, the way the sentences show them (at least one decimal, thousands separated)."""
    return f"{n / 2**30:,.1f} GiB"


def check_fits(need: float, what: str, hint: str) -> None:
    """Refuse ``what`` (e.g. "backbone.hidden=[1000000000]") when its ``need`` bytes exceed the
    memory available, with a sentence that ends in ``hint`` (what would fit)."""
    free = available_memory()
    if free is None or need <= free:
        return
    raise ConfigError(f"{what} needs about {gib(need)} of memory, more than the {gib(free)} available here; {hint}")


def module_bytes(make: Any) -> int | None:
    """Bytes that training the module ``make()`` builds would take (its parameters with their
    gradients and Adam's moments, and its buffers), counted by building it on torch's meta device,
    where nothing is allocated; None when it cannot be built there (then nothing is checked)."""
    import torch

    from sandbox.errors import SandboxError

    try:
        with torch.device("meta"):
            module = make()
    except SandboxError:
        raise  # a combination that makes no sense: the same sentence the real build would give
    except Exception:  # noqa: BLE001 - code that cannot run on the meta device: the real build decides
        return None
    if not isinstance(module, torch.nn.Module):
        return None
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() * b.element_size() for b in module.buffers())
    return params * TRAINED_PARAMETER_BYTES + buffers


def check_module_fits(make: Any, what: str, hint: str = "choose smaller layers.") -> None:
    """Refuse a module too large to train here, before it is built (see :func:`module_bytes`)."""
    need = module_bytes(make)
    if need is not None:
        check_fits(need, what, hint)
