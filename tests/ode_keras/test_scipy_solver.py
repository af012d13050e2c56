"""method="scipy_solver": SciPy's solve_ivp behind odeint, eager only, against exact solutions."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import SOLVERS, odeint

T = np.array([0.0, 0.4, 1.1, 2.0])
SOLVERS_TRIED = ("LSODA", "RK45", "Radau", "BDF")


def rotation(t, y):
    return tf.stack([-y[..., 1], y[..., 0]], axis=-1)


@pytest.mark.parametrize("solver", SOLVERS_TRIED)
@pytest.mark.parametrize("direction", [1, -1])
def test_exp_decay_and_rotation_match_the_exact_solution(solver, direction):
    t = T[::direction]
    options = {"solver": solver}
    decay = odeint(lambda t, y: -y, tf.constant([1.0, -3.0], tf.float64), tf.constant(t),
                   method="scipy_solver", rtol=1e-10, atol=1e-12, options=options)
    np.testing.assert_allclose(decay, np.exp(-(t - t[0]))[:, None] * [1.0, -3.0], rtol=1e-7)
    spin = odeint(rotation, tf.constant([1.0, 0.0], tf.float64), tf.constant(t),
                  method="scipy_solver", rtol=1e-10, atol=1e-12, options=options)
    angle = t - t[0]
    np.testing.assert_allclose(spin, np.stack([np.cos(angle), np.sin(angle)], -1), atol=1e-7)


def test_tuple_and_batched_float32_states_keep_their_shapes_and_dtype():
    y0 = (tf.ones([3, 2]), tf.constant([[1.0, 0.0], [0.0, 2.0]]))
    (a, b), stats = odeint(lambda t, y: (-y[0], rotation(t, y[1])), y0, tf.constant(T[::-1]),
                           method="scipy_solver", options={"solver": "RK45"}, rtol=1e-8,
                           atol=1e-10, return_stats=True)
    assert a.shape == (4, 3, 2) and b.shape == (4, 2, 2) and a.dtype == b.dtype == tf.float32
    np.testing.assert_array_equal(a[0], y0[0])
    np.testing.assert_allclose(a[:, 0, 0], np.exp(2.0 - T[::-1]), rtol=1e-5)
    angle = T[::-1] - 2.0
    np.testing.assert_allclose(b[:, 1], 2 * np.stack([-np.sin(angle), np.cos(angle)], -1),
                               atol=1e-5)
    assert int(stats["nfe"]) > 0 and int(stats["num_steps"]) > 0 and int(stats["status"]) == 0


def test_refused_in_tf_function_and_xla():
    y0, t = tf.constant([1.0]), tf.constant([0.0, 1.0])
    for jit in (False, True):
        solve = tf.function(lambda: odeint(lambda t, y: -y, y0, t, method="scipy_solver"),
                            jit_compile=jit)
        with pytest.raises(ValueError, match="works only eagerly.*dopri5"):
            solve()


def test_options_are_checked_and_unknown_solvers_listed():
    y0, t = tf.constant([1.0]), tf.constant([0.0, 1.0])
    with pytest.raises(ValueError, match=r"must be one of \['BDF', 'DOP853', 'LSODA'"):
        odeint(lambda t, y: -y, y0, t, method="scipy_solver", options={"solver": "rk45"})
    with pytest.raises(ValueError, match=r"Unknown options \['step_size'\]"):
        odeint(lambda t, y: -y, y0, t, method="scipy_solver", options={"step_size": 0.1})
    with pytest.raises(ValueError, match="max_step'\\] must be a non-negative number"):
        odeint(lambda t, y: -y, y0, t, method="scipy_solver", options={"max_step": "big"})
    assert "scipy_solver" in SOLVERS


def test_gradients_through_the_result_raise_and_checkpoint_is_refused():
    v = tf.Variable(1.0, dtype=tf.float64)
    y0, t = tf.constant([1.0], tf.float64), tf.constant(T[1:])
    with tf.GradientTape(persistent=True) as tape:
        ys = odeint(lambda t, y: -v * y, y0, t, method="scipy_solver")
        unrelated = 2.0 * v
    assert float(tape.gradient(unrelated, v)) == 2.0  # other targets are unaffected
    with pytest.raises(ValueError, match="not differentiable.*odeint_adjoint"):
        tape.gradient(ys, v)
    with pytest.raises(ValueError, match="not differentiable"):
        odeint(lambda t, y: -v * y, y0, t, method="scipy_solver", gradient="checkpoint")
