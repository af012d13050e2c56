"""ODEBlock's outputs and gradients against the matrix exponential and its Frechet derivative."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ode_keras import ODEBlock
from tests.ode_keras.odeblock_fields import (
    TIGHT,
    Y0,
    MLPField,
    exact_gradients,
    exact_states,
    linear_block,
)


@pytest.mark.parametrize("t", [(0.0, 1.0), (0.5, -0.7)], ids=["forward", "backward"])
def test_final_state_is_the_matrix_exponential(t):
    block = linear_block(t, **TIGHT)
    np.testing.assert_allclose(block(Y0).numpy(), exact_states(t)[-1], rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("time_major", [True, False])
def test_return_sequences_gives_the_state_at_every_time(time_major):
    times = (0.0, 0.3, 1.1, 2.0)
    block = linear_block(times, return_sequences=True, time_major=time_major, **TIGHT)
    states = block(Y0).numpy()
    expected = exact_states(times)
    if not time_major:
        expected = expected.transpose(1, 0, 2)
    assert states.shape == expected.shape == block.compute_output_shape(Y0.shape)
    np.testing.assert_allclose(states, expected, rtol=1e-8, atol=1e-9)
    first = states[0] if time_major else states[:, 0]
    np.testing.assert_array_equal(first, Y0)


def test_symbolic_output_shapes_follow_the_layout():
    inputs = keras.Input((5, 3))
    assert ODEBlock(MLPField())(inputs).shape == (None, 5, 3)
    sequences = ODEBlock(MLPField(), t=(0, 1, 2), return_sequences=True)
    assert sequences(inputs).shape == (3, None, 5, 3)
    batch_major = ODEBlock(MLPField(), t=(0, 1, 2), return_sequences=True, time_major=False)
    assert batch_major(inputs).shape == (None, 3, 5, 3)


@pytest.mark.parametrize("adjoint", [True, False], ids=["adjoint", "direct"])
def test_gradients_equal_the_exact_gradient(adjoint):
    block = linear_block((0.0, 1.3), adjoint=adjoint, **TIGHT)
    cotangent = np.random.default_rng(1).normal(size=Y0.shape)
    y0 = tf.constant(Y0)
    with tf.GradientTape() as tape:
        tape.watch(y0)
        loss = tf.reduce_sum(block(y0) * cotangent)
    grad_y0, grad_w = tape.gradient(loss, [y0, block.odefunc.kernel])
    exact_y0, exact_w = exact_gradients(1.3, cotangent)
    np.testing.assert_allclose(grad_y0.numpy(), exact_y0, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(grad_w.numpy(), exact_w, rtol=1e-7, atol=1e-8)


def test_adjoint_and_direct_gradients_agree_on_a_nonlinear_field():
    gradients = []
    for adjoint in (True, False):
        keras.utils.set_random_seed(7)  # the same weights for both blocks
        block = ODEBlock(MLPField(dtype="float64"), t=(0.0, 0.8), rtol=1e-9, atol=1e-9,
                         adjoint=adjoint, dtype="float64")
        y0 = tf.constant(Y0)
        with tf.GradientTape() as tape:
            tape.watch(y0)
            loss = tf.reduce_sum(tf.sin(block(y0)))
        gradients.append(tape.gradient(loss, [y0, *block.odefunc.trainable_variables]))
    for adjoint_grad, direct_grad in zip(*gradients):
        np.testing.assert_allclose(adjoint_grad.numpy(), direct_grad.numpy(), rtol=1e-6,
                                   atol=1e-8)


