"""The one generic explicit Runge-Kutta step that runs every tableau.

Public as :func:`ode_keras.solvers.rk_step`; it lives here, below the drivers,
so that the drivers and the registry that builds them import it without a cycle.
"""

from ode_keras import _state


def rk_step(tableau, func, t, y, f0, h):
    """One explicit Runge-Kutta step of size ``h`` from ``(t, y)``.

    Args:
        tableau: The method, a :class:`~ode_keras.tableaus.ButcherTableau`.
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
        y_stage = _state.axpy_sum(y, h, stages, row)
        stages.append(func(t + c_i * h, y_stage))
    # For FSAL methods the last stage was evaluated at y1 itself.
    y1 = y_stage if tableau.fsal else _state.axpy_sum(y, h, stages, tableau.b)
    return y1, stages
