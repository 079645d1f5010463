"""The processes of one run: one, or several under ``accelerate launch`` (or ``torchrun``).

A launcher starts the same command in N processes and tells each its place through the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). They
train one run together (data parallel: each its own batches, gradients averaged), so:

- the main process (rank 0) alone writes: the run directory, config.yaml, run.json,
  metrics.jsonl, checkpoints, media, W&B;
- what depends on the moment or on files, the main process decides and the others follow
  (:meth:`Processes.decide`): the default run directory's name holds a timestamp, and whether
  ``out=`` is a run to resume must be read before the main process writes into it;
- they stop at the same step (:meth:`Processes.agree`): a process that left the loop alone would
  leave the others waiting in the gradients' all-reduce.

The process group is torch.distributed's, started here (gloo on the CPU, NCCL on CUDA GPUs);
accelerate finds it started and uses it. Nothing here runs for a single process.
"""

from __future__ import annotations

import os
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class Processes:
    """This process's place among the processes of a run (``rank`` of ``world``)."""

    def __init__(self, rank: int = 0, world: int = 1, local_rank: int = 0) -> None:
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self._group: Any = None

    @classmethod
    def from_env(cls) -> Processes:
        """The place a launcher gave this process (``RANK``, ``WORLD_SIZE``); one process otherwise."""
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            return cls()
        return cls(rank, world, local) if world > 1 else cls()

    @property
    def main(self) -> bool:
        """Whether this is the process that writes (rank 0)."""
        return self.rank == 0

    @property
    def several(self) -> bool:
        return self.world > 1

    def start(self, device: str = "auto") -> None:
        """Join the process group (gloo on the CPU, NCCL where ``device`` is a CUDA GPU) unless
        one is already started; the core's own decisions always travel over gloo."""
        if not self.several:
            return
        import torch
        import torch.distributed as dist

        cuda = device != "cpu" and not device.startswith("mps") and torch.cuda.is_available()
        if not dist.is_initialized():
            if cuda:
                torch.cuda.set_device(self.local_rank % torch.cuda.device_count())
            dist.init_process_group(backend="nccl" if cuda else "gloo", rank=self.rank, world_size=self.world)
        self._group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD

    def decide(self, choose: Callable[[], T]) -> T:
        """What ``choose()`` returns on the main process, on every process (an exception it
        raises is raised on every process). Also a barrier: no process goes on before the main
        process has chosen, so the choice can read files the main process writes next."""
        if not self.several:
            return choose()
        import torch.distributed as dist

        mine: Any = None
        if self.main:
            try:
                mine = ("ok", choose())
            except Exception as exc:  # every process raises it, none waits for the others
                mine = ("error", exc)
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, mine, group=self._group)
        kind, value = gathered[0]
        if kind == "error":
            raise value
        return value

    def agree(self, code: int) -> int:
        """The largest of every process's ``code`` (e.g. a reason to stop, 0 for none)."""
        if not self.several:
            return code
        import torch
        import torch.distributed as dist

        t = torch.tensor([int(code)], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self._group)
        return int(t.item())
