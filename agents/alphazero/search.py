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
(Danihelka et al. 2022: few simulations, a policy improvement even at 2 simulations), and tree reuse
(the subtree under the move played is kept and compacted to the front of the arrays).
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
    c_puct: float = 1.5
    formula: str = "puct"  # puct (with priors) or uct (pure MCTS)
    fpu: float = 0.0  # value of an unvisited child for PUCT
    dirichlet_alpha: float = 0.3
    noise_fraction: float = 0.25
    gumbel: bool = False
    gumbel_actions: int = 16
    gumbel_c_visit: float = 50.0
    gumbel_c_scale: float = 0.1


def considered_visits(max_considered: int, simulations: int) -> np.ndarray:
    """Sequential halving's schedule: at simulation ``i`` the root visits an action that has been
    visited exactly ``schedule[i]`` times (as in DeepMind's mctx)."""
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
                        self.expanded, self.terminal, self.terminal_value):
                arr[g, :k] = arr[g, old]
            ch = self.children[g, old]
            self.children[g, :k] = np.where(ch >= 0, remap[np.maximum(ch, 0)], -1)
            self.size[g] = k

    def _expand(self, g: np.ndarray, m: np.ndarray, evaluate: Evaluator) -> np.ndarray:
        """Evaluate non-terminal nodes and store their priors; returns their values."""
        states = self.state[g, m]
        legal = self.game.legal(states)
        priors, values = evaluate(states, legal)
        self.legal[g, m] = legal
        self.prior[g, m] = priors
        self.raw_value[g, m] = values
        self.expanded[g, m] = True
        return values

    # -- the search -------------------------------------------------------------------------------
    def search(self, idx: np.ndarray, evaluate: Evaluator, noise: bool = False, simulations: int | None = None) -> dict[str, np.ndarray]:
        """Run the simulations on trees ``idx``; returns per tree the root's child ``visits`` (k, A),
        the policy ``target`` (k, A), the root ``value`` (k,) for the player to move and, for
        Gumbel search, the ``action`` sequential halving chose."""
        cfg = self.cfg
        idx = np.asarray(idx, np.int64)
        sims = cfg.simulations if simulations is None else simulations
        zeros = np.zeros(len(idx), np.int64)
        fresh = ~self.expanded[idx, 0]
        if fresh.any():
            v = self._expand(idx[fresh], zeros[fresh], evaluate)
            self.visits[idx[fresh], 0] = 1
            self.value_sum[idx[fresh], 0] = -v
        if noise and not cfg.gumbel and cfg.noise_fraction > 0:
            for g in idx:
                legal = self.legal[g, 0]
                d = self.rngs[g].dirichlet(np.full(int(legal.sum()), cfg.dirichlet_alpha))
                p = self.prior[g, 0]
                p[legal] = (1 - cfg.noise_fraction) * p[legal] + cfg.noise_fraction * d
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
        for i in range(sims):
            forced = self._gumbel_choice(idx, schedule[:, i]) if schedule is not None else None
            self._simulate(idx, evaluate, forced)
        return self._result(idx)

    def _child_stats(self, g: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ch = self.children[g, n]
        safe = np.maximum(ch, 0)
        has = ch >= 0
        nc = np.where(has, self.visits[g[:, None], safe], 0)
        wc = np.where(has, self.value_sum[g[:, None], safe], 0.0)
        return ch, nc, wc

    def _completed_q(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gumbel: children's values with unvisited ones completed by the mixed value, in [0, 1]
        and scaled by sigma; and the visit counts."""
        cfg = self.cfg
        zeros = np.zeros(len(idx), np.int64)
        _, nc, wc = self._child_stats(idx, zeros)
        q = np.where(nc > 0, wc / np.maximum(nc, 1), 0.0)
        prior = self.prior[idx, 0]
        visited = nc > 0
        pv = np.where(visited, prior, 0.0)
        total = nc.sum(1)
        weighted = (pv * q).sum(1) / np.maximum(pv.sum(1), 1e-12)
        raw = self.raw_value[idx, 0]
        mixed = (raw + total * weighted) / (total + 1)
        completed = np.where(visited, q, mixed[:, None])
        completed = (completed + 1.0) / 2.0  # values in [-1, 1] -> [0, 1]
        sigma = (cfg.gumbel_c_visit + nc.max(1))[:, None] * cfg.gumbel_c_scale * completed
        return sigma, nc

    def _gumbel_scores(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sigma, nc = self._completed_q(idx)
        logits = np.log(np.maximum(self.prior[idx, 0], 1e-30))
        score = self.root_gumbel[idx] + logits + sigma
        score = np.where(self.legal[idx, 0], score, -np.inf)
        return score, nc

    def _gumbel_choice(self, idx: np.ndarray, considered_visit: np.ndarray) -> np.ndarray:
        score, nc = self._gumbel_scores(idx)
        chosen = np.where(nc - self._base_visits == considered_visit[:, None], score, -np.inf)
        fallback = ~np.isfinite(chosen).any(1)  # cannot happen with a fresh count; kept safe
        chosen[fallback] = score[fallback]
        return np.argmax(chosen, 1)

    def _simulate(self, idx: np.ndarray, evaluate: Evaluator, forced: np.ndarray | None) -> None:
        cfg = self.cfg
        k = len(idx)
        node = np.zeros(k, np.int64)
        path = [node.copy()]
        valid = [np.ones(k, bool)]
        active = np.ones(k, bool)
        new_leaf = np.zeros(k, bool)
        parent = np.zeros(k, np.int64)
        action = np.zeros(k, np.int64)
        depth = 0
        while True:
            pos = np.nonzero(active)[0]
            if len(pos) == 0:
                break
            g, n = idx[pos], node[pos]
            stop = ~self.expanded[g, n] | self.terminal[g, n]
            active[pos[stop]] = False
            pos, g, n = pos[~stop], g[~stop], n[~stop]
            if len(pos) == 0:
                break
            ch, nc, wc = self._child_stats(g, n)
            npar = self.visits[g, n].astype(np.float32)
            if cfg.formula == "uct":
                q = wc / np.maximum(nc, 1)
                score = np.where(nc > 0, q + cfg.c_puct * np.sqrt(np.log(np.maximum(npar, 1))[:, None] / np.maximum(nc, 1)), np.inf)
            else:
                q = np.where(nc > 0, wc / np.maximum(nc, 1), cfg.fpu)
                score = q + cfg.c_puct * self.prior[g, n] * np.sqrt(npar)[:, None] / (1.0 + nc)
            score = np.where(self.legal[g, n], score, -np.inf)
            a = np.argmax(score, 1)
            if depth == 0 and forced is not None:
                a = forced[pos]
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
                new_leaf[p] = True
                parent[p] = np_
                action[p] = a[is_new]
                active[p] = False
            node[pos] = child
            path.append(node.copy())
            v = np.zeros(k, bool)
            v[pos] = True
            valid.append(v)
            depth += 1
        # the leaves: new nodes are stepped and evaluated in one batch each
        leaf_value = np.zeros(k, np.float32)
        pos = np.nonzero(new_leaf)[0]
        if len(pos):
            g, m = idx[pos], node[pos]
            states, term, reward = self.game.step(self.state[g, parent[pos]], action[pos])
            self.state[g, m] = states
            self.terminal[g, m] = term
            self.terminal_value[g, m] = -reward
            leaf_value[pos[term]] = -reward[term]
            live = ~term
            if live.any():
                leaf_value[pos[live]] = self._expand(g[live], m[live], evaluate)
        old = np.nonzero(~new_leaf)[0]
        if len(old):
            leaf_value[old] = self.terminal_value[idx[old], node[old]]
        # backup with alternating signs
        depth_of = np.sum(valid, axis=0) - 1  # depth of each tree's leaf
        for d, (nodes, ok) in enumerate(zip(path, valid)):
            p = np.nonzero(ok)[0]
            sign = np.where((depth_of[p] - d) % 2 == 0, -1.0, 1.0)
            self.visits[idx[p], nodes[p]] += 1
            self.value_sum[idx[p], nodes[p]] += sign * leaf_value[p]

    def _result(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        zeros = np.zeros(len(idx), np.int64)
        _, nc, wc = self._child_stats(idx, zeros)
        visits = nc.astype(np.float32)
        value = -self.value_sum[idx, 0] / np.maximum(self.visits[idx, 0], 1)
        out = {"visits": visits, "value": value.astype(np.float32), "prior": self.prior[idx, 0].copy(),
               "q": np.where(nc > 0, wc / np.maximum(nc, 1), np.nan).astype(np.float32)}
        if self.cfg.gumbel:
            score, nc = self._gumbel_scores(idx)
            top = np.where(nc == nc.max(1, keepdims=True), score, -np.inf)
            out["action"] = np.argmax(top, 1)
            sigma, _ = self._completed_q(idx)
            logits = np.log(np.maximum(self.prior[idx, 0], 1e-30)) + sigma
            logits = np.where(self.legal[idx, 0], logits, -np.inf)
            logits -= logits.max(1, keepdims=True)
            e = np.exp(logits)
            out["target"] = (e / e.sum(1, keepdims=True)).astype(np.float32)
        else:
            out["target"] = visits / np.maximum(visits.sum(1, keepdims=True), 1)
        return out


def pick(result: dict[str, np.ndarray], temperature: float, rngs: list[np.random.Generator] | None = None) -> np.ndarray:
    """The moves of a search result: Gumbel's choice, else the most visited child (temperature 0)
    or a child drawn in proportion to visits ** (1 / temperature)."""
    if "action" in result:
        return result["action"]
    visits = result["visits"]
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
