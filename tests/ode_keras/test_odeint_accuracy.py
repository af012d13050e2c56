"""odeint against exact solutions: every method, both time directions, both dtypes."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint
from ode_keras.solvers import RK_SOLVERS
from tests.ode_keras.ode_problems import PROBLEMS, exact_trajectory, relative_error

FIXED = sorted(name for name, s in RK_SOLVERS.items() if "step_size" in s.option_names)
ADAPTIVE = sorted(name for name, s in RK_SOLVERS.items() if "step_size" not in s.option_names)

# (rtol, atol, allowed relative error) for float64; float32 is looser below. The
# tolerances keep each solve to tens of steps: eager TensorFlow costs ~10 ms a step.
ADAPTIVE_SETTINGS = {
    "adaptive_heun": (1e-4, 1e-6, 2e-3),
    # Fehlberg's 1(2) pair estimates its error with weights of +-1/512, far below the
    # true local error of the second-order solution: its error is ~300 x rtol.
    "fehlberg2": (1e-5, 1e-7, 5e-3),
    "bosh3": (1e-6, 1e-8, 2e-5),
    "dopri5": (1e-8, 1e-10, 1e-6),
    "tsit5": (1e-8, 1e-10, 1e-6),
    "dopri8": (1e-10, 1e-12, 1e-8),
}
STEP_SIZE = 0.05
# Global error bounds for h = 0.05 over an interval of length 1. The stiffest case is
# y' = 2y (the exponential problem run backwards), where the error of a method of
# order p is about T * |lambda|^(p+1) * h^p / (p+1)!: Euler's exact relative error
# there is 1 - 1.1**20 / e**2 = 0.089.
FIXED_ERROR = {"euler": 0.12, "midpoint": 4e-3, "heun": 4e-3, "heun3": 2e-4, "rk4": 3e-6,
               "rk4_38": 3e-6}

TIMES = np.linspace(0.5, 1.5, 5)


def _solve(method, problem, times, dtype):
    y0 = tf.constant(problem.y0, dtype)
    t = tf.constant(times, dtype)
    if method in FIXED:
        return odeint(problem.func, y0, t, method=method, options={"step_size": STEP_SIZE})
    rtol, atol, _ = ADAPTIVE_SETTINGS[method]
    if dtype == tf.float32:
        rtol, atol = max(rtol, 1e-6), max(atol, 1e-8)
    return odeint(problem.func, y0, t, method=method, rtol=rtol, atol=atol)


def _allowed_error(method, dtype):
    error = FIXED_ERROR[method] if method in FIXED else ADAPTIVE_SETTINGS[method][2]
    return max(error, 2e-5) if dtype == tf.float32 else error


CASES = [
    (method, problem, direction, dtype)
    for method in sorted(RK_SOLVERS)  # scipy_solver: tests/ode_keras/test_scipy_solver.py
    for problem in sorted(PROBLEMS)
    for direction in ("forward", "backward")
    for dtype in ("float64", "float32")
    # float32 on two problems keeps the suite short; its rounding is the same everywhere.
    if dtype == "float64" or problem in ("linear", "logistic")
]


@pytest.mark.parametrize("method, problem, direction, dtype", CASES)
def test_matches_the_exact_solution(method, problem, direction, dtype):
    problem, dtype = PROBLEMS[problem], tf.as_dtype(dtype)
    times = TIMES if direction == "forward" else TIMES[::-1]
    ys = _solve(method, problem, times, dtype)
    assert ys.shape == (len(times), *problem.y0.shape)
    assert ys.dtype == dtype
    np.testing.assert_array_equal(ys[0], tf.constant(problem.y0, dtype))
    assert relative_error(ys, exact_trajectory(problem, times)) < _allowed_error(method, dtype)


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_tuple_state_is_solved_component_by_component(method):
    exponential, linear = PROBLEMS["exponential"], PROBLEMS["linear"]
    options = {"step_size": 0.01} if method == "rk4" else None

    def func(t, state):
        return exponential.func(t, state[0]), linear.func(t, state[1])

    y0 = (tf.constant(exponential.y0), tf.constant(linear.y0))
    ys = odeint(func, y0, tf.constant(TIMES), method=method, options=options)
    assert isinstance(ys, tuple) and len(ys) == 2
    assert relative_error(ys[0], exact_trajectory(exponential, TIMES)) < 1e-6
    assert relative_error(ys[1], exact_trajectory(linear, TIMES)) < 1e-6


@pytest.mark.parametrize("method", ["dopri5", "tsit5", "bosh3"])
def test_output_times_inside_steps_cost_no_extra_evaluations(method):
    problem = PROBLEMS["linear"]
    y0 = tf.constant(problem.y0)
    few = np.array([0.0, 3.0])
    many = np.linspace(0.0, 3.0, 200)
    _, stats_few = odeint(problem.func, y0, tf.constant(few), method=method, rtol=1e-8,
                          atol=1e-10, return_stats=True)
    ys, stats_many = odeint(problem.func, y0, tf.constant(many), method=method, rtol=1e-8,
                            atol=1e-10, return_stats=True)
    assert int(stats_many["nfe"]) == int(stats_few["nfe"])
    # ...and the interpolated values keep the accuracy of the steps (4th/3rd order dense output).
    assert relative_error(ys, exact_trajectory(problem, many)) < 1e-6


def test_dopri5_statistics_add_up():
    problem = PROBLEMS["logistic"]
    _, stats = odeint(problem.func, tf.constant(problem.y0), tf.constant([0.0, 10.0]),
                      return_stats=True)
    steps, accepted, rejected = (int(stats[k]) for k in ("num_steps", "num_accepted",
                                                         "num_rejected"))
    assert steps == accepted + rejected and accepted > 0
    # FSAL: 6 new stages per attempted step, plus f(t0, y0) and one for the first step.
    assert int(stats["nfe"]) == 2 + 6 * steps
    assert int(stats["status"]) == 0


def test_fixed_step_cuts_each_interval_into_equal_steps():
    problem = PROBLEMS["exponential"]
    times = tf.constant([0.0, 0.1, 0.35], tf.float64)
    _, stats = odeint(problem.func, tf.constant(problem.y0), times, method="rk4",
                      options={"step_size": 0.1}, return_stats=True)
    assert int(stats["num_steps"]) == 1 + 3  # ceil(0.1 / 0.1) + ceil(0.25 / 0.1)
    assert int(stats["nfe"]) == 4 * 4


def test_a_step_size_that_divides_an_interval_up_to_rounding_takes_whole_steps():
    problem = PROBLEMS["exponential"]
    # In floating point 0.5 / 0.05 = 10.000000000000002 and 0.3 / 0.1 = 2.9999999999999996.
    _, stats = odeint(problem.func, tf.constant(problem.y0), tf.constant([0.0, 0.5, 0.8]),
                      method="euler", options={"step_size": 0.05}, return_stats=True)
    assert int(stats["num_steps"]) == 10 + 6


def test_user_grid_steps_through_grid_points_and_output_times():
    problem = PROBLEMS["exponential"]
    grid = np.linspace(0.0, 1.0, 101)
    times = np.array([0.0, 0.333, 1.0])
    ys, stats = odeint(problem.func, tf.constant(problem.y0), tf.constant(times),
                       method="rk4", options={"grid": tf.constant(grid)}, return_stats=True)
    # 100 grid intervals, one of them split by t = 0.333; the shared end points cost nothing.
    assert int(stats["num_steps"]) == 101
    assert relative_error(ys, exact_trajectory(problem, times)) < 1e-9


def test_func_may_be_a_keras_layer():
    import keras

    class Decay(keras.layers.Layer):
        def call(self, t, y):
            return -2.0 * y

    ys = odeint(Decay(), tf.constant([[1.0, 2.0]]), tf.constant([0.0, 0.5]))
    np.testing.assert_allclose(ys[-1], np.exp(-1.0) * np.array([[1.0, 2.0]]), rtol=1e-5)
