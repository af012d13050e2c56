"""One ESDIRK step: the explicit first stage, then one Newton solve per implicit stage.

The stage derivatives come from the stage values, ``k_i = (Z_i - psi_i) / (gamma h)``,
not from new evaluations of ``f``: ``f(Z_i)`` would multiply the Newton error of the stiff
components by ``|h J|`` (Hairer & Wanner, *Solving ODEs II*, section IV.8), the formula
only by ``1 / (gamma h)``, and it saves an evaluation per stage. A stiffly accurate
method's last stage is then ``y1`` itself, and its ``k`` the derivative there: the next
step's explicit first stage, for free.
"""

import collections

import tensorflow as tf

from ode_keras import _newton, _state

StepResult = collections.namedtuple(
    "StepResult", "y1 f1 error stages converged rate eta iterations overflowed")
StepResult.__doc__ = """``y1``, the derivative ``f1`` at ``t0 + h`` (the last stage), the
embedded error estimate (None for fixed-step methods), the stage derivatives, whether
every stage converged, the worst Newton rate, the last ``eta``, the iterations spent, and
whether a stage's Newton iterates overflowed."""


def esdirk_step(tableau, system, t, y, f0, h, eta, skip):
    """One step of size ``h`` from ``(t, y)`` with first stage ``f0``.

    Args:
        tableau: An :class:`~ode_keras.implicit_tableaus.ESDIRKTableau`.
        system: The step's :class:`~ode_keras._newton.StageSystem` (LU of ``I - gamma h J``).
        t, h: Scalar time and step (the times' dtype).
        y, f0: Tuple state at ``t`` and ``func(t, y)``.
        eta: The previous Newton solve's ``eta``.
        skip: Scalar bool: do not iterate at all (the iteration matrix is singular).

    Returns:
        A :class:`StepResult`.
    """
    h_gamma = tableau.gamma * h
    stages, failed, overflowed = [f0], skip, tf.constant(False)
    rate = tf.zeros_like(tf.cast(eta, tf.float64))
    iterations = tf.constant(0)
    z = y
    for c_i, row in zip(tableau.c[1:], tableau.a):
        psi = _state.axpy_sum(y, h, stages, row[:-1])
        # The first iterate takes the previous stage's derivative for this one's.
        guess = _state.axpy_sum(psi, h_gamma, [stages[-1]], [1.0])
        result = _newton.solve_stage(system, t + c_i * h, h_gamma, psi, guess, eta, failed)
        z = result.z
        stages.append(tuple((zi - p) / tf.cast(h_gamma, zi.dtype) for zi, p in zip(z, psi)))
        failed = failed | ~result.converged
        overflowed = overflowed | result.overflowed
        rate = tf.maximum(rate, tf.cast(result.rate, rate.dtype))
        eta, iterations = result.eta, iterations + result.iterations
    y1 = z if tableau.stiffly_accurate else _state.axpy_sum(y, h, stages, tableau.b)
    error = (_state.weighted_sum(h, stages, tableau.b_error) if tableau.adaptive else None)
    return StepResult(y1, stages[-1], error, stages, ~failed, rate, eta, iterations,
                      overflowed)
