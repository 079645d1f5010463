"""How long work reports its progress: a tqdm bar on a terminal, a plain line now and then into a
file or a pipe (where a bar's redraws, carriage returns and all, would fill the log with one endless
line), or nothing when asked for nothing."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def show_progress(progress: bool | None, stream: Any = None) -> bool:
    """Whether long work draws a progress bar: as asked (True, False), or, for None, when ``stream``
    (stderr by default) is a terminal or a Jupyter kernel's; never into a file or a pipe, where a
    bar's redraws would only fill a log."""
    if progress is not None:
        return bool(progress)
    stream = sys.stderr if stream is None else stream
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return type(stream).__module__.startswith("ipykernel")


class ProgressLines:
    """What a tqdm bar over ``total`` shows, written as a whole line at most every ``every`` seconds
    (and once at the end): for logs. Has the part of tqdm's interface the training loop uses
    (``n``, ``update``, ``set_description``, ``set_postfix``, ``close``)."""

    def __init__(self, total: int, desc: str, every: float = 60.0, file: TextIO | None = None) -> None:
        self.total = total
        self.desc = desc
        self.every = every
        self.file = file
        self.n = 0
        self.postfix: dict[str, Any] = {}
        self._start = time.monotonic()
        self._n_start: int | None = None  # where the first update put it (a resumed run's earlier share): the
        self._t_start = self._start       # rate counts from there
        self._last = self._start
        self._written: tuple[int, str] | None = None

    def update(self, k: int = 1) -> None:
        self.n += k
        if self._n_start is None:
            self._n_start, self._t_start = self.n, time.monotonic()
            return
        if time.monotonic() - self._last >= self.every:
            self.write()

    def set_description(self, desc: str, refresh: bool = False) -> None:
        self.desc = desc

    def set_postfix(self, postfix: dict[str, Any], refresh: bool = False) -> None:
        self.postfix = dict(postfix)

    def line(self) -> str:
        """The line as it would be written now."""
        from tqdm import tqdm

        elapsed = time.monotonic() - self._start
        share = self.n / self.total if self.total else 0.0
        text = f"{self.desc} {100 * share:3.0f}% [{tqdm.format_interval(elapsed)}"
        done = self.n - (self._n_start or 0)
        if 0 < done and self.n < self.total:
            rate = done / max(time.monotonic() - self._t_start, 1e-9)
            text += f"<{tqdm.format_interval((self.total - self.n) / rate)}"
        text += "]"
        if self.postfix:
            text += " " + ", ".join(f"{k}={v}" for k, v in self.postfix.items())
        return text

    def write(self) -> None:
        self._last = time.monotonic()
        self._written = (self.n, self.desc)
        print(self.line(), file=self.file if self.file is not None else sys.stderr, flush=True)

    def close(self) -> None:
        if self._written != (self.n, self.desc):
            self.write()
