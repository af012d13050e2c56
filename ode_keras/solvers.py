"""The method registry: ``SOLVERS``, :func:`get_solver` and the generic :func:`rk_step`.

Every method is a :class:`~ode_keras.tableaus.ButcherTableau` run by
:func:`rk_step`, driven by a fixed-step or an adaptive driver (private modules
``_fixed`` and ``_adaptive``, one ``tf.while_loop`` each). A solver integrates a
tuple-valued state over increasing times (``odeint`` flips decreasing times
before calling it), so the same code runs eagerly, in ``tf.function`` and under
XLA.

``SOLVERS`` maps each method name to its solver; it is the one list of methods:
``RK_SOLVERS``, generated from :data:`ode_keras.tableaus.ALL_TABLEAUS`, and
``"scipy_solver"`` (SciPy's ``solve_ivp``, eager only and not differentiable; see
the private module ``_scipy``), which is no Runge-Kutta tableau.
"""

from ode_keras import implicit_tableaus, rosenbrock_tableaus, tableaus
from ode_keras._adams_fixed import FixedAdamsSolver
from ode_keras._adams_variable import VariableAdamsSolver
from ode_keras._adaptive import AdaptiveSolver
from ode_keras._fixed import FixedStepSolver
from ode_keras._implicit import ImplicitSolver
from ode_keras._rosenbrock import RosenbrockSolver
from ode_keras._runge_kutta import rk_step
from ode_keras._scipy import ScipySolver

__all__ = ["ADAMS_SOLVERS", "RK_SOLVERS", "SOLVERS", "AdaptiveSolver", "FixedStepSolver",
           "get_solver", "rk_step"]

RK_SOLVERS = {
    tableau.name: (AdaptiveSolver if tableau.adaptive else FixedStepSolver)(tableau)
    for tableau in tableaus.ALL_TABLEAUS
}
"""The Runge-Kutta methods by name (each solver has a ``tableau``)."""

ADAMS_SOLVERS = {
    "explicit_adams": FixedAdamsSolver(implicit=False),
    "implicit_adams": FixedAdamsSolver(implicit=True),
    "adams": VariableAdamsSolver(),
}
"""The multistep Adams methods by name: Adams-Bashforth and Adams-Bashforth-Moulton on
fixed steps, and the variable-step, variable-order Adams-Bashforth-Moulton."""

ROSENBROCK_SOLVERS = {
    tableau.name: RosenbrockSolver(tableau)
    for tableau in rosenbrock_tableaus.ALL_ROSENBROCK_TABLEAUS
}
"""The Rosenbrock methods by name (linearly implicit, for stiff problems): ``rodas5p``."""

IMPLICIT_SOLVERS = {
    tableau.name: ImplicitSolver(tableau) for tableau in implicit_tableaus.ALL_IMPLICIT_TABLEAUS
}
"""The implicit Runge-Kutta (ESDIRK) methods by name, for stiff problems: ``kvaerno3``,
``kvaerno4``, ``kvaerno5`` (adaptive, L-stable), ``implicit_euler`` and ``trapezoid``
(fixed step)."""

SOLVERS = {**RK_SOLVERS, **ADAMS_SOLVERS, **ROSENBROCK_SOLVERS, **IMPLICIT_SOLVERS,
           "scipy_solver": ScipySolver()}
"""Every method by name: ``euler``, ``midpoint``, ``heun``, ``heun3``, ``rk4``,
``rk4_38`` (fixed step) and ``adaptive_heun``, ``fehlberg2``, ``bosh3``, ``dopri5``,
``tsit5``, ``dopri8`` (adaptive), the Adams methods ``explicit_adams``,
``implicit_adams`` (fixed step) and ``adams`` (adaptive step and order), the
Rosenbrock method ``rodas5p`` and the ESDIRK methods ``kvaerno3``, ``kvaerno4``,
``kvaerno5``, ``implicit_euler``, ``trapezoid`` (stiff problems), and
``scipy_solver`` (eager only)."""


def get_solver(name, argname="method"):
    """The solver registered as ``name``, checked as the argument ``argname``.

    Args:
        name: A method name, a key of :data:`SOLVERS`.
        argname: The name of the argument that held ``name``, quoted in errors
            (``"method"``, ``"adjoint_method"``). Defaults to ``"method"``.

    Returns:
        The solver (a ``FixedStepSolver``, an ``AdaptiveSolver`` or, for
        ``"scipy_solver"``, a ``ScipySolver``).

    Raises:
        TypeError: If ``name`` is not a string.
        ValueError: If no method has that name; the message lists them all.

    Example:
        >>> get_solver("rk4").order
        4
        >>> get_solver("rk45", "adjoint_method")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Invalid adjoint_method 'rk45'; must be one of ['adams', 'adaptive_heun', ...
    """
    if isinstance(name, str) and name in SOLVERS:
        return SOLVERS[name]
    error = ValueError if isinstance(name, str) else TypeError
    raise error(
        f"Invalid {argname} {name!r}; must be one of {sorted(SOLVERS)}. "
        f"Received: {argname}={name!r}."
    )
