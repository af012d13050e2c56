"""Step-size control for the adaptive solvers.

The error of a step is measured as ``norm(err / (atol + rtol * max(|y0|, |y1|)))``
(an RMS norm by default), so a ratio at most 1 means the step meets the
tolerances. An integral controller proposes the next step from that ratio, and
Hairer's heuristic picks the first step.

Reference: Hairer, Norsett & Wanner, *Solving Ordinary Differential Equations I*,
sections II.4 (initial step, eq. 4.13-4.14) and II.4 "Automatic step size control".
"""

import tensorflow as tf

from ode_keras import _tuple_ops

SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0


def error_ratio(error, y0, y1, rtol, atol, norm):
    """Scaled error of a step: at most 1 when the step meets ``rtol`` and ``atol``."""
    scaled = tuple(
        e / (atol + rtol * tf.maximum(tf.abs(a), tf.abs(b))) for e, a, b in zip(error, y0, y1)
    )
    return norm(scaled)


def propose_step(h, ratio, order):
    """The integral controller: ``h * clip(0.9 * ratio**(-1/order), 0.2, 10)``.

    A zero error grows the step by the maximum factor; a non-finite error (the
    trial step blew up) shrinks it by the minimum factor.
    """
    one = tf.ones_like(ratio)
    safe_ratio = tf.where(ratio > 0, ratio, one)
    factor = SAFETY * safe_ratio ** (-1.0 / order)
    factor = tf.where(ratio > 0, factor, MAX_FACTOR * one)
    factor = tf.where(tf.math.is_finite(ratio), factor, MIN_FACTOR * one)
    return h * tf.clip_by_value(factor, MIN_FACTOR, MAX_FACTOR)


def initial_step(func, t0, y0, f0, order, rtol, atol, norm):
    """Hairer's automatic choice of the first step; costs one evaluation of ``func``.

    It compares the sizes of ``y0`` and ``f0`` to get a step that moves the
    solution by about 1% of its scale, then corrects it with an estimate of the
    second derivative from one explicit Euler step.
    """
    scale = tuple(atol + tf.abs(y) * rtol for y in y0)
    d0 = norm(tuple(y / s for y, s in zip(y0, scale)))
    d1 = norm(tuple(f / s for f, s in zip(f0, scale)))
    tiny = tf.constant(1e-5, d0.dtype)
    h0 = tf.where((d0 < tiny) | (d1 < tiny), tf.constant(1e-6, d0.dtype),
                  0.01 * d0 / tf.where(d1 > 0, d1, tf.ones_like(d1)))
    y1 = _tuple_ops.axpy_sum(y0, h0, [f0], [1.0])
    f1 = func(t0 + h0, y1)
    d2 = norm(tuple((b - a) / s for a, b, s in zip(f0, f1, scale))) / h0
    d12 = tf.maximum(d1, d2)
    h1 = tf.where(
        d12 <= 1e-15,
        tf.maximum(tf.constant(1e-6, d0.dtype), h0 * 1e-3),
        (0.01 / tf.where(d12 > 0, d12, tf.ones_like(d12))) ** (1.0 / order),
    )
    return tf.minimum(100.0 * h0, h1)
