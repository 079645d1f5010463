"""AlphaZero's self-play actors on Ray (``agent.actors=N``, issue 12.2): tic-tac-toe learnt by two
actors and a learner, a run stopped by Ctrl-C and resumed, no Ray process left behind, the actor
on its own (no Ray), and bad values.

Runs with actors go through the ``sandbox`` command in a session of its own; after it exits, no
process may be left in that session (Ray's daemons and workers, the actors included)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import finish_in_session, start_in_session

import sandbox
from sandbox.errors import ConfigError

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is the scale extra: pip install -e '.[scale]' (the README's test command installs it)")

# the tuned tic-tac-toe run (32 simulations, 64 games an actor, the small CNN), evaluations against perfect play; on two
# quiet cores it loses no game to perfect play from about 4 000 self-play moves on, in about a minute. Under the test
# suite's own load the actors play with staler weights: at 12 288 moves a run still lost 1 game of 20 (CI, 2026-12-07)
RUN = ["agent=alphazero", "env=tictactoe", "agent.actors=2", "agent.weights_every=8",
       "agent.max_lag=16", "max_minutes=null", "agent.eval_every=4096", "agent.log_every=512", "agent.eval_games=20",
       "agent.eval_opponents=[perfect]", "agent.elo_snapshots=1", "wandb.mode=disabled", "--no-progress"]
STEPS = 16384


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return start_in_session(*args, cwd=cwd)


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    """Wait for the command; fail if anything of its session outlives it."""
    _, err = finish_in_session(proc, timeout)
    return proc.returncode, err


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def stopped_and_resumed(tmp_path_factory) -> dict:
    """A run with two actors stopped by Ctrl-C (to its whole process group, as a terminal sends it)
    once the actors' games are arriving, then resumed to its step budget."""
    tmp = tmp_path_factory.mktemp("actors")
    run_dir = tmp / "run"
    proc = start("train", *RUN, f"steps={STEPS}", "out=run", cwd=tmp)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / "metrics.jsonl").is_file() and any("rollout/actor_lag" in r for r in rows(run_dir)):
            break
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGINT)
    code, err = finish(proc)
    before = rows(run_dir)
    latest = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
    proc = start("train", *RUN, f"steps={STEPS}", "out=run", cwd=tmp)
    code2, err2 = finish(proc)
    return {"dir": run_dir, "stop": (code, err), "resume": (code2, err2), "before": before, "after": rows(run_dir)[len(before):],
            "latest": latest}


@needs_ray
def test_ctrl_c_stops_the_actors_checkpoints_and_leaves_no_ray_process(stopped_and_resumed) -> None:
    code, err = stopped_and_resumed["stop"]
    assert code == 130, err[-3000:]
    assert "Traceback" not in err
    before = stopped_and_resumed["before"]
    assert any("rollout/actor_lag" in r for r in before)
    assert 0 < before[-1]["step"] < STEPS


@needs_ray
def test_the_resumed_run_goes_on_where_it_stopped_and_learns_perfect_play(stopped_and_resumed) -> None:
    """Resumed from the checkpoint Ctrl-C wrote, its steps strictly increase past it; at the end the
    agent loses no game against perfect play (the closing evaluation's 20 games, and 20 more with
    four times its search)."""
    code, err = stopped_and_resumed["resume"]
    assert code == 0, err[-3000:]
    after, before = stopped_and_resumed["after"], stopped_and_resumed["before"]
    assert after and after[0]["step"] > before[-1]["step"]
    steps = [r["step"] for r in before + after]
    assert steps == sorted(steps) and steps[-1] >= STEPS
    logged = [r for r in before + after if "rollout/actor_lag" in r]
    assert all(0 <= r["rollout/actor_lag"] <= r["rollout/actor_lag_max"] <= 16 for r in logged)  # max_lag=16 bounds the weights' staleness
    assert all(r["time/moves_per_second"] > 0 for r in logged)
    closing = [r for r in after if "eval/loss_rate/perfect" in r][-1]
    assert closing["step"] >= STEPS and closing["eval/loss_rate/perfect"] == 0.0, closing
    agent = sandbox.load(stopped_and_resumed["dir"], "latest")
    agent.set_eval_simulations(4 * agent.eval_sims)  # 20 more with a deeper search (at the run's own, 1 of 20 was lost under CI's load)
    r = agent.evaluate(games=20, opponent="perfect")
    assert r["loss"] == 0, r


@needs_ray
def test_a_run_of_one_process_resumes_with_actors_and_other_keys_stay_its_own(tmp_path: Path) -> None:
    """agent.actors is where a run trains, not what it learns: a single-loop run resumes with an
    actor (its games arrive from Ray), while a changed learning rate is refused, naming the key and
    the keys that may change, with nothing in the run touched."""
    base = ["agent=alphazero", "env=tictactoe", "backbone=mlp", "agent.games=16", "agent.simulations=4", "agent.eval_every=100000",
            "agent.log_every=64", "agent.eval_games=2", "agent.elo_snapshots=0", "max_minutes=null", "wandb.mode=disabled", "--no-progress"]
    code, err = finish(start("train", *base, "steps=256", "out=run", cwd=tmp_path))
    assert code == 0, err[-3000:]
    run_dir = tmp_path / "run"
    before = rows(run_dir)
    assert before and not any("rollout/actor_lag" in r for r in before)
    files = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    code, err = finish(start("train", "out=run", "steps=1024", "agent.learning_rate=0.5", "--no-progress", cwd=tmp_path))
    assert code == 2 and "agent.learning_rate" in err and "agent.actors=" in err and "Traceback" not in err, err[-3000:]
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == files
    code, err = finish(start("train", "out=run", "steps=1024", "agent.actors=1", "--no-progress", cwd=tmp_path))
    assert code == 0, err[-3000:]
    after = rows(run_dir)[len(before):]
    assert any("rollout/actor_lag" in r for r in after) and after[-1]["step"] >= 1024
    assert (run_dir / "config.yaml").read_bytes() == files[run_dir / "config.yaml"]  # the run's own config; actors were this sitting's
    sittings = json.loads((run_dir / "run.json").read_text())["sittings"]
    assert [(x["agent.actors"], x["from_step"], x["steps"]) for x in sittings] == [(0, 0, 256), (1, sittings[0]["to_step"], 1024)]


def test_an_actor_alone_plays_its_games_with_the_weights_it_is_given() -> None:
    """The actor's body without Ray: a call plays moves × games positions and hands back whole games
    labelled with their results; the weights are taken once per version."""
    from sandbox.agents.alphazero.agent import AlphaZero
    from sandbox.agents.alphazero.selfplay import SelfPlayActor, actor_seed
    from sandbox.config import from_raw

    cfg = AlphaZero.complete_config(from_raw({"agent": {"name": "alphazero", "games": 4, "simulations": 4}, "env": {"name": "tictactoe"},
                                              "backbone": {"name": "mlp"}}))
    agent = AlphaZero(cfg)
    actor = SelfPlayActor(agent.game, cfg.backbone, agent.cfg, agent.search_cfg, actor_seed(0, 1, 0))
    actor.load(agent.net.state_dict(), 7)
    out = actor.play([None], 7, 12)  # the version it has: the weights are not fetched
    assert out["moves"] == 48 and out["sims"] == 48 * 4 and out["version"] == 7
    assert len(out["games"]) >= 4  # tic-tac-toe ends within 9 plies
    for g in out["games"]:
        assert len(g.x) == len(g.p) == len(g.z) == g.length and 5 <= g.length <= 9
        assert g.result in (-1.0, 0.0, 1.0) and set(np.abs(g.z)) == {abs(g.result)}
        assert np.allclose(g.p.sum(1), 1.0)
    assert actor_seed(0, 0, 0) != actor_seed(0, 1, 0) != actor_seed(0, 1, 512)
    # agent.value_mix reaches the actor's games: the targets mix the result with the search's values
    mixed_cfg = AlphaZero.complete_config(from_raw({"agent": {"name": "alphazero", "games": 4, "simulations": 4, "value_mix": 0.5},
                                                    "env": {"name": "tictactoe"}, "backbone": {"name": "mlp"}}))
    mixed = SelfPlayActor(agent.game, mixed_cfg.backbone, mixed_cfg.plugin.config, agent.search_cfg, actor_seed(0, 1, 0))
    mixed.load(agent.net.state_dict(), 7)
    for g in mixed.play([None], 7, 12)["games"]:
        assert np.all(np.abs(g.z) <= 1) and not set(np.abs(g.z)) <= {0.0, 1.0}


@pytest.mark.parametrize("value", ["actors=-1", "actors=100000", "actor_moves=0", "actor_moves=100000", "weights_every=0", "max_lag=0",
                                   "actors=two"])
def test_bad_actor_values_are_one_sentence(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"agent.{value.split('=')[0]}") as info:
        sandbox.train(None, ["agent=alphazero", "env=tictactoe", "backbone=mlp", f"agent.{value}", f"out={tmp_path / 'r'}"], progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "r").exists()


def test_without_ray_actors_say_what_to_install_and_actors_0_never_imports_ray(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['ray'] = None; from sandbox.cli import main; "
            "sys.exit(main(['train', 'agent=alphazero', 'env=tictactoe', 'agent.actors=2', 'out=r', '--no-progress']))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and 'pip install -e ".[scale]"' in r.stderr and "agent.actors" in r.stderr
    assert not (tmp_path / "r").exists()
    code = ("import sys, sandbox; sandbox.train(None, ['agent=alphazero', 'env=tictactoe', 'backbone=mlp', 'steps=16', "
            "'agent.games=8', 'agent.simulations=2', 'agent.eval_games=1', 'agent.eval_opponents=[random]', 'out=r', "
            "'wandb.mode=disabled'], progress=False); assert 'ray' not in sys.modules, 'ray imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    # actors=auto (the Connect Four preset's) without Ray: the single loop, and Ray is never imported
    without_ray = "import sys; sys.modules['ray'] = None; " + code.replace("'out=r'", "'out=auto', 'agent.actors=auto'").replace(
        "assert 'ray' not in sys.modules", "assert sys.modules['ray'] is None")
    r = subprocess.run([sys.executable, "-c", without_ray], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Ray actors" not in r.stderr, r.stderr[-2000:]
    assert not any("rollout/actor_lag" in row for row in rows(tmp_path / "auto")) and rows(tmp_path / "auto")[-1]["step"] >= 16


@needs_ray
def test_auto_actors_are_one_per_cpu_this_process_may_use() -> None:
    from sandbox.agents.alphazero.selfplay import auto_actors

    cpus = os.sched_getaffinity(0)
    assert auto_actors(None) == (len(cpus) if len(cpus) >= 2 else 0)
    assert auto_actors("127.0.0.1:6379") is None  # a named cluster: its free CPUs, counted once joined
    try:
        os.sched_setaffinity(0, {min(cpus)})  # a machine of one CPU: the single loop
        assert auto_actors(None) == 0
    finally:
        os.sched_setaffinity(0, cpus)


@needs_ray
def test_the_connect_four_preset_plays_on_auto_actors(tmp_path: Path) -> None:
    """Plain names for Connect Four get the preset's actors=auto: Ray actors on this machine's CPUs
    (the single loop on one CPU), said in one line, and nothing left behind."""
    proc = start("train", "agent=alphazero", "env=connect_four", "backbone=mlp", "steps=512", "max_minutes=null", "agent.games=8",
                 "agent.simulations=4", "agent.eval_simulations=4", "agent.eval_every=0", "agent.eval_games=1", "agent.eval_opponents=[random]",
                 "agent.log_every=128", "wandb.mode=disabled", "out=run", "--no-progress", cwd=tmp_path)
    code, err = finish(proc, timeout=240)
    assert code == 0, err[-3000:]
    assert "actors: auto" in (tmp_path / "run" / "config.yaml").read_text()
    cpus = len(os.sched_getaffinity(0))
    logged = rows(tmp_path / "run")
    assert logged[-1]["step"] >= 512
    if cpus >= 2:
        assert f"agent.actors=auto: self-play on {cpus} Ray actors" in err, err[-3000:]
        assert any("rollout/actor_lag" in r for r in logged)
    else:
        assert "Ray actors" not in err and not any("rollout/actor_lag" in r for r in logged)


@needs_ray
def test_actors_inside_a_sweep_trial_use_the_sweeps_cluster(tmp_path: Path) -> None:
    """A sweep's trial runs inside a Ray worker whose placement group holds only the trial's CPU: its
    actors take the cluster's free CPUs (not the trial's group, where they would wait forever), the
    sweep's Ray is neither started again nor stopped by the trial, and nothing is left behind."""
    proc = start("sweep", "agent=alphazero", "env=tictactoe", "backbone=mlp", "agent.actors=1", "steps=512", "max_minutes=null",
                 "agent.eval_games=2", "agent.eval_opponents=[random]", "agent.log_every=256", "wandb.mode=disabled", "seed=0,1",
                 "--out", "sw", "--parallel", "1", "--cpus", "3", cwd=tmp_path)
    code, err = finish(proc, timeout=240)
    assert code == 0, err[-3000:]
    for trial in (tmp_path / "sw" / "trials").iterdir():
        logged = rows(trial)
        assert logged[-1]["step"] >= 512 and any("rollout/actor_lag" in r for r in logged)
