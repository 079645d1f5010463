"""``agent.fast_simulations``: KataGo's playout cap randomization. A self-play move is searched in
full and recorded with probability ``full_search_share``, else searched with fewer simulations and
only played; training is owed by the positions recorded, in one process and with actors."""

from __future__ import annotations

import numpy as np
import pytest

import sandbox
from sandbox.agents.alphazero.search import SearchConfig, rollout_evaluator
from sandbox.agents.alphazero.selfplay import SelfPlay
from sandbox.envs.games import get_game
from sandbox.tracking import read_metrics

TINY = ["agent=alphazero", "env=tictactoe", "backbone=mlp", "backbone.hidden=[16]", "agent.simulations=8", "agent.games=8",
        "agent.batch_size=16", "agent.min_buffer=16", "agent.eval_games=2", "agent.eval_simulations=4", "agent.eval_every=0",
        "agent.elo_snapshots=0", "agent.eval_opponents=[random]", "wandb.mode=disabled", "agent.actors=0"]


def play(sp: SelfPlay, g, games: int) -> tuple[list, int, list[int], int]:
    """Moves until ``games`` games ended: the games, the moves played, each move's simulations and
    the positions recorded."""
    done, moves, sims, recorded = [], 0, [], 0
    evaluate = rollout_evaluator(g, 0)
    while len(done) < games:
        done += sp.move(evaluate)
        moves += sp.games
        sims.append(sp.last_simulations)
        recorded += sp.last_recorded
    return done, moves, sims, recorded


def test_fast_moves_are_played_and_not_recorded() -> None:
    g = get_game("tictactoe")
    cfg = SearchConfig(simulations=16, dirichlet_alpha=g.dirichlet_alpha)
    sp = SelfPlay(g, 4, 16, True, 2, cfg, seed=5, fast_simulations=2, full_search_share=0.5)
    done, moves, sims, recorded = play(sp, g, 24)
    assert set(sims) == {16, 2}, "some moves searched in full, some fast"
    assert 0 < recorded < moves
    # a game keeps the positions of its full searches only; a game searched all fast brings its result alone
    assert all(len(p.x) == len(p.p) == len(p.z) <= p.length for p in done)
    assert any(len(p.x) < p.length for p in done)
    assert sum(len(p.x) for p in done) <= recorded
    for p in done:
        if len(p.z):
            assert set(np.abs(p.z)) == {abs(p.result)}  # each recorded position still gets the game's result
            assert np.allclose(p.p.sum(1), 1.0)
    # without fast_simulations every move is a full search and every position is kept
    full = SelfPlay(g, 4, 16, True, 2, cfg, seed=5)
    done, moves, sims, recorded = play(full, g, 8)
    assert set(sims) == {16} and recorded == moves and all(len(p.x) == p.length for p in done)


def test_a_run_owes_training_by_the_positions_recorded(tmp_path) -> None:
    run = sandbox.train(None, [*TINY, "agent.fast_simulations=2", "agent.full_search_share=0.25", "steps=960",
                               "agent.log_every=64",
                               f"out={tmp_path / 'pcr'}"], progress=False)
    agent = sandbox.load(run.dir, which="latest")
    positions, updates = agent.counters["positions"], agent.counters["updates"]
    assert run.step >= 960 and 0 < positions < run.step / 2  # about a quarter of the moves recorded
    assert agent.buffer.size <= positions
    # train_ratio samples a position recorded (not a move played), once the buffer holds a batch
    owed = positions * agent.cfg.train_ratio / agent.cfg.batch_size
    assert owed / 2 <= updates <= owed + 1 < run.step * agent.cfg.train_ratio / agent.cfg.batch_size / 2
    rows = read_metrics(run.dir)
    assert any("train/policy_loss" in r for r in rows)
    sims = [r["time/simulations_per_second"] / r["time/moves_per_second"] for r in rows
            if r.get("time/moves_per_second") and "time/simulations_per_second" in r]
    assert sims and all(2 <= s <= 8 for s in sims) and min(sims) < 8  # fewer simulations a move than 8


def test_actors_count_the_positions_they_recorded(tmp_path) -> None:
    from sandbox.agents.alphazero.selfplay import SelfPlayActor

    run = sandbox.train(None, [*TINY, "steps=16", f"out={tmp_path / 'a'}"], progress=False)
    agent = sandbox.load(run.dir)
    cfg = agent.cfg
    cfg.fast_simulations, cfg.full_search_share = 2, 0.5
    actor = SelfPlayActor(agent.game, agent.config.backbone, cfg, agent.search_cfg, seed=3)
    actor.load(agent.net.state_dict(), 0)
    out = actor.play([None], 0, 12)
    assert out["moves"] == 12 * cfg.games and 0 < out["positions"] < out["moves"]
    assert out["positions"] % cfg.games == 0 and out["sims"] < out["moves"] * cfg.simulations
    assert out["sims"] == out["positions"] * cfg.simulations + (out["moves"] - out["positions"]) * 2


@pytest.mark.parametrize("overrides,match", [
    (["agent.fast_simulations=8"], "agent.fast_simulations=8 must be between 1 and agent.simulations=8"),
    (["agent.fast_simulations=-1"], "agent.fast_simulations"),
    (["agent.fast_simulations=2", "agent.full_search_share=0"], "agent.full_search_share"),
    (["agent.full_search_share=1.5"], "agent.full_search_share"),
    (["agent.fast_simulations=two"], "agent.fast_simulations"),
])
def test_bad_playout_caps_are_one_sentence(overrides, match, tmp_path) -> None:
    out = tmp_path / "bad"
    with pytest.raises(sandbox.SandboxError, match=match):
        sandbox.train(None, [*TINY, f"out={out}", *overrides], progress=False)
    assert not out.exists()
