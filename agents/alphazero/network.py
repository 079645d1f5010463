"""The policy-value network: a shared backbone (a residual CNN by default; MLP, RNN and transformer
work too), a policy head (one logit per action) and a value head (tanh, for the player to move).

:class:`ObservationGraph` is the same network read from PettingZoo observations, as ``sandbox
export --format onnx`` writes it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sandbox.backbones.base import InputSpec, build


class PolicyValueNet(nn.Module):
    """board planes (B, C, H, W) -> (policy logits (B, A), value (B,) in [-1, 1]).

    With ``ownership`` (Go), a third head beside them predicts who owns each point when the game
    ends (logits (B, cells), for the player to move): a target of one number per point where the
    value has one per game, which teaches the shared body territory and life and death sooner
    (KataGo's auxiliary target). Only training reads it (:meth:`heads`); searching and exports
    use the policy and value alone."""

    def __init__(self, backbone: Any, game: Any, value_hidden: int = 64, ownership: bool = False) -> None:
        super().__init__()
        self.spec = InputSpec.image(game.planes, game.height, game.width)
        self.body = build(backbone, self.spec)
        d = self.body.out_dim
        self.policy = nn.Linear(d, game.num_actions)
        self.value = nn.Sequential(nn.Linear(d, value_hidden), nn.ReLU(), nn.Linear(value_hidden, 1), nn.Tanh())
        self.ownership = nn.Linear(d, game.height * game.width) if ownership else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return self.policy(features), self.value(features).squeeze(-1)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(policy logits, value, ownership logits or None without the head), from one pass of the body."""
        features = self.body(x)
        own = self.ownership(features) if self.ownership is not None else None
        return self.policy(features), self.value(features).squeeze(-1), own


class ObservationGraph(nn.Module):
    """The network from PettingZoo observations of the player to move, (B, H, W, planes) with
    values 0/1 of any dtype: its input planes are those observations with channels first (see
    ``Game.encode``). -> (policy logits (B, A), value (B,))."""

    def __init__(self, net: PolicyValueNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(observation.permute(0, 3, 1, 2).float())
