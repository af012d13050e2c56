"""Root finding along one step: the step's cubic Hermite interpolant, and the Illinois method.

Used by the event search (``_event_search``) once a step brackets a sign change of the event
function: the interpolant stands in for the solution inside the step (4th-order accurate,
from the values and derivatives at both ends), and the root of the event function along it
is found to round-off without another evaluation of ``func``.
"""

import tensorflow as tf

# Illinois iterations on a bracketing step: it converges superlinearly (order about 1.44),
# and falls back to bisection when the secant leaves the bracket, so 100 is never reached in
# practice; it only keeps the loop bounded.
MAX_ROOT_ITERATIONS = 100


def hermite(s_a, y_a, f_a, s_b, y_b, f_b):
    """The cubic Hermite interpolant of a step, as a function of the time ``s`` in it."""
    h = s_b - s_a

    def at(s):
        theta = (s - s_a) / h
        state = []
        for ya, fa, yb, fb in zip(y_a, f_a, y_b, f_b):
            x, dt = tf.cast(theta, ya.dtype), tf.cast(h, ya.dtype)
            # The Hermite basis: p(0) = ya, p(1) = yb, p'(0) = h fa, p'(1) = h fb.
            state.append((1 + 2 * x) * (1 - x) ** 2 * ya + x * (1 - x) ** 2 * dt * fa
                         + x ** 2 * (3 - 2 * x) * yb + x ** 2 * (x - 1) * dt * fb)
        return tuple(state)

    return at


def illinois(function, s_a, g_a, s_b, g_b):
    """A root of ``function`` in ``[s_a, s_b]``, where ``g_a > 0 >= g_b``, to round-off.

    Regula falsi, with the Illinois rule: when the same end moves twice in a row, the value
    kept at the other end is halved, so neither end stalls. A secant point that does not
    fall strictly inside the bracket (round-off) is replaced by the midpoint; the loop ends
    when ``g`` is exactly zero or the bracket holds no other floating-point number.

    Returns:
        The end of the final bracket with the smaller ``|g|``.
    """
    def unresolved(lo, g_lo, hi, g_hi, side):
        del side
        middle = lo + (hi - lo) / 2
        return tf.not_equal(g_hi, 0.0) & (middle > lo) & (middle < hi)

    def narrow(lo, g_lo, hi, g_hi, side):
        secant = hi - g_hi * (hi - lo) / (g_hi - g_lo)
        inside = (secant > lo) & (secant < hi)
        s = tf.where(inside, secant, lo + (hi - lo) / 2)
        g = function(s)
        above = g > 0
        # side: +1 when the low end moved last, -1 for the high end, 0 at first.
        g_hi = tf.where(above & tf.equal(side, 1), g_hi / 2, g_hi)
        g_lo = tf.where(~above & tf.equal(side, -1), g_lo / 2, g_lo)
        return (tf.where(above, s, lo), tf.where(above, g, g_lo), tf.where(above, hi, s),
                tf.where(above, g_hi, g), tf.where(above, 1, -1))

    lo, g_lo, hi, g_hi, _ = tf.while_loop(
        unresolved, narrow, (s_a, g_a, s_b, g_b, tf.constant(0)),
        maximum_iterations=MAX_ROOT_ITERATIONS)
    # g_lo may have been halved: compare with the value at lo itself.
    return tf.where(tf.abs(function(lo)) < tf.abs(g_hi), lo, hi)
