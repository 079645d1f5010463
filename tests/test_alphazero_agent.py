"""The alphazero agent: trains (tiny), resumes, acts in PettingZoo's own envs, evaluates, plays,
records, and refuses bad input with one sentence."""

from __future__ import annotations

import json
import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import numpy as np
import pytest

import sandbox
from sandbox.tracking import read_metrics

TINY = ["agent=alphazero", "agent.simulations=8", "agent.games=8", "agent.batch_size=32", "agent.min_buffer=32",
        "agent.eval_games=2", "agent.eval_simulations=8", "agent.log_seconds=0", "wandb.mode=disabled",
        "agent.actors=0"]  # the same run from the same seed (Connect Four's preset plays on Ray actors where Ray is installed)


@pytest.fixture(scope="module")
def c4_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("az") / "c4"
    run = sandbox.train(None, TINY + ["env=connect_four", "backbone=mlp", "steps=400", "agent.eval_opponents=[random]", f"out={out}"], progress=False)
    return run


def test_training_logs_losses_speed_win_rates_and_elo(c4_run) -> None:
    rows = read_metrics(c4_run.dir)
    keys = set().union(*rows)
    for k in ("train/loss", "train/policy_loss", "train/value_loss", "time/simulations_per_second", "time/games_per_second",
              "eval/win_rate/random", "eval/elo", "eval/score_previous"):
        assert k in keys, k
    assert c4_run.step >= 400
    assert (c4_run.dir / "checkpoints" / "best.json").exists()


def test_against_perfect_play_the_loss_rate_leads_the_evaluation_row(tmp_path) -> None:
    """Nobody beats perfect tic-tac-toe, so its win rate is always 0: the row (whose first numbers the
    progress bar shows) opens with the loss rate against perfect play, then the win rates."""
    run = sandbox.train(None, TINY + ["env=tictactoe", "backbone=mlp", "steps=64", "agent.eval_opponents=[random,perfect]",
                                      f"out={tmp_path / 't'}"], progress=False)
    row = next(r for r in read_metrics(run.dir) if "eval/loss_rate/perfect" in r)
    numbers = [k for k, v in row.items() if k not in ("step", "time") and isinstance(v, (int, float))]
    assert numbers[:2] == ["eval/loss_rate/perfect", "eval/win_rate/random"]
    assert row["eval/win_rate/perfect"] == 0.0 and 0.0 <= row["eval/loss_rate/perfect"] <= 1.0


def test_the_trained_agent_plays_in_pettingzoos_own_connect_four(c4_run) -> None:
    from pettingzoo.classic import connect_four_v3

    agent = sandbox.load(c4_run.dir)
    env = connect_four_v3.env()
    rng = np.random.default_rng(0)
    for episode in range(2):
        env.reset(seed=episode)
        mine = env.possible_agents[episode % 2]
        for name in env.agent_iter():
            obs, reward, term, trunc, _ = env.last()
            if term or trunc:
                action = None
            elif name == mine:
                action = agent.act(obs)
                assert obs["action_mask"][action] == 1
            else:
                action = int(rng.choice(np.nonzero(obs["action_mask"])[0]))
            env.step(action)
        assert env.rewards is not None


def test_act_takes_the_observation_array_too_and_wins_in_one(c4_run) -> None:
    agent = sandbox.load(c4_run.dir)
    g = agent.game
    s = g.initial(1)
    for m in [0, 6, 1, 6, 2, 5]:
        s, _, _ = g.step(s, np.array([m]))
    obs = g.observation(s[0], 0, True)
    assert agent.act(obs["observation"], obs["action_mask"]) == 3
    assert agent.act(obs, deterministic=False) in range(7)


def test_a_loaded_agent_searches_as_many_simulations_as_it_is_told(c4_run) -> None:
    """set_eval_simulations (benchmarks/alphazero_connect4.py --simulations): the match and act()
    search N a move; training's self-play search is left alone; a bad N is refused in one sentence."""
    from sandbox.errors import ConfigError

    agent = sandbox.load(c4_run.dir)
    agent.set_eval_simulations(64)
    assert agent.eval_sims == 64 and agent.eval_cfg.simulations == 64 and agent.search_cfg.simulations == 8
    g = agent.game
    s = g.initial(1)
    for m in [0, 6, 1, 6, 2, 5]:
        s, _, _ = g.step(s, np.array([m]))
    agent.think(s[0])
    small = agent._solo
    agent.set_eval_simulations(256)
    assert agent._solo is None  # the one-position tree is made anew, sized for 256
    move, _ = agent.think(s[0])
    assert move == 3 and agent._solo is not small and agent._solo.cfg.simulations == 256
    agent.set_eval_simulations(64)
    r = agent.evaluate(games=2)
    assert r["simulations"] == 64 and r["games"] == 2
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="whole number of simulations"):
            agent.set_eval_simulations(bad)
    assert agent.eval_sims == 64
    # set_eval_symmetries (--symmetries): the mirror image averaged in; a bad count refused alike
    agent.set_eval_symmetries(2)
    assert agent.cfg.eval_symmetries == 2 and agent.think(s[0])[0] == 3
    for bad in (0, 3, 1.5, True):
        with pytest.raises(ConfigError, match="connect_four has 2 board symmetries"):
            agent.set_eval_symmetries(bad)
    assert agent.cfg.eval_symmetries == 2


def test_sample_observations_are_positions_of_pettingzoo_games_the_agent_acts_on(c4_run) -> None:
    agent = sandbox.load(c4_run.dir)
    seen = agent.sample_observations(60, seed=2)
    assert len(seen) == 60 and all(set(o) == {"observation", "action_mask"} for o in seen)
    assert all(o["observation"].shape == (6, 7, 2) and o["action_mask"].shape == (7,) and o["action_mask"].any() for o in seen)
    assert len({o["observation"].tobytes() for o in seen}) > 30  # several games, not one position again and again
    actions = [agent.act(o["observation"], action_mask=o["action_mask"]) for o in seen]
    assert all(o["action_mask"][a] for o, a in zip(seen, actions))
    assert [o["observation"].tobytes() for o in agent.sample_observations(60, seed=2)] == [o["observation"].tobytes() for o in seen]


def test_resume_continues_from_the_checkpoint(c4_run, tmp_path) -> None:
    import shutil

    out = tmp_path / "resumed"
    shutil.copytree(c4_run.dir, out)
    before = len(read_metrics(out))
    run = sandbox.train(None, TINY + ["env=connect_four", "backbone=mlp", "steps=560", "agent.eval_opponents=[random]", f"out={out}"], progress=False)
    assert run.step >= 560
    agent = sandbox.load(out, which="latest")
    assert agent.buffer.size > 0 and agent.elo.results and agent.counters["games"] > 0
    assert len(read_metrics(out)) > before


def test_cli_eval_prints_win_draw_loss_json(c4_run, capsys) -> None:
    from sandbox.cli import main

    assert main(["eval", str(c4_run.dir), "--opponent", "mcts:5", "--games", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"win", "draw", "loss", "win_rate"} <= set(result) and result["win"] + result["draw"] + result["loss"] == 4
    assert main(["eval", str(c4_run.dir), "--opponent", "alphago", "--json"]) == 2
    err = capsys.readouterr().err
    assert "random, mcts:N" in err and "Traceback" not in err and err.count("\n") == 1


def test_play_records_a_game_with_what_the_agent_thinks(c4_run, tmp_path) -> None:
    agent = sandbox.load(c4_run.dir)
    result = agent.play(episodes=2, record=tmp_path / "game.gif")
    assert result["games"] == 2 and (tmp_path / "game.gif").stat().st_size > 0


def test_agent_solver_trains_and_its_agent_plays_proven_end_games_perfectly(tmp_path) -> None:
    """agent.solver=true: a run trains with it, keeps it in its config, and the loaded agent, its
    network barely trained, still plays every tic-tac-toe end game of four empty cells perfectly:
    64 simulations prove those trees whatever the network says."""
    from sandbox.agents.alphazero.opponents import perfect_moves
    from tests.test_alphazero_search import ttt_positions

    run = sandbox.train(None, TINY + ["env=tictactoe", "backbone=mlp", "steps=64", "agent.solver=true", "agent.eval_opponents=[random]",
                                      f"out={tmp_path / 't'}"], progress=False)
    assert "solver: true" in (run.dir / "config.yaml").read_text()
    agent = sandbox.load(run.dir)
    assert agent.eval_cfg.solver and agent.search_cfg.solver
    agent.set_eval_simulations(64)
    for state in ttt_positions(4, 20, seed=5):
        move, info = agent.think(state)
        assert move in perfect_moves(state), agent.game.text(state)


@pytest.mark.parametrize("game,symmetries", [("tictactoe", 8), ("connect_four", 2)])
def test_eval_symmetries_average_the_network_into_one_that_sees_every_image_alike(game, symmetries, tmp_path) -> None:
    """agent.eval_symmetries: averaged over all the board's symmetries, the network's priors for
    an image of a position are the position's priors carried over, and its values are equal;
    with one symmetry it is the network alone, which (a few steps trained) does not do that."""
    run = sandbox.train(None, TINY + [f"env={game}", "backbone=mlp", "steps=32", f"agent.eval_symmetries={symmetries}",
                                      "agent.eval_opponents=[random]", f"out={tmp_path / 't'}"], progress=False)
    agent = sandbox.load(run.dir)
    g = agent.game
    rng = np.random.default_rng(0)
    states = g.initial(16)
    for _ in range(3):
        legal = g.legal(states)
        states, _, _ = g.step(states, np.argmax(rng.random(legal.shape) * legal, 1))
    legal = g.search_moves(states)
    x = g.encode(states)
    both = agent.evaluator(symmetries=symmetries)
    alone = agent.evaluator()
    p, v = both(states, legal)
    assert np.allclose(p.sum(1), 1) and np.all(p[~legal] == 0)
    for k in range(1, symmetries):
        # the image of each state under symmetry k: its cells turned, the player to move the same
        turned_cells, turned_legal = g.symmetry(g.boards(states)[:, None], legal, k)
        image = states.copy()
        image[:, : g.cells] = turned_cells[:, 0].reshape(len(states), -1)
        pk, vk = both(image, turned_legal)
        np.testing.assert_allclose(pk, g.symmetry(x[:0], p, k)[1], atol=1e-5)
        np.testing.assert_allclose(vk, v, atol=1e-5)
    pa, _ = alone(image, turned_legal)
    assert not np.allclose(pa, g.symmetry(x[:0], alone(states, legal)[0], symmetries - 1)[1], atol=1e-5)


def test_the_runs_own_evaluations_search_with_rating_simulations_and_play_with_eval_simulations(tmp_path, monkeypatch) -> None:
    """agent.rating_simulations / rating_symmetries: the matches behind eval/ and Elo search that
    many simulations over that many images; playing afterwards (act, matches, sandbox play) searches
    eval_simulations over eval_symmetries, as before."""
    from sandbox.agents.alphazero.agent import AlphaZero

    built = []
    real_player = AlphaZero.player

    def recording(self, *a, **k):
        p = real_player(self, *a, **k)
        built.append(p.cfg.simulations)
        return p

    monkeypatch.setattr(AlphaZero, "player", recording)
    run = sandbox.train(None, TINY + ["env=connect_four", "backbone=mlp", "steps=64", "agent.eval_simulations=40",
                                      "agent.eval_symmetries=2", "agent.rating_simulations=5", "agent.rating_symmetries=1",
                                      "agent.eval_every=32", f"out={tmp_path / 'r'}"], progress=False)
    monkeypatch.undo()
    # the evaluations at the start, after 32 moves and at the end (the last two with an earlier network)
    assert sum("eval/elo" in m for m in read_metrics(run.dir)) >= 3
    assert len(built) >= 5 and set(built) == {5}
    agent = sandbox.load(run.dir)
    start = agent.game.initial(1)[0]
    seen = []

    def counting(symmetries):
        def evaluate(states, legal):
            seen.append(symmetries)
            return agent.evaluator(symmetries=symmetries)(states, legal)
        return evaluate

    agent.evaluator, real = (lambda net=None, symmetries=1: counting(symmetries)), agent.evaluator
    rating, playing = agent.player("r", rating=True), agent.player("p")
    assert rating.cfg.simulations == 5 and playing.cfg.simulations == 40
    agent.evaluator = real
    rating.think(start)
    rated, seen[:] = list(seen), []
    playing.think(start)
    # one network call a simulation (the first expands the root), on the board alone when rating,
    # with its mirror image averaged in when playing
    assert rated == [1] * len(rated) and 1 < len(rated) <= 6
    assert seen == [2] * len(seen) and 6 < len(seen) <= 41
    # 0 (the default) is as eval_simulations and eval_symmetries
    plain = sandbox.load(tmp_path / "r")
    plain.cfg.rating_simulations, plain.cfg.rating_symmetries = 0, 0
    assert plain.player("x", rating=True).cfg.simulations == 40


def test_tictactoe_gumbel_and_transformer_train_and_demo_media(tmp_path) -> None:
    out = tmp_path / "ttt"
    run = sandbox.train(None, TINY + ["env=tictactoe", "backbone=transformer", "backbone.d_model=16", "backbone.layers=1",
                                      "agent.search=gumbel", "agent.gumbel_actions=4", "steps=160",
                                      "agent.eval_opponents=[perfect,mcts:10]", f"out={out}"], progress=False)
    agent = sandbox.load(run.dir)
    assert agent.evaluate(games=4, opponent="perfect")["win"] == 0
    media = agent.demo_media(run)
    assert media and media[0].exists()


def test_human_play_against_the_agent_headless(c4_run, monkeypatch) -> None:
    import pygame

    agent = sandbox.load(c4_run.dir)
    from sandbox.envs.games import draw

    made = []
    real = draw.HumanGame

    class Scripted(real):  # the person presses 2 (plays second) and then closes the window
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_2))

        def tick(self):
            super().tick()
            if self.phase == "play" and self.last is not None and self.info is not None:
                pygame.event.post(pygame.event.Event(pygame.QUIT))

    monkeypatch.setattr(draw, "HumanGame", Scripted)
    result = agent.play(episodes=1, human=True)
    window = made[0]
    assert window.human == 1 and window.last is not None  # the agent (first) has moved
    assert window.info is not None and window.info["probs"].shape == (7,)  # its view of your position
    assert result["games"] == 0


@pytest.mark.parametrize("overrides,match", [
    (["env=CartPole-v1"], "board games"),
    (["env=tictactoe", "agent.eval_opponents=[random,minimax]"], "random, mcts:N"),
    (["env=connect_four", "agent.eval_opponents=[perfect]"], "tic-tac-toe only"),
    (["env=tictactoe", "agent.simulations=0"], "positive"),
    (["env=tictactoe", "backbone=rnn", "backbone.hidden=-1"], ""),
    (["env=tictactoe", "agent.lr_schedule=linear"], "lr_schedule.*cosine"),
    (["env=tictactoe", "agent.value_mix=1.5"], "value_mix"),
    (["env=tictactoe", "agent.value_mix=half"], "value_mix"),
    (["env=go9", "agent.solver=true"], "agent.solver=true cannot prove go9"),
    (["env=connect_four", "agent.eval_symmetries=3"], "agent.eval_symmetries=3 is more than connect_four's 2"),
    (["env=tictactoe", "agent.eval_symmetries=0"], "eval_symmetries"),
    (["env=connect_four", "agent.rating_symmetries=4"], "agent.rating_symmetries=4 is more than connect_four's 2"),
    (["env=tictactoe", "agent.rating_simulations=-1"], "rating_simulations"),
    (["env=tictactoe", "agent.rating_symmetries=9"], "rating_symmetries"),
    (["env=connect_four", "agent.solver=sometimes"], "agent.solver"),
])
def test_bad_configs_are_refused_before_anything_is_written(overrides, match, tmp_path) -> None:
    out = tmp_path / "bad"
    with pytest.raises(sandbox.SandboxError, match=match):
        sandbox.train(None, ["agent=alphazero", "wandb.mode=disabled", f"out={out}", *overrides], progress=False)
    assert not out.exists()


def test_a_cosine_learning_rate_falls_to_a_tenth_over_the_budget_and_goes_on_after_a_resume(tmp_path) -> None:
    """agent.lr_schedule=cosine: the logged learning rate starts at learning_rate, falls as the
    steps are spent, and a resumed run with a larger budget goes on from its share of the new one."""
    base = TINY + ["env=tictactoe", "backbone=mlp", "agent.eval_every=100000", "agent.elo_snapshots=0", "agent.log_every=64",
                   "agent.log_seconds=null", "agent.learning_rate=0.01", "agent.lr_schedule=cosine", "max_minutes=null"]
    out = tmp_path / "cos"
    run = sandbox.train(None, base + ["steps=640", f"out={out}"], progress=False)
    agent = sandbox.load(run.dir, which="latest")
    assert agent.learning_rate_at(0.0) == pytest.approx(0.01) and agent.learning_rate_at(1.0) == pytest.approx(0.001)
    assert agent.learning_rate_at(0.5) == pytest.approx(0.0055)
    rates = [(r["step"], r["train/learning_rate"]) for r in read_metrics(out) if "train/learning_rate" in r]
    assert len(rates) >= 3 and all(a[1] > b[1] for a, b in zip(rates, rates[1:]))  # falling all the way
    assert rates[0][1] > 0.009 and rates[-1][1] < 0.002
    for step, lr in rates:  # the rate of the step's share of the budget (its updates come a little before the row)
        assert agent.learning_rate_at(step / 640) <= lr <= agent.learning_rate_at(max(step - 64, 0) / 640) + 1e-9
    sandbox.train(None, ["steps=1280", f"out={out}"], progress=False)
    later = [r["train/learning_rate"] for r in read_metrics(out) if "train/learning_rate" in r and r["step"] > 640]
    assert later and 0.001 < later[0] < agent.learning_rate_at(0.45) and later[-1] < 0.0015  # half the new budget spent at the resume
    const = sandbox.train(None, TINY + ["env=tictactoe", "backbone=mlp", "agent.eval_every=100000", "agent.elo_snapshots=0",
                                        "steps=128", f"out={tmp_path / 'const'}"], progress=False)
    assert {r["train/learning_rate"] for r in read_metrics(const.dir) if "train/learning_rate" in r} == {0.001}
