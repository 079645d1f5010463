"""Progress of a training: a bar on a terminal, whole lines into a log, nothing when asked for nothing."""

from __future__ import annotations

import io
import time

from sandbox.progress import ProgressLines
from tests.conftest import run_cli

TINY = ["model=tiny/regress", "wandb.mode=disabled", "backbone.hidden=[8]"]


def test_lines_carry_what_the_bar_shows() -> None:
    log = io.StringIO()
    lines = ProgressLines(1000, "r step 0", every=0.0, file=log)
    lines.update(400)  # a resumed run's first update brings it to where it stood: no line, no rate yet
    assert log.getvalue() == ""
    time.sleep(0.05)
    lines.set_description("r step 120")
    lines.set_postfix({"train/loss": "0.25"})
    lines.update(100)
    lines.close()
    written = log.getvalue().splitlines()
    assert len(written) == 1 and "\r" not in log.getvalue()  # close() adds nothing when the last state is written
    assert written[0].startswith("r step 120  50% [") and "<" in written[0] and written[0].endswith("] train/loss=0.25")
    # the time left comes from this sitting's rate (100 in ~0.05 s, so 500 more in well under a minute)
    left = written[0].split("<")[1].split("]")[0]
    assert left.startswith("00:0"), left


def test_lines_are_spaced_and_the_last_one_is_written_on_close() -> None:
    log = io.StringIO()
    lines = ProgressLines(10, "r", every=3600.0, file=log)
    for _ in range(10):
        lines.update(1)
    assert log.getvalue() == ""  # within the hour: nothing yet
    lines.close()
    assert log.getvalue().splitlines() == ["r 100% [00:00]"]


def test_train_into_a_pipe_writes_lines_not_a_bar(tmp_path) -> None:
    out = run_cli("train", *TINY, "steps=30", f"out={tmp_path / 'r'}")
    assert out.returncode == 0, out.stderr
    assert "\r" not in out.stderr  # no redraws in a log
    last = [line for line in out.stderr.splitlines() if line.startswith("r step")]
    assert last and last[-1].startswith("r step 30 100% ["), out.stderr
    quiet = run_cli("train", *TINY, "steps=30", f"out={tmp_path / 'q'}", "--no-progress")
    assert quiet.returncode == 0 and "q step" not in quiet.stderr
