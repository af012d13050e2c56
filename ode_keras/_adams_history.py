"""The Adams methods' memory and their step: predict, correct, remember.

The history holds the past derivatives as modified divided differences ``Phi_j`` (one
``[slots, *shape]`` tensor per state component) and the past step times, newest first,
so it is a fixed-size loop variable of ``tf.while_loop`` and XLA. A step of order ``k``
(Hairer, Norsett & Wanner I, section III.5):

- predict (Adams-Bashforth, order ``k``): ``p = y_n + h sum_{j<k} g_j Phi*_j``;
- correct (Adams-Moulton, order ``k + 1``): ``y = p + h g_k Phi^p_k``, where
  ``Phi^p_k = f(t_{n+1}, p) - sum_{j<k} Phi*_j``, the next difference with the new
  derivative;
- remember: ``Phi_j(n+1) = f_{n+1} - sum_{i<j} Phi*_i``, once ``f_{n+1}`` is known.

The coefficients come from the step times (``_adams_coefficients``), so steps of any
size follow one another without restarting.
"""

import collections

import tensorflow as tf

from ode_keras import _adams_coefficients as coefficients

History = collections.namedtuple("History", "t phi")
History.__doc__ = """What an Adams method remembers at ``t_n``.

Attributes:
    t: ``[slots]`` times ``t_n, t_{n-1}, ...``. Before the first step the past is a
        made-up uniform one (``t_0 - 1, t_0 - 2, ...``): it keeps every coefficient
        finite, and no method uses more differences than it has steps behind it.
    phi: One ``[slots, *shape]`` tensor per state component: ``Phi_0(n) = f_n``, then
        the differences ``Phi_j(n)``, of which the first ``n + 1`` are meaningful.
"""

Prediction = collections.namedtuple("Prediction", "t1 h a g phi_star p")
Prediction.__doc__ = """A predicted step from ``t_n`` to ``t1 = t_n + h``.

Attributes:
    t1, h: The end time and the step.
    a: ``[slots - 1]`` slopes of the factors whose integrals are the step's coefficients.
    g: ``[slots]`` those integrals over the step, ``g_0 .. g_{slots-1}``.
    phi_star: ``Phi*_j = beta_j Phi_j``, the differences scaled to this step.
    p: The Adams-Bashforth prediction at ``t1``.
"""


def start(t0, f0, slots):
    """The history at ``t0`` before any step: ``Phi_0 = f0``, no differences yet."""
    t = t0 - tf.range(slots, dtype=t0.dtype)
    phi = tuple(tf.concat([f[None]] + [tf.zeros_like(f)[None]] * (slots - 1), 0) for f in f0)
    return History(t, phi)


def predict(history, y, h, terms):
    """The prediction of order ``terms`` (a Python or tensor int) from ``y`` at ``t_n``."""
    slots = history.t.shape[0]
    psi_new, psi_old = coefficients.step_ratios(history.t, h)
    beta = coefficients.scale_factors(psi_new[:slots - 1], psi_old[:slots - 1])
    a = coefficients.slopes(psi_new, h, slots)
    phi_star = tuple(combine_each(beta, phi) for phi in history.phi)
    g = coefficients.integrals(a, tf.ones([], a.dtype))
    p = add(y, h * g * _below(terms, slots, g.dtype), phi_star)
    return Prediction(history.t[0] + h, h, a, g, phi_star, p)


def next_difference(prediction, f, order):
    """``Phi_order`` at ``t1`` from the derivative ``f`` there: ``f - sum_{j<order} Phi*_j``."""
    return tuple(f_i - tf.gather(tf.math.cumsum(s, axis=0, exclusive=True), order)
                 for f_i, s in zip(f, prediction.phi_star))


def correct(prediction, f, order):
    """The Adams-Moulton value of order ``order + 1`` from ``f`` at ``t1``, and ``Phi^p_k``."""
    difference = next_difference(prediction, f, order)
    step = prediction.h * tf.gather(prediction.g, order)
    return tuple(p + tf.cast(step, p.dtype) * d
                 for p, d in zip(prediction.p, difference)), difference


def remember(history, prediction, f1):
    """The history at ``t1`` once ``f1 = func(t1, y1)`` is known."""
    phi = tuple(f[None] - tf.math.cumsum(s, axis=0, exclusive=True)
                for f, s in zip(f1, prediction.phi_star))
    t = tf.concat([prediction.t1[None], history.t[:-1]], 0)
    return History(t, phi)


def interpolate(prediction, y, difference, order, theta):
    """The corrector's polynomial at ``t_n + theta h`` (``theta`` in [0, 1]).

    ``difference`` is ``Phi^p_order`` from :func:`correct`; at ``theta = 1`` this is the
    corrected value, and between the ends it has the corrector's order.
    """
    slots = prediction.g.shape[0]
    big_g = coefficients.integrals(prediction.a, theta)
    value = add(y, prediction.h * big_g * _below(order, slots, big_g.dtype), prediction.phi_star)
    last = prediction.h * tf.gather(big_g, order)
    return tuple(v + tf.cast(last, v.dtype) * d for v, d in zip(value, difference))


def add(y, weights, stacks):
    """``y + sum_j weights[j] * stacks[j]`` per component (weights in the times' dtype)."""
    return tuple(y_i + combine(weights, s) for y_i, s in zip(y, stacks))


def combine(weights, stack):
    """``sum_j weights[j] * stack[j]``, the weights cast to the stack's dtype."""
    return tf.reduce_sum(combine_each(weights, stack), axis=0)


def combine_each(weights, stack):
    """``weights[j] * stack[j]`` for every ``j`` (a ``[slots, *shape]`` tensor)."""
    shape = [-1] + [1] * (stack.shape.rank - 1)
    return tf.reshape(tf.cast(weights, stack.dtype), shape) * stack


def _below(count, slots, dtype):
    """``[slots]`` mask: 1 for the first ``count`` entries, else 0 (``count`` may be a tensor)."""
    return tf.cast(tf.range(slots) < count, dtype)
