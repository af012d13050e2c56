"""The implicit stage equation of an ESDIRK step, solved by simplified Newton.

A stage solves ``G(z) = z - psi - gamma h f(t_i, z) = 0`` for ``z``. Simplified Newton
iterates ``z += M^-1 (psi + gamma h f(t_i, z) - z)`` with the iteration matrix
``M = I - gamma h J`` factorised once (``J`` may be a few steps old), and stops by
Hairer & Wanner's rule (*Solving ODEs II*, section IV.8): with the contraction rate
``theta = |dz_k| / |dz_{k-1}|`` and ``eta = theta / (1 - theta)``, the iterate is
within ``eta |dz_k|`` of the solution, so it stops when that is at most ``kappa`` (in the
norm scaled by the tolerances), and gives up as soon as ``theta >= 1`` or the rate
predicts no convergence within the iterations left.

Gradients flow through the iterations themselves (the iteration matrix, which only
decides how fast they converge, is outside the gradient): the gradient is that of the
computed stage, as finite differences of the solve see it, which is the implicit
function's ``(I - gamma h f_z)^-1 (dpsi + gamma h df)`` up to the Newton error. (A custom
gradient solving that system directly would need ``func``'s variables inside the
gradient of the solver's ``tf.while_loop``, which TensorFlow 2.21 cannot capture there.)
An iterate that turns non-finite is not taken, so a diverging, rejected attempt leaves
no NaN for the gradient to multiply by zero.
"""

import collections

import numpy as np
import tensorflow as tf

from ode_keras import _jacobian

StageSystem = collections.namedtuple(
    "StageSystem", "func factors mode scale norm max_iterations kappa implicit_components")
StageSystem.__doc__ = """What the stages of one step share.

``factors``: the LU of ``M``; ``mode``: the Jacobian's layout; ``scale``: ``atol + rtol |y|``
per component; ``norm``: the error norm; ``implicit_components``: the leading components
the Jacobian covers (the others are quadratures: ``f`` does not depend on them, so their
block of ``M`` is the identity)."""

StageResult = collections.namedtuple("StageResult",
                                     "z converged rate eta iterations overflowed")
StageResult.__doc__ = """A stage's value, whether Newton converged, the worst contraction
rate seen (0 when one iteration sufficed), the last ``eta``, the iterations spent, and
whether it gave up because its iterates stopped being finite (an overflow, which a
half-precision adjoint meets when the loss scale is too high, rather than slow
convergence)."""


def linear_solve(system, rhs):
    """``M^-1 rhs`` on tuple states; quadrature components pass through."""
    k = system.implicit_components
    head = _jacobian.solve(system.factors, rhs[:k], rhs[:k], system.mode)
    return tuple(head) + tuple(rhs[k:])


def solve_stage(system, t_i, h_gamma, psi, guess, eta_old, skip):
    """The stage value ``z`` solving ``z = psi + h_gamma f(t_i, z)``, from ``guess``.

    Args:
        system: The step's :class:`StageSystem`.
        t_i: The stage time (float64 scalar).
        h_gamma: ``gamma * h`` (float64 scalar).
        psi: ``y0 + h sum_j a_ij k_j`` over the earlier stages (tuple).
        guess: The first iterate (tuple).
        eta_old: ``eta`` of the previous stage solve, for the first stopping test.
        skip: Scalar bool; True returns at once, unconverged (an earlier stage failed).

    Returns:
        A :class:`StageResult`; ``z`` is ``guess`` when Newton did not converge.
    """
    # Not a tf.cond: under XLA, the gradient of the solver's loop cannot take the
    # intermediates of a branch that holds a loop; a skipped solve runs no iteration.
    result = _iterate(system, t_i, h_gamma, psi, guess, eta_old, skip)
    z = tuple(tf.where(result.converged, a, b) for a, b in zip(result.z, guess))
    return result._replace(z=z)


def _norm_dtype(state):
    return tf.float64 if any(v.dtype == tf.float64 for v in state) else tf.float32


def _iterate(system, t_i, h_gamma, psi, guess, eta_old, skip):
    """Simplified Newton from ``guess``; a :class:`StageResult`."""
    dtype = _norm_dtype(psi)
    kappa = tf.cast(system.kappa, dtype)
    last = system.max_iterations - 1
    eps = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype)
    # The first iterate has no rate yet: Hairer's guess from the previous solve.
    eta_first = tf.maximum(tf.cast(eta_old, dtype), eps) ** 0.8
    one, zero = tf.ones([], dtype), tf.zeros([], dtype)
    has_quadratures = system.implicit_components < len(guess)

    def body(k, z, previous, rate, eta, converged, failed, overflowed):
        f = system.func(t_i, z)
        residual = tuple(p + tf.cast(h_gamma, p.dtype) * fi - zi
                         for p, fi, zi in zip(psi, f, z))
        delta = linear_solve(system, residual)
        size, implicit_size = _sizes(system, delta, dtype)
        z = tuple(tf.where(tf.math.is_finite(size), zi + di, zi) for zi, di in zip(z, delta))
        # The contraction rate is the implicit components': a quadrature's correction is
        # their previous one times df/dz, one iteration late, not a rate of its own.
        theta = tf.where(k > 0, implicit_size / tf.where(previous > 0, previous, one), zero)
        eta = tf.where(k > 0, theta / tf.maximum(one - theta, eps), eta_first)
        converged = tf.math.is_finite(size) & ((eta * size <= kappa) | tf.equal(size, 0))
        if has_quadratures:
            # The first iteration moves a quadrature onto the guess's implicit part, off by
            # df/dz times that part's correction, which no norm here bounds: iterate again.
            converged = converged & (k > 0)
        hopeless = (k > 0) & ((theta >= 1) | (
            theta ** tf.cast(last - k, dtype) / tf.maximum(one - theta, eps) * size > kappa))
        failed = ~converged & (hopeless | ~tf.math.is_finite(size) | (k >= last))
        return (k + 1, z, implicit_size, tf.maximum(rate, theta), eta, converged, failed,
                ~tf.math.is_finite(size))

    k, z, _, rate, eta, converged, _, overflowed = tf.while_loop(
        lambda k, z, p, r, e, converged, failed, o: ~converged & ~failed, body,
        (tf.constant(0), guess, zero, zero, eta_first, tf.constant(False), skip,
         tf.constant(False)),
        maximum_iterations=system.max_iterations)
    # A skipped solve keeps the previous eta (the next stopping test stays as strict).
    eta = tf.stop_gradient(tf.where(skip, tf.cast(eta_old, dtype), eta))
    return StageResult(z, converged, tf.stop_gradient(rate), eta, k,
                       ~converged & overflowed)


def _sizes(system, delta, dtype):
    """The scaled norm of a Newton correction, and of its implicit components alone.

    Outside the gradient: the norms only steer the iteration (and sqrt'(0) is infinite).
    The implicit part's norm counts the quadratures as zeros, a constant factor off a
    norm over it alone, which the ratios of successive sizes cancel.
    """
    scaled = tuple(tf.cast(d, dtype) / tf.cast(s, dtype) for d, s in zip(delta, system.scale))
    size = tf.stop_gradient(tf.cast(system.norm(scaled), dtype))
    head = system.implicit_components
    if head >= len(scaled):
        return size, size
    implicit = scaled[:head] + tuple(tf.zeros_like(v) for v in scaled[head:])
    return size, tf.stop_gradient(tf.cast(system.norm(implicit), dtype))
