"""The policy-value network: a shared backbone (a residual CNN by default; MLP, RNN and transformer
work too), a policy head (one logit per action) and a value head (tanh, for the player to move).

:class:`ObservationGraph` is the same network read from PettingZoo observations, as ``sandbox
export --format onnx`` writes it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sandbox.backbones.base import InputSpec, build


class SpatialHead(nn.Module):
    """One logit a board point from the backbone's feature map there (a 1×1 convolution), each
    point also told the whole board's features (added as a bias of the hidden map, KataGo's global
    pooling in its simplest form), and ``extra`` logits after the points from those features alone
    (Go's pass): (fmap (B, C, H, W), features (B, d)) -> (B, H·W + extra)."""

    def __init__(self, channels: int, d: int, extra: int = 0, hidden: int = 32) -> None:
        super().__init__()
        self.local = nn.Conv2d(channels, hidden, 1)
        self.board = nn.Linear(d, hidden)
        self.point = nn.Conv2d(hidden, 1, 1)
        self.extra = nn.Linear(d, extra) if extra else None

    def forward(self, fmap: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.local(fmap) + self.board(features)[:, :, None, None])
        points = self.point(h).flatten(1)
        return torch.cat([points, self.extra(features)], 1) if self.extra is not None else points


class PolicyValueNet(nn.Module):
    """board planes (B, C, H, W) -> (policy logits (B, A), value (B,) in [-1, 1]).

    With ``ownership`` (Go), a third head beside them predicts who owns each point when the game
    ends (logits (B, cells), for the player to move): a target of one number per point where the
    value has one per game, which teaches the shared body territory and life and death sooner
    (KataGo's auxiliary target). Only training reads it (:meth:`heads`); searching and exports
    use the policy and value alone.

    ``policy_head``: ``linear``, one layer from the backbone's features (a vector of
    ``backbone.hidden``) to every action; ``conv``, a :class:`SpatialHead` on the CNN's feature
    map, each point's logit from the map at that point (the ownership head too), for games whose
    actions are their board's points (Go, tic-tac-toe) and a CNN that keeps the board's size;
    ``auto``, ``conv`` where the game and the backbone allow it, else ``linear`` (``spatial`` says
    which was built)."""

    def __init__(self, backbone: Any, game: Any, value_hidden: int = 64, ownership: bool = False,
                 policy_head: str = "linear") -> None:
        super().__init__()
        self.spec = InputSpec.image(game.planes, game.height, game.width)
        self.body = build(backbone, self.spec)
        d = self.body.out_dim
        self.value = nn.Sequential(nn.Linear(d, value_hidden), nn.ReLU(), nn.Linear(value_hidden, 1), nn.Tanh())
        self.spatial = policy_head == "conv" or (policy_head == "auto" and conv_head_fits(self.body, game))
        if self.spatial:
            channels = spatial_channels(self.body, game)
            self.policy = SpatialHead(channels, d, game.num_actions - game.cells)
            self.ownership = SpatialHead(channels, d) if ownership else None
        else:
            self.policy = nn.Linear(d, game.num_actions)
            self.ownership = nn.Linear(d, game.height * game.width) if ownership else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        policy, value, _ = self._run(x, False)
        return policy, value

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(policy logits, value, ownership logits or None without the head), from one pass of the body."""
        return self._run(x, self.ownership is not None)

    def _run(self, x: torch.Tensor, own: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if not self.spatial:
            features = self.body(x)
            return self.policy(features), self.value(features).squeeze(-1), self.ownership(features) if own else None
        fmap = self.body.convs[:-1](x.float())  # the CNN without its Flatten: (B, C, H, W)
        features = self.body.head(fmap.flatten(1))
        return (self.policy(fmap, features), self.value(features).squeeze(-1),
                self.ownership(fmap, features) if own else None)


def conv_head_fits(body: nn.Module, game: Any) -> bool:
    """Whether ``policy_head=conv`` would be accepted here (``auto`` then builds it)."""
    from sandbox.errors import ConfigError

    try:
        spatial_channels(body, game)
    except ConfigError:
        return False
    return True


def spatial_channels(body: nn.Module, game: Any) -> int:
    """The channels of the feature map a conv head reads, after checking that there is one of the
    board's size and that the game's actions are its points (ConfigError otherwise)."""
    from sandbox.backbones.cnn import CNN
    from sandbox.errors import ConfigError

    if not getattr(game, "point_actions", False):
        raise ConfigError(f"agent.policy_head=conv gives each board point its own logit, but {game.name}'s moves are not "
                          f"its points; use agent.policy_head=linear.")
    if not isinstance(body, CNN):
        raise ConfigError(f"agent.policy_head=conv reads a CNN's feature map, and the backbone is "
                          f"{type(body).__name__.lower()}; use backbone=cnn or agent.policy_head=linear.")
    with torch.no_grad():
        shape = tuple(body.convs[:-1](torch.zeros(1, game.planes, game.height, game.width)).shape[1:])
    if shape[1:] != (game.height, game.width):
        raise ConfigError(f"agent.policy_head=conv needs the CNN's feature map at the board's {game.height}×{game.width}, "
                          f"but it is {shape[1]}×{shape[2]}; use backbone.arch=small with backbone.downsample_to ≥ "
                          f"{max(game.height, game.width)}, or agent.policy_head=linear.")
    return int(shape[0])


class ObservationGraph(nn.Module):
    """The network from PettingZoo observations of the player to move, (B, H, W, planes) with
    values 0/1 of any dtype: its input planes are those observations with channels first (see
    ``Game.encode``). -> (policy logits (B, A), value (B,))."""

    def __init__(self, net: PolicyValueNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(observation.permute(0, 3, 1, 2).float())
