"""The search's formulas, each checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np

from sandbox.agents.alphazero.search import (completed_q, considered_visits, dirichlet_noise, gumbel_scores, improved_policy,
                                             mean_values, mixed_value, puct_scores, sigma_transform, uct_scores)


def test_puct_scores_by_hand() -> None:
    # N(s) = 4, so sqrt(N(s)) = 2; c_puct = 1.5, fpu = -0.1:
    #   a0: Q 0.5 + 1.5 * 0.5 * 2 / (1 + 2)  = 0.5 + 0.5 =  1.0
    #   a1: unvisited, fpu -0.1 + 1.5 * 0.3 * 2 / (1 + 0) = -0.1 + 0.9 = 0.8
    #   a2: Q -0.2 + 1.5 * 0.2 * 2 / (1 + 1) = -0.2 + 0.3 = 0.1
    q = np.array([[0.5, 0.0, -0.2]])
    prior = np.array([[0.5, 0.3, 0.2]], np.float32)
    score = puct_scores(q, prior, np.array([4.0], np.float32), np.array([[2, 0, 1]]), c_puct=1.5, fpu=-0.1)
    assert np.allclose(score, [[1.0, 0.8, 0.1]])
    # a node just expanded (N(s) = 1, no child visited): fpu + c_puct * P, the prior decides
    fresh = puct_scores(np.zeros((1, 3)), prior, np.array([1.0], np.float32), np.zeros((1, 3), int), c_puct=1.5)
    assert np.allclose(fresh, [[0.75, 0.45, 0.3]]) and np.argmax(fresh) == 0


def test_uct_scores_by_hand() -> None:
    # N(s) = 4, ln 4 = 1.386294, c = 1:
    #   a0: 0.5 + sqrt(1.386294 / 1) = 0.5 + 1.177410 = 1.677410
    #   a1: unvisited: +inf
    #   a2: -0.5 + sqrt(1.386294 / 4) = -0.5 + 0.588705 = 0.088705
    q = np.array([[0.5, 0.0, -0.5]])
    score = uct_scores(q, np.array([4.0], np.float32), np.array([[1, 0, 4]]), c=1.0)
    assert np.isinf(score[0, 1]) and score[0, 1] > 0
    assert np.allclose(score[0, [0, 2]], [1.677410, 0.088705], atol=1e-6)
    # N(s) = 1: ln 1 = 0, no exploration term, the mean values alone
    assert np.allclose(uct_scores(q, np.array([1.0], np.float32), np.array([[1, 1, 1]]), c=1.4), q)


def test_mean_values_and_dirichlet_noise() -> None:
    # W = 1.5 over N = 3 is 0.5; an unvisited child (W = 0) reads 0
    assert np.allclose(mean_values(np.array([[1.5, 0.0]], np.float32), np.array([[3, 0]])), [[0.5, 0.0]])
    # (1 - 0.25) * [0.5, 0.5] + 0.25 * [1, 0] = [0.625, 0.375]
    assert np.allclose(dirichlet_noise(np.array([0.5, 0.5]), np.array([1.0, 0.0]), 0.25), [0.625, 0.375])


def test_mixed_value_completed_q_and_sigma_by_hand() -> None:
    # raw value 0.2; priors 0.5, 0.3, 0.2; a0 and a2 visited twice each, with q 0.6 and -0.4:
    #   prior-weighted q of the visited: (0.5 * 0.6 + 0.2 * -0.4) / (0.5 + 0.2) = 0.22 / 0.7 = 0.3142857
    #   v_mix = (0.2 + 4 * 0.3142857) / (1 + 4) = 1.4571429 / 5 = 0.2914286
    raw = np.array([0.2], np.float32)
    prior = np.array([[0.5, 0.3, 0.2]], np.float32)
    q = np.array([[0.6, 0.0, -0.4]])
    visits = np.array([[2, 0, 2]])
    mixed = mixed_value(raw, prior, q, visits)
    assert np.allclose(mixed, [0.2914286])
    # completedQ = [0.6, v_mix, -0.4], mapped (v + 1) / 2 onto [0, 1]: [0.8, 0.6457143, 0.3]
    q_hat = completed_q(q, visits, mixed)
    assert np.allclose(q_hat, [[0.8, 0.6457143, 0.3]])
    # sigma: (c_visit 50 + max N 2) * c_scale 0.1 = 5.2 times q_hat: [4.16, 3.3577143, 1.56]
    assert np.allclose(sigma_transform(q_hat, visits), [[4.16, 3.3577143, 1.56]])
    # no visits yet: v_mix is the raw value, and the slope is 50 * 0.1 = 5
    assert np.allclose(mixed_value(raw, prior, np.zeros((1, 3)), np.zeros((1, 3), int)), [0.2])
    # max N 30: (50 + 30) * 0.1 = 8
    assert np.allclose(sigma_transform(np.array([[0.0, 0.5, 1.0]]), np.array([[10, 0, 30]])), [[0.0, 4.0, 8.0]])


def test_gumbel_scores_and_improved_policy_by_hand() -> None:
    # g + logits + sigma, term by term
    assert np.allclose(gumbel_scores(np.array([[1.0, -1.0]]), np.array([[-0.5, -0.5]]), np.array([[0.0, 2.0]])), [[0.5, 0.5]])
    # logits log [0.5, 0.25, 0.25] plus sigma [0, ln 2, 0] = log [0.5, 0.5, 0.25]: softmax [0.4, 0.4, 0.2]
    logits = np.log(np.array([[0.5, 0.25, 0.25]]))
    sig = np.array([[0.0, math.log(2), 0.0]])
    assert np.allclose(improved_policy(logits, sig, np.ones((1, 3), bool)), [[0.4, 0.4, 0.2]])
    # the illegal third action gets nothing: [0.5, 0.5, 0]
    assert np.allclose(improved_policy(logits, sig, np.array([[True, True, False]])), [[0.5, 0.5, 0.0]])


def test_sequential_halving_schedule_by_hand() -> None:
    # 4 actions, 16 simulations, ceil(log2 4) = 2 phases:
    #   4 actions, max(1, floor(16 / (2 * 4))) = 2 visits each: 0 0 0 0 1 1 1 1
    #   2 actions, floor(16 / (2 * 2)) = 4 visits each:        2 2 3 3 4 4 5 5
    assert considered_visits(4, 16).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
