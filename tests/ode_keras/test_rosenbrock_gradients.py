"""rodas5p's gradients: backprop and checkpoint against central differences, the adjoint
and float32 against backprop, eager and XLA gradients against graph mode's.

The gradients are those of the computed solution on a fixed mesh (steps pinned by
``first_step = min_step = max_step`` and tolerances that accept every step), so central
differences see the same discrete solution; backprop differentiates through the Jacobian
that every step evaluates.
"""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint

RATES = np.array([0.04, 1e2, 3e3])  # Robertson's form, stiffness ratio about 1e4
GRAD_TIMES = np.array([0.0, 0.33, 0.72, 1.01])  # outputs inside steps, a short last step
STEP = 0.05
# A mesh FD cannot move; a small step budget (XLA's backprop allocates buffers for it).
FIXED = {"first_step": STEP, "min_step": STEP, "max_step": STEP, "max_num_steps": 64}


def kinetics(k):
    def func(t, y):
        y1, y2, y3 = y[0], y[1], y[2]
        rates = tf.stack([-k[0] * y1 + k[1] * y2 * y3, k[0] * y1 - k[1] * y2 * y3 - k[2] * y2**2,
                          k[2] * y2**2])
        return rates * (1 + 0.1 * tf.sin(t))  # non-autonomous: t's gradients meet df/dt
    return func


def gradient_problem(dtype, gradient, jit_compile=False, eager=False):
    """``(run, k, loss)``: ``run(y0, t) -> (loss, [dL/dy0, dL/dt, dL/dk])`` in one
    tf.function (or eagerly), and the loss alone in a tf.function."""
    k = tf.Variable(RATES, dtype=dtype)
    weights = tf.constant([[1.0, 4.0, 9.0]], dtype)

    def loss(y0, t):
        ys = odeint(kinetics(k), y0, t, method="rodas5p", rtol=1e10, atol=1e10,
                    options=FIXED, gradient=gradient)
        return tf.reduce_sum(ys[1:] * weights)

    def run(y0, t):
        with tf.GradientTape() as tape:
            tape.watch([y0, t])
            value = loss(y0, t)
        return value, tape.gradient(value, [y0, t, k])

    if not eager:
        run = tf.function(run, autograph=False, jit_compile=jit_compile)
    return run, k, tf.function(loss, autograph=False)


def inputs(dtype):
    return tf.constant([1.0, 0.0, 0.0], dtype), tf.constant(GRAD_TIMES, dtype)


def central_differences(loss, k, y0, t):
    """dL/dy0, dL/dt, dL/dk of the computed solution, by central differences in float64."""
    def partials(evaluate, x, step=1e-6):
        result = np.zeros_like(x)
        for i in range(x.size):
            e = np.zeros_like(x)
            e[i] = step * max(1.0, abs(x[i]))
            result[i] = (evaluate(x + e) - evaluate(x - e)) / (2 * e[i])
        return result

    def with_rates(rates):
        k.assign(rates)
        value = float(loss(y0, t))
        k.assign(RATES)
        return value

    return [partials(lambda v: float(loss(tf.constant(v), t)), y0.numpy()),
            partials(lambda v: float(loss(y0, tf.constant(v))), t.numpy()),
            partials(with_rates, RATES.copy())]


@pytest.mark.slow
def test_backprop_and_checkpoint_gradients_equal_finite_differences_in_float64():
    y0, t = inputs(tf.float64)
    run, k, loss = gradient_problem(tf.float64, "backprop")
    _, backprop = run(y0, t)
    expected = central_differences(loss, k, y0, t)
    # The exact gradient of the computed solution, the Jacobian's own derivative included.
    for got, want in zip(backprop, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-9)
    run, k, _ = gradient_problem(tf.float64, "checkpoint")
    _, checkpoint = run(y0, t)
    for got, want in zip(checkpoint, backprop):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-13)


def assert_equals_graph_mode(gradient, y0, t, tolerances, **variant):
    """The loss and gradients run with ``variant`` (``eager=True``, ``jit_compile=True``)
    equal graph mode's: the loss to ``tolerances[0]`` relative, the gradients to
    ``tolerances[1:]`` (rtol, atol)."""
    value, grads = gradient_problem(tf.float64, gradient)[0](y0, t)
    other_value, other_grads = gradient_problem(tf.float64, gradient, **variant)[0](y0, t)
    value_rtol, rtol, atol = tolerances
    np.testing.assert_allclose(other_value.numpy(), value.numpy(), rtol=value_rtol)
    for got, want in zip(other_grads, grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("gradient", ["backprop", "adjoint"])
def test_eager_gradients_equal_graph_modes(gradient):
    y0, t = tf.constant([1.0, 0.0, 0.0], tf.float64), tf.constant([0.0, 0.12, 0.2], tf.float64)
    assert_equals_graph_mode(gradient, y0, t, (1e-13, 1e-11, 1e-14), eager=True)


@pytest.mark.slow
def test_adjoint_and_float32_gradients_agree_with_backprop():
    y0, t = inputs(tf.float64)
    _, reference = gradient_problem(tf.float64, "backprop")[0](y0, t)
    # The adjoint solves the augmented system backwards with rodas5p on steps of the same
    # size: another O(h**5) discretisation of the exact gradient than backprop's (on this
    # stiff system at h = 0.05 they differ by about 1e-4 relative).
    _, adjoint = gradient_problem(tf.float64, "adjoint")[0](y0, t)
    y0_32, t_32 = inputs(tf.float32)
    _, backprop_32 = gradient_problem(tf.float32, "backprop")[0](y0_32, t_32)
    for got, want in zip(adjoint, reference):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-8)
    for got, want in zip(backprop_32, reference):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-3, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("gradient", ["backprop", "checkpoint", "adjoint"])
def test_xla_gives_graph_modes_gradients(gradient):
    # Backprop differentiates through every step's Jacobian: a pfor Jacobian there did not
    # compile (its gradient turned the func's slices y[0] into non-constant shapes).
    y0, t = inputs(tf.float64)
    assert_equals_graph_mode(gradient, y0, t, (1e-12, 1e-10, 1e-13), jit_compile=True)


@pytest.mark.slow
def test_xla_gives_graph_modes_solution():
    y0, t = inputs(tf.float64)
    k = tf.Variable(RATES)

    def solve(y0, t):
        return odeint(kinetics(k), y0, t, method="rodas5p", rtol=1e-6, atol=1e-9,
                      options={"max_num_steps": 200}, return_stats=True)

    ys, stats = tf.function(solve, autograph=False)(y0, t)
    xla_ys, xla_stats = tf.function(solve, autograph=False, jit_compile=True)(y0, t)
    np.testing.assert_allclose(xla_ys.numpy(), ys.numpy(), rtol=1e-12, atol=1e-15)
    assert int(xla_stats["num_steps"]) == int(stats["num_steps"])
