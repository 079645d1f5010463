"""AlphaZero: self-play with a batched tree search, a policy-value network, and nothing else.

The loop, top to bottom (:meth:`AlphaZero.fit`):

1. **Self-play.** ``games`` games run in lockstep, each with its own search tree. Every move, all
   trees are searched together (one network batch per simulation step), with Dirichlet noise at
   the roots (or Gumbel root search), and the move is drawn from the visit counts for the first
   ``temperature_moves`` plies, then the most visited. The subtree under the move is kept (tree
   reuse). A finished game's positions enter the replay buffer with its result ``z`` (or, with
   ``value_mix``, its mix with the search's root value at each position), and a new game starts
   in its slot. With ``fast_simulations`` (KataGo's playout cap randomization) only a
   ``full_search_share`` of the moves is searched with ``simulations`` and recorded; the others
   get a fast search and are just played.
2. **Training.** For every new position recorded, ``train_ratio / batch_size`` updates on batches drawn
   from the buffer, each position under a random board symmetry: cross-entropy to the search's
   policy plus squared error to ``z``.
3. **Evaluation.** Every ``eval_every`` self-play moves (and at the start and the end): matches
   against each of ``eval_opponents`` (random, pure MCTS, perfect play) and against earlier
   snapshots of the network, first move alternating; an Elo rating is fitted to every result so
   far (random = 0) and the checkpoint with the best Elo is kept as ``best``.

With ``actors=N`` step 1 runs in N Ray actors, each its own ``games`` on a CPU, while this
process trains on the games that have arrived and evaluates (:meth:`AlphaZero._fit_with_actors`,
:mod:`sandbox.agents.alphazero.selfplay`); ``actors=0`` is the loop above in one process.

``run.step`` counts self-play moves. Everything (network, optimiser, buffer, ratings, snapshots)
is in the checkpoint, so a run resumes where it stopped.

Same seed, same run: evaluations and logged self-play metrics are scheduled by moves
(``eval_every``, ``log_every``), never by the clock unless asked (``eval_minutes``,
``log_seconds``), every random draw comes from generators seeded by the run's seed, and an
evaluation runs inside :func:`~sandbox.device.isolated_rng`, so that training's random streams
are the same whether it ran or was cut short.

With ``max_minutes``, the closing evaluation fits inside the budget: self-play stops early enough
to hold it (what the last evaluation took per game, times the games of the next), and every
evaluation's games end by the run's closing deadline; games cut there are dropped, and the
evaluation logs ``eval/games`` (the games it finished) and scores no checkpoint.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from sandbox.agents.alphazero.network import PolicyValueNet
from sandbox.agents.alphazero.opponents import Elo, SearchPlayer, opponent, play_match
from sandbox.agents.alphazero.search import Evaluator, SearchConfig, Trees, capacity_for, pick, rows
from sandbox.agents.alphazero.selfplay import Game, SelfPlay, auto_actors
from sandbox.checkpoint import Saved
from sandbox.config import RunConfig, Section, option
from sandbox.device import isolated_rng, set_threads
from sandbox.errors import ConfigError
from sandbox.plugin import Agent

if TYPE_CHECKING:
    from sandbox.run import Run

@dataclass
class AlphaZeroConfig:
    simulations: int = option(64, "search simulations per self-play move", low=1)
    fast_simulations: int = option(0, "KataGo's playout cap randomization: with N > 0, a self-play move is searched with "
                                      "simulations and its positions kept for training only with probability "
                                      "full_search_share, else searched with N simulations and just played (more games an "
                                      "hour, every policy target still a full search's); 0: every move searched in full",
                                   low=0)
    full_search_share: float = option(0.25, "with fast_simulations: the share of self-play moves searched in full and kept "
                                            "for training (KataGo: 0.25)", above=0, high=1)
    eval_simulations: int = option(0, "simulations per move when acting and evaluating (0: as simulations)", low=0)
    eval_symmetries: int = option(1, "when acting and evaluating, average the network's priors and value over this many of the "
                                     "board's symmetries (1: the board as it is; Connect Four has 2, its mirror image; "
                                     "tic-tac-toe and Go 8)", low=1, high=8)
    rating_simulations: int = option(0, "simulations per move in the run's own evaluations (every eval_every and at the end: "
                                        "the matches behind eval/ and Elo; 0: as eval_simulations); fewer keep those "
                                        "evaluations cheap, and self-play's time, without changing how the run plays", low=0)
    rating_symmetries: int = option(0, "the board symmetries the network is averaged over in the run's own evaluations "
                                       "(0: as eval_symmetries)", low=0, high=8)
    games: int = option(64, "self-play games searched in lockstep (the network's batch)", low=1)
    search: Literal["puct", "gumbel"] = option("puct", "puct with Dirichlet noise, or Gumbel root search (sequential halving)")
    gumbel_actions: int = option(16, "gumbel: actions considered at the root", low=1)
    c_puct: float = option(1.5, "exploration constant of PUCT", above=0)
    dirichlet_alpha: float = option(0.0, "Dirichlet noise alpha at the root (0: the game's own, ~10/moves)", low=0)
    noise_fraction: float = option(0.25, "share of the root prior taken by the noise", low=0, high=1)
    temperature_moves: int = option(8, "plies per game whose move is drawn in proportion to visits", low=0)
    reuse_tree: bool = option(True, "keep the subtree under the move played")
    solver: bool = option(False, "MCTS-solver: prove wins, draws and losses inside the search tree from the game's ends; "
                                 "a proven win is always played and learnt, a proven loss never played (not for Go, whose "
                                 "search leaves legal moves out)")
    value_mix: float = option(0.0, "share of each position's value target taken by the search's root value there, the rest "
                                    "being the game's result (0: the result alone, as AlphaZero; 0.5: their mean)", low=0, high=1)
    ownership: float = option(0.0, "weight of an auxiliary loss: a head beside the value's predicts who owns each point at "
                                   "the game's end (Go only; KataGo's lever: one target per point teaches territory sooner "
                                   "than one result per game); 0: no such head", low=0, high=100)
    policy_head: Literal["linear", "conv", "auto"] = option(
        "linear", "linear: the policy (and ownership) head is one layer from the backbone's feature vector (backbone.hidden "
                  "wide); conv: each board point's logit comes from the CNN's feature map at that point, told the whole "
                  "board's features (AlphaZero's and KataGo's heads, without the vector's bottleneck; Go and tic-tac-toe, "
                  "a CNN that keeps the board's size); auto: conv where the game and backbone allow it, else linear "
                  "(the go9 preset)")
    augment: bool = option(True, "train on random board symmetries of each position")
    buffer_size: int = option(100_000, "positions in the replay buffer", low=1)
    batch_size: int = option(256, "positions per gradient step", low=1)
    learning_rate: float = option(1e-3, "AdamW learning rate", above=0, high=10)
    weight_decay: float = option(1e-4, "AdamW weight decay", low=0)
    lr_schedule: Literal["constant", "cosine"] = option(
        "constant", "the learning rate over the run: constant, or cosine (from learning_rate down to a tenth of it at the end "
                    "of the budget, steps or max_minutes, whichever ends first; a resume goes on where the run was)")
    train_ratio: float = option(4.0, "gradient samples per self-play position", low=0)
    min_buffer: int = option(512, "positions before training starts", low=0)
    eval_every: int = option(25_600, "evaluate (matches, Elo) every this many self-play moves, and at the start and the end (0: only then)", low=0)
    eval_minutes: float | None = option(None, "also evaluate once this many minutes have passed since the last evaluation "
                                              "(null: never; a clock schedule makes a run depend on the machine's speed)", above=0)
    eval_games: int = option(20, "games against each opponent per evaluation", low=1)
    eval_opponents: list[str] = option(["random", "mcts:100"], "opponents of the evaluations: random, mcts:N, perfect (tic-tac-toe), gnugo:L (Go, GNU Go level L)")
    elo_snapshots: int = option(3, "earlier networks kept as Elo opponents", low=0)
    log_every: int = option(3_200, "log self-play metrics (losses, game lengths, speed) every this many self-play moves", low=1)
    log_seconds: float | None = option(None, "also log once this many seconds have passed since the last log "
                                             "(null: never; 0: after every move of the games in lockstep)", low=0)
    threads: int = option(1, "torch CPU threads (0: the process's own count before any run set one); 1 is fastest for search's small batches", low=0,
                          resumable=True)
    actors: int | Literal["auto"] = option(
        0, "self-play actors on Ray, each playing its own `games` on a CPU while this process trains (0: self-play in this "
           "process, as one loop; N needs the scale extra; auto: one actor per CPU of this machine, or per free CPU of the "
           "cluster named by ray_address or RAY_ADDRESS, where Ray is installed and there are two or more, else 0)",
        low=0, high=1024, resumable=True)
    actor_moves: int = option(4, "actors: lockstep moves an actor plays per call before it hands its finished games over "
                                 "and takes the newest weights", low=1, high=4096)
    weights_every: int = option(16, "actors: publish the learner's weights to the actors every this many training steps", low=1)
    max_lag: int = option(64, "actors: the most training steps the learner may run ahead of the weights an actor still plays "
                              "with (it waits for that actor's games rather than train further)", low=1)
    ray_address: str | None = option(None, "actors: the Ray cluster to join (HOST:PORT, auto or ray://HOST:PORT; null: "
                                           "RAY_ADDRESS, else a local Ray of this machine's CPUs)", resumable=True)

    def validate(self) -> None:
        positive = {"simulations": self.simulations, "games": self.games, "buffer_size": self.buffer_size,
                    "batch_size": self.batch_size, "gumbel_actions": self.gumbel_actions, "eval_games": self.eval_games}
        for k, v in positive.items():
            if v <= 0:
                raise ConfigError(f"agent.{k}={v} must be positive.")
        if self.rating_simulations < 0 or not 0 <= self.rating_symmetries <= 8:
            raise ConfigError(f"agent.rating_simulations={self.rating_simulations} must be ≥ 0 and agent.rating_symmetries="
                              f"{self.rating_symmetries} 0 to 8 (0: as eval_simulations, eval_symmetries).")
        if self.eval_simulations < 0 or self.train_ratio < 0 or self.min_buffer < 0 or self.temperature_moves < 0 or self.eval_every < 0:
            raise ConfigError("agent.eval_simulations, train_ratio, min_buffer, temperature_moves and eval_every must be ≥ 0.")
        if self.log_every <= 0:
            raise ConfigError(f"agent.log_every={self.log_every} must be positive (self-play moves between logged metrics).")
        if self.learning_rate <= 0 or (self.eval_minutes is not None and self.eval_minutes <= 0) or self.c_puct <= 0:
            raise ConfigError("agent.learning_rate, eval_minutes (when set) and c_puct must be positive.")
        if self.log_seconds is not None and self.log_seconds < 0:
            raise ConfigError(f"agent.log_seconds={self.log_seconds} must be ≥ 0 (or null: log by moves only).")
        if self.fast_simulations and not 0 < self.fast_simulations < self.simulations:
            raise ConfigError(f"agent.fast_simulations={self.fast_simulations} must be between 1 and agent.simulations="
                              f"{self.simulations} (fewer simulations for the moves that are only played; 0: every move in full).")
        if not 0 < self.full_search_share <= 1:
            raise ConfigError(f"agent.full_search_share={self.full_search_share} must be in (0, 1] (the share of moves "
                              "searched in full and kept for training).")
        if not 0 <= self.noise_fraction <= 1:
            raise ConfigError(f"agent.noise_fraction={self.noise_fraction} must be in [0, 1].")


@dataclass
class _Schedule:
    """What a self-play loop logs next and when: the window of moves since the last log row, its
    training losses, and the next log and evaluation steps (by moves), with the clock of the last
    evaluation (for ``eval_minutes``)."""

    window: dict[str, Any]
    losses: list[tuple[float, float, float]]
    next_log: int | None
    next_eval: int | None
    eval_clock: float


class Replay:
    """A ring buffer of (planes int8, policy target, result z), and with ``cells`` the final
    ownership of each point (int8, for the player to move) for the ownership head."""

    def __init__(self, capacity: int, shape: tuple[int, ...], actions: int, cells: int = 0) -> None:
        self.x = np.zeros((capacity, *shape), np.int8)
        self.p = np.zeros((capacity, actions), np.float32)
        self.z = np.zeros(capacity, np.float32)
        self.o = np.zeros((capacity, cells), np.int8) if cells else None
        self.capacity, self.pos, self.size = capacity, 0, 0

    def add(self, x: np.ndarray, p: np.ndarray, z: np.ndarray, o: np.ndarray | None = None) -> None:
        for i in range(len(x)):
            self.x[self.pos], self.p[self.pos], self.z[self.pos] = x[i], p[i], z[i]
            if self.o is not None and o is not None:
                self.o[self.pos] = o[i]
            self.pos = (self.pos + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        i = rng.integers(0, self.size, n)
        o = self.o[i].astype(np.float32) if self.o is not None else None
        return self.x[i].astype(np.float32), self.p[i], self.z[i], o


class AlphaZero(Agent):
    """AlphaZero: batched PUCT/Gumbel tree search and self-play on tic-tac-toe, Connect Four and Go."""

    Config = AlphaZeroConfig
    default_backbone = "cnn"

    @classmethod
    def score_metric(cls, config: RunConfig) -> tuple[str, str]:
        """The Elo rating of the evaluations (against the fixed opponents and earlier networks)."""
        return ("eval/elo", "max")

    @classmethod
    def complete_config(cls, config: RunConfig) -> RunConfig:
        if config.backbone is None:
            from sandbox.backbones.cnn import CNNConfig

            config.backbone = Section("cnn", CNNConfig(arch="small", channels=[64], downsample_to=32, residual_blocks=3, hidden=128))
        if getattr(config.plugin.config, "actors", 0) not in (0, "auto"):
            from sandbox.agents.alphazero.selfplay import need_ray

            need_ray()  # before anything is written
        return config

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        from sandbox.envs.games import GAMES, get_game

        if config.env is None or config.env.name not in GAMES:
            got = "no env" if config.env is None else f"env={config.env.name}"
            raise ConfigError(f"alphazero plays board games, but the run has {got}; use env={', env='.join(GAMES)}.")
        env_cfg = config.env.config
        self.game = get_game(config.env.name)
        if config.env.name == "go9" and env_cfg is not None and hasattr(env_cfg, "komi"):
            from sandbox.envs.games.go import Go

            self.game = Go(9, env_cfg.komi)
        for spec in self.cfg.eval_opponents:
            opponent(self.game, spec, given_as="agent.eval_opponents")  # a bad opponent string fails now, before anything is written
        cfg, game = self.cfg, self.game
        if cfg.eval_symmetries > game.num_symmetries:
            raise ConfigError(f"agent.eval_symmetries={cfg.eval_symmetries} is more than {game.name}'s {game.num_symmetries} "
                              f"board symmetries; use 1 to {game.num_symmetries}.")
        if cfg.rating_symmetries > game.num_symmetries:
            raise ConfigError(f"agent.rating_symmetries={cfg.rating_symmetries} is more than {game.name}'s {game.num_symmetries} "
                              f"board symmetries; use 0 (as eval_symmetries) or 1 to {game.num_symmetries}.")
        if cfg.solver and not game.provable:
            raise ConfigError(f"agent.solver=true cannot prove {game.name} positions (its search leaves legal moves out); "
                              f"use agent.solver=false.")
        if self.device.type == "cpu":
            set_threads(cfg.threads)
        if cfg.ownership and not hasattr(game, "ownership"):
            raise ConfigError(f"agent.ownership={cfg.ownership:g} trains a head on who owns each point at the end, which "
                              f"{game.name} has no notion of (Go has); use agent.ownership=0.")
        self.check_sizes()
        self.net = self.new_net()
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        self.search_cfg = SearchConfig(
            simulations=cfg.simulations, c_puct=cfg.c_puct, dirichlet_alpha=cfg.dirichlet_alpha or game.dirichlet_alpha,
            noise_fraction=cfg.noise_fraction, gumbel=cfg.search == "gumbel", gumbel_actions=cfg.gumbel_actions,
            solver=cfg.solver)
        self.eval_sims = cfg.eval_simulations or cfg.simulations
        self.eval_cfg = replace(self.search_cfg, simulations=self.eval_sims)
        self.buffer = Replay(cfg.buffer_size, (game.planes, game.height, game.width), game.num_actions,
                             game.cells if cfg.ownership else 0)
        self.elo = Elo()
        self.snapshots: dict[str, dict[str, torch.Tensor]] = {}
        self.counters = {"games": 0, "positions": 0, "updates": 0}
        self.rng = np.random.default_rng(config.seed)
        self._solo: Trees | None = None
        self._rated_at = -1
        #: seconds an evaluation game took in the last whole evaluation (a game between two networks counts twice)
        self.rate_seconds_per_game: float | None = None
        #: seconds to stop the actors and Ray at the end, kept out of max_minutes' closing time (a guess until measured)
        self.teardown_seconds = 2.0 if self.cfg.actors else 0.0  # (auto too: fit() sets 0 when it runs the single loop)

    def new_net(self) -> PolicyValueNet:
        """A freshly initialised network of the run's shape (with the ownership head when ``agent.ownership``)."""
        return PolicyValueNet(self.config.backbone, self.game, ownership=self.cfg.ownership > 0,
                              policy_head=self.cfg.policy_head).to(self.device)

    # -- the network as an evaluator ------------------------------------------------------------
    def evaluator(self, net: PolicyValueNet | None = None, symmetries: int = 1) -> Evaluator:
        """evaluate(states, legal) -> (priors, values) with the network (batched, no gradients).
        With ``symmetries`` > 1 the network sees each position also under the board's symmetries
        1 .. symmetries - 1, in the same batch; each one's policy is turned back onto the board and
        the priors and values are the means (test-time augmentation: its errors partly cancel)."""
        net = net or self.net
        game, device = self.game, self.device

        def evaluate(states: np.ndarray, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            x = game.encode(states)
            n = len(x)
            views = [x] + [game.symmetry(x, legal, k)[0] for k in range(1, symmetries)]
            with torch.no_grad():
                logits, value = net(torch.from_numpy(np.concatenate(views) if symmetries > 1 else x).to(device))
            logits, value = logits.float().cpu().numpy(), value.float().cpu().numpy()
            priors = np.zeros(legal.shape, np.float32)
            for k in range(symmetries):
                back = logits[k * n:(k + 1) * n]
                if k:
                    back = game.symmetry(x[:0], back, game.inverse_symmetry(k))[1]
                back = np.where(legal, back, -np.inf)
                back = np.exp(back - back.max(1, keepdims=True))
                priors += back / back.sum(1, keepdims=True)
            return (priors / symmetries).astype(np.float32), value.reshape(symmetries, n).mean(0).astype(np.float32)

        return evaluate

    def set_eval_simulations(self, n: int) -> None:
        """Search ``n`` simulations a move when playing (matches, ``act``), in place of the run's
        ``agent.eval_simulations``; training's self-play search is left as it is."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"the evaluation search needs a whole number of simulations of at least 1, not {n!r}.")
        self.eval_sims = n
        self.eval_cfg = replace(self.eval_cfg, simulations=n)
        self._solo = None  # the one-position tree is sized for the search: made anew at the next move

    def set_eval_symmetries(self, n: int) -> None:
        """Average the network over ``n`` of the board's symmetries when playing (matches, ``act``),
        in place of the run's ``agent.eval_symmetries``."""
        top = self.game.num_symmetries
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= top:
            raise ConfigError(f"{self.game.name} has {top} board symmetries to average the network over; choose 1 to {top}, not {n!r}.")
        self.cfg.eval_symmetries = n

    def player(self, name: str = "agent", net: PolicyValueNet | None = None, random_opening: int = 0, seed: int = 0,
               rating: bool = False) -> SearchPlayer:
        """The network with its evaluation search, as a match player; with ``rating``, with the
        search of the run's own evaluations (``agent.rating_simulations``, ``rating_symmetries``)."""
        cfg, search, symmetries = self.cfg, self.eval_cfg, self.cfg.eval_symmetries
        if rating:
            if cfg.rating_simulations:
                search = replace(self.eval_cfg, simulations=cfg.rating_simulations)
            symmetries = cfg.rating_symmetries or symmetries
        return SearchPlayer(self.game, self.evaluator(net, symmetries), search, name, seed, random_opening)

    # -- training -------------------------------------------------------------------------------
    def fit(self, run: Run) -> None:
        cfg = self.cfg
        actors = auto_actors(cfg.ray_address) if cfg.actors == "auto" else cfg.actors
        if actors != 0:
            return self._fit_with_actors(run, actors)
        self.teardown_seconds = 0.0
        selfplay = SelfPlay(self.game, cfg.games, cfg.simulations, cfg.reuse_tree, cfg.temperature_moves, self.search_cfg,
                            seed=self.config.seed * 7919 + run.step, value_mix=cfg.value_mix, ownership=cfg.ownership > 0,
                            fast_simulations=cfg.fast_simulations, full_search_share=cfg.full_search_share)
        evaluate = self.evaluator()
        owed = 0.0
        sched = self._schedule(run)
        window = sched.window
        run.reserve_for_closing(self.closing_seconds(run))
        if not self.snapshots and not self.elo.results:
            self.rate(run)  # the untrained network's rating: the start of the curve
        while not run.should_stop():
            t0 = time.time()
            self.net.eval()
            for played in selfplay.move(evaluate):
                self._add_game(played, window)
            self.counters["positions"] += selfplay.last_recorded
            window["sims"] += cfg.games * selfplay.last_simulations
            window["moves"] += cfg.games
            t1 = time.time()
            window["self"] += t1 - t0
            run.step += cfg.games
            if self.buffer.size >= max(cfg.min_buffer, cfg.batch_size):
                owed += selfplay.last_recorded * cfg.train_ratio / cfg.batch_size
                while owed >= 1:
                    sched.losses.append(self.train_step(run.progress()))
                    owed -= 1
            window["train"] += time.time() - t1
            self._log_rate_or_checkpoint(run, sched)
            window = sched.window
        if run.stop_reason != "interrupted" and self._rated_at != run.step:
            self.rate(run, closing=True)  # the closing evaluation, so that the final network is rated too

    def _fit_with_actors(self, run: Run, actors: int | None) -> None:
        """The loop with ``actors`` self-play actors on Ray (:class:`SelfPlayActor`; None: one per
        free CPU of the cluster joined, for ``actors=auto``): they play, this process trains on
        whatever games have arrived and evaluates as the single loop does.

        1. Each actor plays ``actor_moves`` lockstep moves of its ``games`` games per call and hands
           back the games that ended; the learner calls it again at once with the newest weights.
        2. An arrived call counts its moves (``games`` × ``actor_moves``) into ``run.step``, so
           ``steps``, ``eval_every`` and ``log_every`` mean what they mean in the single loop, and
           owes ``train_ratio / batch_size`` training steps per position recorded, as there (every
           move's, or with ``fast_simulations`` only the full searches').
        3. Every ``weights_every`` training steps the weights go to Ray's object store; an actor
           fetches them at its next call. The learner never trains more than ``max_lag`` steps past
           the weights of a call still in flight: it publishes and waits for that actor's games.
        4. At the end (budget, time, Ctrl-C) the actors are killed and Ray is left; then the closing
           evaluation. Nothing of the actors is saved: a resumed run starts them on fresh seeds
           derived from the run's seed, the actor's index and the step.

        Actors' games arrive in the order the machine's timing makes, so a run with actors is not
        the same from the same seed (the single loop is)."""
        from sandbox.agents.alphazero.selfplay import actor_seed, check_cpus, ray_cluster, start_actors
        from sandbox.errors import MachineError

        cfg = self.cfg
        sched = self._schedule(run, lag=0, lag_max=0, calls=0)
        window = sched.window
        owed = 0.0
        run.reserve_for_closing(self.closing_seconds(run))
        if not self.snapshots and not self.elo.results:
            self.rate(run)
        with ray_cluster(cfg.ray_address, cpus=max(actors or 0, os.cpu_count() or 1)) as ray:
            if actors is None:
                actors = max(1, int(ray.available_resources().get("CPU", 0.0)))
            check_cpus(ray, actors)
            if cfg.actors == "auto":
                print(f"agent.actors=auto: self-play on {actors} Ray actors", file=sys.stderr)
            handles = start_actors(ray, [(self.game, self.config.backbone, cfg, self.search_cfg, actor_seed(self.config.seed, i, run.step))
                                         for i in range(actors)], interrupted=lambda: run.interrupted)
            published = {"version": -1, "ref": [None]}

            def publish() -> None:
                """The learner's weights into the object store, tagged with the training steps so far."""
                if published["version"] != self.counters["updates"]:
                    weights = {k: v.detach().to("cpu", copy=True) for k, v in self.net.state_dict().items()}
                    published.update(version=self.counters["updates"], ref=[ray.put(weights)])

            def call(i: int) -> Any:
                return handles[i].play.remote(published["ref"], published["version"], cfg.actor_moves)

            try:
                publish()
                pending = {call(i): (i, published["version"]) for i in range(actors)}
                while not run.should_stop():
                    t0 = time.time()
                    # 1. the calls that have ended (waiting a moment at most, to see Ctrl-C and the clock)
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                    if ready:
                        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
                    for ref in ready:
                        i, _ = pending.pop(ref)
                        try:
                            out = ray.get(ref)
                        except ray.exceptions.RayError as exc:
                            time.sleep(0.2)  # a Ctrl-C reaches the actors too: let this process's handler see it
                            if run.interrupted:
                                break
                            raise MachineError(f"self-play actor {i} failed ({str(exc).strip().splitlines()[-1][:160]}); "
                                               "resume the run from its last checkpoint with the same out=.") from None
                        pending[call(i)] = (i, published["version"])  # 2. at once again, with the newest weights
                        for played in out["games"]:
                            self._add_game(played, window)
                        positions = out["positions"]
                        self.counters["positions"] += positions
                        run.step += out["moves"]
                        lag = self.counters["updates"] - out["version"]
                        window["sims"] += out["sims"]
                        window["moves"] += out["moves"]
                        window["lag"] += lag
                        window["lag_max"] = max(window["lag_max"], lag)
                        window["calls"] += 1
                        if self.buffer.size >= max(cfg.min_buffer, cfg.batch_size):
                            owed += positions * cfg.train_ratio / cfg.batch_size
                    if run.interrupted:
                        continue  # should_stop() ends the loop as interrupted
                    # 3. the training steps owed, no more than max_lag past the oldest weights still played with
                    t1 = time.time()
                    window["self"] += t1 - t0
                    while owed >= 1:
                        oldest = min(v for _, v in pending.values())
                        if self.counters["updates"] + 1 - oldest > cfg.max_lag:
                            publish()  # that actor's next call starts from these; its games arrive before more training
                            break
                        sched.losses.append(self.train_step(run.progress()))
                        owed -= 1
                        if self.counters["updates"] - published["version"] >= cfg.weights_every:
                            publish()
                    window["train"] += time.time() - t1
                    # 4. logs, evaluations and checkpoints, scheduled by moves as in the single loop
                    self._log_rate_or_checkpoint(run, sched)
                    window = sched.window
            finally:
                t = time.time()
                for actor in handles:
                    ray.kill(actor)
        self.teardown_seconds = time.time() - t  # the actors killed and Ray left (a local cluster)
        if run.stop_reason != "interrupted" and self._rated_at != run.step:
            self.rate(run, closing=True)

    def _add_game(self, played: Game, window: dict[str, Any]) -> None:
        """A finished self-play game into the replay buffer and the logged window's counts."""
        if len(played.z):  # a game searched only fast (fast_simulations) brings its result alone
            self.buffer.add(played.x, played.p, played.z, played.own)
        self.counters["games"] += 1
        window["games"] += 1
        window["len"] += played.length
        window["first_wins"] += int(played.result > 0)
        window["draws"] += int(played.result == 0)

    @staticmethod
    def next_multiple(step: int, every: int) -> int | None:
        """The first multiple of ``every`` past ``step`` (None when ``every`` is 0): schedules by
        moves stay the same across a resume."""
        return (step // every + 1) * every if every else None

    def _schedule(self, run: Run, **extra: int) -> _Schedule:
        """The log window and the next log and evaluation steps of a self-play loop starting at
        ``run.step`` (``extra``: more counters the window keeps)."""
        window = {"sims": 0, "moves": 0, "games": 0, "len": 0, "first_wins": 0, "draws": 0, "t": time.time(), "self": 0.0, "train": 0.0,
                  **extra}
        return _Schedule(window, [], self.next_multiple(run.step, self.cfg.log_every), self.next_multiple(run.step, self.cfg.eval_every),
                         run.elapsed)

    def _log_rate_or_checkpoint(self, run: Run, s: _Schedule) -> None:
        """After a round of self-play and training: log the window when ``log_every`` moves have
        passed, evaluate when ``eval_every`` have (the clock only when ``log_seconds`` or
        ``eval_minutes`` ask for it), else checkpoint when one is due. The single loop and the
        learner with actors share it, so both schedule by moves alike."""
        cfg = self.cfg
        log_clock = cfg.log_seconds is not None and time.time() - s.window["t"] >= cfg.log_seconds
        if (run.step >= s.next_log or log_clock) and s.window["moves"]:
            self._log_window(run, s.window, s.losses)
            s.losses = []
            s.window = {k: 0 for k in s.window} | {"t": time.time(), "self": 0.0, "train": 0.0}
            s.next_log = self.next_multiple(run.step, cfg.log_every)
        eval_clock_due = cfg.eval_minutes is not None and run.elapsed - s.eval_clock >= cfg.eval_minutes * 60.0
        if (s.next_eval is not None and run.step >= s.next_eval) or eval_clock_due:
            self.rate(run)
            s.next_eval = self.next_multiple(run.step, cfg.eval_every)
            s.eval_clock = run.elapsed
        elif run.checkpoint_due():
            run.checkpoint(self)

    def _log_window(self, run: Run, w: dict[str, Any], losses: list[tuple[float, float, float]]) -> None:
        """Self-play and training metrics of the window ``w``. With actors, self-play runs beside
        training: the speeds are per second of the loop (waiting for games and training), and the
        weights' lag (training steps between the weights a call played with and its arrival) is logged."""
        busy = max(w["self"] + w["train"] if "calls" in w else w["self"], 1e-9)
        metrics: dict[str, Any] = {
            "time/simulations_per_second": w["sims"] / busy, "time/games_per_second": w["games"] / max(w["self"] + w["train"], 1e-9),
            "time/moves_per_second": w["moves"] / busy, "time/train_share": w["train"] / max(w["self"] + w["train"], 1e-9),
            "rollout/buffer": self.buffer.size, "rollout/games": self.counters["games"], "train/updates": self.counters["updates"],
            "rollout/positions": self.counters["positions"],
        }
        if w["games"]:
            metrics.update({"rollout/game_length": w["len"] / w["games"], "rollout/first_player_wins": w["first_wins"] / w["games"],
                            "rollout/draws": w["draws"] / w["games"]})
        if losses:
            pl, vl, ol = np.mean(losses, axis=0)
            metrics.update({"train/loss": float(pl + vl + self.cfg.ownership * ol), "train/policy_loss": float(pl),
                            "train/value_loss": float(vl), "train/learning_rate": self.opt.param_groups[0]["lr"]})
            if self.cfg.ownership:
                metrics["train/ownership_loss"] = float(ol)
        if w.get("calls"):
            metrics.update({"rollout/actor_lag": w["lag"] / w["calls"], "rollout/actor_lag_max": w["lag_max"]})
        run.log(metrics)

    def learning_rate_at(self, progress: float) -> float:
        """The learning rate when ``progress`` (0 to 1) of the run's budget is spent."""
        lr = self.cfg.learning_rate
        if self.cfg.lr_schedule == "cosine":
            lr *= 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
        return lr

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """``n`` positions drawn from the buffer, each under a random board symmetry (``augment``):
        planes, policy targets, value targets and ownership targets (None without the head), the
        policy and the ownership turned with the planes."""
        game = self.game
        x, p, z, o = self.buffer.sample(self.rng, n)
        if self.cfg.augment and game.num_symmetries > 1:
            ks = self.rng.integers(0, game.num_symmetries, len(x))
            for k in range(1, game.num_symmetries):
                sel = ks == k
                if sel.any():
                    x[sel], p[sel] = game.symmetry(x[sel], p[sel], k)
                    if o is not None:  # the points as a policy over them (and a pass, dropped again)
                        board = np.concatenate([o[sel], np.zeros((int(sel.sum()), 1), np.float32)], 1)
                        o[sel] = game.symmetry(x[:0], board, k)[1][:, :-1]
        return x, p, z, o

    def train_step(self, progress: float = 0.0) -> tuple[float, float, float]:
        """One gradient step on a batch from the buffer, each position under a random symmetry, at
        the learning rate of ``progress`` (the share of the run's budget spent). The policy's
        cross-entropy plus the value's squared error, plus ``ownership`` times the ownership head's
        binary cross-entropy per point (owner +1 -> 1, -1 -> 0, neither -> 1/2). Returns the three
        losses (the last 0 without the head)."""
        cfg = self.cfg
        for group in self.opt.param_groups:
            group["lr"] = self.learning_rate_at(progress)
        x, p, z, o = self.batch(cfg.batch_size)
        self.net.train()
        logits, value, own = self.net.heads(torch.from_numpy(x).to(self.device))
        target = torch.from_numpy(p).to(self.device)
        policy_loss = -(target * F.log_softmax(logits, -1)).sum(-1).mean()
        value_loss = F.mse_loss(value, torch.from_numpy(z).to(self.device))
        loss = policy_loss + value_loss
        ownership_loss = torch.zeros(())
        if own is not None and o is not None:
            ownership_loss = F.binary_cross_entropy_with_logits(own.float(), (torch.from_numpy(o).to(self.device) + 1) / 2)
            loss = loss + cfg.ownership * ownership_loss
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.counters["updates"] += 1
        return float(policy_loss.detach()), float(value_loss.detach()), float(ownership_loss.detach())

    # -- evaluation and Elo ---------------------------------------------------------------------
    def planned_games(self) -> tuple[int, int]:
        """The games the next evaluation plays against the opponents, and against earlier networks."""
        cfg = self.cfg
        return len(cfg.eval_opponents) * cfg.eval_games, min(2, len(self.snapshots)) * max(2, cfg.eval_games // 2)

    def rating_games(self) -> float:
        """The games the next evaluation plays, a game between two networks counted twice."""
        against_opponents, against_networks = self.planned_games()
        return against_opponents + 2 * against_networks

    def closing_seconds(self, run: Run) -> float:
        """The time to keep for the closing evaluation and its checkpoint: the last evaluation's
        seconds per game times the games of the next (with a fifth more), or, before any was
        timed, a quarter of ``max_minutes`` (at most 5 minutes); with actors, also the time to
        stop them and Ray."""
        if run.config.max_minutes is None:
            return 0.0
        if self.rate_seconds_per_game is None:
            return min(0.25 * run.config.max_minutes * 60.0, 300.0) + self.teardown_seconds
        return 1.2 * self.rate_seconds_per_game * self.rating_games() + run.checkpoint_seconds + self.teardown_seconds

    def rate(self, run: Run, closing: bool = False) -> dict[str, float]:
        """Matches against the opponents and earlier snapshots; log win rates and Elo; checkpoint.
        With ``max_minutes`` the games end by the run's closing deadline (during training, early
        enough to leave the closing evaluation its reserved time; see the module's doc)."""
        with run.aside():
            with isolated_rng():  # the matches (and a snapshot's network) leave training's random streams alone
                metrics, score = self._rate(run, closing)
            run.checkpoint(self, score=score)
            run.reserve_for_closing(self.closing_seconds(run))
        return metrics

    def _rate(self, run: Run, closing: bool) -> tuple[dict[str, float], float | None]:
        """Play the evaluation's matches and log them; the metrics and the checkpoint's score (None when cut)."""
        cfg = self.cfg
        self.net.eval()
        deadline = run.closing_deadline(closing)
        if deadline is not None:
            deadline -= run.checkpoint_seconds  # the evaluation's own checkpoint comes after
        t, planned, played, games = time.time(), self.rating_games(), 0, 0
        planned_games = sum(self.planned_games())
        name = f"net@{run.step}"
        me = self.player(name, seed=run.step, rating=True)
        # the progress bar shows a row's first numbers: each opponent's telling one comes first (the
        # loss rate against perfect play, whom nobody beats; the win rate against the others)
        headline: dict[str, Any] = {}
        metrics: dict[str, Any] = {}
        for i, spec in enumerate(cfg.eval_opponents):
            r = play_match(self.game, me, opponent(self.game, spec, seed=run.step + i), cfg.eval_games, deadline=deadline)
            played, games = played + r["games"], games + r["games"]
            if r["games"]:
                self.elo.add(name, spec, r["win"], r["draw"], r["loss"])
                rates = {f"eval/win_rate/{spec}": r["win_rate"], f"eval/loss_rate/{spec}": r["loss"] / r["games"]}
                first = f"eval/loss_rate/{spec}" if spec == "perfect" else f"eval/win_rate/{spec}"
                headline[first] = rates.pop(first)
                metrics.update(rates)
        metrics = {**dict(sorted(headline.items(), key=lambda kv: not kv[0].endswith("/perfect"))), **metrics}
        for snap_name, weights in list(self.snapshots.items())[-2:]:
            other = self.new_net()
            other.load_state_dict(weights)
            other.eval()
            a = self.player(name, random_opening=2, seed=run.step, rating=True)
            b = self.player(snap_name, net=other, random_opening=2, seed=run.step + 1, rating=True)
            r = play_match(self.game, a, b, max(2, cfg.eval_games // 2), deadline=deadline)
            played, games = played + 2 * r["games"], games + r["games"]
            if r["games"]:
                self.elo.add(name, snap_name, r["win"], r["draw"], r["loss"])
                metrics["eval/score_previous"] = r["score"]
        cut = played < planned
        if not cut:  # a cut evaluation on the way leaves the closing one to be done
            self.rate_seconds_per_game = (time.time() - t) / max(planned, 1)
            self._rated_at = run.step
        ratings = self.elo.ratings()
        elo = ratings.get(name)
        if elo is not None:
            metrics["eval/elo"] = elo
            for spec in cfg.eval_opponents:
                metrics[f"eval/elo/{spec}"] = ratings.get(spec, 0.0)
        if cut:
            metrics["eval/games"] = games
            print(f"{'closing ' if closing else ''}evaluation cut to {games} of {planned_games} games against "
                  f"{', '.join(cfg.eval_opponents)}{' and earlier networks' if self.snapshots else ''} to end within max_minutes", file=sys.stderr)
        run.log(metrics)
        if elo is not None:
            self.snapshots[name] = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
            while len(self.snapshots) > cfg.elo_snapshots:
                self.snapshots.pop(next(iter(self.snapshots)))
        return metrics, None if cut else elo

    def check_sizes(self) -> None:
        """Refuse a replay buffer or games in lockstep too many to fit, with the size they need, before
        anything is allocated: a position takes its int8 planes, its float32 policy and value; a game
        in lockstep its search tree (visits, values, priors and children of every action in each of
        ``simulations`` + 1 nodes) and its row of the network's batch."""
        from sandbox.memory import check_fits

        cfg, game = self.cfg, self.game
        planes = game.planes * game.height * game.width
        check_fits(int(cfg.buffer_size) * (planes + 4 * game.num_actions + 4), f"agent.buffer_size={cfg.buffer_size:,}",
                   "choose a smaller replay buffer.")
        per_game = (int(cfg.simulations) + 1) * game.num_actions * 16 + planes * 5 + 4 * game.num_actions
        check_fits(int(cfg.games) * per_game, f"agent.games={cfg.games:,} in lockstep", "choose fewer games (agent.games).")

    def sample_observations(self, n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """``n`` observations of the player to move (PettingZoo's ``observation`` and ``action_mask``),
        met by random legal play in the game's env, game after game."""
        from sandbox.env import make_env

        env = make_env(self.config.env.name)
        rng = np.random.default_rng(seed)
        seen: list[dict[str, np.ndarray]] = []
        game = 0
        while len(seen) < n:
            env.reset(seed=seed + game)
            game += 1
            for _ in env.agent_iter():
                obs, _, terminated, truncated, _ = env.last()
                if terminated or truncated:
                    env.step(None)
                    continue
                seen.append({k: np.array(v) for k, v in obs.items()})
                env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
        env.close()
        return seen[:n]

    def evaluate(self, games: int | None = None, opponent: str = "random", episodes: int | None = None, **options: Any) -> dict[str, Any]:
        """Win, draw and loss counts of ``games`` against ``opponent`` (random, mcts:N, perfect, gnugo:L), first move alternating."""
        from sandbox.agents.alphazero.opponents import opponent as make_opponent

        n = int(games or episodes or 100)
        other = make_opponent(self.game, opponent, seed=self.config.seed + 1)
        self.net.eval()
        r = play_match(self.game, self.player("agent", seed=self.config.seed), other, n)
        return {**r, "opponent": opponent, "simulations": self.eval_sims}

    # -- acting ---------------------------------------------------------------------------------
    def think(self, state: np.ndarray, deterministic: bool = True) -> tuple[int, dict[str, Any]]:
        """Search one position: the move, and what the agent thinks (probabilities, value)."""
        if self._solo is None:
            self._solo = Trees(self.game, 1, capacity_for(self.eval_sims, False), self.eval_cfg, self.config.seed)
        self.net.eval()
        self._solo.set_roots(np.array([0]), state[None])
        res = self._solo.search(np.array([0]), self.evaluator(symmetries=self.cfg.eval_symmetries), noise=False)
        visits = res["visits"][0]
        if deterministic or "action" in res:
            action = int(pick(res, 0.0)[0])
        else:
            action = int(pick(rows(res, np.array([0])), 1.0, [self._solo.rngs[0]])[0])
        probs = res["target"][0] if "action" in res else visits / max(visits.sum(), 1)
        return action, {"probs": probs, "value": float(res["value"][0]), "prior": res["prior"][0]}

    def act(self, observation: Any, action_mask: Any = None, deterministic: bool = True) -> int:
        """A move for a PettingZoo observation (the dict, or its 'observation' array)."""
        if isinstance(observation, dict):
            if action_mask is None:
                action_mask = observation.get("action_mask")
            observation = observation["observation"]
        state = self.game.from_observation(np.asarray(observation))
        action, _ = self.think(state, deterministic)
        if action_mask is not None and not np.asarray(action_mask)[action]:
            legal = np.nonzero(np.asarray(action_mask))[0]
            if len(legal) == 0:
                raise ConfigError("the action mask allows no move; the game is over.")
            action = int(legal[0])
        return action

    # -- export --------------------------------------------------------------------------------
    def export_onnx(self, folder: Path) -> list[str]:
        """``policy.onnx`` (``sandbox export --format onnx``): the policy-value network, from a batch
        of PettingZoo observations of the player to move to ``policy_logits`` and ``value``. The
        search is not in it: the network is its prior and its value."""
        import copy

        from sandbox.agents.alphazero.network import ObservationGraph
        from sandbox.exporter import OnnxGraph, write_onnx

        game = self.game
        rng = np.random.default_rng(0)
        states, seen = game.initial(1), []
        while len(seen) < 16:  # positions of random play, either player to move
            seen.append(states[0])
            legal = np.flatnonzero(game.legal(states)[0])
            states, terminal, _ = game.step(states, np.array([rng.choice(legal)]))
            if terminal[0]:
                states = game.initial(1)
        planes = game.encode(np.stack(seen))
        example = torch.from_numpy(np.ascontiguousarray(planes.transpose(0, 2, 3, 1)).astype(np.int8))
        net = copy.deepcopy(self.net).float().cpu().eval()
        h, w, c = game.height, game.width, game.planes
        graph = OnnxGraph(
            ObservationGraph(net), example, "observation",
            f"a batch of PettingZoo {game.name} observations (their 'observation' array, {h}×{w}×{c}) of the player to move",
            {"policy_logits": f"one logit per action ({game.num_actions}) before illegal moves are masked: the search's prior",
             "value": "the expected result for the player to move, in [-1, 1] (+1 a win)"},
            f"The 'observation' array of the PettingZoo {game.name} observation dict (or the sandbox's env={game.name}) for the "
            f"player to move: {h}×{w}×{c}, values 0/1, int8 (cast to float inside the graph), in a batch. Its planes, with "
            "channels first, are the network's input (the first is the player to move's stones or marks).",
            "The network alone: set the logits of illegal moves (action_mask == 0) to -inf and take argmax(policy_logits, axis=1). "
            f"The agent itself (sandbox play) searches {self.eval_sims} simulations of PUCT with this network as prior and "
            "value, and plays more strongly than the network's argmax.",
            {"plugin": "alphazero", "env": self.config.env.name, "actions": int(game.num_actions), "simulations": int(self.eval_sims)})
        return write_onnx(graph, folder)

    # -- watching and playing -------------------------------------------------------------------
    def play(self, episodes: int = 1, record: Path | None = None, human: bool = False) -> dict[str, Any]:
        """``human``: you play the agent in a window. Otherwise the agent plays itself, in a window
        or recorded to ``record`` (.mp4 or .gif) with its value and move probabilities drawn."""
        from sandbox.envs.games.draw import HumanGame, watch_self_play

        if human:
            return HumanGame(self.game, lambda s: self.think(s), episodes=episodes, record=record, opponent_name="AlphaZero").run()
        return watch_self_play(self.game, self.think, episodes=episodes, record=record, name="AlphaZero")

    def demo_media(self, run: Run) -> list[Path]:
        """A recorded game of the trained agent against itself."""
        run.media_dir.mkdir(parents=True, exist_ok=True)
        path = run.media_dir / f"alphazero-{self.game.name}.gif"
        self.play(episodes=1, record=path)
        return [path]

    # -- checkpoints ----------------------------------------------------------------------------
    def saved(self) -> Saved:
        """The network and its optimiser; the replay buffer, the Elo snapshots' weights, the ratings and counters."""
        n = self.buffer.size
        buffers: dict[str, Any] = {"buffer.x": self.buffer.x[:n], "buffer.p": self.buffer.p[:n], "buffer.z": self.buffer.z[:n]}
        if self.buffer.o is not None:
            buffers["buffer.o"] = self.buffer.o[:n]
        for j, weights in enumerate(self.snapshots.values()):
            buffers.update({f"snap.{j}.{k}": v for k, v in weights.items()})
        state = {"buffer_pos": self.buffer.pos, "elo": self.elo.results, "snapshots": list(self.snapshots), "counters": self.counters,
                 "rate_seconds_per_game": self.rate_seconds_per_game}
        return Saved(modules={"net": self.net}, optimizers={"opt": self.opt}, buffers=buffers, state=state)

    def restore(self, buffers: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        if "buffer.x" in buffers:
            n = min(len(buffers["buffer.x"]), self.buffer.capacity)
            self.buffer.x[:n] = buffers["buffer.x"][:n].numpy()
            self.buffer.p[:n] = buffers["buffer.p"][:n].numpy()
            self.buffer.z[:n] = buffers["buffer.z"][:n].numpy()
            if self.buffer.o is not None and "buffer.o" in buffers:
                self.buffer.o[:n] = buffers["buffer.o"][:n].numpy()
            self.buffer.size = n
            self.buffer.pos = int(state.get("buffer_pos", n)) % self.buffer.capacity
        self.elo = Elo(state.get("elo", []))
        self.snapshots = {}
        for j, name in enumerate(state.get("snapshots", [])):
            prefix = f"snap.{j}."
            self.snapshots[name] = {k[len(prefix):]: v.clone() for k, v in buffers.items() if k.startswith(prefix)}
        self.counters = dict(state.get("counters", self.counters))
        self.rate_seconds_per_game = state.get("rate_seconds_per_game")
