"""PettingZoo AEC envs on the rules cores: ``tictactoe``, ``connect_four`` and ``go9``.

The observations and actions of ``tictactoe`` and ``connect_four`` are exactly those of PettingZoo
classic's ``tictactoe_v3`` and ``connect_four_v3`` (same agent names, same ``(H, W, 2)`` int8 planes,
same action numbering, same wrappers), so a policy trained on one plays in the other unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv
from pettingzoo.utils import AgentSelector, wrappers

from sandbox.envs.games import get_game
from sandbox.envs.games.base import Game
from sandbox.config import option
from sandbox.envs.window import RENDER_MODES, FrameWindow, check_render_mode


class BoardGameEnv(AECEnv):
    """A two-player board game from a rules core, one move per ``step``."""

    metadata = {"render_modes": list(RENDER_MODES), "name": "board_game", "is_parallelizable": False, "render_fps": 2}

    def __init__(self, game: Game, render_mode: str | None = None) -> None:
        super().__init__()
        self.game = game
        self.metadata = {**self.metadata, "name": f"sandbox_{game.name}"}
        self.render_mode = render_mode
        self.possible_agents = list(game.agents)
        self.agents = self.possible_agents[:]
        obs_shape = (game.height, game.width, game.planes)
        self.observation_spaces = {
            a: spaces.Dict({
                "observation": spaces.Box(low=0, high=1, shape=obs_shape, dtype=np.int8),
                "action_mask": spaces.Box(low=0, high=1, shape=(game.num_actions,), dtype=np.int8),
            })
            for a in self.possible_agents
        }
        self.action_spaces = {a: spaces.Discrete(game.num_actions) for a in self.possible_agents}
        self.state_ = game.initial(1)[0]
        self.last_action: int | None = None
        self._window: Any = None
        self.reset()

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        player = self.possible_agents.index(agent)
        return self.game.observation(self.state_, player, agent == self.agent_selection)

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self.state_ = self.game.initial(1)[0]
        self.last_action = None
        self.agents = self.possible_agents[:]
        self.rewards = dict.fromkeys(self.agents, 0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {a: {} for a in self.agents}
        self._agent_selector = AgentSelector(self.agents)
        self.agent_selection = self._agent_selector.reset()

    def step(self, action: int) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            return self._was_dead_step(action)
        self._cumulative_rewards[agent] = 0
        self.rewards = dict.fromkeys(self.agents, 0)
        nxt, term, reward = self.game.step(self.state_[None], np.array([int(action)]))
        self.state_ = nxt[0]
        self.last_action = int(action)
        if term[0]:
            other = self.possible_agents[1 - self.possible_agents.index(agent)]
            self.rewards[agent] = int(reward[0])
            self.rewards[other] = -int(reward[0])
            self.terminations = dict.fromkeys(self.agents, True)
        self._accumulate_rewards()
        self.agent_selection = self._agent_selector.next()
        if self.render_mode == "human":
            self.render()

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            import gymnasium

            gymnasium.logger.warn("You are calling render method without specifying any render mode.")
            return None
        from sandbox.envs.games.draw import render_board

        frame = render_board(self.game, self.state_, last=self.last_action)
        if self.render_mode == "rgb_array":
            return frame
        if self._window is None:
            self._window = FrameWindow(f"sandbox: {self.game.name}", self.metadata["render_fps"], min_height=0)
        self._window.show(frame)
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None


def wrap(raw: AECEnv) -> AECEnv:
    """PettingZoo classic's wrappers: an illegal move ends the game with -1 for the mover."""
    env = wrappers.TerminateIllegalWrapper(raw, illegal_reward=-1)
    env = wrappers.AssertOutOfBoundsWrapper(env)
    return wrappers.OrderEnforcingWrapper(env)


@dataclass
class BoardEnvConfig:
    render_mode: str | None = option(None, "None, human (a window) or rgb_array (frames)")


@dataclass
class GoEnvConfig:
    render_mode: str | None = option(None, "None, human (a window) or rgb_array (frames)")
    komi: float = option(7.5, "points White gets for moving second")


def tictactoe(render_mode: str | None = None) -> AECEnv:
    """Tic-tac-toe, observations and actions as PettingZoo's tictactoe_v3."""
    check_render_mode(render_mode, "tictactoe")
    return wrap(BoardGameEnv(get_game("tictactoe"), render_mode))


def connect_four(render_mode: str | None = None) -> AECEnv:
    """Connect Four (7×6), observations and actions as PettingZoo's connect_four_v3."""
    check_render_mode(render_mode, "connect_four")
    return wrap(BoardGameEnv(get_game("connect_four"), render_mode))


def go9(render_mode: str | None = None, komi: float = 7.5) -> AECEnv:
    """Go 9×9 with area scoring, komi and positional superko; actions as PettingZoo's go_v5 (81 = pass)."""
    check_render_mode(render_mode, "go9")
    from sandbox.envs.games.go import Go

    return wrap(BoardGameEnv(Go(9, komi), render_mode))


for _factory, _cfg in ((tictactoe, BoardEnvConfig), (connect_four, BoardEnvConfig), (go9, GoEnvConfig)):
    _factory.Config = _cfg  # type: ignore[attr-defined]
