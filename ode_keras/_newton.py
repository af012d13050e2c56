"""The implicit stage equation of an ESDIRK step: simplified Newton, and its exact gradient.

A stage solves ``G(z) = z - psi - gamma h f(t_i, z) = 0`` for ``z``. Simplified Newton
iterates ``z += M^-1 (psi + gamma h f(t_i, z) - z)`` with the iteration matrix
``M = I - gamma h J`` factorised once (``J`` may be a few steps old), and stops by
Hairer & Wanner's rule (*Solving ODEs II*, section IV.8): with the contraction rate
``theta = |dz_k| / |dz_{k-1}|`` and ``eta = theta / (1 - theta)``, the iterate is
within ``eta |dz_k|`` of the solution, so it stops when that is at most ``kappa`` (in the
norm scaled by the tolerances), and gives up as soon as ``theta >= 1`` or the rate
predicts no convergence within the iterations left.

The gradient is not backpropagated through the iterations (they only approach the root,
and their matrix is stale by design): a converged stage gets the implicit function's
gradient, ``dz = (I - gamma h f_z)^-1 (dpsi + gamma h (f_t dt_i + f_theta dtheta)
+ f d(gamma h))``. The backward pass solves the transposed system by the same
simplified Newton iteration, preconditioned by ``M^-T`` and exact with vector-Jacobian
products of ``f`` at the converged stage: it needs neither a fresh Jacobian nor any
tensor of the forward iterations.
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

StageResult = collections.namedtuple("StageResult", "z converged rate eta iterations")
StageResult.__doc__ = """A stage's value, whether Newton converged, the worst contraction
rate seen (0 when one iteration sufficed), the last ``eta`` and the iterations spent."""


def linear_solve(system, rhs, transposed=False):
    """``M^-1 rhs`` (or ``M^-T rhs``) on tuple states; quadrature components pass through."""
    k = system.implicit_components
    solve = _jacobian.solve_transposed if transposed else _jacobian.solve
    head = solve(system.factors, rhs[:k], rhs[:k], system.mode)
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
        A :class:`StageResult`; ``z`` is ``guess`` when Newton did not converge, and is
        differentiable with respect to ``t_i``, ``h_gamma``, ``psi`` and the variables
        ``func`` reads.
    """
    num = len(psi)
    guess = tuple(tf.stop_gradient(g) for g in guess)

    @tf.custom_gradient
    def stage(t_i, h_gamma, *psi):
        result = tf.cond(skip, lambda: _skipped(guess, eta_old),
                         lambda: _iterate(system, t_i, h_gamma, psi, guess, eta_old))
        z = tuple(tf.where(result.converged, a, b) for a, b in zip(result.z, guess))

        def grad(*cotangents, variables=None):
            z_bar = tuple(tf.zeros_like(v) if c is None else c
                          for v, c in zip(z, cotangents[:num]))
            return _stage_vjp(system, t_i, h_gamma, z, z_bar, list(variables or ()))

        return (*z, result.converged, result.rate, result.eta, result.iterations), grad

    outputs = stage(t_i, h_gamma, *psi)
    return StageResult(tuple(outputs[:num]), *outputs[num:])


def _skipped(guess, eta_old):
    dtype = _norm_dtype(guess)
    return StageResult(guess, tf.constant(False), tf.zeros([], dtype),
                       tf.cast(eta_old, dtype), tf.constant(0))


def _norm_dtype(state):
    return tf.float64 if any(v.dtype == tf.float64 for v in state) else tf.float32


def _iterate(system, t_i, h_gamma, psi, guess, eta_old):
    """Simplified Newton from ``guess``; a :class:`StageResult`."""
    dtype = _norm_dtype(psi)
    kappa = tf.constant(system.kappa, dtype)
    last = system.max_iterations - 1
    eps = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype)
    # The first iterate has no rate yet: Hairer's guess from the previous solve.
    eta_first = tf.maximum(tf.cast(eta_old, dtype), eps) ** 0.8
    one, zero = tf.ones([], dtype), tf.zeros([], dtype)

    def body(k, z, previous, rate, eta, converged, failed):
        f = system.func(t_i, z)
        residual = tuple(p + tf.cast(h_gamma, p.dtype) * fi - zi
                         for p, fi, zi in zip(psi, f, z))
        delta = linear_solve(system, residual)
        z = tuple(zi + di for zi, di in zip(z, delta))
        size = tf.cast(system.norm(tuple(tf.cast(d / s, dtype)
                                         for d, s in zip(delta, system.scale))), dtype)
        theta = tf.where(k > 0, size / tf.where(previous > 0, previous, one), zero)
        eta = tf.where(k > 0, theta / tf.maximum(one - theta, eps), eta_first)
        converged = tf.math.is_finite(size) & ((eta * size <= kappa) | tf.equal(size, 0))
        hopeless = (k > 0) & ((theta >= 1) | (
            theta ** tf.cast(last - k, dtype) / tf.maximum(one - theta, eps) * size > kappa))
        failed = ~converged & (hopeless | ~tf.math.is_finite(size) | (k >= last))
        return k + 1, z, size, tf.maximum(rate, theta), eta, converged, failed

    k, z, _, rate, eta, converged, _ = tf.while_loop(
        lambda k, z, p, r, e, converged, failed: ~converged & ~failed, body,
        (tf.constant(0), guess, zero, zero, eta_first, tf.constant(False), tf.constant(False)),
        maximum_iterations=system.max_iterations)
    return StageResult(z, converged, rate, eta, k)


def _stage_vjp(system, t_i, h_gamma, z, z_bar, variables):
    """Gradients for ``(t_i, h_gamma, *psi)`` and ``variables`` from ``z``'s cotangent."""
    def pullback(lam):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([t_i, *z, *variables])
            f = system.func(t_i, z)
        g_t, g_z, g_vars = tape.gradient(
            f, (t_i, list(z), variables), output_gradients=list(lam),
            unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return f, g_t, tuple(g_z), [tf.convert_to_tensor(g) for g in g_vars]

    lam = _transposed_solve(system, h_gamma, z_bar, lambda v: pullback(v)[2])
    f, g_t, _, g_vars = pullback(lam)
    t_bar = tf.cast(h_gamma, g_t.dtype) * g_t
    hg_bar = tf.add_n([tf.cast(tf.reduce_sum(a * b), h_gamma.dtype) for a, b in zip(lam, f)])
    var_bars = [tf.cast(h_gamma, g.dtype) * g for g in g_vars]
    return (t_bar, hg_bar, *lam), var_bars


def _transposed_solve(system, h_gamma, rhs, vjp_z):
    """``lam`` with ``(I - h_gamma f_z)^T lam = rhs``, iterated with ``M^-T`` as preconditioner."""
    dtype = _norm_dtype(rhs)
    tolerance = tf.constant(np.finfo(dtype.as_numpy_dtype).eps ** 0.75, dtype)

    def rms(state):
        return tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, dtype))) for v in state]))

    def body(k, lam, done):
        g = vjp_z(lam)
        residual = tuple(r - v + tf.cast(h_gamma, v.dtype) * gi for r, v, gi in zip(rhs, lam, g))
        delta = linear_solve(system, residual, transposed=True)
        lam = tuple(v + d for v, d in zip(lam, delta))
        return k + 1, lam, rms(delta) <= tolerance * rms(lam)

    def iterate():
        start = linear_solve(system, rhs, transposed=True)
        return tf.while_loop(lambda k, lam, done: ~done, body,
                             (tf.constant(0), start, tf.constant(False)),
                             maximum_iterations=2 * system.max_iterations)[1]

    # A rejected step's stages get no cotangent: nothing to solve (and no 0 * NaN).
    nothing = tf.equal(rms(rhs), 0)
    return tf.cond(nothing, lambda: tuple(tf.zeros_like(v) for v in rhs), iterate)
