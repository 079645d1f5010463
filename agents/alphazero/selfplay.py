"""Self-play games in lockstep, in the learner's process or in Ray actors.

:class:`SelfPlay` is step 1 of AlphaZero's loop (see :mod:`sandbox.agents.alphazero.agent`): ``games``
games, each with its own search tree, all searched together; one :meth:`SelfPlay.move` plays one
move in every game and hands back the games that ended, their positions labelled with the result.

:class:`SelfPlayActor` runs a :class:`SelfPlay` of its own on the CPU; ``agent.actors=N`` makes N of
them Ray actors (``ray.remote(SelfPlayActor)``), each searching its own batch of games while the
learner trains. Each call plays ``moves`` lockstep moves with the newest weights the learner has
published through Ray's object store and returns the games that ended. Ray is imported only here,
and only by :func:`ray_cluster` and the actor's weight fetch: a run with ``actors=0`` never imports
it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from sandbox.agents.alphazero.search import Evaluator, SearchConfig, Trees, capacity_for, pick, rows
from sandbox.errors import ConfigError, MachineError, SandboxError


@dataclass
class Game:
    """A finished self-play game: its positions ``x`` (n, planes, H, W) int8, the search's policy
    targets ``p`` (n, A), each position's value target ``z`` (n,) for the player to move there (the
    game's result, or its mix with the search's root value: ``value_mix``), the game's length in
    plies, its ``result`` for the first player (1 won, 0 draw, -1 lost) and, when self-play asks
    for it (``ownership``), who owns each point at the end, for the player to move at each
    position, ``own`` (n, cells) int8 (1 the mover, -1 the opponent, 0 neither)."""

    x: np.ndarray
    p: np.ndarray
    z: np.ndarray
    length: int
    result: float
    own: np.ndarray | None = None


class SelfPlay:
    """``games`` self-play games searched in lockstep, each with its own tree (tree reuse kept)."""

    def __init__(self, game: Any, games: int, simulations: int, reuse_tree: bool, temperature_moves: int,
                 search_cfg: SearchConfig, seed: int, value_mix: float = 0.0, ownership: bool = False,
                 fast_simulations: int = 0, full_search_share: float = 1.0) -> None:
        self.game, self.games = game, games
        self.reuse_tree, self.temperature_moves = reuse_tree, temperature_moves
        self.value_mix, self.ownership = value_mix, ownership
        self.simulations, self.fast_simulations, self.full_search_share = simulations, fast_simulations, full_search_share
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))  # draws full or fast searches
        #: of the last :meth:`move`: the simulations each game's search ran, and the positions
        #: recorded for training (all games' after a full search, none after a fast one)
        self.last_simulations, self.last_recorded = simulations, games
        self.g_all = np.arange(games)
        self.trees = Trees(game, games, capacity_for(simulations, reuse_tree), search_cfg, seed=seed)
        self.states = game.initial(games)
        self.trees.set_roots(self.g_all, self.states)
        self.ply = np.zeros(games, np.int64)
        self.history: list[list[tuple[np.ndarray, np.ndarray, int, float]]] = [[] for _ in self.g_all]

    def move(self, evaluate: Evaluator) -> list[Game]:
        """One move in every game: search all trees, draw the moves (in proportion to visits for the
        first ``temperature_moves`` plies, then the most visited), play them; the games that ended,
        whose slots start new games.

        With ``fast_simulations`` (KataGo's playout cap randomization), the move is searched with
        ``simulations`` and its positions recorded for training with probability
        ``full_search_share``, else searched with ``fast_simulations`` and only played: games come
        sooner (more results for the value head an hour), and every policy target is still a full
        search's. A game whose moves were all fast ends with no positions."""
        game, g_all, trees = self.game, self.g_all, self.trees
        states = self.states
        # 1. search every tree at once (in full, or fast: the move is only played) and choose the moves
        full = not self.fast_simulations or self.rng.random() < self.full_search_share
        sims = self.simulations if full else self.fast_simulations
        self.last_simulations, self.last_recorded = sims, self.games if full else 0
        res = trees.search(g_all, evaluate, noise=True, simulations=sims)
        actions = pick(res, 0.0)
        early = np.nonzero(self.ply < self.temperature_moves)[0]
        if len(early) and "action" not in res:
            actions[early] = pick(rows(res, early), 1.0, [trees.rngs[i] for i in early])
        # 2. remember each position with its policy target, the player to move and the search's value there
        to_play = game.to_play(states)
        if full:
            x = game.encode(states).astype(np.int8)
            for i in g_all:
                self.history[i].append((x[i], res["target"][i], int(to_play[i]), float(res["value"][i])))
        # 3. play the moves; a finished game's positions get its result z (mixed with the root values: value_mix)
        nxt, term, reward = game.step(states, actions)
        self.ply += 1
        fin = np.nonzero(term)[0]
        done: list[Game] = []
        area = game.ownership(nxt[fin]) if self.ownership and len(fin) else None  # (fin, cells), +1 the first player's
        for j, i in enumerate(fin):
            first = float(reward[i] if to_play[i] == 0 else -reward[i])  # the result for the first player
            if not self.history[i]:  # every move of the game searched fast: its result, no positions
                done.append(Game(np.zeros((0, *x_shape(game)), np.int8), np.zeros((0, game.num_actions), np.float32),
                                 np.zeros(0, np.float32), int(self.ply[i]), float(np.sign(first)),
                                 np.zeros((0, game.cells), np.int8) if area is not None else None))
                continue
            xs, ps, players, values = zip(*self.history[i])
            z = np.where(np.array(players) == to_play[i], reward[i], -reward[i]).astype(np.float32)
            if self.value_mix:
                z = ((1 - self.value_mix) * z + self.value_mix * np.array(values, np.float32)).astype(np.float32)
            own = None
            if area is not None:
                sign = np.where(np.array(players) == 0, 1, -1).astype(np.int8)
                own = (sign[:, None] * area[j][None, :]).astype(np.int8)
            done.append(Game(np.stack(xs), np.stack(ps), z, int(self.ply[i]), float(np.sign(first)), own))
            self.history[i] = []
        # 4. move the trees on (reusing the subtree under each move), new games in the finished slots
        cont = np.nonzero(~term)[0]
        if len(cont):
            if self.reuse_tree:
                trees.advance(cont, actions[cont], nxt[cont])
            else:
                trees.set_roots(cont, nxt[cont])
        if len(fin):
            nxt[fin] = game.initial(len(fin))
            self.ply[fin] = 0
            trees.set_roots(fin, nxt[fin])
        self.states = nxt
        return done


def x_shape(game: Any) -> tuple[int, int, int]:
    """The shape of one position's input planes."""
    return (game.planes, game.height, game.width)


def actor_seed(run_seed: int, index: int, step: int) -> int:
    """The seed of actor ``index``'s search trees, from the run's seed and the step it starts at
    (a resumed run's actors start on fresh streams)."""
    return int(np.random.SeedSequence([run_seed, index, step]).generate_state(1)[0])


class SelfPlayActor:
    """A self-play worker: its own network copy on the CPU and its own :class:`SelfPlay`. Made a
    Ray actor by ``ray.remote(SelfPlayActor)``; a plain object in tests."""

    def __init__(self, game: Any, backbone: Any, agent_cfg: Any, search_cfg: SearchConfig, seed: int) -> None:
        import torch

        from sandbox.agents.alphazero.network import PolicyValueNet
        from sandbox.device import set_threads

        set_threads(max(1, agent_cfg.threads))
        torch.manual_seed(seed % 2**63)
        self.game = game
        ownership = agent_cfg.ownership > 0
        self.net = PolicyValueNet(backbone, game, ownership=ownership, policy_head=agent_cfg.policy_head).eval()
        self.version = -1
        self.selfplay = SelfPlay(game, agent_cfg.games, agent_cfg.simulations, agent_cfg.reuse_tree, agent_cfg.temperature_moves,
                                 search_cfg, seed, agent_cfg.value_mix, ownership, agent_cfg.fast_simulations,
                                 agent_cfg.full_search_share)

    def ready(self) -> bool:
        """True once the actor is built (a call the learner waits on at the start)."""
        return True

    def load(self, weights: dict[str, Any], version: int) -> None:
        """Take the learner's ``weights`` (a state dict), published after ``version`` training steps."""
        self.net.load_state_dict(weights)
        self.net.eval()
        self.version = version

    def evaluate(self, states: np.ndarray, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network as the search's evaluator (as the learner's :meth:`AlphaZero.evaluator`, on the CPU)."""
        import torch

        x = torch.from_numpy(self.game.encode(states))
        with torch.no_grad():
            logits, value = self.net(x)
        logits = logits.float().numpy()
        logits = np.where(legal, logits, -np.inf)
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(1, keepdims=True)).astype(np.float32), value.float().numpy()

    def play(self, weights: list[Any], version: int, moves: int) -> dict[str, Any]:
        """``moves`` lockstep moves with the weights of ``version`` (``weights``: a one-element list
        holding their Ray object reference, fetched only when the version is new). Returns the
        games that ended, the positions played (``moves`` × games), the simulations, the seconds
        and the weights' version; ``positions``, those recorded for training (fewer than the moves
        with ``fast_simulations``)."""
        if version != self.version:
            import ray

            self.load(ray.get(weights[0]), version)
        t = time.time()
        games: list[Game] = []
        sims = positions = 0
        for _ in range(moves):
            games += self.selfplay.move(self.evaluate)
            sims += self.selfplay.games * self.selfplay.last_simulations
            positions += self.selfplay.last_recorded
        return {"games": games, "moves": moves * self.selfplay.games, "positions": positions, "sims": sims,
                "seconds": time.time() - t, "version": self.version}


# -- Ray: started and stopped as `sandbox sweep` does ----------------------------------------------
def need_ray() -> None:
    """One sentence naming what to install when Ray is missing."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise SandboxError("agent.actors runs self-play on Ray, which is not installed; install the sandbox's scale extra: "
                           'pip install -e ".[scale]" (or pip install "ray[tune]"), or set agent.actors=0.') from None


def auto_actors(address: str | None) -> int | None:
    """``agent.actors=auto`` as a number: 0 (self-play in the learner's process) where Ray is not
    installed, where this process is already a Ray worker (a sweep's trial: the sweep spreads its
    trials over the CPUs) or where this machine has one CPU; None (one actor per free CPU, counted
    once joined) where a cluster is named by ``address`` or ``RAY_ADDRESS``; else one actor per CPU
    this process may run on."""
    if importlib.util.find_spec("ray") is None:
        return 0
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        return 0
    if address or os.environ.get("RAY_ADDRESS"):
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus if cpus >= 2 else 0


@contextmanager
def ray_cluster(address: str | None, cpus: int) -> Iterator[Any]:
    """Ray for the actors: the cluster this process already belongs to (a sweep's trial runs inside
    a Ray worker: its cluster is used and left running), else the one at ``address`` (or
    ``RAY_ADDRESS``), else a local cluster of ``cpus`` CPUs; a cluster joined or started here is
    left (``ray.shutdown``) at the end, also on Ctrl-C and on errors, so no Ray process outlives
    the run."""
    where = address or os.environ.get("RAY_ADDRESS")
    if where and "ray" not in sys.modules:
        from sandbox.sweep import check_address

        check_address(where)  # before Ray is imported: it reads RAY_AUTH_MODE once
    need_ray()
    import ray

    if ray.is_initialized():
        yield ray
        return
    init_args: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if address is not None:
        init_args["address"] = address
    elif not os.environ.get("RAY_ADDRESS"):  # a cluster of its own, even where 'ray start' runs one on this machine
        init_args.update(address="local", num_cpus=cpus)
    try:
        try:
            ray.init(**init_args)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            advice = "check the address ('ray status') or leave agent.ray_address out" if where else "set agent.actors=0 to self-play in this process"
            raise MachineError(f"could not {'join the Ray cluster at ' + where if where else 'start a local Ray cluster'} "
                               f"({str(exc).splitlines()[0][:160]}); {advice}.") from None
        yield ray
    finally:
        if ray.is_initialized():
            ray.shutdown()


def start_actors(ray: Any, args: list[tuple[Any, ...]], interrupted: Any, within: float = 300.0) -> list[Any]:
    """One :class:`SelfPlayActor` per tuple of constructor ``args``, one CPU each, waited for (at
    most ``within`` seconds, or until ``interrupted()``). They are never placed in the placement
    group of the caller (a sweep's trial captures its children in its own, which holds only the
    trial's CPUs): they take free CPUs of the cluster."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    remote = ray.remote(SelfPlayActor).options(num_cpus=1, max_restarts=0,
                                               scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=None))
    actors = [remote.remote(*a) for a in args]
    pending = [a.ready.remote() for a in actors]
    deadline = time.time() + within
    while pending and time.time() < deadline and not interrupted():
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
    if pending and not interrupted():
        for a in actors:
            ray.kill(a)
        raise MachineError(f"the Ray cluster did not start {len(pending)} of the {len(actors)} self-play actors within {within:.0f} s "
                           "(no free CPUs?); lower agent.actors or check the cluster ('ray status').")
    return actors


def check_cpus(ray: Any, actors: int) -> None:
    """One sentence when the cluster has fewer free CPUs than actors (each actor takes one)."""
    free = ray.available_resources().get("CPU", 0.0)
    if free < actors:
        raise ConfigError(f"agent.actors={actors} needs {actors} free CPUs of the Ray cluster, which has {free:g}; "
                          "lower agent.actors or give the Ray cluster more CPUs (in a sweep: --cpus, or fewer trials at once with --parallel).")
