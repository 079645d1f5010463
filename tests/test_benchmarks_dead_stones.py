"""benchmarks/gtp_dead_stones.py: the ownership head's dead stones against GNU Go's, on final
positions replayed from a results file's game records (skipped, with the reason, without GNU Go)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import sandbox

ROOT = Path(__file__).resolve().parent.parent
GNUGO = "/usr/games/gnugo"
needs_gnugo = pytest.mark.skipif(not Path(GNUGO).exists(), reason=f"GNU Go is not installed at {GNUGO} (apt-get install gnugo)")
TINY = ["agent=alphazero", "env=go9", "backbone=mlp", "backbone.hidden=[16]", "agent.simulations=4", "agent.games=4",
        "agent.batch_size=8", "agent.min_buffer=8", "agent.eval_games=1", "agent.eval_opponents=[random]",
        "agent.eval_simulations=4", "agent.log_seconds=0", "wandb.mode=disabled", "steps=8", "agent.actors=0"]


def results_file(path: Path, records: list[tuple[str, str]]) -> Path:
    """A results file of benchmarks/alphazero_gnugo.py holding these (record, end) games."""
    detail = [{"game": i, "record": r, "end": end} for i, (r, end) in enumerate(records)]
    path.write_text(json.dumps({"points": [{"levels": [{"level": 1, "detail": detail}]}]}))
    return path


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gtp_dead_stones.py"), *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


@needs_gnugo
def test_dead_stones_are_counted_against_gnu_go_s(tmp_path: Path) -> None:
    run = sandbox.train(None, [*TINY, "agent.ownership=1", f"out={tmp_path / 'own'}"], progress=False).dir
    # white B2 with one liberty (B1) among black stones, then two passes; a resigned game and a repeat are left out
    games = results_file(tmp_path / "games.json", [("a2 b2 b3 pass c2 pass pass", "passes"), ("e5 d5", "resign"),
                                                   ("a2 b2 b3 pass c2 pass pass", "passes"), ("e5 pass pass", "passes")])
    out = tmp_path / "dead.json"
    done = bench("--run", str(run), "--games", str(games), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().splitlines()[-1] == f"written to {out}"
    result = json.loads(out.read_text())
    assert result["positions"] == 2 and [d["moves"] for d in result["detail"]] == [7, 3]
    first = result["detail"][0]
    assert first["gnugo_dead"] == 1  # GNU Go: the white stone at B2 is dead
    assert first["winner_gnugo_dead"] == "B" and first["gnugo_score"][:2] in ("B+", "W+")  # with it off, the area is all black
    assert result["gnugo_dead_stones"] == sum(d["gnugo_dead"] for d in result["detail"])
    assert 0 <= result["both_dead_stones"] <= min(result["gnugo_dead_stones"], result["head_dead_stones"])
    assert result["same_list"] == sum(d["same"] for d in result["detail"])


@pytest.mark.parametrize("case, words", [("limit", "--limit is a number of positions"), ("games", "not a results file"),
                                         ("no-passes", "no game that ended with two passes"),
                                         ("no-head", "has no ownership head")])
@needs_gnugo
def test_bad_inputs_are_one_sentence(tmp_path: Path, case: str, words: str) -> None:
    games = results_file(tmp_path / "games.json", [("e5 pass pass", "passes")])
    args = ["--run", str(tmp_path / "missing"), "--games", str(games), "--out", str(tmp_path / "out.json")]
    if case == "limit":
        args += ["--limit", "-1"]
    elif case == "games":
        args[3] = str(ROOT / "README.md")
    elif case == "no-passes":
        args[3] = str(results_file(tmp_path / "resigned.json", [("e5 d5", "resign")]))
    else:
        args[1] = str(sandbox.train(None, [*TINY, "agent.ownership=0", f"out={tmp_path / 'plain'}"], progress=False).dir)
    done = bench(*args)
    assert done.returncode != 0 and "Traceback" not in done.stderr and words in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.json").exists()
