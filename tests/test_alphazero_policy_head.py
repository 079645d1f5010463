"""``agent.policy_head=conv``: each board point's logit (and ownership) from the CNN's feature map
at that point; trains, resumes, plays over GTP, and is refused in one sentence where the moves are
not points or the backbone keeps no map of the board's size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sandbox
from sandbox.agents.alphazero.network import PolicyValueNet
from sandbox.backbones.cnn import CNNConfig
from sandbox.config import Section
from sandbox.envs.games.go import Go
from sandbox.envs.games.tictactoe import TicTacToe
from sandbox.tracking import read_metrics

TINY = ["agent=alphazero", "env=go9", "agent.simulations=4", "agent.gumbel_actions=4", "agent.games=4", "agent.batch_size=16",
        "agent.min_buffer=16", "agent.eval_games=2", "agent.eval_simulations=4", "agent.log_seconds=0", "agent.actors=0",
        "agent.eval_every=0", "agent.elo_snapshots=0", "wandb.mode=disabled", "agent.policy_head=conv",
        "backbone.channels=[8]", "backbone.residual_blocks=1", "backbone.hidden=16"]


def small_cnn() -> Section:
    return Section("cnn", CNNConfig(arch="small", channels=[8], downsample_to=32, hidden=16))


def test_each_point_s_logit_reads_the_feature_map_at_that_point() -> None:
    torch.manual_seed(0)
    net = PolicyValueNet(small_cnn(), Go(9), ownership=True, policy_head="conv").eval()
    x = torch.zeros(2, Go.planes, 9, 9)
    x[1, 0, 4, 4] = 1.0  # one stone in the middle of the second board
    with torch.no_grad():
        policy, value, own = net.heads(x)
        fmap = net.body.convs[:-1](x)
        features = net.body.head(fmap.flatten(1))
    assert policy.shape == (2, 82) and value.shape == (2,) and own.shape == (2, 81)
    # by hand: the 1x1 convolutions at each point plus the board's features as a bias; pass from the features
    h = torch.relu(torch.einsum("bchw,kc->bkhw", fmap, net.policy.local.weight[:, :, 0, 0])
                   + net.policy.local.bias[None, :, None, None] + net.policy.board(features)[:, :, None, None])
    points = torch.einsum("bkhw,k->bhw", h, net.policy.point.weight[0, :, 0, 0]) + net.policy.point.bias
    assert torch.allclose(policy[:, :81], points.flatten(1), atol=1e-5)
    assert torch.allclose(policy[:, 81], net.policy.extra(features)[:, 0], atol=1e-5)
    assert torch.allclose(net(x)[0], policy) and torch.allclose(net(x)[1], value)
    # tic-tac-toe: nine points, no pass
    ttt = PolicyValueNet(Section("cnn", CNNConfig(arch="small", channels=[8], downsample_to=8, hidden=16)), TicTacToe(),
                         policy_head="conv")
    assert ttt(torch.zeros(3, TicTacToe.planes, 3, 3))[0].shape == (3, 9)


def test_a_conv_head_run_trains_resumes_and_plays_gtp(tmp_path) -> None:
    out = tmp_path / "conv"
    run = sandbox.train(None, [*TINY, "agent.ownership=1", "steps=512", "agent.log_every=64", f"out={out}"], progress=False)
    assert any("train/policy_loss" in r for r in read_metrics(run.dir))
    agent = sandbox.load(run.dir, which="latest")
    assert agent.net.spatial and agent.net.policy.extra is not None
    again = sandbox.train(None, [f"out={out}", "steps=576"], progress=False)
    resumed = sandbox.load(again.dir, which="latest")
    first = np.mean([sum(resumed.train_step()[:3]) for _ in range(3)])
    for _ in range(60):
        resumed.train_step()
    assert np.mean([sum(resumed.train_step()[:3]) for _ in range(3)]) < first  # the heads learn the buffer
    from sandbox.agents.alphazero.gtp import GTPEngine

    engine = GTPEngine(resumed, simulations=4)
    move = engine.command("genmove", ["b"])
    assert move == "pass" or move[0] in "ABCDEFGHJ"


def test_actors_build_the_same_network(tmp_path) -> None:
    from sandbox.agents.alphazero.selfplay import SelfPlayActor

    agent = sandbox.train(None, [*TINY, "steps=16", f"out={tmp_path / 'a'}"], progress=False)
    agent = sandbox.load(agent.dir)
    actor = SelfPlayActor(agent.game, agent.config.backbone, agent.cfg, agent.search_cfg, seed=1)
    assert set(actor.net.state_dict()) == set(agent.net.state_dict())


@pytest.mark.parametrize("overrides,match", [
    (["env=connect_four", "backbone=cnn"], "connect_four's moves are not its points"),
    (["env=go9", "backbone=mlp"], "reads a CNN's feature map, and the backbone is mlp"),
    (["env=go9", "backbone.downsample_to=4"], "feature map at the board's 9×9, but it is 5×5"),
    (["env=go9", "agent.policy_head=dense"], "agent.policy_head"),
])
def test_bad_policy_heads_are_one_sentence(overrides, match, tmp_path) -> None:
    out = tmp_path / "bad"
    with pytest.raises(sandbox.SandboxError, match=match):
        sandbox.train(None, ["agent=alphazero", "agent.policy_head=conv", "wandb.mode=disabled", f"out={out}", *overrides],
                      progress=False)
    assert not out.exists()
