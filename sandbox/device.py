"""The device a run trains on, and the seeds it starts from."""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from sandbox.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an unavailable device is a ConfigError."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name} was asked for, but this machine has no CUDA GPU; use device=auto or device=cpu.")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"device={name} does not exist; this machine has {torch.cuda.device_count()} GPU(s).")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device=mps was asked for, but MPS is not available here; use device=auto or device=cpu.")
    return torch.device(name)


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bfloat16 matrix products and convolutions beat float32 on ``device``: a CUDA GPU
    that has them (Ampere and later), or a CPU with AMX or AVX512-BF16 (oneDNN's bf16 kernels;
    elsewhere they are emulated and slower than float32)."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
        try:
            return any(bool(check()) for check in checks if check is not None)
        except RuntimeError:  # torch's CPU probe unavailable on this build: assume the slow path
            return False
    return False


#: torch's CPU thread count when the first run of this process started (see default_threads)
_default_threads: int | None = None


def default_threads() -> int:
    """torch's CPU thread count as this process had it before any run set its own (the machine's
    cores, unless the caller chose otherwise before the first run)."""
    global _default_threads
    if _default_threads is None:
        import torch

        _default_threads = torch.get_num_threads()
    return _default_threads


def set_threads(threads: int) -> None:
    """Use ``threads`` torch CPU threads (0: :func:`default_threads`). A run sets its count
    itself, so that it computes the same on the CPU whatever an earlier run in the same process
    set: the float sums of a convolution or a matrix product depend on how many threads share them."""
    import torch

    n = threads if threads > 0 else default_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (envs are seeded by the plugins with the same seed)."""
    import numpy as np
    import torch

    default_threads()  # note the process's thread count before a run sets its own
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def isolated_rng() -> Iterator[None]:
    """Run the block with Python's, NumPy's and torch's global generators (CPU and CUDA) put back
    as they were when it ends: work on the side of training (an evaluation, a sample grid, a
    cached metric network trained on first use) then leaves training's random stream where it
    was, so that a run gives the same result whether that work ran, was cut short by
    ``max_minutes``, or found its cache filled."""
    import numpy as np
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
