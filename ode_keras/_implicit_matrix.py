"""The implicit drivers' Jacobian and LU: when to evaluate, when to factorise, what to keep.

Hairer & Wanner's economy (*Solving ODEs II*, section IV.8): the Jacobian is kept from
step to step while Newton converges fast (its worst contraction rate at most
:data:`REFRESH_RATE`); it is evaluated afresh after a step whose Newton iterations were
slow, and after a rejected step unless it was fresh for that step. The LU of
``I - gamma h J`` is redone only when ``J`` or ``h`` changed; to keep it, the adaptive
driver holds its step when the controller would grow it by less than
:data:`HOLD_GROWTH`. Everything here sits outside the gradient (``tf.stop_gradient``):
the matrix only decides how fast Newton converges, never to what.
"""

import tensorflow as tf

from ode_keras import _jacobian, _lu

REFRESH_RATE = 0.1
"""A Newton contraction rate above this one makes the next step evaluate a new Jacobian."""

HOLD_GROWTH = 1.2
"""A proposed step at most this factor above the factorised one keeps the factorised one."""


def jacobian_function(func, jacobian_option, implicit_components):
    """``jac(t, y) -> (J, evaluations)`` for the implicit leading components of ``y``."""
    user = callable(jacobian_option)

    def jac(t, y):
        head, tail = y[:implicit_components], y[implicit_components:]

        def head_func(time, values):
            return func(time, tuple(values) + tuple(tail))[:implicit_components]

        if user:
            state = y[0] if len(y) == 1 else y
            matrix = jacobian_option(tf.cast(t, y[0].dtype), state)
            mode = "full" if matrix.shape.rank == 2 else "per_sample"
            return tf.cast(matrix, _jacobian.linear_dtype(y[0].dtype)), 0, mode
        matrix, _ = _jacobian.evaluate(head_func, t, head, jacobian_option)
        return matrix, _jacobian.columns(head, jacobian_option), jacobian_option

    return jac


def check_layout(matrix, mode, y, implicit_components, name="options"):
    """A user Jacobian's static shape must fit the state; raise ValueError if not."""
    head = y[:implicit_components]
    if mode == "full":
        n = sum(v.shape.num_elements() or 0 for v in head)
        expected = [n, n]
    else:
        d = sum(v.shape[1:].num_elements() or 0 for v in head)
        expected = [head[0].shape[0], d, d]
    if matrix.shape.rank not in (2, 3) or not matrix.shape.is_compatible_with(expected):
        raise ValueError(
            f"{name}['jacobian'] returned a Jacobian of shape {matrix.shape}; expected "
            f"[n, n] = {[expected[-1]] * 2} (the flattened state) or [batch, d, d] (per "
            "sample) for this state.")


def check_per_sample(y, implicit_components, name="options"):
    """Per-sample Jacobians need every component to lead with the same batch axis."""
    head = y[:implicit_components]
    batches = {v.shape[0] if v.shape.rank else None for v in head}
    if any(v.shape.rank in (0, None) for v in head) or len(batches) != 1:
        raise ValueError(
            f"{name}['jacobian'] = 'per_sample' needs every state component to have the "
            f"batch as its leading axis, got shapes {[v.shape.as_list() for v in head]}; "
            "use 'full' for this state.")


def identity_factors(matrix):
    """The LU of the identity, shaped like ``matrix``: the factors before the first step."""
    eye = tf.eye(matrix.shape[-1], batch_shape=tf.shape(matrix)[:-2], dtype=matrix.dtype)
    return _lu.Factors(eye, eye, eye, tf.constant(True))


def refresh(jac, t, y, stale, jacobian):
    """The Jacobian for this step: a new one at ``(t, y)`` if ``stale``; its evaluations."""
    def fresh():
        matrix, evaluations, _ = jac(t, y)
        return tf.stop_gradient(matrix), tf.constant(evaluations)

    return tf.cond(stale, fresh, lambda: (jacobian, tf.constant(0)))


def refactor(jacobian, gamma, h, h_factored, factors, jacobian_changed):
    """The LU of ``I - gamma h J``, redone only if ``J`` or ``h`` changed; and whether it was."""
    redo = jacobian_changed | tf.not_equal(h, h_factored)
    factors = tf.cond(
        redo, lambda: tf.nest.map_structure(
            tf.stop_gradient, _jacobian.factor(jacobian, tf.stop_gradient(gamma * h))),
        lambda: factors)
    return factors, redo
