"""Jacobians of ``func`` for the implicit solvers, and the linear systems they solve.

An implicit step solves linear systems with the iteration matrix ``I - gamma * h * J``,
where ``J = d func / d y`` at some point of the step. Two layouts:

- ``"full"``: the state's components flattened and concatenated into one vector of
  ``n`` entries; ``J`` is ``[n, n]``. Exact for any coupling, but ``n`` grows with the
  batch, and an LU factorisation costs ``n**3``.
- ``"per_sample"``: every component has the batch as its leading axis ``B`` and the
  samples do not interact (a Neural ODE's state ``[batch, features]``); ``J`` is the
  ``[B, d, d]`` stack of the diagonal blocks, from ``GradientTape.batch_jacobian``,
  and the factorisations and solves are batched: ``B * d**3`` instead of ``(B d)**3``.
  When samples do interact (batch norm inside ``func``, say), the blocks miss the
  coupling: the implicit solvers' residuals stay exact, so Newton still converges to
  the right stages, more slowly, and a Rosenbrock step's error estimate sees the
  inexact Jacobian and shrinks the step; results stay correct, only slower.

Linear algebra runs in float32 at least (half precision would lose the pivots),
the state's dtype otherwise; the LU factorisation is ``ode_keras._lu``'s, which
compiles under XLA and reports a singular matrix instead of raising.
"""

import tensorflow as tf

from ode_keras import _lu

JACOBIAN_MODES = ("full", "per_sample")
"""The layouts of :func:`evaluate`'s Jacobian, the ``jacobian`` option of the implicit methods."""


def linear_dtype(dtype):
    """The dtype the linear algebra runs in for a state of ``dtype``."""
    return tf.float32 if dtype in (tf.float16, tf.bfloat16) else dtype


def flatten(state, mode):
    """A tuple state as a vector ``[n]`` (``"full"``) or a matrix ``[B, d]`` (``"per_sample"``)."""
    if mode == "full":
        return tf.concat([tf.reshape(v, [-1]) for v in state], axis=0)
    return tf.concat([tf.reshape(v, [tf.shape(v)[0], -1]) for v in state], axis=1)


def unflatten(flat, like, mode):
    """The inverse of :func:`flatten`: a tuple of tensors shaped like ``like``."""
    sizes = [_size(v, mode) for v in like]
    pieces = tf.split(flat, sizes, axis=0 if mode == "full" else 1)
    return tuple(tf.reshape(tf.cast(p, v.dtype), tf.shape(v)) for p, v in zip(pieces, like))


def _size(v, mode):
    """The entries of ``v`` in the flat layout (per sample for ``"per_sample"``)."""
    shape = v.shape if mode == "full" else v.shape[1:]
    return shape.num_elements()


def evaluate(func, t, y, mode, jacobian_fn=None):
    """``(J, f)``: the Jacobian of ``func`` at ``(t, y)`` in layout ``mode``, and ``func(t, y)``.

    Args:
        func: ``func(t, y)`` on tuple states.
        t: Scalar time.
        y: Tuple state.
        mode: ``"full"`` or ``"per_sample"``.
        jacobian_fn: Optional user Jacobian ``jacobian_fn(t, y) -> J``, in layout ``mode``
            (a ``[n, n]`` or ``[B, d, d]`` tensor); ``func`` is then evaluated once, plainly.

    Returns:
        ``J`` in :func:`linear_dtype` of the state, and ``f`` (a tuple, the state's dtype).
    """
    dtype = linear_dtype(y[0].dtype)
    if jacobian_fn is not None:
        return tf.cast(jacobian_fn(t, y), dtype), func(t, y)
    y_flat = flatten(y, mode)
    eager = tf.executing_eagerly()
    with tf.GradientTape(persistent=eager) as tape:
        tape.watch(y_flat)
        f = func(t, unflatten(y_flat, y, mode))
        f_flat = flatten(f, mode)
    # A func that ignores y has no gradient path: its Jacobian is zero, not None.
    # Eagerly, pfor traces a new function at every call (seconds per Jacobian): one
    # gradient per row is faster there; graphs and XLA keep the vectorised pfor.
    kwargs = dict(unconnected_gradients=tf.UnconnectedGradients.ZERO,
                  experimental_use_pfor=not eager)
    if mode == "full":
        jacobian = tape.jacobian(f_flat, y_flat, **kwargs)
    else:
        jacobian = tape.batch_jacobian(f_flat, y_flat, **kwargs)
    return tf.cast(jacobian, dtype), f


def time_derivative(func, t, y):
    """``d func / d t`` at ``(t, y)`` (a tuple like ``y``), by one forward-mode product."""
    with tf.autodiff.ForwardAccumulator(t, tf.ones_like(t)) as accumulator:
        f = func(t, y)
    return tuple(tf.zeros_like(v) if g is None else g
                 for v, g in zip(f, accumulator.jvp(f, unconnected_gradients="zero")))


def factor(jacobian, gamma_h):
    """The LU factors (:class:`ode_keras._lu.Factors`) of ``I - gamma_h * J``.

    Their ``regular`` flag is False when a pivot is zero or a factor is not finite:
    the caller shrinks the step or fails, the factorisation itself never raises.
    """
    # tf.cast would take a Python float through float32 first: 0.1 -> 0.10000000149.
    gamma_h = (tf.cast(gamma_h, jacobian.dtype) if tf.is_tensor(gamma_h)
               else tf.constant(gamma_h, jacobian.dtype))
    n = jacobian.shape[-1]
    identity = tf.eye(n, batch_shape=tf.shape(jacobian)[:-2], dtype=jacobian.dtype)
    return _lu.factor(identity - gamma_h * jacobian)


def solve(factors, rhs, like, mode):
    """Solve ``(I - gamma_h J) x = rhs`` with :func:`factor`'s output; ``rhs`` and ``x`` tuples."""
    flat = tf.cast(flatten(rhs, mode), factors.lower.dtype)
    return unflatten(_lu.solve(factors, flat), like, mode)
