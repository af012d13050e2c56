"""One-sided evaluations of ``func``: the machinery behind :class:`~ode_keras.perturb.Perturb`.

Inside the solvers a side is a number in the time of the function called: -1 (the limit
from smaller times), +1 (from larger ones) or 0 (none); a Python int, or a scalar tensor
when the direction of integration is known only when the graph runs. The functions the
drivers step take it as the keyword ``side`` when marked by :func:`takes_side`;
:func:`evaluate` passes it only to those, so a plain ``func(t, y)`` still runs in the
drivers (the public ``rk_step`` included). At the user's boundary, :func:`call_user` turns
a side into ``perturb=Perturb.PREV`` / ``NEXT`` or into a time moved by one ulp.
"""

import inspect

import keras
import tensorflow as tf

from ode_keras.perturb import Perturb

BELOW = -1
"""The side of a step's end, seen from the step (in the solver's increasing time)."""
ABOVE = 1
"""The side ahead of a time the solve restarts from (after a jump)."""


def takes_side(func):
    """Mark an internal ``func(t, y, side=0)`` as taking a side; returns ``func``."""
    func.takes_side = True
    return func


def is_none(side):
    """Whether ``side`` asks for no side at all (known when tracing)."""
    return isinstance(side, int) and side == 0


def evaluate(func, t, y, side=0):
    """``func(t, y)``, on the given side of ``t`` when ``func`` takes a side."""
    if is_none(side) or not getattr(func, "takes_side", False):
        return func(t, y)
    return func(t, y, side=side)


def flip(side, direction):
    """``side`` in the time ``t = direction * s`` of a side in ``s``."""
    return side if is_none(side) else side * direction


def accepts_perturb(func):
    """Whether the user's ``func`` (a Keras layer's ``call``) declares a ``perturb`` parameter."""
    target = func.call if isinstance(func, keras.layers.Layer) else func
    try:
        parameter = inspect.signature(target).parameters.get("perturb")
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return False
    return parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD,
                                                        parameter.KEYWORD_ONLY)


def call_user(func, accepts, t, y, side):
    """The user's ``func`` at ``t`` (in the user's time) on ``side``.

    ``accepts`` is :func:`accepts_perturb` of ``func``, found once.
    """
    if is_none(side):
        return func(t, y)
    if not accepts:
        return func(nudge(t, side), y)
    if not tf.is_tensor(side):
        return func(t, y, perturb=Perturb.PREV if side < 0 else Perturb.NEXT)
    # The side depends on a direction known only when the graph runs.
    return tf.cond(side < 0, lambda: func(t, y, perturb=Perturb.PREV),
                   lambda: func(t, y, perturb=Perturb.NEXT))


def nudge(t, side):
    """``t`` moved to the next representable value on ``side``; its gradient is the identity."""
    if t.dtype in (tf.float16, tf.bfloat16):
        moved = _nextafter_16_bit(t, side)
    else:
        moved = tf.math.nextafter(t, t + tf.cast(side, t.dtype))
    # Adjacent floats differ by an exactly representable amount: t + (moved - t) is moved.
    return t + tf.stop_gradient(moved - t)


def _nextafter_16_bit(t, side):
    """``nextafter`` for float16 and bfloat16 (which ``tf.math.nextafter`` lacks), on the bits.

    A 16-bit float is a sign bit and a magnitude that orders the values of each sign; the
    next value on a side moves the magnitude away from zero or towards it, and zero steps to
    the smallest subnormal of the side's sign.
    """
    bits = tf.cast(tf.bitcast(t, tf.uint16), tf.int32)
    magnitude, negative = bits % 32768, bits >= 32768
    up = tf.convert_to_tensor(side) > 0
    away_from_zero = tf.equal(up, tf.logical_not(negative))
    at_zero = tf.equal(magnitude, 0)
    magnitude = tf.where(at_zero, 1, tf.where(away_from_zero, magnitude + 1, magnitude - 1))
    negative = tf.where(at_zero, tf.logical_not(up), negative)
    bits = magnitude + tf.where(negative, 32768, 0)
    return tf.bitcast(tf.cast(bits, tf.uint16), t.dtype)
