"""The Pong benchmark's table of levers (benchmarks/agents_pong_learning.py --levers): every lever's
results file side by side, the preset's first, a miss shown as the score it reached."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks.agents_pong_learning as bench  # noqa: E402


def result(overrides: list[str], steps: int, score: float | None) -> dict:
    final = {"mean_return": score, "std_return": 2.0, "episodes": 10} if score is not None else None
    return {"preset": "ppo-pong", "overrides": overrides, "minutes_asked": 60.0, "env_steps": steps,
            "mean_steps_per_second": steps / 3600, "best_eval": 15.0, "last_10_episodes_mean": 8.5,
            **({"final_eval_10_episodes": final} if final else {})}


def test_the_levers_table_puts_every_lever_side_by_side(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench, "RESULTS_DIR", tmp_path)
    (tmp_path / "agents_pong_learning_ent-coef-0.001.json").write_text(json.dumps(result(["agent.ent_coef=0.001"], 3_100_000, 18.5)))
    (tmp_path / "agents_pong_learning.json").write_text(json.dumps(result([], 2_400_000, None)))
    (tmp_path / "agents_pong_learning_anneal.json").write_text(json.dumps(result(["agent.anneal_over=budget"], 3_200_000, 9.4)))
    (tmp_path / "agents_pong_learning_broken.json").write_text("{not json")
    bench.levers_table()
    rows = json.loads((tmp_path / "agents_pong_levers.json").read_text())["levers"]
    assert [r["overrides"] for r in rows] == [[], ["agent.anneal_over=budget"], ["agent.ent_coef=0.001"]]
    assert [r["passed"] for r in rows] == [False, False, True]
    assert rows[1]["best_checkpoint_10_episodes"] == 9.4 and rows[0]["best_checkpoint_10_episodes"] is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and "10-episode score" in lines[0]
    assert lines[2].startswith("agent.anneal_over=budget") and "9.4 ± 2.0" in lines[2] and "3200000" in lines[2]
    assert lines[1].rstrip().endswith("-")  # no 10-episode evaluation in that file: a dash, not a zero


def test_ctrl_c_during_training_ends_with_one_sentence_and_writes_no_results(tmp_path: Path) -> None:
    """Ctrl-C reaches the training too (one process group): it writes its checkpoint, and the
    benchmark says so in one sentence instead of a traceback, evaluating and writing nothing."""
    import os
    import signal
    import subprocess
    import time

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "pong"
    tiny = ["agent.n_envs=2", "agent.n_steps=16", "agent.batch_size=32", "agent.n_epochs=1", "backbone.hidden=32",
            "agent.bf16=false"]
    results = root / "benchmarks" / "results" / f"agents_pong_learning{bench.lever_suffix(tiny)}.json"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen([sys.executable, str(root / "benchmarks" / "agents_pong_learning.py"), "--minutes", "30", "--out", str(out),
                             "--eval-every", "1000000", *tiny], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 180
        while not (out / "metrics.jsonl").exists() or len((out / "metrics.jsonl").read_text().splitlines()) < 2:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
        _, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert "training stopped by Ctrl-C" in stderr and "Traceback" not in stderr, stderr[-2000:]
    assert not results.exists()
    assert list((out / "checkpoints").glob("step-*.safetensors")), "the run keeps its checkpoint"
