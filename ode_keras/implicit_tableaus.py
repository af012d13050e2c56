"""Tableaus of the implicit Runge-Kutta methods (ESDIRK), as frozen and validated data.

An ESDIRK method (singly diagonally implicit, explicit first stage) has a lower-triangular
stage matrix whose first row is zero and whose diagonal is one constant ``gamma``: the
first stage is ``f(t0, y0)``, and each later stage ``Z_i`` solves one implicit equation

    Z_i = y0 + h * sum_{j<i} a_ij k_j + h * gamma * f(t0 + c_i h, Z_i),   k_i = f(.., Z_i),

all with the same iteration matrix ``I - gamma h J``, which is why one LU factorisation
serves every stage (private module ``ode_keras._newton``). The methods here are stiffly
accurate (``b`` is the last row of ``a``, so ``y1`` is the last stage's value) and
L-stable: their stability function vanishes at infinity, so stiff components are damped
in one step.

Conventions: ``a`` holds the rows of stages 2..s, diagonal entry included (row ``i`` has
``i + 2`` entries); ``b_error`` holds ``b - b_hat`` of an embedded solution ``b_hat``.
The adaptive methods are Kvaerno's (A. Kvaerno, *Singly diagonally implicit Runge-Kutta
methods with an explicit first stage*, BIT 44, 2004): each embedded solution is the
stage before the last, one order lower.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ode_keras.tableaus import _close  # one tolerance for every tableau's checks


@dataclasses.dataclass(frozen=True)
class ESDIRKTableau:
    """A singly diagonally implicit Runge-Kutta method with an explicit first stage.

    Args:
        name: The method's registry name, e.g. ``"kvaerno5"``.
        order: Order of accuracy of the propagated solution (``b``).
        gamma: The constant diagonal of the stage matrix (stages 2..s).
        c: Nodes, one per stage; ``c[0]`` must be 0 (the explicit stage).
        a: Rows of stages 2..s, diagonal included: row ``i`` has ``i + 2`` entries, ends
            with ``gamma`` and sums to ``c[i + 1]``.
        b: Solution weights, summing to 1.
        stiffly_accurate: Whether ``b`` equals the last row of ``a`` (checked).
        b_error: ``b - b_hat`` for an embedded solution one order lower (sums to 0);
            ``None`` for fixed-step methods.

    Raises:
        ValueError: If the arrays have inconsistent lengths or violate the
            conditions above.

    Example:
        >>> euler = ESDIRKTableau("implicit_euler", 1, gamma=1.0, c=(0, 1),
        ...                       a=((0, 1),), b=(0, 1))
        >>> euler.num_stages, euler.stiffly_accurate
        (2, True)
    """

    name: str
    order: int
    gamma: float
    c: tuple
    a: tuple
    b: tuple
    stiffly_accurate: bool = True
    b_error: tuple | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "gamma", float(self.gamma))
        set_(self, "c", tuple(float(v) for v in self.c))
        set_(self, "a", tuple(tuple(float(v) for v in row) for row in self.a))
        set_(self, "b", tuple(float(v) for v in self.b))
        if self.b_error is not None:
            set_(self, "b_error", tuple(float(v) for v in self.b_error))
        problem = self._problem()
        if problem:
            raise ValueError(f"Invalid ESDIRK tableau {self.name!r}: {problem}.")

    def _problem(self):
        """What is wrong with the tableau, or None."""
        s = len(self.c)
        if not isinstance(self.order, int) or self.order < 1:
            return f"order must be a positive int, got {self.order!r}"
        if s < 2 or self.c[0] != 0.0:
            return f"c must have at least 2 entries and start with 0, got c={self.c}"
        if len(self.a) != s - 1 or any(len(r) != i + 2 for i, r in enumerate(self.a)):
            return f"a must have {s - 1} rows (stages 2..{s}), row i with i + 2 entries"
        if not self.gamma > 0 or any(not _close(r[-1], self.gamma) for r in self.a):
            return f"the diagonal must be the constant gamma > 0, got gamma={self.gamma}"
        if any(not _close(math.fsum(r), ci) for r, ci in zip(self.a, self.c[1:])):
            return "each row of a must sum to its node c"
        if len(self.b) != s or not _close(math.fsum(self.b), 1.0):
            return f"b must have {s} entries summing to 1"
        if self.stiffly_accurate != all(_close(x, y) for x, y in zip(self.b, self.a[-1])):
            return f"stiffly_accurate={self.stiffly_accurate} but b is " + (
                "not" if self.stiffly_accurate else "") + " the last row of a"
        if self.b_error is not None and (
                len(self.b_error) != s or not _close(math.fsum(self.b_error), 0.0)):
            return f"b_error must have {s} entries summing to 0"
        return None

    @property
    def num_stages(self) -> int:
        """Number of stages ``s``, the explicit first one included."""
        return len(self.c)

    @property
    def adaptive(self) -> bool:
        """Whether the method carries an embedded error estimate."""
        return self.b_error is not None

    def stage_matrix(self) -> np.ndarray:
        """The full ``s x s`` stage matrix (first row zero)."""
        s = self.num_stages
        matrix = np.zeros((s, s))
        for i, row in enumerate(self.a, start=1):
            matrix[i, :len(row)] = row
        return matrix


def _embedded(a, row):
    """``b - b_hat`` for a stiffly accurate ``b`` and the embedded solution ``a[row]``."""
    b, b_hat = a[-1], tuple(a[row]) + (0.0,) * (len(a[-1]) - len(a[row]))
    return tuple(x - y for x, y in zip(b, b_hat))


IMPLICIT_EULER = ESDIRKTableau(
    "implicit_euler", 1, gamma=1.0, c=(0.0, 1.0), a=((0.0, 1.0),), b=(0.0, 1.0))
"""Backward Euler, ``y1 = y0 + h f(t0 + h, y1)``; the first stage only starts the guess."""

TRAPEZOID = ESDIRKTableau(
    "trapezoid", 2, gamma=0.5, c=(0.0, 1.0), a=((0.5, 0.5),), b=(0.5, 0.5))
"""The trapezoidal rule (Crank-Nicolson): A-stable, not L-stable (stiff modes oscillate)."""


def _kvaerno3():
    # gamma: the root of 6 g^3 - 18 g^2 + 9 g - 1 that makes the method L-stable.
    g = 0.435866521508459
    a31, a32 = (-4 * g * g + 6 * g - 1) / (4 * g), (1 - 2 * g) / (4 * g)
    a41, a42 = (6 * g - 1) / (12 * g), -1 / ((24 * g - 12) * g)
    a43 = (-6 * g * g + 6 * g - 1) / (6 * g - 3)
    a = ((g, g), (a31, a32, g), (a41, a42, a43, g))
    return ESDIRKTableau("kvaerno3", 3, gamma=g, c=(0.0, 2 * g, 1.0, 1.0), a=a, b=a[-1],
                         b_error=_embedded(a, 1))


def _kvaerno4():
    g = 0.5728160624821349  # Kvaerno's gamma of the 4/3 pair advancing the 4th order

    def poly(*coefficients):
        return np.polyval(coefficients, g)

    a31 = poly(144, -180, 81, -15, 1) * g / poly(12, -6, 1) ** 2
    a32 = poly(-36, 39, -15, 2) * g / poly(12, -6, 1) ** 2
    a41 = poly(-144, 396, -330, 117, -18, 1) / (12 * g**2 * poly(12, -9, 2))
    a42 = poly(72, -126, 69, -15, 1) / (12 * g**2 * poly(3, -1))
    a43 = poly(-6, 6, -1) * poly(12, -6, 1) ** 2 / (
        12 * g**2 * poly(12, -9, 2) * poly(3, -1))
    a51 = poly(288, -312, 120, -18, 1) / (48 * g**2 * poly(12, -9, 2))
    a52 = poly(24, -12, 1) / (48 * g**2 * poly(3, -1))
    a53 = -poly(12, -6, 1) ** 3 / (
        48 * g**2 * poly(3, -1) * poly(12, -9, 2) * poly(6, -6, 1))
    a54 = poly(-24, 36, -12, 1) / poly(24, -24, 4)
    a = ((g, g), (a31, a32, g), (a41, a42, a43, g), (a51, a52, a53, a54, g))
    c = (0.0, 2 * g, a31 + a32 + g, 1.0, 1.0)
    return ESDIRKTableau("kvaerno4", 4, gamma=g, c=c, a=a, b=a[-1], b_error=_embedded(a, 2))


def _kvaerno5():
    g = 0.26
    a = ((g, g),
         (0.13, 0.84033320996790809, g),
         (0.22371961478320505, 0.47675532319799699, -0.06470895363112615, g),
         (0.16648564323248321, 0.10450018841591720, 0.03631482272098715,
          -0.13090704451073998, g),
         (0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141,
          0.61943039072480676, g),
         (0.13659751177640291, 0.0, -0.05496908796538376, -0.04118626728321046,
          0.62993304899016403, 0.06962479448202728, g))
    c = (0.0, *(math.fsum(row) for row in a))
    return ESDIRKTableau("kvaerno5", 5, gamma=g, c=c, a=a, b=a[-1], b_error=_embedded(a, 4))


KVAERNO3 = _kvaerno3()
"""Kvaerno's 3(2) pair: 4 stages, L-stable, stiffly accurate."""

KVAERNO4 = _kvaerno4()
"""Kvaerno's 4(3) pair: 5 stages, L-stable, stiffly accurate."""

KVAERNO5 = _kvaerno5()
"""Kvaerno's 5(4) pair: 7 stages, L-stable, stiffly accurate."""

ALL_IMPLICIT_TABLEAUS = (IMPLICIT_EULER, TRAPEZOID, KVAERNO3, KVAERNO4, KVAERNO5)
"""Every implicit tableau; ``SOLVERS`` registers each under its name."""
