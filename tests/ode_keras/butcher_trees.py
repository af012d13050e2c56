"""Butcher's rooted trees and the order conditions of Runge-Kutta methods.

Written for the tests, independently of the library: a method (A, b) has order
p exactly when ``b . u(tau) == 1 / gamma(tau)`` for every rooted tree tau with
at most p nodes, where ``u`` is the elementary weight vector over the stages.
"""

import functools
import math

import numpy as np


@functools.cache
def trees(order):
    """All rooted trees with ``order`` nodes; a tree is the sorted tuple of its subtrees."""
    if order == 1:
        return ((),)
    return tuple(sorted(set(_forests(order - 1))))


@functools.cache
def _forests(total):
    if total == 0:
        return ((),)
    result = set()
    for size in range(1, total + 1):
        for tree in trees(size):
            for rest in _forests(total - size):
                result.add(tuple(sorted(rest + (tree,))))
    return tuple(result)


def order_of(tree):
    return 1 + sum(order_of(child) for child in tree)


def gamma(tree):
    return order_of(tree) * math.prod(gamma(child) for child in tree)


def elementary_weights(tree, A):
    """u(tree): the stage vector whose weighted sum must equal 1 / gamma(tree)."""
    u = np.ones(A.shape[0])
    for child in tree:
        u = u * (A @ elementary_weights(child, A))
    return u


def stage_matrix(tableau):
    s = tableau.num_stages
    A = np.zeros((s, s))
    for i, row in enumerate(tableau.a, start=1):
        A[i, : len(row)] = row
    return A


def largest_error(weights, A, order, theta=1.0):
    """max |w . u(tau) - theta^|tau| / gamma(tau)| over the trees of exactly ``order`` nodes."""
    return max(
        abs(np.dot(weights, elementary_weights(tree, A)) - theta ** order / gamma(tree))
        for tree in trees(order)
    )
