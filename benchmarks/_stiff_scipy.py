"""SciPy's stiff solvers (``Radau``, ``BDF``, ``LSODA``) on a benchmark problem.

``solve_ivp`` with the problem's analytic Jacobian (SciPy's best use; the other solvers
differentiate the right-hand side automatically) and ``dense_output=True``: the solver runs
its own steps and the outputs come from its interpolant, as for the other solvers. Accepted
steps are the points of ``sol.t``; SciPy does not count rejected steps.
"""

import _stiff_problems as problems
import numpy as np
from _stiff_timing import Result, guarded, timed
from scipy.integrate import solve_ivp

METHODS = ("Radau", "BDF", "LSODA")


def _solve(problem, method, rtol):
    solution = solve_ivp(problem.numpy_rhs, (problem.times[0], problem.times[-1]),
                         np.array(problem.y0), method=method, rtol=rtol,
                         atol=problem.atol(rtol), jac=problem.numpy_jacobian, dense_output=True)
    if not solution.success:
        raise RuntimeError(solution.message)
    ys = solution.sol(np.array(problem.times)).T
    ys[0] = problem.y0
    return ys, solution


def run(problem, method, rtol, repeats, budget_seconds):
    """The :class:`Result` of SciPy's ``method`` on ``problem`` at ``rtol``."""
    name = f"SciPy {method}"

    def measure():
        (ys, solution), seconds, extra = timed(lambda: _solve(problem, method, rtol),
                                               repeats, budget_seconds)
        return Result(name, steps=len(solution.t) - 1, nfe=int(solution.nfev),
                      jacobians=int(solution.njev), factorizations=int(solution.nlu),
                      seconds=seconds, compile_seconds=extra,
                      error=problems.error(problem, ys, rtol))

    return guarded(name, measure)
