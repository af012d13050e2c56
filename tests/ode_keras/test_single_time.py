"""A ``t`` holding one time: ``ys`` is ``[y0]``, its Jacobian for ``y0`` the identity, and
nothing is solved (as torchdiffeq returns ``y0`` for ``t[0:1]``)."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint, odeint_adjoint


def _solvers():
    def checkpoint(*args, **kwargs):
        return odeint(*args, gradient="checkpoint", **kwargs)

    return {"backprop": odeint, "checkpoint": checkpoint, "adjoint": odeint_adjoint}


class CountingDecay:
    def __init__(self):
        self.evaluations = 0
        self.steps = 0

    def __call__(self, t, y):
        self.evaluations += 1
        return -y

    def callback_step(self, t0, y0, dt):
        self.steps += 1


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("method", ["dopri5", "rk4"])
@pytest.mark.parametrize("gradient", ["backprop", "checkpoint", "adjoint"])
def test_one_time_gives_y0_and_the_identity_jacobian(gradient, method, dtype):
    func = CountingDecay()
    y0 = tf.constant(np.random.default_rng(0).normal(size=(2, 3)), dtype)
    t = tf.constant([0.7], dtype)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([y0, t])
        ys, stats = _solvers()[gradient](func, y0, t, method=method, return_stats=True)
    assert ys.shape == (1, 2, 3) and ys.dtype == dtype
    np.testing.assert_array_equal(ys[0], y0)
    jacobian = tape.jacobian(ys, y0, experimental_use_pfor=False)
    np.testing.assert_array_equal(tf.reshape(jacobian, [6, 6]), np.eye(6))
    grad_t = tape.gradient(tf.reduce_sum(ys), t)
    assert grad_t is None or np.all(grad_t.numpy() == 0.0)
    assert {int(stats[k]) for k in ("nfe", "num_steps", "num_rejected", "status")} == {0}
    # Only the boundary check evaluates func; no step is taken.
    assert func.evaluations == 1 and func.steps == 0


def test_one_time_with_a_tuple_state_and_scipy_solver():
    y0 = (tf.constant([1.0, 2.0], tf.float64), tf.constant(3.0, tf.float64))
    ys = odeint(lambda t, y: (-y[0], -y[1]), y0, [2.5], method="scipy_solver")
    assert isinstance(ys, tuple) and ys[0].shape == (1, 2) and ys[1].shape == (1,)
    np.testing.assert_array_equal(ys[0][0], y0[0])
    np.testing.assert_array_equal(ys[1][0], y0[1])


@pytest.mark.parametrize("jit_compile", [False, True], ids=["tf.function", "xla"])
def test_one_symbolic_time_in_tf_function_and_xla(jit_compile):
    @tf.function(jit_compile=jit_compile)
    def solve(y0, t):
        with tf.GradientTape() as tape:
            tape.watch(y0)
            ys = odeint(lambda t, y: -y, y0, t)
            total = tf.reduce_sum(ys * [[1.0, 2.0]])
        return ys, tape.gradient(total, y0)

    ys, grad = solve(tf.constant([1.0, -1.0]), tf.constant([4.0]))
    np.testing.assert_array_equal(ys, [[1.0, -1.0]])
    np.testing.assert_array_equal(grad, [1.0, 2.0])
