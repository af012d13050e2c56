"""Failure is loud and never hangs: each cause is named with the time reached."""

import re

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint, odeint_adjoint
from ode_keras.failures import MAX_STEPS


def _stiff(t, y):
    return -1000.0 * (y - tf.cos(t))


def _blow_up(t, y):
    return y * y  # y(0) = 1 gives y = 1 / (1 - t), infinite at t = 1


def _time_in(message):
    # Eager and graph assertions print their data differently: "t =] [0.5]" or 't ="\n0.5'.
    match = re.search(r"at t =[^-0-9]*(-?[0-9][0-9.e+-]*)", message)
    assert match, message
    return float(match.group(1))


MODES = ["eager", "graph"]


def _run(mode, func, y0, t, **kwargs):
    def solve():
        return odeint(func, tf.constant(y0, tf.float64), tf.constant(t, tf.float64), **kwargs)

    return solve() if mode == "eager" else tf.function(solve)()


@pytest.mark.parametrize("mode", MODES)
def test_exceeding_max_num_steps_names_the_option_and_the_time(mode):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"max_num_steps=20") as error:
        _run(mode, _stiff, [0.0], [0.0, 10.0], options={"max_num_steps": 20})
    assert 0.0 < _time_in(str(error.value)) < 10.0
    assert "raise max_num_steps in options" in str(error.value)


def test_a_fixed_step_solve_too_long_for_the_budget_is_refused_at_once():
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"max_num_steps=4096"):
        odeint(_stiff, tf.constant([0.0]), tf.constant([0.0, 1.0]), method="euler",
               options={"step_size": 1e-9})


@pytest.mark.parametrize("mode", MODES)
def test_a_blow_up_stops_at_the_singularity(mode):
    with pytest.raises(tf.errors.InvalidArgumentError, match="underflow|non-finite") as error:
        _run(mode, _blow_up, [1.0], [0.0, 2.0])
    # Right at the singularity y ~ 1e8 is still finite, so the last step may land a hair
    # past t = 1 before the next one fails.
    assert abs(_time_in(str(error.value)) - 1.0) < 1e-4


@pytest.mark.parametrize("mode", MODES)
def test_a_step_below_min_step_is_an_underflow(mode):
    with pytest.raises(tf.errors.InvalidArgumentError, match="lower min_step in options"):
        _run(mode, _stiff, [0.0], [0.0, 1.0], rtol=1e-10, atol=1e-12,
             options={"min_step": 0.01})


@pytest.mark.parametrize("mode", MODES)
def test_a_non_finite_derivative_is_reported_at_the_start(mode):
    def nan_field(t, y):
        return y * float("nan")

    with pytest.raises(tf.errors.InvalidArgumentError, match="non-finite") as error:
        _run(mode, nan_field, [1.0], [0.5, 1.0])
    assert _time_in(str(error.value)) == 0.5


def test_a_fixed_step_overflow_is_reported_where_it_happens():
    with pytest.raises(tf.errors.InvalidArgumentError, match="non-finite") as error:
        odeint(_blow_up, tf.constant([1.0], tf.float64), tf.constant([0.0, 40.0], tf.float64),
               method="euler", options={"step_size": 0.5})
    # Euler's iterates y <- y + 0.5 y^2, in plain float64, until they overflow.
    y, last_finite_time = 1.0, 0.0
    with np.errstate(over="ignore"):
        while np.isfinite(y := np.float64(y) + 0.5 * np.float64(y) ** 2):
            last_finite_time += 0.5
    assert _time_in(str(error.value)) == last_finite_time


def test_backward_solves_report_the_time_in_the_users_direction():
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        odeint(lambda t, y: -_blow_up(t, y), tf.constant([1.0], tf.float64),
               tf.constant([0.0, -2.0], tf.float64))
    assert abs(_time_in(str(error.value)) + 1.0) < 1e-4


def test_the_adjoint_forward_solve_fails_loudly_too():
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_num_steps=20"):
        odeint_adjoint(_stiff, tf.constant([0.0]), tf.constant([0.0, 10.0]),
                       options={"max_num_steps": 20})


def test_under_xla_a_failed_solve_returns_nan_and_its_status():
    # XLA cannot raise from compiled code: the unreached outputs are NaN instead.
    @tf.function(jit_compile=True)
    def solve():
        return odeint(_stiff, tf.constant([0.0]), tf.constant([0.0, 0.001, 10.0]),
                      options={"max_num_steps": 20}, return_stats=True)

    ys, stats = solve()
    assert int(stats["status"]) == MAX_STEPS
    assert np.isfinite(ys[:2].numpy()).all()
    assert np.isnan(ys[2].numpy()).all()
