"""Butcher tableaus of explicit Runge-Kutta methods, as frozen and validated data.

A method is data: its tableau (nodes ``c``, stage matrix ``a``, weights ``b``),
the order of its solution and, for adaptive methods, the weights of an embedded
error estimate. One generic stepper (:func:`ode_keras.solvers.rk_step`) runs them all,
and ``SOLVERS`` is generated from ``ALL_TABLEAUS``: adding a method means adding
a tableau here and putting it in ``ALL_TABLEAUS``.

Conventions: ``a`` holds the strictly lower-triangular rows of stages 2..s
(row ``i`` has ``i`` entries); ``b_error`` holds ``b - b_hat``, so that the local
error estimate of a step of size ``h`` is ``h * sum_i b_error[i] * k_i``;
``b_mid`` holds the weights of the continuous extension at the middle of the
step, ``y(t0 + h/2) ~ y0 + h * sum_i b_mid[i] * k_i``, from which dense output
is fitted (by the private module ``ode_keras._dense_output``).
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction as F  # noqa: N817 - tableaus read as math

_TOLERANCE = 1e-12


def _floats(values):
    return tuple(float(v) for v in values)


def _close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE)


@dataclasses.dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge-Kutta method.

    Args:
        name: The method's registry name, e.g. ``"dopri5"``.
        order: Order of accuracy of the propagated solution (``b``).
        c: Nodes, one per stage; ``c[0]`` must be 0.
        a: Stage matrix as the rows of stages 2..s; row ``i`` has ``i + 1``
            entries and sums to ``c[i + 1]``.
        b: Solution weights, summing to 1.
        b_error: ``b - b_hat`` for an embedded lower-order solution ``b_hat``
            (sums to 0). ``None`` for fixed-step methods.
        b_mid: Weights of the solution at the step's midpoint (sum 1/2), used
            for 4th-order dense output. ``None`` falls back to cubic Hermite
            interpolation.

    Raises:
        ValueError: If the arrays have inconsistent lengths or violate the
            consistency conditions above.

    Example:
        >>> heun = ButcherTableau("heun", 2, c=(0, 1), a=((1,),), b=(0.5, 0.5))
        >>> heun.num_stages
        2
    """

    name: str
    order: int
    c: tuple
    a: tuple
    b: tuple
    b_error: tuple | None = None
    b_mid: tuple | None = None

    def __post_init__(self):
        # Normalise to tuples of floats, then check consistency once, here.
        set_ = object.__setattr__
        set_(self, "c", _floats(self.c))
        set_(self, "a", tuple(_floats(row) for row in self.a))
        set_(self, "b", _floats(self.b))
        for field in ("b_error", "b_mid"):
            if getattr(self, field) is not None:
                set_(self, field, _floats(getattr(self, field)))
        self._validate()

    def _validate(self):
        s = len(self.c)
        problem = None
        if not isinstance(self.order, int) or self.order < 1:
            problem = f"order must be a positive int, got {self.order!r}"
        elif s < 1 or self.c[0] != 0.0:
            problem = f"c must be non-empty and start with 0, got c={self.c}"
        elif len(self.a) != s - 1:
            problem = f"a must have {s - 1} rows (stages 2..{s}), got {len(self.a)}"
        elif any(len(row) != i + 1 for i, row in enumerate(self.a)):
            problem = "row i of a must have i + 1 entries (an explicit method)"
        elif any(not _close(math.fsum(row), ci) for row, ci in zip(self.a, self.c[1:])):
            problem = "each row of a must sum to its node c"
        elif len(self.b) != s or not _close(math.fsum(self.b), 1.0):
            problem = f"b must have {s} entries summing to 1"
        elif self.b_error is not None and (
            len(self.b_error) != s or not _close(math.fsum(self.b_error), 0.0)
        ):
            problem = f"b_error must have {s} entries summing to 0"
        elif self.b_mid is not None and (
            len(self.b_mid) != s or not math.isclose(math.fsum(self.b_mid), 0.5, abs_tol=1e-9)
        ):
            problem = f"b_mid must have {s} entries summing to 1/2"
        if problem:
            raise ValueError(f"Invalid Butcher tableau {self.name!r}: {problem}.")

    @property
    def num_stages(self) -> int:
        """Number of stages ``s`` (function evaluations of a step, before FSAL savings)."""
        return len(self.c)

    @property
    def adaptive(self) -> bool:
        """Whether the method carries an embedded error estimate."""
        return self.b_error is not None

    @property
    def fsal(self) -> bool:
        """First Same As Last: the last stage is ``f(t0 + h, y1)``.

        Then the derivative at the end of a step is free, and it is the first
        stage of the next step.
        """
        return (
            self.num_stages > 1
            and self.c[-1] == 1.0
            and self.b[-1] == 0.0
            and all(_close(x, y) for x, y in zip(self.a[-1], self.b[:-1]))
        )


EULER = ButcherTableau("euler", 1, c=(0,), a=(), b=(1,))

MIDPOINT = ButcherTableau("midpoint", 2, c=(0, F(1, 2)), a=((F(1, 2),),), b=(0, 1))

# Heun's method (the explicit trapezoidal rule).
HEUN = ButcherTableau("heun", 2, c=(0, 1), a=((1,),), b=(F(1, 2), F(1, 2)))

RK4 = ButcherTableau(
    "rk4", 4,
    c=(0, F(1, 2), F(1, 2), 1),
    a=((F(1, 2),), (0, F(1, 2)), (0, 0, 1)),
    b=(F(1, 6), F(1, 3), F(1, 3), F(1, 6)),
)

# Kutta's 3/8 rule (what torchdiffeq calls "rk4").
RK4_38 = ButcherTableau(
    "rk4_38", 4,
    c=(0, F(1, 3), F(2, 3), 1),
    a=((F(1, 3),), (F(-1, 3), 1), (1, -1, 1)),
    b=(F(1, 8), F(3, 8), F(3, 8), F(1, 8)),
)

# Heun's third-order method (torchdiffeq's "heun3").
HEUN3 = ButcherTableau(
    "heun3", 3,
    c=(0, F(1, 3), F(2, 3)),
    a=((F(1, 3),), (0, F(2, 3))),
    b=(F(1, 4), 0, F(3, 4)),
)

# Heun's method with Euler as the embedded estimate.
ADAPTIVE_HEUN = ButcherTableau(
    "adaptive_heun", 2,
    c=(0, 1), a=((1,),), b=(F(1, 2), F(1, 2)), b_error=(F(-1, 2), F(1, 2)),
)

# Fehlberg's RK1(2) pair, propagating the second-order solution.
FEHLBERG2 = ButcherTableau(
    "fehlberg2", 2,
    c=(0, F(1, 2), 1),
    a=((F(1, 2),), (F(1, 256), F(255, 256))),
    b=(F(1, 512), F(255, 256), F(1, 512)),
    b_error=(F(1, 512) - F(1, 256), 0, F(1, 512)),
)

# Bogacki-Shampine 3(2), FSAL.
BOSH3 = ButcherTableau(
    "bosh3", 3,
    c=(0, F(1, 2), F(3, 4), 1),
    a=((F(1, 2),), (0, F(3, 4)), (F(2, 9), F(1, 3), F(4, 9))),
    b=(F(2, 9), F(1, 3), F(4, 9), 0),
    b_error=(F(2, 9) - F(7, 24), F(1, 3) - F(1, 4), F(4, 9) - F(1, 3), F(-1, 8)),
)

_DOPRI5_B = (F(35, 384), 0, F(500, 1113), F(125, 192), F(-2187, 6784), F(11, 84), 0)
_DOPRI5_B_HAT = (
    F(5179, 57600), 0, F(7571, 16695), F(393, 640), F(-92097, 339200), F(187, 2100), F(1, 40),
)

# Dormand-Prince 5(4), FSAL, with Shampine's midpoint for 4th-order dense output.
DOPRI5 = ButcherTableau(
    "dopri5", 5,
    c=(0, F(1, 5), F(3, 10), F(4, 5), F(8, 9), 1, 1),
    a=(
        (F(1, 5),),
        (F(3, 40), F(9, 40)),
        (F(44, 45), F(-56, 15), F(32, 9)),
        (F(19372, 6561), F(-25360, 2187), F(64448, 6561), F(-212, 729)),
        (F(9017, 3168), F(-355, 33), F(46732, 5247), F(49, 176), F(-5103, 18656)),
        _DOPRI5_B[:-1],
    ),
    b=_DOPRI5_B,
    b_error=tuple(x - y for x, y in zip(_DOPRI5_B, _DOPRI5_B_HAT)),
    b_mid=(
        F(6025192743, 30085553152) / 2, 0, F(51252292925, 65400821598) / 2,
        F(-2691868925, 45128329728) / 2, F(187940372067, 1594534317056) / 2,
        F(-1776094331, 19743644256) / 2, F(11237099, 235043384) / 2,
    ),
)

_TSIT5_B = (
    0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742,
    -3.290069515436081, 2.324710524099774, 0.0,
)

# Tsitouras 5(4) (2011), FSAL; the midpoint weights come from his continuous extension.
TSIT5 = ButcherTableau(
    "tsit5", 5,
    c=(0, 0.161, 0.327, 0.9, 0.9800255409045097, 1, 1),
    a=(
        (0.161,),
        (-0.008480655492356989, 0.335480655492357),
        (2.8971530571054935, -6.359448489975075, 4.3622954328695815),
        (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
        (5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401,
         -0.028269050394068383),
        _TSIT5_B[:-1],
    ),
    b=_TSIT5_B,
    b_error=(
        0.0017800110522257714, 0.0008164344596567469, -0.007880878010261996,
        0.14471100717326291, -0.5823571654525552, 0.45808210592918697, -1 / 66,
    ),
    b_mid=(
        0.10741235230100377, 0.01135625, 0.39560903056045305, -0.34475214352593553,
        1.3161853649581645, -1.0170608542936508, 0.03125,
    ),
)

_DOPRI8_B = (
    F(14005451, 335480064), 0, 0, 0, 0, F(-59238493, 1068277825), F(181606767, 758867731),
    F(561292985, 797845732), F(-1041891430, 1371343529), F(760417239, 1151165299),
    F(118820643, 751138087), F(-528747749, 2220607170), F(1, 4), 0,
)
_DOPRI8_B_HAT = (
    F(13451932, 455176623), 0, 0, 0, 0, F(-808719846, 976000145), F(1757004468, 5645159321),
    F(656045339, 265891186), F(-3867574721, 1518517206), F(465885868, 322736535),
    F(53011238, 667516719), F(2, 45), 0, 0,
)

# Prince-Dormand 8(7) "RK8(7)13M", made FSAL by a 14th stage at the new point.
DOPRI8 = ButcherTableau(
    "dopri8", 8,
    c=(
        0, F(1, 18), F(1, 12), F(1, 8), F(5, 16), F(3, 8), F(59, 400), F(93, 200),
        F(5490023248, 9719169821), F(13, 20), F(1201146811, 1299019798), 1, 1, 1,
    ),
    a=(
        (F(1, 18),),
        (F(1, 48), F(1, 16)),
        (F(1, 32), 0, F(3, 32)),
        (F(5, 16), 0, F(-75, 64), F(75, 64)),
        (F(3, 80), 0, 0, F(3, 16), F(3, 20)),
        (F(29443841, 614563906), 0, 0, F(77736538, 692538347), F(-28693883, 1125000000),
         F(23124283, 1800000000)),
        (F(16016141, 946692911), 0, 0, F(61564180, 158732637), F(22789713, 633445777),
         F(545815736, 2771057229), F(-180193667, 1043307555)),
        (F(39632708, 573591083), 0, 0, F(-433636366, 683701615), F(-421739975, 2616292301),
         F(100302831, 723423059), F(790204164, 839813087), F(800635310, 3783071287)),
        (F(246121993, 1340847787), 0, 0, F(-37695042795, 15268766246),
         F(-309121744, 1061227803), F(-12992083, 490766935), F(6005943493, 2108947869),
         F(393006217, 1396673457), F(123872331, 1001029789)),
        (F(-1028468189, 846180014), 0, 0, F(8478235783, 508512852), F(1311729495, 1432422823),
         F(-10304129995, 1701304382), F(-48777925059, 3047939560),
         F(15336726248, 1032824649), F(-45442868181, 3398467696), F(3065993473, 597172653)),
        (F(185892177, 718116043), 0, 0, F(-3185094517, 667107341), F(-477755414, 1098053517),
         F(-703635378, 230739211), F(5731566787, 1027545527), F(5232866602, 850066563),
         F(-4093664535, 808688257), F(3962137247, 1805957418), F(65686358, 487910083)),
        (F(403863854, 491063109), 0, 0, F(-5068492393, 434740067), F(-411421997, 543043805),
         F(652783627, 914296604), F(11173962825, 925320556), F(-13158990841, 6184727034),
         F(3936647629, 1978049680), F(-160528059, 685178525), F(248638103, 1413531060), 0),
        _DOPRI8_B[:-1],
    ),
    b=_DOPRI8_B,
    b_error=tuple(x - y for x, y in zip(_DOPRI8_B, _DOPRI8_B_HAT)),
    b_mid=(
        0.04103130360739393, 0, 0, 0, 0, 0.05100562801991382, 0.2388930677412202,
        0.3096870143996103, -0.2172325471755352, 0.07833405679331928, -0.0018614369715579948,
        0.007072844202678841, 0.00690847373200576, -0.013838404349047373,
    ),
)

ALL_TABLEAUS = (
    EULER, MIDPOINT, HEUN, HEUN3, RK4, RK4_38,
    ADAPTIVE_HEUN, FEHLBERG2, BOSH3, DOPRI5, TSIT5, DOPRI8,
)
