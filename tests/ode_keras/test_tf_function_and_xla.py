"""The same solve eagerly, in tf.function and under XLA; traced once per signature."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint
from tests.ode_keras.ode_problems import PROBLEMS

PROBLEM = PROBLEMS["linear"]


@pytest.mark.parametrize("method, options", [("dopri5", None), ("tsit5", None),
                                             ("rk4", {"step_size": 0.05})])
def test_eager_graph_and_xla_agree(method, options):
    y0, t = tf.constant(PROBLEM.y0), tf.constant([0.0, 0.4, 1.0], tf.float64)

    def solve(y0, t):
        return odeint(PROBLEM.func, y0, t, method=method, options=options, rtol=1e-8,
                      atol=1e-10)

    eager = solve(y0, t).numpy()
    graph = tf.function(solve)(y0, t).numpy()
    xla = tf.function(solve, jit_compile=True)(y0, t).numpy()
    np.testing.assert_allclose(graph, eager, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xla, eager, rtol=1e-10, atol=1e-12)


def test_a_compiled_solve_is_traced_once_per_signature():
    traces = []

    @tf.function
    def solve(y0, t):
        traces.append(1)  # runs only while tracing
        return odeint(PROBLEM.func, y0, t, rtol=1e-6, atol=1e-8)

    rng = np.random.default_rng(0)
    for _ in range(3):
        y0 = tf.constant(rng.normal(size=PROBLEM.y0.shape))
        t = tf.constant(np.sort(rng.uniform(0.0, 2.0, size=4)))
        solve(y0, t)
    assert len(traces) == 1


def test_direct_gradients_under_xla_with_a_step_budget():
    # XLA needs fixed-size buffers for the gradient of a while loop: they are sized by
    # max_num_steps, so a realistic budget keeps the compiled gradient small and fast.
    W = tf.Variable(np.eye(6) * 0.1)

    def loss(y0):
        ys = odeint(lambda t, y: PROBLEM.func(t, y) + tf.matmul(y, W), y0,
                    tf.constant([0.0, 1.0], tf.float64), options={"max_num_steps": 64})
        return tf.reduce_sum(ys[-1] ** 2)

    def gradient(y0):
        with tf.GradientTape() as tape:
            value = loss(y0)
        return tape.gradient(value, W)

    y0 = tf.constant(PROBLEM.y0)
    np.testing.assert_allclose(tf.function(gradient, jit_compile=True)(y0), gradient(y0),
                               rtol=1e-9)


@pytest.mark.parametrize("constant_times", [True, False], ids=["constant-t", "tensor-t"])
def test_fixed_step_gradients_under_xla_with_the_default_budget(constant_times):
    # The fixed-step driver runs one loop over all its steps (not one per output interval),
    # bounded by their number when the times are constants: XLA's gradient buffers are then
    # as long as the solve, whatever max_num_steps says.
    W = tf.Variable(np.eye(6) * 0.1)
    times = np.array([0.0, 0.3, 0.5, 1.0])

    def gradient(y0, t):
        t = tf.constant(times) if constant_times else t
        with tf.GradientTape() as tape:
            ys = odeint(lambda t, y: PROBLEM.func(t, y) + tf.matmul(y, W), y0, t, method="rk4",
                        options={"step_size": 0.1})
            value = tf.reduce_sum(ys ** 2 * tf.reshape(tf.range(1.0, 5.0, dtype=ys.dtype),
                                                       [4, 1]))
        return value, tape.gradient(value, W)

    y0, t = tf.constant(PROBLEM.y0), tf.constant(times)
    for compiled, eager in zip(tf.function(gradient, jit_compile=True)(y0, t), gradient(y0, t)):
        np.testing.assert_allclose(compiled, eager, rtol=1e-9)


def test_the_number_of_fixed_steps_is_known_when_tracing_only_for_constant_times():
    from ode_keras._fixed import _known_total_steps

    times = tf.constant([0.0, 0.3, 0.5, 1.0], tf.float64)
    assert _known_total_steps(times, 0.1) == 3 + 2 + 5
    seen = []

    @tf.function
    def trace(t):
        seen.append((_known_total_steps(times, 0.1), _known_total_steps(t, 0.1)))
        return t

    trace(times)
    assert seen == [(10, None)]
