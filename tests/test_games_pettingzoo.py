"""Board-game agents act through ``act()`` on the envs people use: PettingZoo's own ``tictactoe_v3``
and ``connect_four_v3`` (and the sandbox's ``go9``), from every position a game reaches, in either seat.

Beside each PettingZoo game, the sandbox's rules core plays the same moves; at every turn the state the
agent reads back from PettingZoo's observation must be the core's state, so the agent sees the real
position, not just a legal one."""

from __future__ import annotations

import numpy as np
import pytest

import sandbox
from sandbox.envs.games import get_game

TINY = ["agent=alphazero", "backbone=mlp", "backbone.hidden=[16]", "agent.simulations=4", "agent.games=4",
        "agent.batch_size=8", "agent.min_buffer=8", "agent.eval_games=2", "agent.eval_opponents=[random]",
        "agent.log_seconds=0", "wandb.mode=disabled", "steps=8"]


def pettingzoo_env(name: str):
    if name == "tictactoe":
        from pettingzoo.classic import tictactoe_v3

        return tictactoe_v3.env()
    if name == "connect_four":
        from pettingzoo.classic import connect_four_v3

        return connect_four_v3.env()
    return sandbox.make_env("go9")


@pytest.fixture(scope="module", params=["tictactoe", "connect_four", "go9"])
def agent(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("az") / request.param
    run = sandbox.train(None, [*TINY, f"env={request.param}", f"out={out}"], progress=False)
    return request.param, sandbox.load(run.dir)


@pytest.mark.parametrize("seat", [0, 1])
def test_full_games_through_act_in_either_seat(agent, seat):
    name, policy = agent
    core = get_game(name)
    rng = np.random.default_rng(seat)
    games = 3 if name != "go9" else 1
    for game in range(games):
        env = pettingzoo_env(name)
        env.reset(seed=game)
        state = core.initial(1)[0]
        moves = 0
        for who in env.agent_iter(max_iter=400 if name == "go9" else 100):
            obs, reward, terminated, truncated, _ = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            seen = core.from_observation(obs["observation"])
            assert np.array_equal(seen[: core.cells + 1], state[: core.cells + 1]), (name, moves)
            if env.agents.index(who) == seat:
                action = policy.act(obs)
                assert obs["action_mask"][action] == 1
            else:
                action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
            env.step(action)
            state, term, _ = core.step(state[None], np.array([action]))
            state = state[0]
            moves += 1
        assert moves >= (5 if name == "tictactoe" else 7)
        env.close()


def test_every_reachable_tictactoe_position_in_pettingzoo(agent):
    """Every non-final position of PettingZoo's own tictactoe_v3 (4520 of them, either player to
    move), reached by walking its game tree (each position replayed from a reset): act() reads it
    as the core's state and answers with a legal move."""
    name, policy = agent
    if name != "tictactoe":
        pytest.skip("the full tree is walked for tic-tac-toe only")
    core = get_game(name)
    env = pettingzoo_env(name)
    seen: set[bytes] = set()
    acted = {0: 0, 1: 0}
    stack: list[list[int]] = [[]]
    while stack:
        moves = stack.pop()
        env.reset(seed=0)
        state = core.initial(1)[0]
        for move in moves:
            env.step(move)
            state = core.step(state[None], np.array([move]))[0][0]
        obs, _, terminated, truncated, _ = env.last()
        key = state[: core.cells + 1].tobytes()
        if terminated or truncated or key in seen:
            continue
        seen.add(key)
        assert np.array_equal(core.from_observation(obs["observation"])[: core.cells + 1], state[: core.cells + 1])
        action = policy.act(obs)
        assert obs["action_mask"][action] == 1, (moves, action)
        acted[env.agents.index(env.agent_selection)] += 1
        stack.extend([*moves, int(m)] for m in np.flatnonzero(obs["action_mask"]))
    env.close()
    assert len(seen) == 4520 and acted[0] > 0 and acted[1] > 0
