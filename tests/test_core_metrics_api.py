"""run.metrics and sandbox.metrics(run_dir): the rows of metrics.jsonl, one metric as arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sandbox
from sandbox.errors import ConfigError, RunDirError


def test_a_runs_metrics_from_the_run_and_from_its_folder(tmp_path: Path) -> None:
    run = sandbox.train(None, ["agent=reinforce", "env=CartPole-v1", "steps=600", "agent.eval_every=300", "agent.eval_episodes=2",
                               "agent.eval_video=false", "wandb.mode=disabled", f"out={tmp_path / 'r'}"], progress=False)
    rows = [__import__("json").loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    for m in (run.metrics, sandbox.metrics(tmp_path / "r")):
        assert list(m) == rows
        assert "eval/mean_return" in m.names and "step" not in m.names
        steps, values = m.series("eval/mean_return")
        want = [(r["step"], r["eval/mean_return"]) for r in rows if "eval/mean_return" in r]
        assert steps.dtype == np.float64 and steps.tolist() == [float(s) for s, _ in want] and values.tolist() == [v for _, v in want]
        assert len(want) >= 2 and np.all(np.diff(steps) > 0)
        times, _ = m.series("eval/mean_return", x="time")
        assert np.all(np.diff(times) >= 0)
        assert m.last("eval/mean_return") == want[-1][1]
    with pytest.raises(ConfigError, match="logged no metric 'eval/mean_retrn'; did you mean 'eval/mean_return'"):
        run.metrics.series("eval/mean_retrn")
    with pytest.raises(ConfigError, match="x='steps' must be"):
        run.metrics.series("eval/mean_return", x="steps")
    with pytest.raises(RunDirError, match="no run directory"):
        sandbox.metrics(tmp_path / "nothing")
