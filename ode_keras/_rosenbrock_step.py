"""One Rosenbrock step: the stages, the new state, its error estimate and dense output.

Given the Jacobian ``J``, the time derivative ``df/dt`` and ``f`` at the start of the step,
a step factors ``I - gamma h J`` once and solves one linear system per stage (the
transformed formulation of :mod:`ode_keras.rosenbrock_tableaus`). Each stage equation
``(I / (gamma h) - J) u_i = rhs_i`` is multiplied through by ``gamma h`` so that it uses the
factors of ``I - gamma h J`` as :func:`ode_keras._jacobian.factor` makes them:

    (I - gamma h J) u_i = gamma h f_i + gamma sum_j C_ij u_j + gamma d_i h**2 df/dt.

The stage loop is unrolled at trace time (a handful of stages), so nothing indexes a
tensor at a loop-dependent position: XLA compiles it as written.
"""

import collections

import tensorflow as tf

from ode_keras import _jacobian, _state

Step = collections.namedtuple("Step", "y1 error coefficients regular")
Step.__doc__ = """The result of one attempted step.

Attributes:
    y1: The new state (a tuple).
    error: The local error estimate (a tuple).
    coefficients: Per component ``(a, b, c, d)`` of the interpolant
        ``y0 + theta (d + theta (c + theta (b + theta a)))`` (``_dense_output``'s form).
    regular: Scalar bool, False when ``I - gamma h J`` is singular or its factors are not
        finite (the step must be rejected).
"""


def combine(weights, vectors, like):
    """``sum_j weights[j] * vectors[j]`` per component; zero weights skipped at trace time."""
    result = []
    for i, y_i in enumerate(like):
        terms = [float(w) * v[i] for w, v in zip(weights, vectors) if w != 0.0]
        result.append(tf.add_n(terms) if terms else tf.zeros_like(y_i))
    return tuple(result)


def _add(*states):
    return tuple(tf.add_n(list(parts)) for parts in zip(*states))


def _scale(factor, state):
    return tuple(tf.cast(factor, v.dtype) * v for v in state)


def attempt(tableau, func, t, y, h, derivatives, mode):
    """One step of size ``h`` from ``(t, y)``.

    Args:
        tableau: A :class:`~ode_keras.rosenbrock_tableaus.RosenbrockTableau`.
        func: ``func(t, y)`` on tuple states.
        t: Scalar start time (the times' dtype).
        y: Tuple state at ``t``.
        h: Step size (the times' dtype).
        derivatives: ``(J, f, dfdt)`` at ``(t, y)``, ``J`` in the layout ``mode``.
        mode: ``"full"`` or ``"per_sample"``.

    Returns:
        A :class:`Step`.
    """
    jacobian, f0, dfdt = derivatives
    gamma = tableau.gamma
    factors = _jacobian.factor(jacobian, gamma * h)
    a, coupling = tableau.matrix("a"), tableau.matrix("C")
    # Stages in float32 at least: half-precision stages would leave the error estimate at
    # float16's round-off, and the step control rejecting every other step on noise.
    state, y = y, _widen(y)
    stages, f_i, dfdt = [], _widen(f0), _widen(dfdt)
    for i in range(tableau.num_stages):
        if i > 0:
            arguments = _narrow(_add(y, combine(a[i, :i], stages, y)), state)
            f_i = _widen(func(t + tableau.c[i] * h, arguments))
        rhs = _add(_scale(gamma * h, f_i), combine(gamma * coupling[i, :i], stages, y))
        if tableau.d[i] != 0.0:
            rhs = _add(rhs, _scale(gamma * tableau.d[i] * h * h, dfdt))
        stages.append(_jacobian.solve(factors, rhs, y, mode))
    y1 = _add(y, combine(tableau.m, stages, y))
    error = combine(tableau.e, stages, y)
    coefficients = tuple(tuple(tf.cast(c, v.dtype) for c in per_component) for v, per_component
                         in zip(state, _coefficients(tableau, y, y1, stages)))
    return Step(_narrow(y1, state), error, coefficients, factors.regular)


def _widen(values):
    """``values`` in float32 if they are half precision (a no-op otherwise)."""
    return tuple(tf.cast(v, _state.accumulation_dtype(v.dtype)) for v in values)


def _narrow(values, like):
    """``values`` back in the dtypes of ``like``."""
    return tuple(tf.cast(v, w.dtype) for v, w in zip(values, like))


def _coefficients(tableau, y0, y1, stages):
    """The continuous extension in the quartic form of ``_dense_output``.

    ``(1 - theta) y0 + theta (y1 + (1 - theta) (k1 + theta (k2 + theta k3)))`` expands to
    ``y0 + theta (y1 - y0 + k1) + theta**2 (k2 - k1) + theta**3 (k3 - k2) - theta**4 k3``.
    """
    k1, k2, k3 = (combine(row, stages, y0) for row in tableau.H)
    return tuple((-k3_i, k3_i - k2_i, k2_i - k1_i, y1_i - y0_i + k1_i)
                 for y0_i, y1_i, k1_i, k2_i, k3_i in zip(y0, y1, k1, k2, k3))
