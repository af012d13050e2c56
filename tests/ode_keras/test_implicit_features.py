"""The implicit methods' options and failures: per-sample and user Jacobians, named errors,
checked options, and a quick eager gradient."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import failures, odeint
from ode_keras.failures import SolveError

RATES = np.array([[1.0, 30.0], [2.0, 50.0], [0.5, 80.0]])


def batched_field(coupled=False):
    """``[3, 2]`` samples of a stiff nonlinear field; ``coupled`` adds the batch mean."""
    rates = tf.constant(RATES)

    def field(t, y):
        u, v = y[:, 0], y[:, 1]
        du = -rates[:, 0] * u + v
        dv = -rates[:, 1] * (v - tf.sin(u))
        if coupled:
            dv = dv + 5.0 * tf.reduce_mean(u)
        return tf.stack([du, dv], axis=1)

    return field


def solve_batch(jacobian, coupled=False):
    y0 = tf.constant([[1.0, 0.0], [0.5, 1.0], [-1.0, 0.2]], tf.float64)
    return odeint(batched_field(coupled), y0, tf.constant([0.0, 0.2], tf.float64),
                  method="kvaerno3", rtol=1e-7, atol=1e-9, options={"jacobian": jacobian},
                  return_stats=True)


def test_quadrature_components_do_not_stall_newton():
    # q' = c z**2 is a quadrature (f does not depend on q): with implicit_components=1 its
    # Newton correction lags z's by an iteration, c h 2 z dz, which is no contraction rate;
    # taken for one, it made Newton give up at once. Implicit Euler's exact recurrences:
    # z1 = (z0 + h sin t1) / (1 + 50 h), q1 = q0 + h c z1**2.
    c, h = 1e6, 0.1

    def func(t, y):
        z, q = y
        return (-50.0 * z + tf.sin(t), c * z * z)

    y0 = (tf.constant([1.0], tf.float64), tf.constant([0.0], tf.float64))
    z, q = odeint(func, y0, tf.constant([0.0, 1.0], tf.float64), method="implicit_euler",
                  rtol=1e-6, atol=1e-9, options={"step_size": h, "implicit_components": 1})
    z_ref, q_ref = 1.0, 0.0
    for n in range(1, 11):
        z_ref = (z_ref + h * np.sin(n * h)) / (1 + 50 * h)
        q_ref = q_ref + h * c * z_ref**2
    np.testing.assert_allclose([z.numpy()[-1, 0], q.numpy()[-1, 0]], [z_ref, q_ref],
                               rtol=1e-9)


@pytest.mark.slow  # each solve takes over a minute eagerly
@pytest.mark.parametrize("coupled", [False, True])
def test_per_sample_jacobians_give_the_full_jacobians_answer(coupled):
    # Coupled samples: the blocks miss the coupling, Newton still converges to the stages.
    full, full_stats = solve_batch("full", coupled)
    per_sample, stats = solve_batch("per_sample", coupled)
    np.testing.assert_allclose(per_sample.numpy(), full.numpy(), rtol=1e-6, atol=1e-8)
    assert int(stats["status"]) == 0 and stats["num_jacobians"].dtype == tf.int32
    if not coupled:  # the same Jacobian, so the same steps
        assert int(stats["num_steps"]) == int(full_stats["num_steps"])


@pytest.mark.slow
def test_a_user_jacobian_gives_the_same_answer_without_differentiating_func():
    def jacobian(t, y):  # the analytic per-sample blocks, [3, 2, 2]
        u = y[:, 0]
        zero = tf.zeros_like(u)
        row_u = tf.stack([-RATES[:, 0] + zero, 1.0 + zero], axis=1)
        row_v = tf.stack([RATES[:, 1] * tf.cos(u), -RATES[:, 1] + zero], axis=1)
        return tf.stack([row_u, row_v], axis=1)

    expected, _ = solve_batch("full")
    ys, stats = solve_batch(jacobian)
    np.testing.assert_allclose(ys.numpy(), expected.numpy(), rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match=r"options\['jacobian'\] returned a Jacobian"):
        solve_batch(lambda t, y: tf.zeros([4, 4], tf.float64))


def _fixed(func, y0, step, method="implicit_euler", t_end=1.0):
    return odeint(func, tf.constant(y0, tf.float64), tf.constant([0.0, t_end], tf.float64),
                  method=method, options={"step_size": step})


def test_a_singular_iteration_matrix_raises_its_named_error():
    # y' = y with h = 1: I - h J = 0.
    with pytest.raises(SolveError, match="iteration matrix I - gamma h J") as error:
        _fixed(lambda t, y: y, [1.0], 1.0)
    assert error.value.status == failures.SINGULAR_MATRIX and error.value.t == 0.0


def test_newton_failure_raises_its_named_error_with_the_time_and_the_option():
    # y' = y^2 from 1 with h = 2: z = 1 + 2 z^2 has no real root.
    with pytest.raises(SolveError, match="Newton iterations.*step_size") as error:
        _fixed(lambda t, y: y * y, [1.0], 2.0, t_end=2.0)
    assert error.value.status == failures.NEWTON_FAILURE and error.value.t == 0.0


def test_a_non_finite_jacobian_raises_its_named_error():
    with pytest.raises(SolveError, match="Jacobian of func.*not finite") as error:
        odeint(lambda t, y: -tf.sqrt(y), tf.constant([0.0], tf.float64),
               tf.constant([0.0, 1.0], tf.float64), method="kvaerno3")
    assert error.value.status == failures.NON_FINITE_JACOBIAN


def test_an_explicit_method_stuck_on_a_stiff_problem_names_a_stiff_method():
    a = tf.constant([[-1.0, 0.0], [0.0, -1e4]], tf.float64)
    with pytest.raises(SolveError, match="try a stiff method: method='kvaerno5'"):
        odeint(lambda t, y: tf.linalg.matvec(a, y), tf.constant([1.0, 1.0], tf.float64),
               tf.constant([0.0, 1.0], tf.float64), method="dopri5", rtol=1e-6,
               options={"max_num_steps": 200})


@pytest.mark.parametrize("options, message", [
    ({"jacobian": "diagonal"}, "must be one of 'full', 'per_sample' or a callable"),
    ({"max_newton_iterations": 1}, "integer from 2 to 100"),
    ({"newton_tolerance": 2.0}, r"number in \(0, 1\]"),
    ({"implicit_components": 0}, "positive integer"),
    ({"step_size": 0.1}, "Unknown options"),
])
def test_bad_options_are_refused_naming_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        odeint(lambda t, y: -y, tf.constant([1.0]), tf.constant([0.0, 1.0]),
               method="kvaerno5", options=options)


def test_fixed_step_methods_need_a_step_size_and_per_sample_needs_a_batch():
    with pytest.raises(ValueError, match=r"needs options\['step_size'\]"):
        odeint(lambda t, y: -y, tf.constant([1.0]), tf.constant([0.0, 1.0]), method="trapezoid")
    with pytest.raises(ValueError, match="batch as its leading axis"):
        odeint(lambda t, y: -y, tf.constant(1.0), tf.constant([0.0, 1.0]), method="kvaerno3",
               options={"jacobian": "per_sample"})


def test_eager_gradients_equal_finite_differences():
    k = tf.Variable(20.0, dtype=tf.float64)

    def loss(y0, t):
        ys = odeint(lambda t, y: -k * (y - tf.cos(t)) * (1 + 0.1 * y * y), y0, t,
                    method="implicit_euler", rtol=1e-8, atol=1e-8,
                    options={"step_size": 0.045})
        return tf.reduce_sum(ys[1:] ** 2)

    y0, t = tf.constant([0.5], tf.float64), tf.constant([0.0, 0.3, 0.5], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([y0, t])
        value = loss(y0, t)
    grads = tape.gradient(value, [y0, t, k])
    eps = 1e-6

    def central(shift):
        return (float(shift(eps)) - float(shift(-eps))) / (2 * eps)

    def at_k(e):
        k.assign(20.0 + e)
        result = loss(y0, t)
        k.assign(20.0)
        return result

    expected = [central(lambda e: loss(y0 + e, t)),
                central(lambda e: loss(y0, t + tf.constant([0.0, e, 0.0], tf.float64))),
                central(at_k)]
    actual = [float(grads[0][0]), float(grads[1][1]), float(grads[2])]
    # Relative to the largest gradient: dL/dk is small, and its differences carry the
    # Newton error (1e-8 here) divided by the step 2e-6.
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6 * max(map(abs, expected)))
