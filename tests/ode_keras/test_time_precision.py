"""Times, step sizes and the step control run in float64 whatever the state's dtype.

A float32 time cannot tell 1e6 from 1e6 + 0.03: with times in the state's dtype a
float32 solve whose times sit near 1e6 loses its steps in rounding (a step-size
underflow, or steps whose length differs from the one the state took). The problems
here are autonomous, so ``func`` seeing ``t`` in float32 costs nothing, and any error
beyond the tolerance comes from the solver's own time keeping.
"""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint

OFFSET = 1e6
TIMES = np.linspace(0.0, 10.0, 11)
ROTATION_Y0 = np.array([1.0, 0.0])


def _rotation(t, y):
    """y = (cos s, -sin s) with s = t - t[0]: the field never reads t."""
    return tf.stack([y[1], -y[0]])


def _exact_rotation(times):
    s = times - times[0]
    return np.stack([np.cos(s), -np.sin(s)], axis=1)


def _solve(times, method, dtype=tf.float32, tol=1e-5, jit_compile=False):
    @tf.function(jit_compile=jit_compile)
    def solve(y0, t):
        return odeint(_rotation, y0, t, method=method, rtol=tol, atol=tol, return_stats=True,
                      options={"max_num_steps": 20000})

    ys, stats = solve(tf.constant(ROTATION_Y0, dtype), tf.constant(times, tf.float64))
    return ys.numpy(), int(stats["num_steps"])


@pytest.mark.parametrize("method", ["dopri5", "adaptive_heun"])
def test_float32_times_near_a_million_keep_the_accuracy_and_steps_of_times_near_zero(method):
    # Before float64 times: dopri5 reached an error of 0.25 here, adaptive_heun stopped with
    # a step-size underflow (steps of ~1e-3 cannot move a float32 time near 1e6).
    tol = 1e-5
    near_zero, steps_near_zero = _solve(TIMES, method, tol=tol)
    shifted, steps_shifted = _solve(OFFSET + TIMES, method, tol=tol)
    exact = _exact_rotation(TIMES)
    assert np.max(np.abs(shifted - exact)) < 20 * tol
    # The same steps, up to the rounding of 1e6 + s in float64 (about 1e-10).
    assert abs(steps_shifted - steps_near_zero) <= 2
    np.testing.assert_allclose(shifted, near_zero, atol=20 * np.finfo(np.float32).eps
                               * steps_near_zero)


def test_offset_times_under_xla():
    compiled, steps = _solve(OFFSET + TIMES, "dopri5", jit_compile=True)
    plain, plain_steps = _solve(TIMES, "dopri5")
    assert steps == plain_steps
    np.testing.assert_allclose(compiled, plain, atol=1e-5)


def test_a_long_reversed_float32_solve_stays_within_its_tolerance():
    """y' = cos t from t = 20 back to 0 with adaptive_heun: 9000 steps, each rounding its time.

    float32 times round each step's end by up to 1e-6 here, an error in y that adds up
    over the steps (3.4e-5 before float64 times); float64 times leave the tolerance's
    error and the state's own rounding (2e-6).
    """
    times = np.linspace(20.0, 0.0, 5)

    @tf.function
    def solve(y0, t):
        return odeint(lambda t, y: tf.cos(t) * tf.ones_like(y), y0, t, method="adaptive_heun",
                      rtol=1e-6, atol=1e-6, options={"max_num_steps": 20000})

    ys = solve(tf.constant([np.sin(20.0)], tf.float32), tf.constant(times, tf.float64))
    assert np.max(np.abs(ys.numpy()[:, 0] - np.sin(times))) < 1e-5


@pytest.mark.parametrize("gradient", ["backprop", "checkpoint", "adjoint"])
def test_the_gradient_of_float32_times_is_float32_and_exact(gradient):
    """y' = -k y: dy(T)/dT = -k y(T) and dy(T)/dt0 = k y(T)."""
    k, y0 = 0.7, tf.constant([1.5], tf.float32)
    t = tf.constant([0.25, 1.75], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(t)
        ys = odeint(lambda t, y: -k * y, y0, t, rtol=1e-7, atol=1e-7, gradient=gradient)
        y_end = ys[-1, 0]
    grad_t = tape.gradient(y_end, t)
    assert ys.dtype == tf.float32 and grad_t.dtype == tf.float32
    np.testing.assert_allclose(grad_t.numpy(), [k * y_end.numpy(), -k * y_end.numpy()],
                               rtol=1e-5)


def test_func_sees_the_state_dtype_while_the_controller_runs_in_float64():
    seen = []

    def func(t, y):
        seen.append(t.dtype)
        return -y

    _, stats = odeint(func, tf.constant([1.0], tf.float32), tf.constant([0.0, 1.0]),
                      return_stats=True)
    assert set(seen) == {tf.float32}
    assert stats["next_step"].dtype == tf.float64
