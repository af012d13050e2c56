"""Gradients of the implicit methods: finite differences of the computed solution, the three
gradient paths against each other, float32, and XLA.

Each solve with its gradient traces for 20-50 s (Newton loops in every stage of the
solver's loop, and their gradients), so these are marked slow; the quick suite keeps
the eager gradient check of ``test_implicit_features``."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint

K0 = np.array([0.5, 40.0])
Y0 = np.array([1.0, 0.3])
T = np.array([0.0, 0.4, 1.0])
WEIGHTS = np.array([[1.0, 2.0]])


def make_problem(dtype=tf.float64):
    """A stiff nonlinear, non-autonomous field with parameters ``k`` (rates 0.5 and 40)."""
    k = tf.Variable(K0, dtype=dtype)

    def field(t, y):
        u, v = y[..., 0], y[..., 1]
        return tf.stack([-k[0] * u + v * tf.sin(t), -k[1] * (v - tf.cos(u))], -1)

    return field, k


def loss_fn(ys):
    return tf.reduce_sum(ys[1:] ** 2 * tf.constant(WEIGHTS, ys.dtype))


def gradients(method, options, gradient, rtol=1e-10, dtype=tf.float64, t=T, jit=None):
    """``(loss, [dL/dy0, dL/dt, dL/dk])``, the solve in one tf.function (jit: XLA)."""
    field, k = make_problem(dtype)

    @tf.function(jit_compile=jit)
    def run(y0, t):
        with tf.GradientTape() as tape:
            tape.watch([y0, t])
            ys = odeint(field, y0, t, method=method, rtol=rtol, atol=rtol / 10,
                        options=options, gradient=gradient)
            loss = loss_fn(ys)
        return loss, tape.gradient(loss, [y0, t, k])

    loss, grads = run(tf.constant(Y0, dtype), tf.constant(t, tf.float64))
    return float(loss), [g.numpy() for g in grads]


def finite_differences(method, options, rtol=1e-10):
    """Central differences of the computed loss in y0, t and k (one traced solve)."""
    field, k = make_problem()
    solve = tf.function(lambda y0, t: loss_fn(odeint(
        field, y0, t, method=method, rtol=rtol, atol=rtol / 10, options=options)))
    base = [Y0, T, K0]

    def loss_at(values):
        k.assign(values[2])
        return float(solve(tf.constant(values[0]), tf.constant(values[1])))

    result = []
    for i, point in enumerate(base):
        column = []
        for j in range(point.size):
            eps = 1e-6 * max(1.0, abs(point[j]))
            up, down = [b.copy() for b in base], [b.copy() for b in base]
            up[i][j] += eps
            down[i][j] -= eps
            column.append((loss_at(up) - loss_at(down)) / (2 * eps))
        result.append(np.array(column))
    return result


def assert_relative(actual, expected, tolerance):
    scale = max(np.abs(expected).max(), 1e-300)
    assert np.abs(actual - expected).max() <= tolerance * scale, (actual, expected)


@pytest.mark.slow
@pytest.mark.parametrize("method, options", [("trapezoid", {"step_size": 0.035}),
                                             ("kvaerno5", None)])
def test_backprop_equals_finite_differences_of_the_computed_solution(method, options):
    # The intervals (0.4, 0.6) are no multiples of the step: a change of t keeps the count.
    _, grads = gradients(method, options, "backprop")
    expected = finite_differences(method, options)
    for name, g, fd in zip(("y0", "t", "k"), grads, expected):
        # The adaptive mesh moves with t (the last step is clipped to it), which the
        # gradient leaves out by design: t's differences agree to the tolerance's scale.
        tolerance = 1e-5 if (name == "t" and options is None) else 1e-6
        assert_relative(g, fd, tolerance)


@pytest.mark.slow
def test_checkpoint_replays_backprop_and_the_adjoint_agrees_to_the_tolerance():
    # A short horizon: the adjoint integrates z backwards, where a stiff decay is a stiff
    # growth (exp(40 t)), so its error grows with the interval's length.
    t = np.array([0.0, 0.05, 0.1])
    _, backprop = gradients("kvaerno4", None, "backprop", t=t)
    _, checkpoint = gradients("kvaerno4", None, "checkpoint", t=t)
    _, adjoint = gradients("kvaerno4", None, "adjoint", t=t)
    for b, c, a in zip(backprop, checkpoint, adjoint):
        assert_relative(c, b, 1e-10)
        assert_relative(a, b, 1e-5)


@pytest.mark.slow
def test_float32_gradients_match_float64():
    rtol = 1e-5
    loss32, grads32 = gradients("kvaerno3", None, "backprop", rtol=rtol, dtype=tf.float32)
    loss64, grads64 = gradients("kvaerno3", None, "backprop", rtol=1e-7)
    assert loss32 == pytest.approx(loss64, rel=1e-4)
    for name, g32, g64 in zip(("y0", "t", "k"), grads32, grads64):
        # dL/dt_i = dL/dy_i . f(t_i, y_i): a state error of rtol is an error of about
        # |df/dy| rtol = 40 rtol in f (the stiff rate), in float64 at that rtol as well.
        assert_relative(g32, g64, 10 * K0[1] * rtol if name == "t" else 1e-3)


@pytest.mark.slow
def test_xla_gradients_equal_the_graphs_on_every_path():
    t = np.array([0.0, 0.05, 0.1])  # short: the adjoint's backward z stays accurate
    _, graph = gradients("kvaerno3", None, "backprop", rtol=1e-6, t=t)
    for path in ("backprop", "checkpoint", "adjoint"):
        _, xla = gradients("kvaerno3", None, path, rtol=1e-6, t=t, jit=True)
        for a, b in zip(xla, graph):
            # The adjoint is exact to its tolerance only (1e-6 here; 1e-4 measured).
            assert_relative(a, b, 1e-9 if path != "adjoint" else 1e-3)
