"""The ESDIRK tableaus: Butcher's order conditions, the embedded orders, L-stability."""

import numpy as np
import pytest

from ode_keras.implicit_tableaus import ALL_IMPLICIT_TABLEAUS, ESDIRKTableau
from tests.ode_keras.butcher_trees import largest_error

BY_NAME = {tableau.name: tableau for tableau in ALL_IMPLICIT_TABLEAUS}


@pytest.mark.parametrize("tableau", ALL_IMPLICIT_TABLEAUS, ids=lambda t: t.name)
def test_solution_weights_have_exactly_the_stated_order(tableau):
    A, b = tableau.stage_matrix(), np.array(tableau.b)
    for order in range(1, tableau.order + 1):
        assert largest_error(b, A, order) < 1e-13, f"order {order} condition fails"
    assert largest_error(b, A, tableau.order + 1) > 1e-6, "the method is of higher order"


@pytest.mark.parametrize("name", ["kvaerno3", "kvaerno4", "kvaerno5"])
def test_embedded_estimate_has_one_order_less(name):
    tableau = BY_NAME[name]
    A = tableau.stage_matrix()
    b_hat = np.array(tableau.b) - np.array(tableau.b_error)
    order = tableau.order - 1
    for p in range(1, order + 1):
        assert largest_error(b_hat, A, p) < 1e-13
    assert largest_error(b_hat, A, order + 1) > 1e-6


def _stability(tableau, z):
    """R(z) = det(I - z A + z 1 b^T) / det(I - z A), without the cancellation of 1 + z b.(..)."""
    A, b = tableau.stage_matrix(), np.array(tableau.b)
    s = len(b)
    return (np.linalg.det(np.eye(s) - z * A + z * np.outer(np.ones(s), b))
            / np.linalg.det(np.eye(s) - z * A))


@pytest.mark.parametrize("name", ["implicit_euler", "kvaerno3", "kvaerno4", "kvaerno5"])
def test_the_l_stable_methods_damp_infinitely_stiff_modes(name):
    tableau = BY_NAME[name]
    # A-stable: |R| <= 1 on the imaginary axis (the maximum principle does the rest) ...
    for y in np.geomspace(1e-3, 1e4, 200):
        assert abs(_stability(tableau, 1j * y)) <= 1 + 1e-12
    # ... and R(z) -> 0 as z -> -inf, like 1/z: L-stable.
    r6, r8 = _stability(tableau, -1e6), _stability(tableau, -1e8)
    assert abs(r8) < 1e-6 and abs(r8) < abs(r6) / 10


def test_the_trapezoid_is_a_stable_but_not_l_stable():
    tableau = BY_NAME["trapezoid"]
    assert abs(_stability(tableau, 5j)) == pytest.approx(1.0)
    assert _stability(tableau, -1e8) == pytest.approx(-1.0, abs=1e-6)


def test_every_method_is_stiffly_accurate_with_a_constant_diagonal():
    for tableau in ALL_IMPLICIT_TABLEAUS:
        A = tableau.stage_matrix()
        assert np.allclose(A[-1], tableau.b) and A[0].tolist() == [0.0] * len(A)
        assert np.allclose(np.diag(A)[1:], tableau.gamma)
        assert np.allclose(A.sum(axis=1), tableau.c)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(gamma=0.5, c=(0, 1), a=((0.4, 0.5),), b=(0.5, 0.5)), "must sum to its node c"),
        (dict(gamma=0.5, c=(0, 1), a=((0.5, 0.5),), b=(0.6, 0.5)), "summing to 1"),
        (dict(gamma=0.5, c=(0.1, 1), a=((0.5, 0.5),), b=(0.5, 0.5)), "start with 0"),
        (dict(gamma=0.4, c=(0, 1), a=((0.5, 0.5),), b=(0.5, 0.5)), "constant gamma"),
        (dict(gamma=0.5, c=(0, 1), a=((1.0,),), b=(0.5, 0.5)), r"row i with i \+ 2"),
        (dict(gamma=0.5, c=(0, 1), a=((0.5, 0.5),), b=(0.25, 0.75)), "not the last row"),
        (dict(gamma=0.5, c=(0, 1), a=((0.5, 0.5),), b=(0.5, 0.5), b_error=(1, 0)),
         "summing to 0"),
    ],
)
def test_inconsistent_tableaus_are_rejected_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ESDIRKTableau("bad", 1, **kwargs)
