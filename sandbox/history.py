"""A run's metrics from Python: the rows of its ``metrics.jsonl``, and any one metric as arrays.

::

    import sandbox
    m = sandbox.metrics("runs/ppo-cartpole")     # or run.metrics, for a Run that sandbox.train returned
    steps, returns = m.series("eval/mean_return")
    m.names                                      # every metric it logged
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sandbox.errors import ConfigError


class Metrics(list):
    """The rows of a run's ``metrics.jsonl``, in order (``{"step": ..., "time": ..., <metric>: ...}``)."""

    def __init__(self, rows: list[dict[str, Any]], run_dir: Path | None = None) -> None:
        super().__init__(rows)
        self.run_dir = run_dir

    @property
    def names(self) -> list[str]:
        """Every numeric metric the run logged (not ``step`` or ``time``), sorted."""
        return sorted({k for r in self for k, v in r.items()
                       if k not in ("step", "time") and isinstance(v, (int, float)) and not isinstance(v, bool)})

    def series(self, name: str, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
        """``(x, values)`` of one metric as float arrays, over the rows that logged it; ``x`` is
        ``step`` (the default) or ``time`` (the run's seconds). An unknown name is one sentence
        naming the closest ones."""
        if x not in ("step", "time"):
            raise ConfigError(f"x={x!r} must be 'step' or 'time'.")
        from sandbox.tracking import section_name

        if name not in self.names:
            name = section_name(name)  # a name from before the sections still works
        rows = [r for r in self if isinstance(r.get(name), (int, float)) and not isinstance(r.get(name), bool)]
        if not rows:
            from sandbox.registry import did_you_mean

            where = f"{self.run_dir} " if self.run_dir is not None else "the run "
            raise ConfigError(f"{where}logged no metric {name!r}; {did_you_mean(name, self.names)}")
        return (np.array([float(r.get(x, 0.0)) for r in rows]), np.array([float(r[name]) for r in rows]))

    def last(self, name: str) -> float:
        """The last logged value of one metric."""
        return float(self.series(name)[1][-1])


def metrics(run_dir: str | Path) -> Metrics:
    """The metrics of the run in ``run_dir`` (a folder made by ``sandbox train``, or a sweep's trial)."""
    from sandbox.files import check_run_dir
    from sandbox.tracking import read_metrics

    run_dir = check_run_dir(run_dir)
    return Metrics(read_metrics(run_dir), run_dir)
