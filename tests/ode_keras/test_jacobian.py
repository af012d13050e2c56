"""The implicit solvers' linear algebra (``ode_keras._jacobian``) against NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import _jacobian, _lu

RNG = np.random.default_rng(7)


def _coupled(matrix, vector):
    """``f(t, (u, v)) = (A u + t v, sin(u) * v)``, a two-component state; u, v: [2, 3]."""
    a = tf.constant(matrix)

    def func(t, y):
        u, v = y
        return (tf.matmul(u, tf.cast(a, u.dtype)) + t * v, tf.sin(u) * v)

    return func


def _numpy_jacobian_per_sample(matrix, u, v, t):
    """The exact per-sample Jacobian of :func:`_coupled`, ``[B, 6, 6]``."""
    blocks = []
    for u_b, v_b in zip(u, v):
        top = np.concatenate([matrix.T, t * np.eye(3)], axis=1)
        bottom = np.concatenate([np.diag(np.cos(u_b) * v_b), np.diag(np.sin(u_b))], axis=1)
        blocks.append(np.concatenate([top, bottom], axis=0))
    return np.stack(blocks)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_layouts_equal_the_analytic_jacobian(dtype):
    matrix, u, v = (RNG.normal(size=s).astype(dtype) for s in ([3, 3], [2, 3], [2, 3]))
    func, t = _coupled(matrix, v), tf.constant(0.5, dtype)
    blocks = _numpy_jacobian_per_sample(matrix, u, v, 0.5)
    per_sample, f = _jacobian.evaluate(func, t, (tf.constant(u), tf.constant(v)), "per_sample")
    np.testing.assert_allclose(per_sample.numpy(), blocks, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f[1].numpy(), np.sin(u) * v, rtol=1e-6)
    full, _ = _jacobian.evaluate(func, t, (tf.constant(u), tf.constant(v)), "full")
    # Full layout: u's entries (sample-major), then v's; samples do not interact here.
    index = np.array([[b * 3 + i for i in range(3)] + [6 + b * 3 + i for i in range(3)]
                      for b in range(2)])
    for b in range(2):
        np.testing.assert_allclose(full.numpy()[np.ix_(index[b], index[b])], blocks[b],
                                   rtol=1e-5, atol=1e-6)
    off_diagonal = full.numpy()[np.ix_(index[0], index[1])]
    assert np.all(off_diagonal == 0)


@pytest.mark.parametrize("mode", _jacobian.JACOBIAN_MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_factor_and_solve_match_numpy(mode, dtype):
    matrix, u, v = (RNG.normal(size=s).astype(dtype) for s in ([3, 3], [2, 3], [2, 3]))
    y = (tf.constant(u), tf.constant(v))
    jacobian, _ = _jacobian.evaluate(_coupled(matrix, v), tf.constant(0.3, dtype), y, mode)
    factors = _jacobian.factor(jacobian, 0.1)
    rhs = (tf.constant(RNG.normal(size=[2, 3]).astype(dtype)),) * 2
    x = _jacobian.solve(factors, rhs, y, mode)
    system = np.eye(jacobian.shape[-1]) - 0.1 * jacobian.numpy()
    expected = np.linalg.solve(system, _jacobian.flatten(rhs, mode).numpy()[..., None])[..., 0]
    assert bool(factors.regular)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(_jacobian.flatten(x, mode).numpy(), expected, rtol=tolerance,
                               atol=tolerance)


def test_a_singular_iteration_matrix_is_reported():
    # I - 1 * J with J = I is the zero matrix.
    factors = _jacobian.factor(tf.eye(3, dtype=tf.float64), 1.0)
    assert not bool(factors.regular)


def test_time_derivative_of_a_non_autonomous_field():
    def func(t, y):
        return (tf.sin(t) * y[0], tf.zeros_like(y[1]))

    y = (tf.constant([1.0, 2.0], tf.float64), tf.constant([3.0], tf.float64))
    dt = _jacobian.time_derivative(func, tf.constant(0.4, tf.float64), y)
    np.testing.assert_allclose(dt[0].numpy(), np.cos(0.4) * np.array([1.0, 2.0]), rtol=1e-12)
    np.testing.assert_array_equal(dt[1].numpy(), [0.0])


def test_works_under_xla_with_a_half_precision_state():
    matrix = RNG.normal(size=[3, 3]).astype(np.float32)

    @tf.function(jit_compile=True)
    def run(u, v):
        jacobian, _ = _jacobian.evaluate(_coupled(matrix, v), tf.constant(0.5, u.dtype),
                                         (u, v), "per_sample")
        factors = _jacobian.factor(jacobian, 0.1)
        return (jacobian, _jacobian.solve(factors, (u, v), (u, v), "per_sample"),
                factors.regular)

    u, v = (RNG.normal(size=[2, 3]).astype(np.float16) for _ in range(2))
    jacobian, x, regular = run(tf.constant(u), tf.constant(v))
    assert jacobian.dtype == tf.float32 and x[0].dtype == tf.float16 and bool(regular)
    expected = _numpy_jacobian_per_sample(matrix, u.astype(np.float32), v.astype(np.float32),
                                          0.5)
    np.testing.assert_allclose(jacobian.numpy(), expected, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lu_with_pivoting_factors_batches_and_needs_pivoting(dtype):
    matrices = RNG.normal(size=[4, 5, 5]).astype(dtype)
    matrices[0, 0, 0] = 0.0  # without row exchanges the first pivot would be zero
    factors = _lu.factor(tf.constant(matrices))
    lower, upper, permutation = (v.numpy() for v in factors[:3])
    reordered = permutation @ matrices
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(lower @ upper, reordered, atol=tolerance)
    assert np.all(np.abs(np.tril(lower, -1)) <= 1.0 + tolerance)  # partial pivoting
    rhs = RNG.normal(size=[4, 5]).astype(dtype)
    np.testing.assert_allclose(_lu.solve(factors, tf.constant(rhs)).numpy(),
                               np.linalg.solve(matrices, rhs[..., None])[..., 0],
                               rtol=100 * tolerance, atol=100 * tolerance)


def test_lu_of_a_singular_batch_member_is_flagged_not_raised():
    matrices = np.stack([np.eye(3), np.ones([3, 3])])  # the second is singular
    assert not bool(_lu.factor(tf.constant(matrices)).regular)
    assert bool(_lu.factor(tf.constant(matrices[:1])).regular)


def test_lu_under_xla_equals_eager():
    matrices = tf.constant(RNG.normal(size=[3, 6, 6]))
    eager = _lu.factor(matrices)
    compiled = tf.function(_lu.factor, jit_compile=True)(matrices)
    for a, b in zip(eager[:3], compiled[:3]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)
