"""Measured orders of convergence: the slope of log(error) against log(h)."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import SOLVERS, _dense_output, odeint
from ode_keras.solvers import RK_SOLVERS
from tests.ode_keras.ode_problems import PROBLEMS

FIXED = sorted(name for name, s in RK_SOLVERS.items() if "step_size" in s.option_names)
ADAPTIVE = sorted(name for name, s in RK_SOLVERS.items() if "step_size" not in s.option_names)


def _slope(step_sizes, errors):
    return np.polyfit(np.log(step_sizes), np.log(errors), 1)[0]


def _logistic_exact(t, t0, y0):
    return 1.0 / (1.0 + (1.0 / y0 - 1.0) * np.exp(-(t - t0)))


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_methods_converge_at_their_order(method):
    problem = PROBLEMS["linear"]
    y0 = tf.constant(problem.y0)
    exact = problem.exact(1.0, 0.0, problem.y0)
    step_sizes = np.array([1 / 10, 1 / 20, 1 / 40, 1 / 80])
    errors = []
    for h in step_sizes:
        ys = odeint(problem.func, y0, tf.constant([0.0, 1.0], tf.float64), method=method,
                    options={"step_size": float(h)})
        errors.append(np.max(np.abs(ys[-1].numpy() - exact)))
    order = SOLVERS[method].order
    assert abs(_slope(step_sizes, errors) - order) < 0.15


# One step of each adaptive pair on the (nonlinear) logistic equation, with step sizes in
# the range where the local error is well above rounding and in its asymptotic regime.
LOCAL_STEP_SIZES = {
    "adaptive_heun": [0.2, 0.1, 0.05, 0.025], "fehlberg2": [0.2, 0.1, 0.05, 0.025],
    "bosh3": [0.1, 0.05, 0.025, 0.0125], "dopri5": [0.4, 0.2, 0.1, 0.05],
    "tsit5": [0.4, 0.2, 0.1, 0.05], "dopri8": [0.8, 0.6, 0.45, 0.3],
}


def _one_step(method, h, t0=0.0, y0=0.2):
    solver = SOLVERS[method]

    def func(t, y):
        return (y[0] * (1.0 - y[0]),)

    y = (tf.constant([y0], tf.float64),)
    t = tf.constant(t0, tf.float64)
    h = tf.constant(h, tf.float64)
    f0 = func(t, y)
    y1, f1, error, stages = solver.attempt(func, t, y, f0, h)
    return solver, y, y1, f0, f1, error, stages


@pytest.mark.parametrize("method", ADAPTIVE)
def test_adaptive_pairs_have_local_error_of_order_p_plus_one(method):
    step_sizes = np.array(LOCAL_STEP_SIZES[method])
    local_errors, estimates = [], []
    for h in step_sizes:
        solver, _, y1, *_, error, _ = _one_step(method, h)
        local_errors.append(abs(float(y1[0][0]) - _logistic_exact(h, 0.0, 0.2)))
        estimates.append(abs(float(error[0][0])))
    p = SOLVERS[method].order
    assert abs(_slope(step_sizes, local_errors) - (p + 1)) < 0.4
    # The embedded estimate is the local error of a method of order p - 1.
    assert abs(_slope(step_sizes, estimates) - p) < 0.4


@pytest.mark.parametrize("method, order", [("dopri5", 4), ("tsit5", 4), ("bosh3", 3)])
def test_dense_output_has_its_stated_order(method, order):
    # The interpolant at an interior point has local error O(h^(order + 1)).
    step_sizes = np.array(LOCAL_STEP_SIZES[method])
    theta = 0.37
    errors = []
    for h in step_sizes:
        solver, y, y1, f0, f1, _, stages = _one_step(method, h)
        coefficients = _dense_output.fit(solver.tableau, y, y1, f0, f1, stages, h)
        value = _dense_output.evaluate(coefficients, y, tf.constant(theta, tf.float64))
        errors.append(abs(float(value[0][0]) - _logistic_exact(theta * h, 0.0, 0.2)))
    assert _slope(step_sizes, errors) > order + 1 - 0.3


def test_adaptive_error_is_proportional_to_the_tolerance():
    # Tolerance proportionality: ten times smaller rtol, about ten times smaller error.
    problem = PROBLEMS["linear"]
    y0 = tf.constant(problem.y0)
    times = tf.constant([0.0, 2.0], tf.float64)
    exact = problem.exact(2.0, 0.0, problem.y0)
    errors = []
    for rtol in (1e-5, 1e-6, 1e-7, 1e-8):
        ys = odeint(problem.func, y0, times, rtol=rtol, atol=rtol * 1e-3)
        errors.append(np.max(np.abs(ys[-1].numpy() - exact)))
    assert 0.7 < _slope(np.array([1e-5, 1e-6, 1e-7, 1e-8]), errors) < 1.3
