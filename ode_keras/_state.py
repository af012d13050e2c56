"""State arithmetic: states held as tuples of tensors, and the default error norm.

Inside the solvers every state, derivative and stage is a tuple of tensors, one
per component of the user's state (a single tensor is a 1-tuple). These helpers
keep the stepping code free of per-component loops.
"""

import tensorflow as tf


def axpy_sum(y, h, stages, weights):
    """Return ``y + h * sum_j weights[j] * stages[j]`` component by component.

    Zero weights are skipped at trace time, so sparse tableaus cost nothing extra.
    """
    result = []
    for i, y_i in enumerate(y):
        terms = [w * k[i] for w, k in zip(weights, stages) if w != 0.0]
        # h is in the times' dtype, float64: the state's dtype from here on.
        result.append(y_i + tf.cast(h, y_i.dtype) * tf.add_n(terms) if terms else y_i)
    return tuple(result)


def weighted_sum(h, stages, weights):
    """Return ``h * sum_j weights[j] * stages[j]`` component by component."""
    zeros = tuple(tf.zeros_like(k) for k in stages[0])
    return axpy_sum(zeros, h, stages, weights)


def accumulation_dtype(*dtypes):
    """The dtype a norm or a sum over states of these ``dtypes`` is taken in.

    float64 if any of them is, else float32: half-precision (float16, bfloat16) values are
    measured in float32, where their squares cannot overflow (float16 does at 65504). It is
    also the dtype of the variables of a mixed-precision model.
    """
    return tf.float64 if tf.float64 in [tf.as_dtype(d) for d in dtypes] else tf.float32


def rms(x):
    """Root mean square of a tensor; 0 for an empty tensor.

    Half-precision tensors are measured in float32, where their squares cannot overflow.
    """
    if x.dtype in (tf.float16, tf.bfloat16):
        x = tf.cast(x, tf.float32)
    if x.shape.num_elements() == 0:
        return tf.zeros([], x.dtype)
    return tf.sqrt(tf.reduce_mean(tf.square(x)))


def mixed_rms_norm(components):
    """The default error norm: the largest RMS over the state's components.

    For a single tensor this is its RMS. Taking the maximum over components keeps
    a small component (for example the parameter adjoint) from being swamped by
    a large one.
    """
    return tf.reduce_max(tf.stack([rms(c) for c in components]))


def all_finite(*states):
    """Whether every entry of every tensor of the given tuple states is finite (scalar bool)."""
    checks = [tf.reduce_all(tf.math.is_finite(v)) for state in states for v in state]
    return tf.reduce_all(tf.stack(checks))


def select(condition, if_true, if_false):
    """Component-wise ``tf.where`` with a scalar condition."""
    return tuple(tf.where(condition, a, b) for a, b in zip(if_true, if_false))
