"""The Go benchmark's own arithmetic (benchmarks/alphazero_gnugo.py): the agent's margin read from
GNU Go's results and counted on the last board, the Wilson interval of a win rate, and the curve
drawn from a results file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.alphazero_gnugo import ahead_by_board, board_margin, draw_curve, margin, mean_margin, wilson  # noqa: E402


def game(result: str, agent: str) -> dict:
    winner = result[0] if result[:1] in ("B", "W") else None
    return {"result": result, "agent": agent, "won": winner == agent, "lost": winner not in (agent, None)}


def test_margin_is_the_agents_points_minus_gnugos() -> None:
    assert margin(game("B+3.5", "B")) == 3.5
    assert margin(game("B+73.5", "W")) == -73.5
    assert margin(game("W+Resign", "B")) is None  # a resignation has no score
    assert margin({"result": "void", "won": False, "lost": False}) is None
    games = [game("B+3.5", "B"), game("W+10.5", "B"), game("B+Resign", "W")]
    assert mean_margin(games) == pytest.approx((3.5 - 10.5) / 2)
    assert mean_margin([game("W+Resign", "B")]) is None


def test_wilson_interval() -> None:
    lo, hi = wilson(0, 40)
    assert lo == 0.0 and hi == pytest.approx(0.0876, abs=1e-3)  # none of 40: up to 8.8% is still likely
    lo, hi = wilson(20, 40)
    assert lo == pytest.approx(1 - hi) and 0.35 < lo < 0.36
    assert wilson(0, 0) == (0.0, 1.0)


def test_the_curve_is_drawn_from_the_points_with_training_minutes(tmp_path: Path) -> None:
    def cell(level: int, win: int) -> dict:
        return {"level": level, "games": 40, "win": win, "loss": 40 - win, "draw": 0, "win_rate": win / 40}

    result = {"opponent": "GNU Go 3.8", "komi": 7.5, "levels": [1, 10], "games_per_cell": 40,
              "points": [{"label": f"run @ {m} min", "train_minutes": m, "levels": [cell(1, w), cell(10, 0)]} for m, w in ((60, 2), (120, 9))]}
    path = tmp_path / "curve.png"
    assert draw_curve(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    exported = {**result, "points": [{**p, "train_minutes": None} for p in result["points"]]}
    assert not draw_curve(exported, tmp_path / "none.png") and not (tmp_path / "none.png").exists()


def test_the_board_count_replays_the_record_and_counts_stones_as_they_stand() -> None:
    """One black stone and two passes: Black's area is the whole board, 81 - 7.5 for Black; an empty
    board gives White the komi; a dead-looking white stone in Black's area still counts for White."""
    assert board_margin({"record": "E5 pass pass", "agent": "B"}, 7.5) == 73.5
    assert board_margin({"record": "E5 pass pass", "agent": "W"}, 7.5) == -73.5
    assert board_margin({"record": "pass pass", "agent": "B"}, 7.5) == -7.5
    # Black walls off the left side; a lone white stone sits inside it (dead to any judge, alive on the board)
    wall = " ".join(f"E{r} A{r}" if r == 9 else f"E{r} pass" for r in range(1, 10))  # A9 is White's one stone
    m = board_margin({"record": wall + " pass pass", "agent": "W"}, 7.5)
    assert m == -(9 + 36 - 1 - 7.5)  # Black: column E and the right side; the left side touches both colours, so no one's
    assert board_margin({"record": "E5 E5", "agent": "B"}, 7.5) is None  # a taken point
    assert board_margin({"record": "Z9", "agent": "B"}, 7.5) is None and board_margin({"end": "void", "agent": "B"}, 7.5) is None
    assert board_margin({"agent": "B", "result": "B+3.5"}, 7.5) is None  # a game whose record was not kept
    cell = {"detail": [{"record": "E5 pass pass", "agent": "B"}, {"record": "E5 pass pass", "agent": "W"}, {"record": "", "agent": "W"}]}
    assert ahead_by_board(cell, 7.5) == 2  # the empty board: White (the agent) leads by the komi


def test_the_levers_table_puts_every_point_of_every_results_file_side_by_side(tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    import benchmarks.alphazero_gnugo as bench

    def point(minutes: float, wins: tuple[int, int], **extra) -> dict:
        return {"label": f"p{minutes}", "step": int(minutes * 20000), "train_minutes": minutes, **extra,
                "levels": [{"level": 1, "win": wins[0], "games": 40, "mean_margin": -5.0},
                           {"level": 10, "win": wins[1], "games": 40, "mean_margin": None}]}

    monkeypatch.setattr(bench, "RESULTS_DIR", tmp_path)
    (tmp_path / "alphazero_gnugo_symmetries-8.json").write_text(json.dumps({"points": [point(180, (20, 9), symmetries=8,
                                                                                             policy_head="conv")]}))
    (tmp_path / "alphazero_gnugo.json").write_text(json.dumps({"simulations": None, "points": [point(60, (6, 1)), point(180, (15, 7))]}))
    (tmp_path / "alphazero_gnugo_conv.json").write_text(json.dumps({"points": [point(60, (9, 2), set=["agent.policy_head=conv"])]}))
    (tmp_path / "alphazero_gnugo_broken.json").write_text("{not json")
    bench.levers_table()
    rows = json.loads((tmp_path / "alphazero_gnugo_levers.json").read_text())["points"]
    assert [r["file"] for r in rows] == ["alphazero_gnugo.json"] * 2 + ["alphazero_gnugo_conv.json", "alphazero_gnugo_symmetries-8.json"]
    assert rows[3]["symmetries"] == 8 and rows[2]["set"] == ["agent.policy_head=conv"] and rows[1]["levels"]["10"]["win"] == 7
    # the head: recorded (auto builds either), else what the run set, else the old preset's linear
    assert [r["policy_head"] for r in rows] == ["linear", "linear", "conv", "conv"]
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and "level 10: wins margin" in lines[0]
    assert "agent.policy_head=conv" in lines[3] and "9/40 -5.0" in lines[3] and lines[3].rstrip().endswith("2/40 -")
    assert "--symmetries 8" in lines[4] and "20/40" in lines[4]
    bench.levers_table()  # its own output file is not read back as a lever
    assert len(json.loads((tmp_path / "alphazero_gnugo_levers.json").read_text())["points"]) == 4


@pytest.mark.skipif(not Path("/usr/games/gnugo").exists(), reason="GNU Go is not installed (apt-get install gnugo)")
def test_a_sitting_stopped_by_ctrl_c_plays_no_matches_under_its_label(tmp_path: Path) -> None:
    """Ctrl-C during --train: the run keeps its checkpoint, and the benchmark stops with one sentence
    instead of playing the short network as the point of the minutes it was asked for."""
    import os
    import signal
    import subprocess
    import time

    root = Path(__file__).resolve().parent.parent
    out, results = tmp_path / "go", tmp_path / "go.json"
    tiny = ["agent.actors=0", "agent.games=4", "agent.simulations=4", "agent.gumbel_actions=4", "agent.eval_every=0",
            "agent.eval_games=1", "agent.eval_opponents=[random]", "agent.elo_snapshots=0", "agent.min_buffer=16",
            "agent.batch_size=16", "backbone.channels=[8]", "backbone.residual_blocks=1", "backbone.hidden=16"]
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen([sys.executable, str(root / "benchmarks" / "alphazero_gnugo.py"), "--train", "30", "--run-dir", str(out),
                             "--out", str(results), "--set", *tiny], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / "metrics.jsonl").exists() or len((out / "metrics.jsonl").read_text().splitlines()) < 2:
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "training stopped (interrupted)" in stderr and "--append resumes it" in stderr and "Traceback" not in stderr
    assert "GNU Go level" not in stdout and not results.exists()
    assert list((out / "checkpoints").glob("step-*.safetensors")), "the run keeps its checkpoint"


@pytest.mark.skipif(not Path("/usr/games/gnugo").exists(), reason="GNU Go is not installed (apt-get install gnugo)")
def test_a_level_cut_short_is_kept_game_by_game_and_resume_finishes_it(tmp_path: Path) -> None:
    """A kill in the middle of a level keeps the games played (``"partial": true``); ``--resume``
    plays the rest with the settings the point started with, without replaying a game."""
    import json
    import os
    import signal
    import subprocess
    import time

    import sandbox

    root = Path(__file__).resolve().parent.parent
    run = sandbox.train(None, ["agent=alphazero", "env=go9", "backbone=mlp", "backbone.hidden=[16]", "agent.simulations=4",
                               "agent.games=4", "agent.batch_size=8", "agent.min_buffer=8", "agent.eval_games=1",
                               "agent.eval_opponents=[random]", "agent.eval_simulations=4", "wandb.mode=disabled", "steps=8",
                               "agent.actors=0", f"out={tmp_path / 'go'}"], progress=False).dir
    results = tmp_path / "go.json"
    bench = [sys.executable, str(root / "benchmarks" / "alphazero_gnugo.py")]
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen([*bench, str(run), "--checkpoint", "latest", "--levels", "1", "--games", "3", "--max-moves", "40",
                             "--simulations", "3", "--out", str(results)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 240
        while not results.exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the worst moment: mid-level, the agent and GNU Go killed with it
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    first = json.loads(results.read_text())
    cell = first["points"][0]["levels"][0]
    assert not first["complete"] and cell["partial"] and 1 <= len(cell["detail"]) < 3 and cell["games"] == len(cell["detail"])
    table = subprocess.run([*bench, "--table", "--out", str(results)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "--resume" in table.stdout and "1*" in table.stdout
    done = subprocess.run([*bench, "--resume", "--out", str(results)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    final = json.loads(results.read_text())
    cell = final["points"][0]["levels"][0]
    assert final["complete"] and "partial" not in cell and cell["games"] + cell["void"] == 3
    assert [g["game"] for g in cell["detail"]] == [0, 1, 2] and [g["agent"] for g in cell["detail"]] == ["B", "W", "B"]
    kept = len(first["points"][0]["levels"][0]["detail"])
    assert cell["detail"][:kept] == first["points"][0]["levels"][0]["detail"]  # the first sitting's games as they were
    assert final["simulations"] == 3 and final["max_moves"] == 40  # the settings it started with
    again = subprocess.run([*bench, "--resume", "--out", str(results)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "nothing to resume" in again.stderr and "Traceback" not in again.stderr
