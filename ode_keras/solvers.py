"""Runge-Kutta solvers: one generic step, a fixed-step and an adaptive driver.

Every method is a :class:`~ode_keras.tableaus.ButcherTableau` run by
:func:`rk_step`. A solver integrates a tuple-valued state over increasing times
(``odeint`` flips decreasing times before calling it) inside ``tf.while_loop``s,
so the same code runs eagerly, in ``tf.function`` and under XLA.

``SOLVERS`` maps each method name to its solver; it is the one list of methods.
"""

from ode_keras import _adaptive_loop, _fixed_step_loop, _tuple_ops, tableaus


def rk_step(tableau, func, t, y, f0, h):
    """One explicit Runge-Kutta step of size ``h`` from ``(t, y)``.

    Args:
        tableau: The method.
        func: ``func(t, y) -> dy/dt`` on tuple states.
        t: Scalar start time.
        y: Tuple state at ``t``.
        f0: ``func(t, y)``, the first stage, already evaluated by the caller.
        h: Scalar step size.

    Returns:
        ``(y1, stages)``: the new state and the list of stage derivatives. For
        FSAL methods the last stage is ``func(t + h, y1)``.
    """
    stages = [f0]
    y_stage = y
    for c_i, row in zip(tableau.c[1:], tableau.a):
        y_stage = _tuple_ops.axpy_sum(y, h, stages, row)
        stages.append(func(t + c_i * h, y_stage))
    # For FSAL methods the last stage was evaluated at y1 itself.
    y1 = y_stage if tableau.fsal else _tuple_ops.axpy_sum(y, h, stages, tableau.b)
    return y1, stages


class FixedStepSolver:
    """Runs a tableau with a prescribed step size or on a user grid.

    Options: ``step_size`` (each output interval is cut into the fewest equal
    steps no longer than it, so steps end exactly on the output times) or
    ``grid`` (the steps go through every grid point and every output time),
    and ``max_num_steps``.
    """

    option_names = ("step_size", "grid", "max_num_steps")

    def __init__(self, tableau):
        self.tableau = tableau

    @property
    def order(self):
        """Order of accuracy of the method."""
        return self.tableau.order

    def integrate(self, func, y0, f0, t, *, rtol, atol, options):
        """Solve on increasing times ``t``; returns ``(ys, t_reached, stats)``."""
        del f0, rtol, atol  # every step evaluates its own first stage
        return _fixed_step_loop.integrate(self, func, y0, t, options)

    def step(self, func, t, y, h):
        """One step from ``(t, y)``; returns the new state."""
        y1, _ = rk_step(self.tableau, func, t, y, func(t, y), h)
        return y1

    @property
    def evaluations_per_step(self):
        """Number of ``func`` evaluations per step."""
        return self.tableau.num_stages


class AdaptiveSolver:
    """Runs an embedded tableau with error control and dense output.

    Options: ``first_step``, ``max_num_steps``, ``min_step``, ``max_step`` and
    ``norm`` (a callable mapping the tuple of scaled errors to a scalar).

    Output times inside a step come from its interpolant (4th order with
    midpoint weights, else 3rd-order Hermite). When that interpolant is less
    accurate than the method's error estimate (dopri8), steps stop at every
    output time instead, so the outputs keep the method's accuracy.
    """

    option_names = ("first_step", "max_num_steps", "min_step", "max_step", "norm")

    def __init__(self, tableau):
        self.tableau = tableau
        interpolation_order = 4 if tableau.b_mid else 3
        self.stop_at_outputs = interpolation_order < tableau.order - 1

    @property
    def order(self):
        """Order of accuracy of the propagated solution."""
        return self.tableau.order

    @property
    def evaluations_per_step(self):
        """``func`` evaluations per attempted step (one fewer for FSAL methods)."""
        return self.tableau.num_stages - (1 if self.tableau.fsal else 0)

    def integrate(self, func, y0, f0, t, *, rtol, atol, options):
        """Solve on increasing times ``t``; returns ``(ys, t_reached, stats)``."""
        return _adaptive_loop.integrate(self, func, y0, f0, t, rtol, atol, options)

    def attempt(self, func, t, y, f0, h):
        """One trial step; returns ``(y1, f1, error, stages)`` with ``f1 = func(t + h, y1)``."""
        y1, stages = rk_step(self.tableau, func, t, y, f0, h)
        f1 = stages[-1] if self.tableau.fsal else func(t + h, y1)
        error = _tuple_ops.weighted_sum(h, stages, self.tableau.b_error)
        return y1, f1, error, stages


SOLVERS = {
    tableau.name: (AdaptiveSolver if tableau.adaptive else FixedStepSolver)(tableau)
    for tableau in tableaus.ALL_TABLEAUS
}
"""Every method by name: ``euler``, ``midpoint``, ``heun``, ``rk4``, ``rk4_38``
(fixed step) and ``adaptive_heun``, ``fehlberg2``, ``bosh3``, ``dopri5``,
``tsit5``, ``dopri8`` (adaptive)."""
