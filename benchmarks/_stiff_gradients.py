"""The gradient cost on Robertson's kinetics: one gradient of a trajectory loss, every way.

The loss is ``sum over 20 log-spaced times in [1e-5, 1e5] of |w * y(t)|**2`` with
``w = (1, 1e4, 1)`` (y2 stays below 4e-5: unweighted, it would not count), a function of
the log rate constants ``log k`` (log space makes the three gradients comparable: each is
``k_j dL/dk_j``). The solves run from y(0) = (1, 0, 0) at rtol 1e-8, atol 1e-14.

The reference gradient comes from the forward sensitivity equations ``S' = J S + F``
(``S = dy/dlog k``, ``F = df/dlog k``) solved with the state by SciPy's ``Radau`` at rtol
1e-12, atol 1e-16: an independent computation, exact to its tolerance (the benchmark's
test checks it against central finite differences). Agreement is the largest relative
difference over the three components.
"""

import functools

import _stiff_problems as problems
import numpy as np
from _stiff_timing import Result, guarded, timed
from scipy.integrate import solve_ivp

TIMES = tuple(np.logspace(-5.0, 5.0, 20))
WEIGHTS = (1.0, 1e4, 1.0)
RTOL, ATOL = 1e-8, 1e-14
LOG_RATES = tuple(np.log(problems.ROBERTSON_RATES))


def _rate_derivatives(y, rates):
    """``F``: d rhs / d log k, ``[3, 3]``."""
    k1, k2, k3 = rates
    return np.array([[-k1 * y[0], 0.0, k3 * y[1] * y[2]],
                     [k1 * y[0], -k2 * y[1] ** 2, -k3 * y[1] * y[2]],
                     [0.0, k2 * y[1] ** 2, 0.0]])


def _sensitivity_rhs(t, state, rates):
    y, sens = state[:3], state[3:].reshape(3, 3)
    d_sens = problems.robertson_jacobian(y, rates) @ sens + _rate_derivatives(y, rates)
    return np.concatenate([problems.robertson_rhs(y, np.array, rates), d_sens.ravel()])


def reference_gradient(log_rates=LOG_RATES, rtol=1e-12, atol=1e-16):
    """``(loss, dL/dlog k)`` from the forward sensitivities, by Radau at ``rtol``.

    ``atol`` far below the loss's scale; a much smaller one (1e-20) makes Radau re-evaluate
    its finite-difference Jacobian of the 12 equations thousands of times, for nothing.
    """
    rates = tuple(np.exp(log_rates))
    state0 = np.concatenate([[1.0, 0.0, 0.0], np.zeros(9)])
    solution = solve_ivp(_sensitivity_rhs, (0.0, TIMES[-1]), state0, method="Radau",
                         t_eval=TIMES, rtol=rtol, atol=atol, args=(rates,))
    y, sens = solution.y[:3].T, solution.y[3:].T.reshape(-1, 3, 3)
    w2 = np.square(WEIGHTS)
    return float(np.sum(w2 * y**2)), np.einsum("ti,tij->j", 2.0 * w2 * y, sens)


def loss_by_radau(log_rates, rtol=1e-12, atol=1e-16):
    """The loss alone from a plain Radau solve (the finite differences' function)."""
    rates = tuple(np.exp(log_rates))
    solution = solve_ivp(lambda t, y: problems.robertson_rhs(y, np.array, rates),
                         (0.0, TIMES[-1]), [1.0, 0.0, 0.0], method="Radau", t_eval=TIMES,
                         rtol=rtol, atol=atol, jac=lambda t, y: problems.robertson_jacobian(
                             y, rates))
    return float(np.sum((np.array(WEIGHTS)[:, None] * solution.y) ** 2))


def _row(name, build, reference, repeats, budget_seconds):
    """The row of the gradient function that ``build()`` returns (built inside the guard)."""

    def measure():
        (_, grad), seconds, extra = timed(build(), repeats, budget_seconds)
        if not np.all(np.isfinite(grad)):  # under XLA a failed solve gives NaN, no error
            return Result(name, note="non-finite gradient: a solve failed (XLA cannot raise)")
        agreement = float(np.max(np.abs(grad - reference) / np.abs(reference)))
        return Result(name, seconds=seconds, compile_seconds=extra, error=agreement)

    return guarded(name, measure)


def ode_keras_gradient(method, path, jit_compile):
    """A function of no arguments computing ``(loss, grad)`` with ode_keras's ``path``."""
    import tensorflow as tf

    from ode_keras import odeint

    log_k = tf.Variable(LOG_RATES, dtype=tf.float64)
    times = tf.constant((0.0, *TIMES), tf.float64)
    weights = tf.constant(WEIGHTS, tf.float64)

    def func(t, y):
        return problems.robertson_rhs(y, tf.stack, tuple(tf.unstack(tf.exp(log_k))))

    @tf.function(jit_compile=jit_compile)
    def value_and_grad():
        with tf.GradientTape() as tape:
            ys = odeint(func, tf.constant([1.0, 0.0, 0.0], tf.float64), times, method=method,
                        rtol=RTOL, atol=ATOL, options={"max_num_steps": problems.MAX_STEPS},
                        gradient=path)
            loss = tf.reduce_sum(tf.square(ys[1:] * weights))
        return loss, tape.gradient(loss, log_k)

    return lambda: tuple(v.numpy() for v in value_and_grad())


def tfp_gradient():
    """``(loss, grad)`` by TFP's ``BDF`` (its gradient is always its adjoint)."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    solver = tfp.math.ode.BDF(rtol=RTOL, atol=ATOL, max_num_steps=problems.MAX_STEPS)
    times = tf.constant(TIMES, tf.float64)
    weights = tf.constant(WEIGHTS, tf.float64)

    def ode_fn(t, y, log_k):
        return problems.robertson_rhs(y, tf.stack, tuple(tf.unstack(tf.exp(log_k))))

    @tf.function
    def value_and_grad(log_k):
        with tf.GradientTape() as tape:
            tape.watch(log_k)
            ys = solver.solve(ode_fn, tf.constant(0.0, tf.float64),
                              tf.constant([1.0, 0.0, 0.0], tf.float64), solution_times=times,
                              constants={"log_k": log_k}).states
            loss = tf.reduce_sum(tf.square(ys * weights))
        return loss, tape.gradient(loss, log_k)

    log_k = tf.constant(LOG_RATES, tf.float64)
    return lambda: tuple(v.numpy() for v in value_and_grad(log_k))


def run(method, repeats, budget_seconds, with_diffrax=True):
    """The gradient rows: ode_keras's three paths with ``method``, TFP's BDF, diffrax's two."""
    import _stiff_diffrax

    _, reference = reference_gradient()
    rows = []
    for path in ("backprop", "checkpoint", "adjoint"):
        for jit_compile in (False, True):
            name = f"ode_keras {method} {path}" + (", XLA" if jit_compile else "")
            build = functools.partial(ode_keras_gradient, method, path, jit_compile)
            rows.append(_row(name, build, reference, repeats, budget_seconds))
    rows.append(_row("TFP BDF (adjoint)", tfp_gradient, reference, repeats, budget_seconds))
    for adjoint, label in (("checkpoint", "RecursiveCheckpointAdjoint"),
                           ("backsolve", "BacksolveAdjoint")):
        if with_diffrax:
            build = functools.partial(_stiff_diffrax.robertson_gradient, LOG_RATES, TIMES,
                                      WEIGHTS, RTOL, ATOL, adjoint)
            rows.append(_row(f"diffrax Kvaerno5 {label}", build, reference, repeats,
                             budget_seconds))
    return reference, rows
