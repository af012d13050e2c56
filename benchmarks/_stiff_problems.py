"""The stiff benchmark's problems, their SciPy reference solutions and the error measure.

Three classics of the Hairer-Wanner test set, each written once as a right-hand side that
takes the array library's ``stack`` (NumPy, TensorFlow and JAX index and multiply alike), so
every solver in the benchmark integrates the same equations:

- ``robertson``: Robertson's chemical kinetics (ROBER), 3 species, rates k1=0.04, k2=3e7,
  k3=1e4, y0 = (1, 0, 0), t in [0, 1e5], outputs at 0 and 21 log-spaced times from 1e-5.
  atol = 1e-6 rtol: y2 stays below 4e-5, so a plain atol = rtol would leave it unchecked.
- ``van_der_pol``: van der Pol at mu = 1000 in Hairer's scaled form (VDPOL): t is the
  classic time divided by mu, y2 = y1' scaled likewise, eps = 1/mu**2 = 1e-6, so
  ``y1' = y2, y2' = ((1 - y1**2) y2 - y1) / eps``, y0 = (2, 0), t in [0, 2] (2000 in
  the classic time: more than one period, two relaxation jumps; the test set's choice, whose
  published end values the tests check the reference against). States are O(1): atol = rtol.
- ``hires``: HIRES (plant physiology), 8 components, t in [0, 321.8122], outputs at 11
  equally spaced times. Components go down to 6e-5: atol = 1e-4 rtol.

The reference is SciPy's ``Radau`` at rtol 1e-12 with an absolute tolerance far below every
component (1e-6 of the problem's ratio), and the analytic Jacobian; it is computed once per
run (``functools.lru_cache``).
"""

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

REFERENCE_RTOL = 1e-12
MAX_STEPS = 20_000
"""Every solver's step budget, in the solves and the gradients alike."""
ROBERTSON_RATES = (0.04, 3e7, 1e4)


def robertson_rhs(y, stack, rates=ROBERTSON_RATES):
    """Robertson's kinetics ``dy/dt`` for a state ``y`` of 3 entries."""
    k1, k2, k3 = rates
    fast = k2 * y[1] * y[1]
    back = k3 * y[1] * y[2]
    return stack([-k1 * y[0] + back, k1 * y[0] - fast - back, fast])


def robertson_jacobian(y, rates=ROBERTSON_RATES):
    """The analytic Jacobian of :func:`robertson_rhs`, a NumPy ``[3, 3]`` array."""
    k1, k2, k3 = rates
    return np.array([[-k1, k3 * y[2], k3 * y[1]],
                     [k1, -2 * k2 * y[1] - k3 * y[2], -k3 * y[1]],
                     [0.0, 2 * k2 * y[1], 0.0]])


VDP_EPS = 1e-6


def van_der_pol_rhs(y, stack):
    """Hairer's scaled van der Pol ``dy/dt`` at eps = 1e-6 (mu = 1000)."""
    return stack([y[1], ((1.0 - y[0] * y[0]) * y[1] - y[0]) / VDP_EPS])


def van_der_pol_jacobian(y):
    """The analytic Jacobian of :func:`van_der_pol_rhs`."""
    return np.array([[0.0, 1.0],
                     [(-2.0 * y[0] * y[1] - 1.0) / VDP_EPS, (1.0 - y[0] ** 2) / VDP_EPS]])


def hires_rhs(y, stack):
    """HIRES's ``dy/dt`` for a state of 8 entries."""
    bind = 280.0 * y[5] * y[7]
    return stack([
        -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007,
        1.71 * y[0] - 8.75 * y[1],
        -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4],
        8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3],
        -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6],
        -bind + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6],
        bind - 1.81 * y[6],
        -bind + 1.81 * y[6],
    ])


def hires_jacobian(y):
    """The analytic Jacobian of :func:`hires_rhs` (linear but for the 280 y6 y8 term)."""
    jac = np.zeros((8, 8))
    jac[0, :3] = (-1.71, 0.43, 8.32)
    jac[1, :2] = (1.71, -8.75)
    jac[2, 2:5] = (-10.03, 0.43, 0.035)
    jac[3, 1:4] = (8.32, 1.71, -1.12)
    jac[4, 4:7] = (-1.745, 0.43, 0.43)
    jac[5, 3:7] = (0.69, 1.71, -0.43, 0.69)
    jac[6, 6] = -1.81
    jac[7, 6] = 1.81
    for row, sign in ((5, -1.0), (6, 1.0), (7, -1.0)):
        jac[row, 5] += sign * 280.0 * y[7]
        jac[row, 7] += sign * 280.0 * y[5]
    return jac


@dataclasses.dataclass(frozen=True)
class StiffProblem:
    """One benchmark problem.

    Attributes:
        name: Its name in the tables.
        rhs: ``rhs(y, stack) -> dy/dt`` for a 1-D state, in any array library.
        jacobian: ``jacobian(y)``, the analytic Jacobian as a NumPy array (SciPy's).
        y0: The initial state.
        times: The output times, ``times[0]`` the initial time.
        atol_ratio: ``atol = atol_ratio * rtol`` at every tolerance.
    """

    name: str
    rhs: Callable
    jacobian: Callable
    y0: tuple
    times: tuple
    atol_ratio: float

    def atol(self, rtol):
        """The absolute tolerance that goes with ``rtol``."""
        return self.atol_ratio * rtol

    def numpy_rhs(self, t, y):
        """``rhs`` in SciPy's signature ``f(t, y)``."""
        del t  # every problem here is autonomous
        return self.rhs(y, np.array)

    def numpy_jacobian(self, t, y):
        """``jacobian`` in SciPy's signature ``jac(t, y)``."""
        del t
        return self.jacobian(y)


PROBLEMS = {
    "robertson": StiffProblem(
        "robertson", robertson_rhs, robertson_jacobian, (1.0, 0.0, 0.0),
        (0.0, *np.logspace(-5.0, 5.0, 21)), 1e-6),
    "van_der_pol": StiffProblem(
        "van_der_pol", van_der_pol_rhs, van_der_pol_jacobian, (2.0, 0.0),
        tuple(np.linspace(0.0, 2.0, 11)), 1.0),
    "hires": StiffProblem(
        "hires", hires_rhs, hires_jacobian, (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057),
        tuple(np.linspace(0.0, 321.8122, 11)), 1e-4),
}
"""The problems by name, in the order of the tables."""


@functools.cache
def reference(name):
    """The reference solution of ``PROBLEMS[name]`` at its times, ``[len(times), n]``."""
    problem = PROBLEMS[name]
    solution = solve_ivp(problem.numpy_rhs, (problem.times[0], problem.times[-1]),
                         np.array(problem.y0), method="Radau", t_eval=problem.times,
                         rtol=REFERENCE_RTOL, atol=problem.atol(REFERENCE_RTOL) * 1e-6,
                         jac=problem.numpy_jacobian)
    if not solution.success:
        raise RuntimeError(f"the reference solve of {name} failed: {solution.message}")
    return solution.y.T


def error(problem, ys, rtol):
    """The largest error of ``ys`` against the reference, relative above ``atol / rtol``.

    ``max |y - y_ref| / (|y_ref| + atol / rtol)`` over every output time and component: a
    relative error, which becomes absolute (scaled by ``rtol / atol``) where a component is
    smaller than the level at which the tolerances switch from relative to absolute. A solve
    that met its tolerance everywhere scores about ``rtol`` (global errors may exceed the local
    tolerance by a modest factor). NaN in ``ys`` gives NaN.
    """
    ref = reference(problem.name)
    ys = np.asarray(ys, dtype=np.float64).reshape(ref.shape)
    return float(np.max(np.abs(ys - ref) / (np.abs(ref) + problem.atol(rtol) / rtol)))
