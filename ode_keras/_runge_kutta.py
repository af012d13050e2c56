"""The one generic explicit Runge-Kutta step that runs every tableau.

Public as :func:`ode_keras.solvers.rk_step`; it lives here, below the drivers,
so that the drivers and the registry that builds them import it without a cycle.
"""

from ode_keras import _one_sided, _state


def rk_step(tableau, func, t, y, f0, h, t_end=None, end_side=0):
    """One explicit Runge-Kutta step of size ``h`` from ``(t, y)``.

    Args:
        tableau: The method, a :class:`~ode_keras.tableaus.ButcherTableau`.
        func: ``func(t, y) -> dy/dt`` on tuple states.
        t: Scalar start time.
        y: Tuple state at ``t``.
        f0: ``func(t, y)``, the first stage, already evaluated by the caller.
        h: Scalar step size.
        t_end: The step's end time exactly (``t + h`` up to rounding), where the
            stages with ``c = 1`` are evaluated; defaults to ``t + h``.
        end_side: The side of ``t_end`` those stages see (-1 below, 0 none), for
            a ``func`` that takes one (see the private module ``_one_sided``).

    Returns:
        ``(y1, stages)``: the new state and the list of stage derivatives. For
        FSAL methods the last stage is ``func(t + h, y1)``.
    """
    stages = [f0]
    y_stage = y
    for c_i, row in zip(tableau.c[1:], tableau.a):
        y_stage = _state.axpy_sum(y, h, stages, row)
        if c_i == 1.0 and t_end is not None:  # on the step's end, maybe a jump
            stages.append(_one_sided.evaluate(func, t_end, y_stage, end_side))
        else:
            stages.append(func(t + c_i * h, y_stage))
    # For FSAL methods the last stage was evaluated at y1 itself.
    y1 = y_stage if tableau.fsal else _state.axpy_sum(y, h, stages, tableau.b)
    return y1, stages
