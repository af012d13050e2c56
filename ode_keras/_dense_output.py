"""Dense output: the solution between the ends of an accepted step.

Output times fall inside steps and are filled in by interpolation, so they never
force the solver to shorten a step. With the midpoint weights of a method's
continuous extension (dopri5, tsit5, dopri8) the interpolant is the quartic that
matches ``y0``, ``y1``, ``y_mid`` and the derivatives at both ends: 4th-order
accurate. Other methods use the cubic Hermite interpolant of ``y0, y1, f0, f1``:
3rd-order accurate, which is at least the order of those methods.

Coefficients are stored for ``p(theta) = y0 + theta*(d + theta*(c + theta*(b + theta*a)))``
with ``theta = (t - t0) / h`` in [0, 1] and ``d = h * f0``.
"""

import tensorflow as tf

from ode_keras import _state


def fit(tableau, y0, y1, f0, f1, stages, h):
    """Interpolation coefficients ``(a, b, c, d)`` per component for one step."""
    coefficients = []
    mid = _state.axpy_sum(y0, h, stages, tableau.b_mid) if tableau.b_mid else None
    for i, (y0_i, y1_i, f0_i, f1_i) in enumerate(zip(y0, y1, f0, f1)):
        h_i = tf.cast(h, y0_i.dtype)  # a no-op unless the component is half-precision
        d = h_i * f0_i
        r1 = y1_i - y0_i - d          # p(1) = y1
        r2 = h_i * f1_i - d           # p'(1) = h f1
        if mid is None:
            a = tf.zeros_like(y0_i)
            b = r2 - 2.0 * r1
            c = 3.0 * r1 - r2
        else:
            r3 = mid[i] - y0_i - 0.5 * d   # p(1/2) = y_mid
            a = -8.0 * r1 + 2.0 * r2 + 16.0 * r3
            b = 14.0 * r1 - 3.0 * r2 - 32.0 * r3
            c = -5.0 * r1 + r2 + 16.0 * r3
        coefficients.append((a, b, c, d))
    return tuple(coefficients)


def evaluate(coefficients, y0, theta):
    """The interpolant at ``theta`` in [0, 1], component by component (Horner's rule)."""
    result = []
    for y0_i, (a, b, c, d) in zip(y0, coefficients):
        theta_i = tf.cast(theta, y0_i.dtype)
        result.append(y0_i + theta_i * (d + theta_i * (c + theta_i * (b + theta_i * a))))
    return tuple(result)
