"""Batched Monte Carlo tree search: many games' trees searched in lockstep.

Each of ``G`` trees lives in flat NumPy arrays (node × action), so one simulation step walks every
tree down at once: at each depth the PUCT (or UCT) scores of all the trees' current nodes are one
array operation. The leaves reached are stepped by the rules core in one call and evaluated in one
call of the evaluator: the network sees one batch per simulation step, however many games there
are. A tree searched alone runs the very same code with ``G = 1``.

Values are stored from the point of view of the player who moved *into* a node, so the selection
at a node reads its children's mean values directly; a leaf's value (for the player to move there)
is backed up with alternating signs.

Options: Dirichlet noise at the root (self-play), Gumbel root search with sequential halving
(Danihelka et al. 2022: few simulations, a policy improvement even at 2 simulations), tree reuse
(the subtree under the move played is kept and compacted to the front of the arrays), and
MCTS-solver (Winands et al. 2008: wins, draws and losses proven from the game's ends up the tree,
where a proven node is a leaf of known value, a proven win is always chosen and a proven loss never).

The file reads top to bottom:

1. the formulas, each a pure function on NumPy arrays with its constants and its paper, as
   DeepMind's mctx keeps them in ``action_selection.py`` and ``qtransforms.py``:
   :func:`puct_scores` (AlphaZero), :func:`uct_scores` (pure MCTS), :func:`dirichlet_noise`,
   Gumbel search's :func:`considered_visits`, :func:`mixed_value`, :func:`completed_q`,
   :func:`sigma_transform`, :func:`gumbel_scores` and :func:`improved_policy`, and MCTS-solver's
   :func:`solver_scores` and :func:`proven_node`;
2. :class:`Trees`, whose :meth:`Trees.search` runs simulations, each cut into three steps:
   select (walk every tree down to a leaf), expand (step and evaluate the new leaves in one batch),
   back up (add the leaf's value along each path with alternating signs);
3. :func:`pick` (the move from a search's result) and two evaluators without a network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: evaluator(states (B, S), legal (B, A) bool) -> (priors (B, A), values (B,) for the player to move)
Evaluator = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


@dataclass
class SearchConfig:
    """How a search chooses: its formula, constants and root options."""

    simulations: int = 100
    c_puct: float = 1.5  # the exploration constant: c_puct for PUCT, c for UCT
    formula: str = "puct"  # puct (with priors) or uct (pure MCTS)
    fpu: float = 0.0  # value of an unvisited child for PUCT
    dirichlet_alpha: float = 0.3
    noise_fraction: float = 0.25
    gumbel: bool = False
    gumbel_actions: int = 16
    gumbel_c_visit: float = 50.0
    gumbel_c_scale: float = 0.1
    solver: bool = False  # MCTS-solver: prove wins, losses and draws in the tree (games whose search moves are all the legal ones)


# -- the formulas ---------------------------------------------------------------------------------
# Each takes B rows (one node of each of B trees) of A actions. Values are in [-1, 1] and belong to
# the player choosing at the node: q(a) is the mean value of child a for the player who moves there.


def mean_values(value_sum: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """The mean action values Q(s, a) = W(s, a) / N(s, a) of ``value_sum`` W and ``visits`` N,
    both (B, A); 0 for an unvisited child, whose value sum is 0 (the formulas replace it)."""
    return value_sum / np.maximum(visits, 1)


def puct_scores(q: np.ndarray, prior: np.ndarray, parent_visits: np.ndarray, child_visits: np.ndarray,
                c_puct: float, fpu: float = 0.0) -> np.ndarray:
    """AlphaZero's PUCT scores (B, A), whose argmax over legal actions is the child to walk into:

        score(s, a) = Q(s, a) + c_puct · P(s, a) · sqrt(N(s)) / (1 + N(s, a))

    as in Silver et al. 2017, "Mastering the game of Go without human knowledge" (Nature 550,
    AlphaGo Zero: a variant of PUCT, Rosin 2011), and Silver et al. 2018, "A general reinforcement
    learning algorithm that masters chess, shogi and Go through self-play" (Science 362, AlphaZero).

    - ``q`` Q(s, a), (B, A): the children's mean values (ignored where unvisited);
    - ``prior`` P(s, a), (B, A): the evaluator's policy at s (with root noise, in self-play);
    - ``parent_visits`` N(s), (B,) float: the node's visits. It counts the visit that expanded s,
      so N(s) = 1 + Σ_b N(s, b) and the first child chosen already follows the prior (the paper's
      Σ_b N(s, b) would be 0 there and leave every score at fpu);
    - ``child_visits`` N(s, a), (B, A);
    - ``c_puct``: how much the prior's exploration term weighs against the value, in units of Q
      (values in [-1, 1]; 1.5 by default). AlphaZero 2018 lets it grow slowly with N(s),
      c = c_init + log((1 + N(s) + c_base) / c_base) with c_init 1.25 and c_base 19652; here it is
      constant, as in AlphaGo Zero;
    - ``fpu`` ("first-play urgency"): the Q(s, a) an unvisited child is given; 0 (a draw, halfway
      between a loss and a win) by default, lower to make the search try fewer new children.
    """
    q = np.where(child_visits > 0, q, fpu)
    return q + c_puct * prior * np.sqrt(parent_visits)[:, None] / (1.0 + child_visits)


def uct_scores(q: np.ndarray, parent_visits: np.ndarray, child_visits: np.ndarray, c: float) -> np.ndarray:
    """UCT's scores (B, A), for pure MCTS without priors: UCB1 (Auer, Cesa-Bianchi & Fischer 2002)
    at every node of the tree, as in Kocsis & Szepesvári 2006, "Bandit based Monte-Carlo
    planning" (ECML 2006):

        score(s, a) = Q(s, a) + c · sqrt(ln N(s) / N(s, a)),   +inf where N(s, a) = 0

    - ``q`` Q(s, a), (B, A): the children's mean values (ignored where unvisited);
    - ``parent_visits`` N(s), (B,) float; ln N(s) is taken of at least 1;
    - ``child_visits`` N(s, a), (B, A): every unvisited child scores +inf, so a node's children
      are all tried once before any is tried twice;
    - ``c``: the exploration constant. UCB1's bound has c = sqrt(2) ≈ 1.41 for rewards in
      [0, 1]; larger explores more. The pure-MCTS opponents use 1.4.
    """
    explore = np.sqrt(np.log(np.maximum(parent_visits, 1))[:, None] / np.maximum(child_visits, 1))
    return np.where(child_visits > 0, q + c * explore, np.inf)


def dirichlet_noise(prior: np.ndarray, noise: np.ndarray, fraction: float) -> np.ndarray:
    """AlphaZero's exploration at the root in self-play (Silver et al. 2017, 2018):

        P(s, a) <- (1 - ε) · P(s, a) + ε · η_a,   η ~ Dir(α)

    with ``fraction`` ε (0.25 in the papers) of ``noise`` η drawn over the legal actions. α (the
    config's ``dirichlet_alpha``) is scaled in inverse proportion to the typical number of legal
    moves: 0.3 for chess, 0.15 for shogi, 0.03 for Go; a smaller α puts the noise on fewer moves."""
    return (1 - fraction) * prior + fraction * noise


def considered_visits(max_considered: int, simulations: int) -> np.ndarray:
    """Sequential halving's schedule: at simulation ``i`` the root visits an action that has been
    visited exactly ``schedule[i]`` times (as in DeepMind's mctx, ``seq_halving.py``).

    Sequential halving (Karnin, Koren & Somekh 2013, "Almost optimal exploration in multi-armed
    bandits") as Gumbel search uses it at the root (Danihelka et al. 2022, "Policy improvement by
    planning with Gumbel", ICLR 2022, Sec. 3): the ``m = max_considered`` actions with the best
    Gumbel scores are visited in phases. In a phase with ``k`` actions left, each gets
    ``max(1, floor(n / (ceil(log2 m) · k)))`` more visits (``n = simulations``); then only half
    of them go on (never fewer than 2), until the budget is spent. The schedule says how many
    visits the next action has had; which action, the search decides: the best by
    :func:`gumbel_scores` among those with that count, so the better half goes on. With one action
    considered the schedule is ``0, 1, 2, ...``: that action takes every simulation."""
    if max_considered <= 1:
        return np.arange(simulations)
    log2max = int(math.ceil(math.log2(max_considered)))
    seq: list[int] = []
    visits = [0] * max_considered
    considered = max_considered
    while len(seq) < simulations:
        extra = max(1, int(simulations / (log2max * considered)))
        for _ in range(extra):
            seq.extend(visits[:considered])
            for i in range(considered):
                visits[i] += 1
        considered = max(2, considered // 2)
    return np.array(seq[:simulations])


def mixed_value(raw_value: np.ndarray, prior: np.ndarray, q: np.ndarray, visits: np.ndarray) -> np.ndarray:
    """Gumbel search's estimate v_mix (B,) of a node's value, which completes the Q-values of its
    unvisited actions (Danihelka et al. 2022, "Policy improvement by planning with Gumbel", ICLR
    2022, Appendix D; mctx's ``_compute_mixed_value``):

        v_mix = (v̂_π + Σ_b N(b) · Σ_{a: N(a)>0} π(a) q(a) / Σ_{a: N(a)>0} π(a)) / (1 + Σ_b N(b))

    the evaluator's ``raw_value`` v̂_π (B,) mixed with the ``prior``-weighted (π, (B, A)) mean of
    the visited actions' values ``q`` (B, A), weighted by their ``visits`` N (B, A): the network's
    guess alone before any visit, the search's estimate more and more as visits come in. The sum of
    the visited priors is taken of at least 1e-12."""
    visited = visits > 0
    pv = np.where(visited, prior, 0.0)
    total = visits.sum(1)
    weighted = (pv * q).sum(1) / np.maximum(pv.sum(1), 1e-12)
    return (raw_value + total * weighted) / (total + 1)


def completed_q(q: np.ndarray, visits: np.ndarray, mixed: np.ndarray) -> np.ndarray:
    """Gumbel search's completed Q-values, rescaled to [0, 1]: q̂ (B, A) (Danihelka et al. 2022,
    "Policy improvement by planning with Gumbel", ICLR 2022, Sec. 4):

        completedQ(a) = q(a) if N(a) > 0 else v_mix,    q̂(a) = (completedQ(a) + 1) / 2

    ``q`` (B, A) the actions' mean values, ``visits`` N (B, A), ``mixed`` v_mix (B,) from
    :func:`mixed_value`. Values lie in [-1, 1], so the fixed map (v + 1) / 2 puts them in [0, 1],
    where :func:`sigma_transform` wants them (mctx instead rescales by the node's min and max)."""
    completed = np.where(visits > 0, q, mixed[:, None])
    return (completed + 1.0) / 2.0  # values in [-1, 1] -> [0, 1]


def sigma_transform(q_hat: np.ndarray, visits: np.ndarray, c_visit: float = 50.0, c_scale: float = 0.1) -> np.ndarray:
    """Gumbel search's monotone transform of the completed values q̂ (B, A) in [0, 1] into logit
    units (Danihelka et al. 2022, "Policy improvement by planning with Gumbel", ICLR 2022, Eq. 8;
    mctx's ``qtransform_completed_by_mix_value``):

        σ(q̂(a)) = (c_visit + max_b N(b)) · c_scale · q̂(a)

    with the node's children's ``visits`` N (B, A). The slope grows with the most-visited action's
    count, so values measured by many simulations come to outweigh the prior's logits, while at the
    start a whole [0, 1] range of q̂ is worth c_visit · c_scale = 5 nats. ``c_visit`` = 50 is that
    offset, in visits; ``c_scale`` = 0.1 the scale (mctx's ``maxvisit_init`` and ``value_scale``)."""
    return (c_visit + visits.max(1))[:, None] * c_scale * q_hat


def gumbel_scores(gumbel: np.ndarray, logits: np.ndarray, sigma_q: np.ndarray) -> np.ndarray:
    """The score (B, A) by which Gumbel search ranks the root's actions (Danihelka et al. 2022,
    "Policy improvement by planning with Gumbel", ICLR 2022, Sec. 3):

        score(a) = g(a) + logits(a) + σ(q̂(a))

    ``gumbel`` g (B, A): Gumbel(0, 1) noise drawn once per search (zero for a deterministic
    search), so that the top actions by g + logits are a sample without replacement from the
    policy (the Gumbel-top-k trick); ``logits`` (B, A) the prior's log-probabilities; ``sigma_q``
    σ(q̂) (B, A) from :func:`sigma_transform`. Sequential halving keeps the actions with the best scores, and
    the search plays the best among the most visited."""
    return gumbel + logits + sigma_q


def improved_policy(logits: np.ndarray, sigma_q: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Gumbel search's improved policy π' = softmax(logits + σ(completedQ)) over the ``legal``
    actions, (B, A) float32 (Danihelka et al. 2022, "Policy improvement by planning with Gumbel",
    ICLR 2022, Sec. 4): the network's policy target, an improvement on the prior even when few
    actions were visited, since the unvisited ones keep their prior (completed by v_mix)."""
    logits = logits + sigma_q
    logits = np.where(legal, logits, -np.inf)
    logits -= logits.max(1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def solver_scores(score: np.ndarray, proven: np.ndarray, value: np.ndarray) -> np.ndarray:
    """MCTS-solver's selection (Winands, Björnsson & Saito 2008, "Monte-Carlo tree search solver",
    Computers and Games 2008): a child ``proven`` (B, A) won for the player choosing is always taken
    (+inf), one proven lost is never taken (-inf), the rest keep their ``score`` (B, A). ``value``
    (B, A) is the proven children's game-theoretic value for the player choosing: +1, 0 or -1."""
    score = np.where(proven & (value < 0), -np.inf, score)
    return np.where(proven & (value > 0), np.inf, score)


def proven_node(proven: np.ndarray, value: np.ndarray, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MCTS-solver's rule for a node from its children (Winands et al. 2008): the node is proven
    when one of its children is proven won for the player choosing there (that player wins), or
    when every ``legal`` child is proven (the player takes the best of them: a draw if one is drawn,
    else a loss). ``proven``, ``value`` and ``legal`` are (B, A), ``value`` for the player choosing.
    Returns whether each node is proven (B,) and its value (B,) for that player."""
    known = proven & legal
    won = (known & (value > 0)).any(1)
    every = (known | ~legal).all(1) & legal.any(1)
    best = np.where(known, value, -np.inf).max(1)
    return won | every, np.where(won, 1.0, np.where(every, best, 0.0)).astype(np.float32)


# -- the trees ------------------------------------------------------------------------------------
class Trees:
    """``G`` search trees over one rules core, searched in lockstep."""

    def __init__(self, game, n_trees: int, capacity: int, config: SearchConfig, seed: int = 0) -> None:
        self.game = game
        self.cfg = config
        g, m, a = n_trees, capacity, game.num_actions
        self.n, self.capacity = g, m
        self.state = np.zeros((g, m, game.state_size), np.int16)
        self.children = np.full((g, m, a), -1, np.int32)
        self.prior = np.zeros((g, m, a), np.float32)
        self.legal = np.zeros((g, m, a), bool)
        self.visits = np.zeros((g, m), np.int32)
        self.value_sum = np.zeros((g, m), np.float32)  # for the player who moved into the node
        self.raw_value = np.zeros((g, m), np.float32)  # evaluator's value, for the player to move
        self.expanded = np.zeros((g, m), bool)
        self.terminal = np.zeros((g, m), bool)
        self.terminal_value = np.zeros((g, m), np.float32)  # for the player to move at the node
        self.solved = np.zeros((g, m), bool)  # the node's game-theoretic value is known (terminal nodes; proven ones with the solver)
        self.solved_value = np.zeros((g, m), np.float32)  # that value, for the player who moved into the node
        self.size = np.zeros(g, np.int64)
        self.rngs = [np.random.default_rng([seed, i]) for i in range(g)]
        self.root_gumbel = np.zeros((g, a), np.float32)

    # -- tree bookkeeping -------------------------------------------------------------------------
    def _init_nodes(self, g: np.ndarray, m: np.ndarray) -> None:
        self.children[g, m] = -1
        self.prior[g, m] = 0.0
        self.legal[g, m] = False
        self.visits[g, m] = 0
        self.value_sum[g, m] = 0.0
        self.raw_value[g, m] = 0.0
        self.expanded[g, m] = False
        self.terminal[g, m] = False
        self.terminal_value[g, m] = 0.0
        self.solved[g, m] = False
        self.solved_value[g, m] = 0.0

    def set_roots(self, idx: np.ndarray, states: np.ndarray) -> None:
        """Start fresh trees ``idx`` at ``states`` (non-terminal positions)."""
        idx = np.asarray(idx, np.int64)
        zeros = np.zeros(len(idx), np.int64)
        self._init_nodes(idx, zeros)
        self.state[idx, 0] = states
        self.size[idx] = 1

    def advance(self, idx: np.ndarray, actions: np.ndarray, states: np.ndarray) -> None:
        """Play ``actions`` at the roots of trees ``idx``: keep the subtree under each move (tree
        reuse) or start afresh at ``states`` (the positions after the moves) when there is none."""
        for g, a, s in zip(np.asarray(idx), np.asarray(actions), states):
            child = int(self.children[g, 0, a])
            if child < 0 or self.terminal[g, child] or not self.expanded[g, child]:
                self.set_roots(np.array([g]), s[None])
                continue
            order = [np.array([child])]
            frontier = order[0]
            while len(frontier):
                ch = self.children[g, frontier].ravel()
                frontier = ch[ch >= 0]
                order.append(frontier)
            old = np.concatenate(order)
            k = len(old)
            if k + self.cfg.simulations + 1 > self.capacity:
                self.set_roots(np.array([g]), s[None])
                continue
            remap = np.full(self.capacity, -1, np.int32)
            remap[old] = np.arange(k)
            for arr in (self.state, self.prior, self.legal, self.visits, self.value_sum, self.raw_value,
                        self.expanded, self.terminal, self.terminal_value, self.solved, self.solved_value):
                arr[g, :k] = arr[g, old]
            ch = self.children[g, old]
            self.children[g, :k] = np.where(ch >= 0, remap[np.maximum(ch, 0)], -1)
            self.size[g] = k

    def _evaluate(self, g: np.ndarray, m: np.ndarray, evaluate: Evaluator) -> np.ndarray:
        """Expand non-terminal nodes ``m`` of trees ``g``: evaluate them in one batch and store
        their moves (the game's :meth:`search_moves`), priors and values; returns the values (for the player to move)."""
        states = self.state[g, m]
        legal = self.game.search_moves(states)
        priors, values = evaluate(states, legal)
        self.legal[g, m] = legal
        self.prior[g, m] = priors
        self.raw_value[g, m] = values
        self.expanded[g, m] = True
        return values

    def _child_stats(self, g: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nodes ``n`` of trees ``g``: their children's indices (-1: none yet), visits and value sums."""
        ch = self.children[g, n]
        safe = np.maximum(ch, 0)
        has = ch >= 0
        nc = np.where(has, self.visits[g[:, None], safe], 0)
        wc = np.where(has, self.value_sum[g[:, None], safe], 0.0)
        return ch, nc, wc

    def _child_proofs(self, g: np.ndarray, ch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Children ``ch`` (k, A; -1: none yet) of trees ``g``: whether each is proven, and its
        value for the player choosing among them (the player who moves into it)."""
        safe = np.maximum(ch, 0)
        proven = (ch >= 0) & self.solved[g[:, None], safe]
        return proven, np.where(proven, self.solved_value[g[:, None], safe], 0.0)

    # -- the search -------------------------------------------------------------------------------
    def search(self, idx: np.ndarray, evaluate: Evaluator, noise: bool = False, simulations: int | None = None) -> dict[str, np.ndarray]:
        """Run the simulations on trees ``idx``; returns per tree the root's child ``visits`` (k, A),
        the policy ``target`` (k, A), the root ``value`` (k,) for the player to move and, for
        Gumbel search, the ``action`` sequential halving chose."""
        cfg = self.cfg
        idx = np.asarray(idx, np.int64)
        sims = cfg.simulations if simulations is None else simulations
        zeros = np.zeros(len(idx), np.int64)
        # 1. expand the fresh roots (a reused root is expanded already)
        fresh = ~self.expanded[idx, 0]
        if fresh.any():
            v = self._evaluate(idx[fresh], zeros[fresh], evaluate)
            self.visits[idx[fresh], 0] = 1
            self.value_sum[idx[fresh], 0] = -v
        # 2. AlphaZero's Dirichlet noise on the roots' priors (self-play)
        if noise and not cfg.gumbel and cfg.noise_fraction > 0:
            for g in idx:
                legal = self.legal[g, 0]
                d = self.rngs[g].dirichlet(np.full(int(legal.sum()), cfg.dirichlet_alpha))
                p = self.prior[g, 0]
                p[legal] = dirichlet_noise(p[legal], d, cfg.noise_fraction)
        # 3. Gumbel search: the roots' Gumbel noise and sequential halving's schedule
        schedule = None
        if cfg.gumbel:
            a = self.game.num_actions
            if noise:
                self.root_gumbel[idx] = np.stack([self.rngs[g].gumbel(size=a) for g in idx]).astype(np.float32)
            else:
                self.root_gumbel[idx] = 0.0
            n_legal = self.legal[idx, 0].sum(1)
            considered = np.minimum(cfg.gumbel_actions, n_legal)
            table = {int(c): considered_visits(int(c), sims) for c in np.unique(considered)}
            schedule = np.stack([table[int(c)] for c in considered])  # (k, sims)
            self._base_visits = self._child_stats(idx, zeros)[1]  # a reused root has visits already
        # 4. the simulations: select, expand, back up
        for i in range(sims):
            forced = self._gumbel_choice(idx, schedule[:, i]) if schedule is not None else None
            self._simulate(idx, evaluate, forced)
        return self._result(idx)

    def _simulate(self, idx: np.ndarray, evaluate: Evaluator, forced: np.ndarray | None) -> None:
        """One simulation on every tree ``idx`` (at the root, the ``forced`` actions if given)."""
        path, on_path, leaf, new, parent, action = self._select(idx, forced)
        leaf_value = self._expand_leaves(idx, leaf, new, parent, action, evaluate)
        self._backup(idx, path, on_path, leaf_value)
        if self.cfg.solver:
            self._prove(idx, path, on_path, leaf)

    def _select(self, idx: np.ndarray, forced: np.ndarray | None
                ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Select: walk each tree ``idx`` down from its root by the PUCT (or UCT) scores, all trees
        one depth at a time, until a tree steps into a child not in the tree yet (a new node is
        allocated for it, still to be stepped and evaluated) or reaches a terminal node.

        Returns the ``path``: per depth d, each tree's node there (k,), and ``on_path`` (k,) bool,
        whether the tree's walk reached depth d; the ``leaf`` each walk ended at (k,); whether it is
        ``new``; and for the new leaves, the ``parent`` node and the ``action`` that leads there."""
        cfg = self.cfg
        k = len(idx)
        node = np.zeros(k, np.int64)
        path = [node.copy()]
        on_path = [np.ones(k, bool)]
        active = np.ones(k, bool)
        new = np.zeros(k, bool)
        parent = np.zeros(k, np.int64)
        action = np.zeros(k, np.int64)
        depth = 0
        while True:
            # the trees still walking, at expanded non-terminal nodes
            pos = np.nonzero(active)[0]
            if len(pos) == 0:
                break
            g, n = idx[pos], node[pos]
            stop = ~self.expanded[g, n] | self.terminal[g, n]
            if cfg.solver:
                stop |= self.solved[g, n]  # a proven node is a leaf whose value is known
            active[pos[stop]] = False
            pos, g, n = pos[~stop], g[~stop], n[~stop]
            if len(pos) == 0:
                break
            # the best child of each by the formula (at the root, Gumbel search's choice)
            ch, nc, wc = self._child_stats(g, n)
            npar = self.visits[g, n].astype(np.float32)
            q = mean_values(wc, nc)
            if cfg.solver:
                proven, proven_value = self._child_proofs(g, ch)
                q = np.where(proven, proven_value, q)  # a proven draw counts as one, whatever its visits said
            if cfg.formula == "uct":
                score = uct_scores(q, npar, nc, cfg.c_puct)
            else:
                score = puct_scores(q, self.prior[g, n], npar, nc, cfg.c_puct, cfg.fpu)
            if cfg.solver:
                score = solver_scores(score, proven, proven_value)
            score = np.where(self.legal[g, n], score, -np.inf)
            a = np.argmax(score, 1)
            if depth == 0 and forced is not None:
                a = forced[pos]
            # a child not in the tree yet becomes a new node, and the walk ends there
            child = ch[np.arange(len(pos)), a]
            is_new = child < 0
            if is_new.any():
                gp, np_ = g[is_new], n[is_new]
                m = self.size[gp].copy()
                if np.any(m >= self.capacity):
                    raise RuntimeError("search tree capacity exceeded")
                self.size[gp] += 1
                self._init_nodes(gp, m)
                self.children[gp, np_, a[is_new]] = m
                child = child.copy()
                child[is_new] = m
                p = pos[is_new]
                new[p] = True
                parent[p] = np_
                action[p] = a[is_new]
                active[p] = False
            node[pos] = child
            path.append(node.copy())
            v = np.zeros(k, bool)
            v[pos] = True
            on_path.append(v)
            depth += 1
        return path, on_path, node, new, parent, action

    def _expand_leaves(self, idx: np.ndarray, leaf: np.ndarray, new: np.ndarray, parent: np.ndarray,
                       action: np.ndarray, evaluate: Evaluator) -> np.ndarray:
        """Expand: step the ``new`` leaves' positions from their ``parent`` by their ``action`` with
        the rules core, in one call, and evaluate the live ones in one call of the evaluator; a walk
        that ended at a terminal node reads its stored result. Returns each tree's leaf value (k,),
        for the player to move at the leaf."""
        leaf_value = np.zeros(len(idx), np.float32)
        pos = np.nonzero(new)[0]
        if len(pos):
            g, m = idx[pos], leaf[pos]
            states, term, reward = self.game.step(self.state[g, parent[pos]], action[pos])
            self.state[g, m] = states
            self.terminal[g, m] = term
            self.terminal_value[g, m] = -reward
            self.solved[g, m] = term
            self.solved_value[g, m] = np.where(term, reward, 0.0)
            leaf_value[pos[term]] = -reward[term]
            live = ~term
            if live.any():
                leaf_value[pos[live]] = self._evaluate(g[live], m[live], evaluate)
        old = np.nonzero(~new)[0]
        if len(old):  # a terminal node, or (with the solver) a proven one
            g, m = idx[old], leaf[old]
            leaf_value[old] = np.where(self.terminal[g, m], self.terminal_value[g, m], -self.solved_value[g, m])
        return leaf_value

    def _backup(self, idx: np.ndarray, path: list[np.ndarray], on_path: list[np.ndarray], leaf_value: np.ndarray) -> None:
        """Back up: one more visit for every node on each path, and the leaf's value added to their
        value sums with alternating signs. A node's value sum is for the player who moved into it:
        the leaf's own sum gets -value (its value is for the player to move there), its parent's
        +value, and so on up to the root."""
        depth_of = np.sum(on_path, axis=0) - 1  # depth of each tree's leaf
        for d, (nodes, ok) in enumerate(zip(path, on_path)):
            p = np.nonzero(ok)[0]
            sign = np.where((depth_of[p] - d) % 2 == 0, -1.0, 1.0)
            self.visits[idx[p], nodes[p]] += 1
            self.value_sum[idx[p], nodes[p]] += sign * leaf_value[p]

    def _prove(self, idx: np.ndarray, path: list[np.ndarray], on_path: list[np.ndarray], leaf: np.ndarray) -> None:
        """MCTS-solver's back-up of proofs: from a proven leaf (a terminal or proven node), each node
        up the path is proven by :func:`proven_node` from its children, until one is not."""
        depth_of = np.sum(on_path, axis=0) - 1
        going = self.solved[idx, leaf] & (depth_of > 0)
        for d in range(len(path) - 2, -1, -1):
            if not going.any():
                break
            p = np.nonzero(going & (depth_of > d))[0]
            if not len(p):
                continue
            g, n = idx[p], path[d][p]
            proven, value = self._child_proofs(g, self.children[g, n])
            done, best = proven_node(proven, value, self.legal[g, n])
            self.solved[g[done], n[done]] = True
            self.solved_value[g[done], n[done]] = -best[done]  # for the player who moved into the node
            going[p[~done]] = False

    # -- Gumbel search at the root ----------------------------------------------------------------
    def _root_sigma(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The roots of trees ``idx``: σ(q̂) of their children's completed values, and their visits."""
        cfg = self.cfg
        zeros = np.zeros(len(idx), np.int64)
        _, nc, wc = self._child_stats(idx, zeros)
        q = np.where(nc > 0, mean_values(wc, nc), 0.0)
        mixed = mixed_value(self.raw_value[idx, 0], self.prior[idx, 0], q, nc)
        return sigma_transform(completed_q(q, nc, mixed), nc, cfg.gumbel_c_visit, cfg.gumbel_c_scale), nc

    def _root_logits(self, idx: np.ndarray) -> np.ndarray:
        """The roots' prior log-probabilities (a zero prior counts as 1e-30)."""
        return np.log(np.maximum(self.prior[idx, 0], 1e-30))

    def _gumbel_scores(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The roots' legal actions' :func:`gumbel_scores` (-inf for the illegal ones), their visits,
        and σ(q̂)."""
        sigma_q, nc = self._root_sigma(idx)
        score = gumbel_scores(self.root_gumbel[idx], self._root_logits(idx), sigma_q)
        score = np.where(self.legal[idx, 0], score, -np.inf)
        return score, nc, sigma_q

    def _gumbel_choice(self, idx: np.ndarray, considered_visit: np.ndarray) -> np.ndarray:
        """Sequential halving's next root action: the best-scored of the actions visited (in this
        search) exactly ``considered_visit`` times, the count :func:`considered_visits` gives."""
        score, nc, _ = self._gumbel_scores(idx)
        chosen = np.where(nc - self._base_visits == considered_visit[:, None], score, -np.inf)
        fallback = ~np.isfinite(chosen).any(1)  # cannot happen with a fresh count; kept safe
        chosen[fallback] = score[fallback]
        return np.argmax(chosen, 1)

    def _result(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        zeros = np.zeros(len(idx), np.int64)
        _, nc, wc = self._child_stats(idx, zeros)
        visits = nc.astype(np.float32)
        value = -self.value_sum[idx, 0] / np.maximum(self.visits[idx, 0], 1)
        out = {"visits": visits, "value": value.astype(np.float32), "prior": self.prior[idx, 0].copy(),
               "q": np.where(nc > 0, wc / np.maximum(nc, 1), np.nan).astype(np.float32), "legal": self.legal[idx, 0].copy()}
        if self.cfg.solver:
            # the roots' children's proofs (NaN: not proven), and a proven root's exact value
            proven, proven_value = self._child_proofs(idx, self.children[idx, 0])
            out["proven"] = np.where(proven & out["legal"], proven_value, np.nan).astype(np.float32)
            root = self.solved[idx, 0]
            out["value"] = np.where(root, -self.solved_value[idx, 0], out["value"]).astype(np.float32)
        if self.cfg.gumbel:
            # the move: the best-scored of the most visited (sequential halving's last survivor);
            # the target: the improved policy
            score, nc, sigma_q = self._gumbel_scores(idx)
            top = np.where(nc == nc.max(1, keepdims=True), score, -np.inf)
            out["action"] = np.argmax(top, 1)
            out["target"] = improved_policy(self._root_logits(idx), sigma_q, self.legal[idx, 0])
        else:
            out["target"] = visits / np.maximum(visits.sum(1, keepdims=True), 1)
        if self.cfg.solver:
            # a proven win is played, a proven loss avoided; a root with a proven win learns to play it
            allowed = proof_allowed(out["proven"], out["legal"])
            if "action" in out:
                keep = allowed[np.arange(len(idx)), out["action"]]
                weights = np.where(allowed, visits + 1.0, 0.0)  # the most visited allowed move (1: one never visited)
                out["action"] = np.where(keep, out["action"], np.argmax(weights, 1))
            won = np.nan_to_num(out["proven"], nan=0.0) > 0
            some = won.any(1)
            out["target"][some] = (won[some] / won[some].sum(1, keepdims=True)).astype(np.float32)
        return out


def proof_allowed(proven: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """The moves a search with the solver may play (B, A): the proven wins where there are any,
    else the legal moves not proven lost, else (every move lost) all the legal moves. ``proven``
    (B, A): each root child's proven value for the player to move, NaN where not proven."""
    value = np.nan_to_num(proven, nan=0.0)
    won = legal & (value > 0)
    alive = legal & ~(value < 0)
    return np.where(won.any(1, keepdims=True), won, np.where(alive.any(1, keepdims=True), alive, legal))


def rows(result: dict[str, np.ndarray], which: np.ndarray) -> dict[str, np.ndarray]:
    """The search ``result`` of some trees, ``which`` (indices into its rows), without a Gumbel
    ``action``: what :func:`pick` draws a move from in proportion to visits."""
    return {k: v[which] for k, v in result.items() if k != "action"}


def pick(result: dict[str, np.ndarray], temperature: float, rngs: list[np.random.Generator] | None = None) -> np.ndarray:
    """The moves of a search result: Gumbel's choice, else the most visited child (temperature 0)
    or a child drawn in proportion to visits ** (1 / temperature). With the solver's ``proven``
    values in the result, only the moves :func:`proof_allowed` allows are taken."""
    if "action" in result:
        return result["action"]
    visits = result["visits"]
    if "proven" in result:
        allowed = proof_allowed(result["proven"], result["legal"])
        visits = np.where(allowed, visits, 0.0)
        none = visits.sum(1) <= 0  # allowed moves never visited: any of them, alike
        visits[none] = allowed[none].astype(visits.dtype)
    if temperature <= 0 or rngs is None:
        return np.argmax(visits, 1)
    out = np.zeros(len(visits), np.int64)
    for i, (row, rng) in enumerate(zip(visits, rngs)):
        p = row ** (1.0 / temperature)
        out[i] = rng.choice(len(row), p=p / p.sum())
    return out


# -- evaluators -----------------------------------------------------------------------------------
def rollout_evaluator(game, seed: int = 0) -> Evaluator:
    """Uniform priors and the result of one random game played out from each leaf (pure MCTS)."""
    rng = np.random.default_rng(seed)
    moves = getattr(game, "rollout_legal", game.legal)

    def evaluate(states: np.ndarray, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        priors = legal / np.maximum(legal.sum(1, keepdims=True), 1)
        s = states.copy()
        first = game.to_play(states)
        value = np.zeros(len(s), np.float32)
        alive = np.arange(len(s))
        while len(alive):
            ok = moves(s[alive])
            a = np.argmax(rng.random(ok.shape) * ok, 1)
            mover = game.to_play(s[alive])
            nxt, term, reward = game.step(s[alive], a)
            s[alive] = nxt
            if term.any():
                t = alive[term]
                value[t] = np.where(mover[term] == first[t], reward[term], -reward[term])
            alive = alive[~term]
        return priors.astype(np.float32), value

    return evaluate


def uniform_evaluator(game) -> Evaluator:
    """Uniform priors and value 0 (for tests of the search alone)."""

    def evaluate(states: np.ndarray, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (legal / np.maximum(legal.sum(1, keepdims=True), 1)).astype(np.float32), np.zeros(len(states), np.float32)

    return evaluate


def capacity_for(simulations: int, reuse: bool) -> int:
    """Nodes a tree needs: one per simulation and the root, twice that when subtrees are kept."""
    return (2 if reuse else 1) * (simulations + 1) + 1
