"""``agent.policy_head=conv``: each board point's logit (and ownership) from the CNN's feature map
at that point; trains, resumes, plays over GTP, and is refused in one sentence where the moves are
not points or the backbone keeps no map of the board's size."""

from __future__ import annotations

import sys
from pathlib import Path

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


def test_auto_builds_the_conv_head_where_it_fits(tmp_path) -> None:
    from sandbox.backbones.mlp import MLPConfig

    assert PolicyValueNet(small_cnn(), Go(9), policy_head="auto").spatial
    assert PolicyValueNet(small_cnn(), TicTacToe(), policy_head="auto").spatial  # its moves are points too
    assert not PolicyValueNet(Section("mlp", MLPConfig(hidden=[16])), Go(9), policy_head="auto").spatial
    shrunk = Section("cnn", CNNConfig(arch="small", channels=[8, 8], downsample_to=4, hidden=16))
    assert not PolicyValueNet(shrunk, Go(9), policy_head="auto").spatial
    from sandbox.envs.games.connect_four import ConnectFour

    assert not PolicyValueNet(small_cnn(), ConnectFour(), policy_head="auto").spatial
    # the go9 preset says auto: a CNN run gets the conv head, an MLP run the linear one, and the
    # Go benchmark reads which from the checkpoint
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.alphazero_gnugo import describe

    base = [t for t in TINY if not t.startswith("agent.policy_head")]
    cnn = sandbox.train(None, [*base, "steps=16", f"out={tmp_path / 'cnn'}"], progress=False)
    assert sandbox.load(cnn.dir).net.spatial and describe(cnn.dir, "latest")["policy_head"] == "conv"
    mlp = sandbox.train(None, [*[t for t in base if not t.startswith("backbone.")], "backbone=mlp", "backbone.hidden=[16]",
                               "steps=16", f"out={tmp_path / 'mlp'}"], progress=False)
    assert not sandbox.load(mlp.dir).net.spatial and describe(mlp.dir, "latest")["policy_head"] == "linear"


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
