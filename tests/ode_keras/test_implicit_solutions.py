"""The implicit methods solve stiff problems: a linear system against the matrix exponential,
and their measured orders of convergence."""

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from ode_keras import SOLVERS, odeint
from ode_keras._implicit import ImplicitSolver

IMPLICIT = sorted(name for name, solver in SOLVERS.items() if isinstance(solver, ImplicitSolver))
ADAPTIVE = ["kvaerno3", "kvaerno4", "kvaerno5"]
FIXED = ["implicit_euler", "trapezoid"]


def stiff_matrix():
    """A symmetric negative definite 4x4 matrix with eigenvalues -1, -10, -1e3, -1e4."""
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(4, 4)))
    return -(q @ np.diag([1.0, 10.0, 1e3, 1e4]) @ q.T)


def linear_field(matrix, dtype):
    a = tf.constant(matrix, dtype)
    return lambda t, y: tf.linalg.matvec(a, y)


def test_the_registry_lists_the_implicit_methods():
    assert IMPLICIT == ["implicit_euler", "kvaerno3", "kvaerno4", "kvaerno5", "trapezoid"]
    assert [SOLVERS[name].order for name in IMPLICIT] == [1, 3, 4, 5, 2]


@pytest.mark.parametrize("method", IMPLICIT)
def test_a_stiff_linear_system_matches_the_matrix_exponential(method):
    # Started after the fastest transient (y0 = exp(0.01 A) y_raw): the solution is smooth,
    # and only stability would hold a method to short steps.
    matrix = stiff_matrix()
    y0 = scipy.linalg.expm(0.01 * matrix) @ np.array([1.0, -2.0, 0.5, 3.0])
    t = np.array([0.0, 0.05, 0.3, 1.0])
    expected = np.stack([scipy.linalg.expm(matrix * ti) @ y0 for ti in t])
    adaptive = method in ADAPTIVE
    options = None if adaptive else {"step_size": 1e-3}
    solve = tf.function(lambda y0: odeint(
        linear_field(matrix, tf.float64), y0, tf.constant(t), method=method, rtol=1e-6,
        atol=1e-9, options=options, return_stats=True))
    ys, stats = solve(tf.constant(y0))
    error = np.abs(ys.numpy() - expected).max()
    # Adaptive: to the tolerance; fixed: implicit Euler's h |y''| / 2 ~ 1e-3 at h = 1e-3.
    assert error < (1e-6 if adaptive else 2e-3)
    assert int(stats["status"]) == 0 and int(stats["num_jacobians"]) >= 1
    # The Jacobian of a linear field never changes: Newton converges at once, and J is
    # evaluated again only after a rejected step (Hairer & Wanner's rule).
    assert int(stats["num_jacobians"]) <= 1 + int(stats["num_rejected"])
    # An explicit method's stability needs h < 2.8 / 1e4 (dopri5 takes 3101 steps here).
    if adaptive:
        assert int(stats["num_accepted"]) < 100


def _fixed_step_errors(method, steps):
    """Errors at t = 1 of ``method`` with ``steps`` equal steps, on a mildly stiff system."""
    matrix = np.array([[-2.0, 1.0], [1.0, -10.0]])
    y0 = np.array([1.0, 1.0])
    exact = scipy.linalg.expm(matrix) @ y0
    errors = []
    for n in steps:
        ys = odeint(linear_field(matrix, tf.float64), tf.constant(y0),
                    tf.constant([0.0, 1.0], tf.float64), method=method, rtol=1e-13,
                    atol=1e-15, options={"step_size": 1.0 / n})
        errors.append(np.abs(ys[-1].numpy() - exact).max())
    return np.array(errors)


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_methods_converge_at_their_order(method):
    steps = np.array([20, 40, 80])
    errors = _fixed_step_errors(method, steps)
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - SOLVERS[method].order) < 0.2, slope


@pytest.mark.parametrize("method", ADAPTIVE)
def test_adaptive_methods_converge_at_their_order_on_fixed_steps(method):
    # The propagated solution's order, measured with the step held fixed (max_step =
    # first_step and a loose tolerance, so the controller never shortens a step).
    matrix = np.array([[-2.0, 1.0], [1.0, -50.0]])
    y0, exact = np.array([1.0, 1.0]), None
    exact = scipy.linalg.expm(matrix) @ y0
    steps = np.array([10, 20, 40]) if method != "kvaerno5" else np.array([8, 12, 16])
    errors = []
    for n in steps:
        h = 1.0 / n
        ys = odeint(linear_field(matrix, tf.float64), tf.constant(y0),
                    tf.constant([0.0, 1.0], tf.float64), method=method, rtol=1e3, atol=1e3,
                    options={"first_step": h, "max_step": h, "newton_tolerance": 1e-12})
        errors.append(np.abs(ys[-1].numpy() - exact).max())
    slope = -np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert abs(slope - SOLVERS[method].order) < 0.2, (slope, errors)
