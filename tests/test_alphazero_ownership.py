"""Go's liberty planes and AlphaZero's ownership head: who owns each point at a game's end, learnt
beside the value (``agent.ownership``), its targets turned with the board and kept across a resume."""

from __future__ import annotations

import numpy as np
import pytest

import sandbox
from sandbox.agents.alphazero.search import SearchConfig
from sandbox.agents.alphazero.selfplay import SelfPlay
from sandbox.envs.games.go import Go
from sandbox.tracking import read_metrics

TINY = ["agent=alphazero", "env=go9", "agent.simulations=4", "agent.gumbel_actions=4", "agent.games=4", "agent.batch_size=16",
        "agent.min_buffer=16", "agent.eval_games=2", "agent.eval_simulations=4", "agent.log_seconds=0", "agent.actors=0",
        "agent.eval_every=0", "agent.elo_snapshots=0", "wandb.mode=disabled"]


def board(rows: list[str], to_play: int = 0) -> tuple[Go, np.ndarray]:
    """A Go position from rows of X (Black), O (White) and . , the top row first."""
    g = Go(len(rows))
    s = g.initial(1)
    s[0, : g.cells] = [{".": 0, "X": 1, "O": 2}[c] for c in "".join(rows)]
    s[0, g.cells] = to_play
    return g, s


def test_area_gives_each_point_its_owner_and_the_score_is_their_sum_less_komi() -> None:
    g, s = board([".X.O.",
                  "XX.OO",
                  "...O.",
                  "OOOO.",
                  "....."])
    area = g.area(s).reshape(5, 5)
    assert area[0].tolist() == [1, 1, 0, -1, -1]  # a1 reaches black only; the middle point reaches both
    assert area[1].tolist() == [1, 1, 0, -1, -1]
    assert area[2].tolist() == [0, 0, 0, -1, -1]  # the empty region on the left touches both colours
    assert area[4].tolist() == [-1] * 5
    assert g.score(s)[0] == area.sum() - g.komi
    assert (g.ownership(s) == area.reshape(1, -1)).all()


def test_the_liberty_planes_mark_stones_in_atari_for_the_player_to_move_and_the_other() -> None:
    g, s = board([".....",
                  ".OX..",
                  "..O..",
                  ".....",
                  "....."])  # the black stone at c4 has two liberties, each white stone three or more
    x = g.encode(s)[0]
    assert x.shape == (11, 5, 5)
    assert x[6, 1, 2] == 1 and x[5:8].sum() == 1  # Black to move: its stone, two liberties
    assert x[10, 1, 1] == 1 and x[10, 2, 2] == 1 and x[8:11].sum() == 2
    s[0, 1 * 5 + 3] = 2  # White at d4: the black stone is in atari
    s[0, g.cells] = 1  # and White is to move: the same stone is now the opponent's
    x = g.encode(s)[0]
    assert x[8, 1, 2] == 1 and x[8:11].sum() == 1
    assert x[5:8].sum() == 3 and (x[5:8].sum(0) == x[0]).all()  # the planes split the mover's stones
    assert (g.from_observation(g.observation(s[0], 1, True)["observation"])[: g.cells] == s[0, : g.cells]).all()


def test_self_play_labels_every_position_with_the_final_owners_seen_by_its_mover() -> None:
    g = Go(5, max_moves=24)
    sp = SelfPlay(g, 3, 4, True, 4, SearchConfig(simulations=4, gumbel=True, gumbel_actions=4), seed=0, ownership=True)

    def uniform(states: np.ndarray, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (legal / legal.sum(1, keepdims=True)).astype(np.float32), np.zeros(len(states), np.float32)

    done = []
    while len(done) < 3:
        done += sp.move(uniform)
    for played in done:
        assert played.own.shape == (played.length, g.cells) and played.own.dtype == np.int8
        assert (played.own[0::2] == played.own[0]).all() and (played.own[1::2] == -played.own[0]).all()
        black_area = int(played.own[0].sum())  # the first position has Black to move
        assert (black_area - g.komi > 0) == (played.result > 0)
    assert any(np.abs(p.own).sum() > 0 for p in done)


def test_the_ownership_targets_turn_with_the_board(tmp_path) -> None:
    run = sandbox.train(None, TINY + ["steps=640", f"out={tmp_path / 'r'}"], progress=False)
    agent = sandbox.load(run.dir, which="latest")
    n = agent.buffer.size
    assert n > 0 and agent.buffer.o is not None and np.abs(agent.buffer.o[:n]).sum() > 0
    # targets that can be read off the planes (own stones +1, the opponent's -1) must still match
    # the planes after every random symmetry of a batch
    agent.buffer.o[:n] = (agent.buffer.x[:n, 0] - agent.buffer.x[:n, 1]).reshape(n, -1)
    x, _, _, o = agent.batch(512)
    assert (o == (x[:, 0] - x[:, 1]).reshape(len(x), -1)).all()


def test_a_go_run_learns_ownership_logs_it_and_keeps_its_targets_across_a_resume(tmp_path) -> None:
    out = tmp_path / "own"
    run = sandbox.train(None, TINY + ["steps=640", "agent.log_every=64", "agent.log_seconds=null", f"out={out}"], progress=False)
    losses = [r["train/ownership_loss"] for r in read_metrics(run.dir) if "train/ownership_loss" in r]
    assert losses and all(0 < v < 5 for v in losses)
    agent = sandbox.load(run.dir, which="latest")
    assert agent.net.ownership is not None and agent.buffer.o is not None
    saved = agent.buffer.o[: agent.buffer.size].copy()
    again = sandbox.train(None, [f"out={out}", "steps=704"], progress=False)
    resumed = sandbox.load(again.dir, which="latest")
    assert resumed.buffer.size >= len(saved) and (resumed.buffer.o[: len(saved)] == saved).all()
    # the head learns: many steps on the buffer's positions lower its loss
    first = np.mean([resumed.train_step()[2] for _ in range(3)])
    for _ in range(60):
        resumed.train_step()
    assert np.mean([resumed.train_step()[2] for _ in range(3)]) < first


def test_without_ownership_there_is_no_head_and_no_target() -> None:
    from sandbox.agents.alphazero.network import PolicyValueNet
    from sandbox.backbones.cnn import CNNConfig
    from sandbox.config import Section

    net = PolicyValueNet(Section("cnn", CNNConfig(arch="small", channels=[8], downsample_to=32, hidden=16)), Go(9))
    assert net.ownership is None and net.heads(__import__("torch").zeros(2, 11, 9, 9))[2] is None


@pytest.mark.parametrize("overrides,match", [
    (["env=tictactoe", "agent.ownership=1"], "agent.ownership=1 trains a head .* tictactoe has no notion of"),
    (["env=go9", "agent.ownership=-1"], "agent.ownership"),
    (["env=go9", "agent.ownership=lots"], "agent.ownership"),
])
def test_bad_ownership_settings_are_one_sentence(overrides, match, tmp_path) -> None:
    out = tmp_path / "bad"
    with pytest.raises(sandbox.SandboxError, match=match):
        sandbox.train(None, ["agent=alphazero", "wandb.mode=disabled", f"out={out}", *overrides], progress=False)
    assert not out.exists()
