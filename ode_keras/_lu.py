"""LU factorisation with partial pivoting that compiles under XLA and never raises.

``tf.linalg.lu`` has no XLA kernel, and on CPU it raises ``Input is not invertible``
on an exactly singular matrix, which would abort a solve from inside its loop. An
implicit step must instead see the failure and shrink its step: here a zero pivot
yields non-finite factors, which :func:`factor` reports as not ``regular``.

Batched over leading axes (the per-sample Jacobians); the elimination is a
``tf.while_loop`` over the ``n`` columns, each a vectorised rank-one update.
"""

import collections

import tensorflow as tf

Factors = collections.namedtuple("Factors", "lower upper permutation regular")
Factors.__doc__ = """``P A = L U``: unit lower ``L``, upper ``U``, ``P`` a permutation matrix.

``regular`` is a scalar bool: every pivot is non-zero and every factor finite."""


def factor(matrix):
    """The :class:`Factors` of a ``[..., n, n]`` matrix."""
    n = matrix.shape[-1]
    index = tf.range(n)
    rows, columns = index[:, None], index[None, :]
    identity = tf.eye(n, batch_shape=tf.shape(matrix)[:-2], dtype=matrix.dtype)

    # Rows are exchanged and picked by products with one-hot matrices, not gathers: XLA
    # miscompiles batched gathers and slices at a loop-dependent index inside a while loop
    # (NaN factors on TF 2.21; tests/ode_keras/test_jacobian.py compares with eager).
    def eliminate(k, packed, permutation):
        unit_k = tf.one_hot(k, n, dtype=matrix.dtype)
        column = tf.linalg.matvec(packed, unit_k)
        candidates = tf.where(index >= k, tf.abs(column), -tf.ones_like(column))
        pivot_row = tf.argmax(candidates, axis=-1, output_type=tf.int32)
        swap = tf.one_hot(tf.where(tf.equal(index, k), pivot_row[..., None],
                                   tf.where(tf.equal(index, pivot_row[..., None]), k, index)),
                          n, dtype=matrix.dtype)
        packed, permutation = tf.matmul(swap, packed), tf.matmul(swap, permutation)
        column = tf.linalg.matvec(packed, unit_k)
        pivot = tf.reduce_sum(column * unit_k, axis=-1, keepdims=True)
        multipliers = tf.where(index > k, column / pivot, tf.zeros_like(column))
        pivot_row_values = tf.linalg.matvec(packed, unit_k, transpose_a=True)
        pivot_row_values = tf.where(index > k, pivot_row_values, tf.zeros_like(column))
        packed = packed - multipliers[..., :, None] * pivot_row_values[..., None, :]
        packed = tf.where((rows > k) & tf.equal(columns, k), multipliers[..., :, None], packed)
        return k + 1, packed, permutation

    # A static bound: XLA differentiates a while loop only with a fixed iteration count.
    _, packed, permutation = tf.while_loop(
        lambda k, *_: k < n, eliminate, (tf.constant(0), matrix, identity),
        maximum_iterations=n)
    upper = tf.linalg.band_part(packed, 0, -1)
    lower = tf.linalg.band_part(packed, -1, 0) - tf.linalg.diag(tf.linalg.diag_part(packed))
    pivots = tf.linalg.diag_part(upper)
    regular = (tf.reduce_all(tf.math.is_finite(packed))
               & tf.reduce_all(tf.not_equal(pivots, tf.zeros_like(pivots))))
    return Factors(lower + identity, upper, permutation, regular)


def solve(factors, rhs):
    """``x`` with ``A x = rhs``, ``rhs`` of shape ``[..., n]``, from ``A``'s :class:`Factors`."""
    permuted = tf.linalg.matvec(factors.permutation, rhs)
    z = tf.linalg.triangular_solve(factors.lower, permuted[..., None], lower=True)
    return tf.linalg.triangular_solve(factors.upper, z, lower=False)[..., 0]
