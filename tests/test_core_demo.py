"""sandbox demo: a demo run that its max_minutes guard stopped well before its step budget (a busy
machine) gets a note saying its pictures show a model that learned little."""

from __future__ import annotations

from pathlib import Path

import sandbox
from sandbox.demo import cut_short

TINY = ["agent=reinforce", "env=CartPole-v1", "wandb.mode=disabled", "agent.eval_every=0", "backbone.hidden=[8]"]


def test_a_run_cut_short_by_its_time_guard_gets_a_note(tmp_path: Path) -> None:
    cut = sandbox.train(None, [*TINY, "steps=50000000", "max_minutes=0.002", f"out={tmp_path / 'demo-cut'}"], progress=False)
    assert cut.stop_reason == "time" and cut.step < 50_000_000
    note = cut_short(cut)
    assert note is not None and note.startswith("note: demo-cut stopped at step") and "of 50,000,000" in note
    assert "--only cut" in note and "load average" in note


def test_runs_that_spend_their_budget_or_train_by_time_get_none(tmp_path: Path) -> None:
    whole = sandbox.train(None, [*TINY, "steps=200", f"out={tmp_path / 'demo-whole'}"], progress=False)
    assert whole.stop_reason == "steps" and cut_short(whole) is None
    by_time = sandbox.train(None, [*TINY, "steps=1000000000", "max_minutes=0.002", f"out={tmp_path / 'demo-time'}"], progress=False)
    assert by_time.stop_reason == "time" and cut_short(by_time) is None  # no step budget: the preset trains for its minutes
