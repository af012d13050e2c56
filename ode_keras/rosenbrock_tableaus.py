"""Rosenbrock methods as frozen, validated data: the transformed coefficients of a tableau.

A Rosenbrock method (Hairer & Wanner, *Solving Ordinary Differential Equations II*,
section IV.7) replaces the Newton iterations of an implicit Runge-Kutta method by one
linear solve per stage with the matrix ``I - gamma h J``, ``J`` the Jacobian at the start
of the step. In the transformed variables ``u_i = sum_j gamma_ij k_j`` (their eq. (7.25))
the matrix-vector products with ``J`` disappear from the stages:

    (I / (gamma h) - J) u_i = f(t0 + c_i h, y0 + sum_j a_ij u_j)
                              + sum_j (C_ij / h) u_j + d_i h df/dt(t0, y0),
    y1 = y0 + sum_i m_i u_i,       error estimate  sum_i e_i u_i,

so a step costs one Jacobian, one LU factorisation of ``I - gamma h J`` and ``s``
triangular solves. The coefficients here are those transformed ones (``a``, ``C``, the
nodes ``c``, ``d``, the weights ``m``, the error weights ``e``), as Hairer & Wanner and
OrdinaryDiffEq.jl state them, plus the rows of the continuous extension ``H``: with
``k_r = sum_i H_ri u_i``, the solution inside the step is

    y(t0 + theta h) = (1 - theta) y0 + theta (y1 + (1 - theta) (k_1 + theta (k_2 + theta k_3))).

The order conditions (rooted trees, with gamma) are checked in
``tests/ode_keras/test_rosenbrock.py``; here, construction checks what the transformation
itself implies: ``c`` and ``d`` are the row sums of the untransformed ``alpha`` and
``Gamma`` recovered from ``a`` and ``C``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

_TOLERANCE = 1e-12


@dataclasses.dataclass(frozen=True)
class RosenbrockTableau:
    """A Rosenbrock method with an embedded error estimate and dense output.

    Args:
        name: The registry name, e.g. ``"rodas5p"``.
        order: Order of the solution ``y1``.
        embedded_order: Order of the embedded solution ``y1 - sum_i e_i u_i``.
        gamma: The diagonal entry of ``Gamma``, shared by every stage.
        a: Rows of stages 2..s of the transformed stage matrix (row ``i`` has ``i + 1``
            entries).
        C: Rows of stages 2..s of the transformed coupling matrix, shaped like ``a``.
        c: Nodes, one per stage (``c[0] == 0``).
        d: ``gamma_i``, the row sums of ``Gamma`` (they weight ``h df/dt``).
        m: Solution weights.
        e: Error weights: the local error estimate is ``sum_i e_i u_i``.
        H: Rows of the continuous extension (see the module docstring), each with
            ``s`` entries.

    Raises:
        ValueError: If the arrays have inconsistent shapes, or ``c`` and ``d`` are not the
            row sums the transformation implies.

    Example:
        >>> RODAS5P.num_stages, RODAS5P.order
        (8, 5)
    """

    name: str
    order: int
    embedded_order: int
    gamma: float
    a: tuple
    C: tuple  # noqa: N815 - the matrix's name in the literature
    c: tuple
    d: tuple
    m: tuple
    e: tuple
    H: tuple  # noqa: N815

    def __post_init__(self):
        set_ = object.__setattr__
        for field in ("a", "C", "H"):
            set_(self, field, tuple(tuple(float(v) for v in row) for row in getattr(self, field)))
        for field in ("c", "d", "m", "e"):
            set_(self, field, tuple(float(v) for v in getattr(self, field)))
        set_(self, "gamma", float(self.gamma))
        problem = self._shape_problem() or self._sum_problem()
        if problem:
            raise ValueError(f"Invalid Rosenbrock tableau {self.name!r}: {problem}.")

    def _shape_problem(self):
        s = len(self.c)
        if not (isinstance(self.order, int) and 1 <= self.embedded_order < self.order):
            return f"need orders 1 <= embedded_order < order, got {self.embedded_order}, " \
                   f"{self.order}"
        if s < 2 or self.c[0] != 0.0 or not self.gamma > 0:
            return "need at least 2 stages, c[0] == 0 and gamma > 0"
        for field in ("a", "C"):
            rows = getattr(self, field)
            if len(rows) != s - 1 or any(len(r) != i + 1 for i, r in enumerate(rows)):
                return f"{field} must hold the {s - 1} rows of stages 2..{s}, row i with " \
                       "i + 1 entries"
        if any(len(v) != s for v in (self.d, self.m, self.e, *self.H)) or len(self.H) != 3:
            return f"d, m, e and the 3 rows of H must have {s} entries each"
        return None

    def _sum_problem(self):
        alpha, gamma_matrix = self.untransformed()
        if not np.allclose(alpha.sum(axis=1), self.c, rtol=0, atol=_TOLERANCE * 100):
            return "c must be the row sums of alpha = a Gamma"
        if not np.allclose(gamma_matrix.sum(axis=1), self.d, rtol=0, atol=_TOLERANCE * 100):
            return "d must be the row sums of Gamma = (diag(1/gamma) - C)^-1"
        return None

    @property
    def num_stages(self) -> int:
        """Number of stages ``s`` (linear solves and evaluations of ``func`` per step)."""
        return len(self.c)

    def matrix(self, field):
        """The strictly lower-triangular ``[s, s]`` NumPy matrix of ``"a"`` or ``"C"``."""
        s = self.num_stages
        result = np.zeros((s, s))
        for i, row in enumerate(getattr(self, field), start=1):
            result[i, :len(row)] = row
        return result

    def untransformed(self):
        """``(alpha, Gamma)``, the coefficients of the method before the transformation.

        ``Gamma^-1 = diag(1/gamma) - C`` and ``alpha = a Gamma`` (Hairer & Wanner II,
        eq. (7.24)); the order conditions are stated in these.
        """
        s = self.num_stages
        gamma_matrix = np.linalg.inv(np.eye(s) / self.gamma - self.matrix("C"))
        return self.matrix("a") @ gamma_matrix, gamma_matrix


def _last_row_then_one(rows):
    """Stiffly accurate methods: ``m`` is the last stage's row of ``a`` and then 1."""
    return (*rows[-1], 1.0)


_RODAS5P_A = (
    (3.0,),
    (2.849394379747939, 0.45842242204463923),
    (-6.954028509809101, 2.489845061869568, -10.358996098473584),
    (2.8029986275628964, 0.5072464736228206, -0.3988312541770524, -0.04721187230404641),
    (-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256,
     0.030198172008377946),
    (-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256,
     0.030198172008377946, 1.0),
    (-7.502846399306121, 2.561846144803919, -11.627539656261098, -0.18268767659942256,
     0.030198172008377946, 1.0, 1.0),
)

RODAS5P = RosenbrockTableau(
    name="rodas5p", order=5, embedded_order=4, gamma=0.21193756319429014,
    a=_RODAS5P_A,
    C=(
        (-14.155112264123755,),
        (-17.97296035885952, -2.859693295451294),
        (147.12150275711716, -1.41221402718213, 71.68940251302358),
        (165.43517024871676, -0.4592823456491126, 42.90938336958603, -5.961986721573306),
        (24.854864614690072, -3.0009227002832186, 47.4931110020768, 5.5814197821558125,
         -0.6610691825249471),
        (30.91273214028599, -3.1208243349937974, 77.79954646070892, 34.28646028294783,
         -19.097331116725623, -28.087943162872662),
        (37.80277123390563, -3.2571969029072276, 112.26918849496327, 66.9347231244047,
         -40.06618937091002, -54.66780262877968, -9.48861652309627),
    ),
    c=(0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716, 0.4288403609558664,
       1.0, 1.0, 1.0),
    d=(0.21193756319429014, -0.42387512638858027, -0.3384627126235924, 1.8046452872882734,
       2.325825639765069, 0.0, 0.0, 0.0),
    m=_last_row_then_one(_RODAS5P_A),
    # The embedded solution is the last stage's argument: y1 minus the last increment.
    e=(0.0,) * 7 + (1.0,),
    H=(
        (25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204,
         0.524948541321073, 1.1241088310450404, 0.4272876194431874, -0.17202221070155493),
        (-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796,
         20.176138334709044, 15.98066361424651, -6.789040303419874, -6.710236069923372),
        (11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643,
         -52.072871366152654, -59.78993625266729, -0.15582684282751913, 4.883087185713722),
    ),
)
"""Rodas5P (Steinebach 2023, *BIT Numer. Math.* 63:27): 8 stages, order 5 with an
embedded order-4 solution, both L-stable and stiffly accurate, and a continuous
extension of order 4. Coefficients as OrdinaryDiffEq.jl states them."""

ALL_ROSENBROCK_TABLEAUS = (RODAS5P,)
"""Every Rosenbrock tableau; ``SOLVERS`` registers one solver per entry."""
