"""Jacobians of ``func`` for the implicit solvers, and the linear systems they solve.

An implicit step solves linear systems with the iteration matrix ``I - gamma * h * J``,
where ``J = d func / d y`` at some point of the step. Two layouts:

- ``"full"``: the state's components flattened and concatenated into one vector of
  ``n`` entries; ``J`` is ``[n, n]``. Exact for any coupling, but ``n`` grows with the
  batch, and an LU factorisation costs ``n**3``.
- ``"per_sample"``: every component has the batch as its leading axis ``B`` and the
  samples do not interact (a Neural ODE's state ``[batch, features]``); ``J`` is the
  ``[B, d, d]`` stack of the diagonal blocks, one forward product per feature,
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
    """A tuple state as a vector ``[n]`` (``"full"``) or a matrix ``[B, d]`` (``"per_sample"``).

    Components of different float dtypes (the adjoint's float16 state beside its float32
    parameter adjoints, under mixed precision) meet in the widest of them.
    """
    dtype = max((v.dtype for v in state), key=lambda d: d.size)
    if mode == "full":
        return tf.concat([tf.reshape(tf.cast(v, dtype), [-1]) for v in state], axis=0)
    return tf.concat([tf.reshape(tf.cast(v, dtype), [tf.shape(v)[0], -1]) for v in state],
                     axis=1)


def unflatten(flat, like, mode):
    """The inverse of :func:`flatten`: a tuple of tensors shaped like ``like``."""
    sizes = [_size(v, mode) for v in like]
    pieces = tf.split(flat, sizes, axis=0 if mode == "full" else 1)
    return tuple(tf.reshape(tf.cast(p, v.dtype), tf.shape(v)) for p, v in zip(pieces, like))


def _size(v, mode):
    """The entries of ``v`` in the flat layout (per sample for ``"per_sample"``)."""
    shape = v.shape if mode == "full" else v.shape[1:]
    return shape.num_elements()


def evaluate(func, t, y, mode):
    """``(J, f)``: the Jacobian of ``func`` at ``(t, y)`` in layout ``mode``, and ``func(t, y)``.

    Column by column, one forward-mode product per column (per feature, for
    ``"per_sample"``), unrolled. A vectorised ``pfor`` Jacobian costs one traced
    evaluation instead of ``n``, but a Rosenbrock step differentiates through its
    Jacobian, and the gradient of ``pfor``'s output does not compile under XLA
    (slices of the state become shapes that are not compile-time constants); nor can
    a solver's loop gradient under XLA take the resource ``pfor`` creates in a
    ``tf.cond`` branch. Forward products have neither problem.

    Args:
        func: ``func(t, y)`` on tuple states.
        t: Scalar time.
        y: Tuple state.
        mode: ``"full"`` or ``"per_sample"``.

    Returns:
        ``J`` in :func:`linear_dtype` of the state (``[n, n]`` or ``[B, d, d]``), and
        ``f`` (a tuple, the state's dtype). The cost is :func:`columns` evaluations.
    """
    flat = flatten(y, mode)
    width = flat.shape[-1]
    columns, f = [], None
    for j in range(width):
        unit = tf.one_hot(j, width, dtype=flat.dtype) + tf.zeros_like(flat)
        with tf.autodiff.ForwardAccumulator(list(y), list(unflatten(unit, y, mode))) as acc:
            f = func(t, y)
        # A func that ignores y has no forward path: its Jacobian is zero, not None.
        jvp = acc.jvp(list(f), unconnected_gradients=tf.UnconnectedGradients.ZERO)
        columns.append(flatten(tuple(jvp), mode))
    matrix = tf.stack(columns, axis=-1)
    return tf.cast(matrix, linear_dtype(y[0].dtype)), tuple(f)


def columns(y, mode):
    """The evaluations of ``func`` one :func:`evaluate` costs: its Jacobian's columns."""
    return sum(_size(v, mode) for v in y)


def time_derivative(func, t, y):
    """``d func / d t`` at ``(t, y)``, a tuple like ``y``, by reverse mode.

    Forward mode would cost less, but its gradient, which backprop through a Rosenbrock
    solve takes at every step, does not compile under XLA (the shape arguments of its
    ``Tile`` gradients are not compile-time constants); a Jacobian with respect to the
    scalar ``t`` does.
    """
    eager = tf.executing_eagerly()
    with tf.GradientTape(persistent=eager) as tape:
        tape.watch(t)
        f_flat = flatten(func(t, y), "full")
    rates = tape.jacobian(f_flat, t, unconnected_gradients=tf.UnconnectedGradients.ZERO,
                          experimental_use_pfor=not eager)
    return unflatten(rates, y, "full")


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
