"""The batched search: forced wins, blocks, Gumbel, tree reuse, and batched = unbatched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sandbox.agents.alphazero.opponents import Elo, against_every_perfect_line, perfect_moves, play_match, opponent
from sandbox.agents.alphazero.search import SearchConfig, Trees, capacity_for, considered_visits, pick, rollout_evaluator, uniform_evaluator
from sandbox.envs.games import get_game


def search_one(game, state, cfg: SearchConfig, evaluate=None, noise: bool = False):
    trees = Trees(game, 1, capacity_for(cfg.simulations, False), cfg, seed=0)
    trees.set_roots(np.array([0]), state[None])
    return trees.search(np.array([0]), evaluate or rollout_evaluator(game, 0), noise=noise)


def c4(moves: list[int]) -> np.ndarray:
    g = get_game("connect_four")
    s = g.initial(1)
    for m in moves:
        s, _, _ = g.step(s, np.array([m]))
    return s[0]


@pytest.mark.parametrize("search", ["puct", "uct", "gumbel"])
def test_finds_a_win_in_one_and_blocks_a_loss_in_one(search: str) -> None:
    cfg = SearchConfig(simulations=200, formula="uct" if search == "uct" else "puct", gumbel=search == "gumbel", gumbel_actions=8)
    ttt = get_game("tictactoe")
    win = np.array([1, 1, 0, 2, 2, 0, 0, 0, 0, 0], np.int16)  # X to move: 2 wins
    assert pick(search_one(ttt, win, cfg), 0.0)[0] == 2
    block = np.array([1, 1, 0, 0, 2, 0, 0, 0, 0, 1], np.int16)  # O to move must take 2
    assert pick(search_one(ttt, block, cfg), 0.0)[0] == 2
    g = get_game("connect_four")
    # first player has three in a row on the bottom (columns 0-2): it wins at column 3
    assert pick(search_one(g, c4([0, 6, 1, 6, 2, 5]), cfg), 0.0)[0] == 3
    # second player to move must block at column 3
    assert pick(search_one(g, c4([0, 6, 1, 6, 2]), cfg), 0.0)[0] == 3


def test_win_in_one_with_the_uniform_evaluator_and_the_search_value() -> None:
    g = get_game("connect_four")
    res = search_one(g, c4([0, 6, 1, 6, 2, 5]), SearchConfig(simulations=50), uniform_evaluator(g))
    assert np.argmax(res["visits"][0]) == 3 and res["value"][0] > 0.5
    assert res["target"][0].sum() == pytest.approx(1.0)


class TinyNet(torch.nn.Module):
    def __init__(self, game) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(game.planes * game.cells, 32), torch.nn.Tanh())
        self.p = torch.nn.Linear(32, game.num_actions)
        self.v = torch.nn.Linear(32, 1)

    def forward(self, x):
        f = self.body(x)
        return self.p(f), torch.tanh(self.v(f)).squeeze(-1)


def net_evaluator(game, net):
    def evaluate(states, legal):
        with torch.no_grad():
            logits, v = net(torch.from_numpy(game.encode(states)).double())
        logits = np.where(legal, logits.numpy(), -np.inf)
        p = np.exp(logits - logits.max(1, keepdims=True))
        return p / p.sum(1, keepdims=True), v.numpy()

    return evaluate


@pytest.mark.parametrize("gumbel", [False, True])
def test_batched_search_gives_the_same_moves_as_one_game_at_a_time(gumbel: bool) -> None:
    g = get_game("connect_four")
    net = TinyNet(g).double()
    evaluate = net_evaluator(g, net)
    rng = np.random.default_rng(0)
    states = g.initial(6)
    for _ in range(3):
        legal = g.legal(states)
        states, _, _ = g.step(states, np.argmax(rng.random(legal.shape) * legal, 1))
    cfg = SearchConfig(simulations=40, gumbel=gumbel, gumbel_actions=4, dirichlet_alpha=1.0)
    batched = Trees(g, 6, capacity_for(40, False), cfg, seed=3)
    batched.set_roots(np.arange(6), states)
    together = batched.search(np.arange(6), evaluate, noise=True)
    for i in range(6):
        alone = Trees(g, 6, capacity_for(40, False), cfg, seed=3)  # the same seeds per tree index
        alone.set_roots(np.array([i]), states[i:i + 1])
        one = alone.search(np.array([i]), evaluate, noise=True)
        assert np.array_equal(one["visits"][0], together["visits"][i])
        assert pick(one, 0.0)[0] == pick(together, 0.0)[i]


def test_tree_reuse_keeps_the_subtree_under_the_move() -> None:
    g = get_game("tictactoe")
    cfg = SearchConfig(simulations=60)
    trees = Trees(g, 2, capacity_for(60, True), cfg)
    trees.set_roots(np.arange(2), g.initial(2))
    res = trees.search(np.arange(2), uniform_evaluator(g))
    a = pick(res, 0.0)
    child_visits = res["visits"][np.arange(2), a]
    nxt, _, _ = g.step(g.initial(2), a)
    trees.advance(np.arange(2), a, nxt)
    assert trees.visits[np.arange(2), 0].tolist() == child_visits.astype(int).tolist()
    assert np.array_equal(trees.state[np.arange(2), 0], nxt)
    assert (trees.size < 61).all()
    more = trees.search(np.arange(2), uniform_evaluator(g), simulations=10)
    assert (more["visits"].sum(1) == child_visits - 1 + 10).all()


def test_sequential_halving_schedule() -> None:
    s = considered_visits(4, 16)
    assert len(s) == 16 and list(s[:4]) == [0, 0, 0, 0] and max(s) >= 3
    assert list(considered_visits(1, 5)) == [0, 1, 2, 3, 4]


def test_perfect_player_never_loses_and_random_loses_lines() -> None:
    g = get_game("tictactoe")
    assert sorted(perfect_moves(g.initial(1)[0])) == list(range(9))  # every opening draws
    lines = against_every_perfect_line(g, lambda s: perfect_moves(s)[0])
    assert lines["first"]["loss"] == 0 and lines["second"]["loss"] == 0 and lines["second"]["lines"] > 10
    bad = against_every_perfect_line(g, lambda s: int(np.nonzero(g.legal(s[None])[0])[0][0]))
    assert bad["first"]["loss"] + bad["second"]["loss"] > 0


def test_matches_alternate_the_first_move_and_elo_orders_players() -> None:
    g = get_game("tictactoe")
    r = play_match(g, opponent(g, "perfect"), opponent(g, "random", seed=1), 20)
    assert r["loss"] == 0 and r["win"] >= 10 and r["games"] == 20
    # first move alternating: 10 games as first; perfect play as first against random wins nearly all
    assert r["win_as_first"] + r["draw_as_first"] + r["loss_as_first"] == 10 and r["loss_as_first"] == 0 and r["win_as_first"] >= 8
    always = play_match(g, opponent(g, "random", seed=5), opponent(g, "perfect"), 6, first="b")
    assert always["win_as_first"] + always["draw_as_first"] + always["loss_as_first"] == 0  # a never moved first
    r2 = play_match(g, opponent(g, "mcts:50"), opponent(g, "random", seed=2), 10)
    elo = Elo()
    elo.add("perfect", "random", r["win"], r["draw"], r["loss"])
    elo.add("mcts:50", "random", r2["win"], r2["draw"], r2["loss"])
    elo.add("perfect", "mcts:50", 3, 7, 0)
    ratings = elo.ratings()
    assert ratings["random"] == 0 and ratings["perfect"] > ratings["mcts:50"] > 0


@pytest.mark.parametrize("spec", ["minimax", "mcts:", "mcts:0", "mcts:ten", "mcts:\u00b2"])
def test_a_bad_opponent_is_one_sentence(spec: str) -> None:
    from sandbox.errors import ConfigError

    with pytest.raises(ConfigError, match="random, mcts:N"):
        opponent(get_game("connect_four"), spec)
    with pytest.raises(ConfigError, match="tic-tac-toe only"):
        opponent(get_game("connect_four"), "perfect")


def test_go_search_never_walks_into_a_superko_repeat() -> None:
    """From the triple ko (tests/test_games_rules.py) two plies before the repeat, the search's
    nodes carry their game's history: the move that would recreate the position is illegal at the
    node where it comes up, and it is never visited."""
    from test_games_rules import AT, CYCLE, TRIPLE_KO, go_state, play_moves

    g = get_game("go9")
    s = play_moves(g, go_state(g, TRIPLE_KO, to_play=1), CYCLE[:-2])  # Black to move; B3 then W2 repeats
    cfg = SearchConfig(simulations=300)
    trees = Trees(g, 1, capacity_for(300, False), cfg, seed=0)
    trees.set_roots(np.array([0]), s[None])
    prior = np.zeros(g.num_actions, np.float32)
    prior[[AT["B3"], AT["W2"]]] = 1.0  # an evaluator that wants exactly the cycle's moves

    def evaluate(states, legal):
        p = np.where(legal, prior + 1e-3, 0.0)
        return (p / p.sum(1, keepdims=True)).astype(np.float32), np.zeros(len(states), np.float32)

    trees.search(np.array([0]), evaluate)
    child = trees.children[0, 0, AT["B3"]]
    assert child > 0 and trees.expanded[0, child] and trees.visits[0, child] > 100
    assert not trees.legal[0, child, AT["W2"]] and trees.children[0, child, AT["W2"]] == -1


def test_value_mix_blends_each_positions_result_with_the_search_value_there() -> None:
    """agent.value_mix: the same self-play (moves do not depend on it); each position's value target
    is (1 - m) * z + m * v, v the root value the search found there, for the player to move."""
    from sandbox.agents.alphazero.selfplay import SelfPlay

    g = get_game("tictactoe")
    cfg = SearchConfig(simulations=24, dirichlet_alpha=g.dirichlet_alpha)
    finished = {}
    for mix in (0.0, 0.5, 1.0):
        sp = SelfPlay(g, 4, 24, True, 2, cfg, seed=3, value_mix=mix)
        games = []
        while len(games) < 4:
            games += sp.move(rollout_evaluator(g, 0))
        finished[mix] = games[:4]
    for z0, half, v in zip(*finished.values()):
        assert np.array_equal(z0.x, half.x) and np.array_equal(z0.x, v.x), "the same games whatever the mix"
        assert set(np.abs(z0.z)) == {abs(z0.result)}, "value_mix=0: the game's result alone"
        assert np.all(np.abs(v.z) <= 1) and not np.array_equal(v.z, z0.z), "value_mix=1: the search's values"
        np.testing.assert_allclose(half.z, 0.5 * z0.z + 0.5 * v.z, atol=1e-6)
        if z0.result != 0:
            assert v.z[-1] > 0.5, "the winner's last move was a win in one, and the search saw it"


# -- MCTS-solver --------------------------------------------------------------------------------
def ttt_positions(empties: int, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` tic-tac-toe positions, not over, with ``empties`` empty cells, by random play."""
    g = get_game("tictactoe")
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < n:
        s = g.initial(1)
        for _ in range(9 - empties):
            s, term, _ = g.step(s, np.array([rng.choice(np.flatnonzero(g.legal(s)[0]))]))
            if term[0]:
                break
        else:
            out.append(s[0])
    return out


@pytest.mark.parametrize("formula", ["puct", "uct"])
def test_solver_proves_tictactoe_end_games_as_exhaustive_negamax_values_them(formula: str) -> None:
    """With enough simulations to see every line, the solver proves the root: a won root by one
    winning move (its other moves may stay unproven), a drawn or lost one by all of its moves. Every
    proof must agree with the exhaustive negamax (opponents.perfect_moves' search), and the move
    played be one of the perfect moves."""
    from sandbox.agents.alphazero.opponents import _move_value

    g = get_game("tictactoe")
    cfg = SearchConfig(simulations=400, formula=formula, c_puct=1.4 if formula == "uct" else 1.5, solver=True)
    outcomes = set()
    for s in ttt_positions(5, 12) + ttt_positions(4, 12, seed=1):
        res = search_one(g, s, cfg, uniform_evaluator(g))
        board, player = tuple(int(v) for v in s[:9]), int(s[9])
        exact = {a: _move_value(board, a, player) for a in range(9) if not board[a]}
        proven = res["proven"][0]
        known = {a: int(proven[a]) for a in exact if not np.isnan(proven[a])}
        assert known == {a: exact[a] for a in known}, f"{s}: proven {proven}, exact {exact}"
        assert len(known) == len(exact) or max(known.values()) == 1, "a root is proven by a win or by all its moves"
        assert np.isnan(proven[[a for a in range(9) if board[a]]]).all()
        assert res["value"][0] == max(exact.values())
        assert int(pick(res, 0.0)[0]) in perfect_moves(s)
        outcomes.add(max(exact.values()))
    assert outcomes == {-1, 0, 1}, "the positions cover won, drawn and lost roots"


def test_solver_proves_a_connect_four_double_threat_and_learns_the_winning_move_alone() -> None:
    """The first player to move with two stones on the bottom row (columns 2 and 3) wins by column
    4: an open three, two winning cells that one reply cannot both block. 100 simulations of PUCT
    with uniform priors and zero values only lean to it (value about 0.3); with the solver they
    prove it: the root's value is exactly 1, the move is played, and the policy target is that
    move alone."""
    g = get_game("connect_four")
    state = c4([1, 6, 2, 6])  # 0-based columns: the first player on 1 and 2, the second on 6 twice
    plain = search_one(g, state, SearchConfig(simulations=100), uniform_evaluator(g))
    res = search_one(g, state, SearchConfig(simulations=100, solver=True), uniform_evaluator(g))
    assert int(pick(plain, 0.0)[0]) == 3 and 0 < plain["value"][0] < 0.9 and "proven" not in plain
    assert int(pick(res, 0.0)[0]) == 3 and res["proven"][0][3] == 1 and res["value"][0] == 1
    np.testing.assert_array_equal(res["target"][0], np.eye(7, dtype=np.float32)[3])
    assert np.isnan(np.delete(res["proven"][0], 3)).all(), "the other moves are not proven either way"


def test_solver_never_plays_a_proven_loss_even_when_drawn_by_visits() -> None:
    """pick() with the solver's proofs: a proven win is taken at any temperature; proven losses are
    never drawn while another move is left; when every move is lost, any legal one."""
    legal = np.array([[True, True, True, False]] * 3)
    nan = np.nan
    res = {"visits": np.array([[50.0, 1, 0, 0], [50, 40, 1, 0], [5, 5, 5, 0]]), "legal": legal,
           "proven": np.array([[nan, 1, nan, nan], [-1, nan, -1, nan], [-1, -1, -1, nan]], np.float32)}
    rngs = [np.random.default_rng(i) for i in range(3)]
    for _ in range(50):
        for t in (0.0, 1.0):
            a = pick(res, t, rngs)
            assert a[0] == 1 and a[1] == 1 and a[2] in (0, 1, 2)
    assert list(pick(res, 0.0)) == [1, 1, 0]


def test_solver_proofs_survive_tree_reuse_and_stop_the_search_at_a_proven_root() -> None:
    """After the move is played the kept subtree keeps its proofs; a search from a proven root
    spends its simulations without growing the tree, and reports the proven value."""
    g = get_game("tictactoe")
    cfg = SearchConfig(simulations=400, solver=True)
    s = ttt_positions(5, 1, seed=2)[0]
    trees = Trees(g, 1, capacity_for(cfg.simulations, True), cfg, seed=0)
    trees.set_roots(np.array([0]), s[None])
    res = trees.search(np.array([0]), uniform_evaluator(g))
    assert trees.solved[0, 0]
    a = int(pick(res, 0.0)[0])
    nxt, term, _ = g.step(s[None], np.array([a]))
    assert not term[0]
    trees.advance(np.array([0]), np.array([a]), nxt)
    assert trees.solved[0, 0] and trees.solved_value[0, 0] == res["value"][0]  # for the player who moved into it
    size = int(trees.size[0])
    again = trees.search(np.array([0]), uniform_evaluator(g))
    assert int(trees.size[0]) == size
    assert again["value"][0] == -res["value"][0]


@pytest.mark.parametrize("gumbel", [False, True])
def test_solver_search_is_the_same_batched_as_alone(gumbel: bool) -> None:
    """Proofs are per tree: a batch of trees searched in lockstep with the solver gives each the
    moves and proofs it gets searched alone."""
    g = get_game("connect_four")
    cfg = SearchConfig(simulations=120, solver=True, gumbel=gumbel, gumbel_actions=4)
    states = [c4(m) for m in ([0, 6, 1, 6, 2, 5], [3, 3, 4, 4, 2], [0, 1, 0, 1, 0, 1, 6, 5, 6, 5], [3])]
    trees = Trees(g, len(states), capacity_for(cfg.simulations, False), cfg, seed=0)
    idx = np.arange(len(states))
    trees.set_roots(idx, np.stack(states))
    batched = trees.search(idx, uniform_evaluator(g))
    for i, s in enumerate(states):
        alone = search_one(g, s, cfg, uniform_evaluator(g))
        np.testing.assert_array_equal(alone["visits"][0], batched["visits"][i])
        np.testing.assert_array_equal(alone["proven"][0], batched["proven"][i])
