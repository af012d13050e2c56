"""Every tableau satisfies Butcher's order conditions for exactly its stated order."""

import numpy as np
import pytest

from ode_keras.tableaus import ALL_TABLEAUS, ButcherTableau
from tests.ode_keras.butcher_trees import largest_error, stage_matrix, trees

BY_NAME = {tableau.name: tableau for tableau in ALL_TABLEAUS}


def test_the_tree_generator_counts_butchers_trees():
    # OEIS A000081: the number of rooted trees with n nodes.
    assert [len(trees(n)) for n in range(1, 9)] == [1, 1, 2, 4, 9, 20, 48, 115]


@pytest.mark.parametrize("tableau", ALL_TABLEAUS, ids=lambda t: t.name)
def test_solution_weights_have_exactly_the_stated_order(tableau):
    A, b = stage_matrix(tableau), np.array(tableau.b)
    for order in range(1, tableau.order + 1):
        assert largest_error(b, A, order) < 1e-13, f"order {order} condition fails"
    assert largest_error(b, A, tableau.order + 1) > 1e-6, "the method is of higher order"


EMBEDDED_ORDER = {"adaptive_heun": 1, "fehlberg2": 1, "bosh3": 2, "dopri5": 4, "tsit5": 4,
                  "dopri8": 7}


@pytest.mark.parametrize("name", sorted(EMBEDDED_ORDER))
def test_embedded_estimate_has_one_order_less(name):
    tableau = BY_NAME[name]
    A = stage_matrix(tableau)
    b_hat = np.array(tableau.b) - np.array(tableau.b_error)
    order = EMBEDDED_ORDER[name]
    for p in range(1, order + 1):
        assert largest_error(b_hat, A, p) < 1e-13
    assert largest_error(b_hat, A, order + 1) > 1e-6


@pytest.mark.parametrize("name", ["dopri5", "tsit5", "dopri8"])
def test_midpoint_weights_are_a_fourth_order_continuous_extension(name):
    # At theta = 1/2 a continuous extension of order q satisfies
    # b_mid . u(tau) = theta^|tau| / gamma(tau) for all trees up to q nodes.
    tableau = BY_NAME[name]
    A = stage_matrix(tableau)
    for p in range(1, 5):
        assert largest_error(np.array(tableau.b_mid), A, p, theta=0.5) < 1e-13


def test_fsal_methods_are_detected():
    assert {t.name for t in ALL_TABLEAUS if t.fsal} == {"bosh3", "dopri5", "tsit5", "dopri8"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(c=(0, 1), a=((0.5,),), b=(0.5, 0.5)), "must sum to its node c"),
        (dict(c=(0, 1), a=((1,),), b=(0.5, 0.4)), "summing to 1"),
        (dict(c=(0.1, 1), a=((1,),), b=(0.5, 0.5)), "start with 0"),
        (dict(c=(0, 1), a=((1, 0),), b=(0.5, 0.5)), "explicit method"),
        (dict(c=(0, 1), a=((1,),), b=(0.5, 0.5), b_error=(0.5, 0.0)), "summing to 0"),
    ],
)
def test_inconsistent_tableaus_are_rejected_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ButcherTableau("custom", 2, **kwargs)


def test_tableaus_are_frozen():
    with pytest.raises(AttributeError):
        BY_NAME["rk4"].order = 5
