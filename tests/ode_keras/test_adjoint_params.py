"""Which variables the adjoint differentiates by default (torchdiffeq parity, issue #14 item 7)."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint, odeint_adjoint


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_an_integer_variable_the_field_reads_is_not_a_parameter(dtype):
    # Before: odeint_adjoint failed in the backward pass (Mul expected int32 but got float)
    # for a plain function counting its evaluations in an int variable, trainable by default.
    evaluations = tf.Variable(0)
    rate = tf.Variable(0.5, dtype=dtype)

    def decay(t, y):
        evaluations.assign_add(1)
        return -rate * y

    y0, t = tf.constant([1.0], dtype), tf.constant([0.0, 1.0], dtype)
    gradients = {}
    for name, solve in (("adjoint", odeint_adjoint), ("backprop", odeint)):
        with tf.GradientTape() as tape:
            y1 = solve(decay, y0, t, rtol=1e-10, atol=1e-10)[-1, 0]
        gradients[name] = float(tape.gradient(y1, rate))
    # d/dk exp(-k) at k = 0.5, to the solver tolerance (float32: to its round-off).
    tolerance = 1e-8 if dtype == tf.float64 else 1e-5
    np.testing.assert_allclose(list(gradients.values()), [-np.exp(-0.5)] * 2, rtol=tolerance)
    assert int(evaluations) > 0
