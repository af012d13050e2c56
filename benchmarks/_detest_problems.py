"""The non-stiff DETEST problems, classes A to E (Hull, Enright, Fellen & Sedgwick 1972).

Twenty-five initial value problems from t = 0 to t = 20, the paper's interval, with its
initial values: A, single equations; B, small systems; C, larger linear systems and the
five outer planets; D, Kepler orbits of eccentricity 0.1 to 0.9; E, second-order
equations written as first-order systems.

Each right-hand side is written once, as ``rhs(t, y, ops)`` on a 1-D state, where ``ops``
supplies the few array operations it needs: :data:`NUMPY` here (for the SciPy reference),
TensorFlow and PyTorch in ``detest.py``, so every solver integrates the same equations.
"""

import dataclasses

import numpy as np

T_END = 20.0


@dataclasses.dataclass(frozen=True)
class Ops:
    """The array operations a right-hand side uses, for one array library."""

    stack: object       # stack(list of scalars) -> 1-D
    concat: object      # concat(list of 1-D) -> 1-D
    cos: object
    sin: object
    sqrt: object
    matmul: object      # matmul(numpy matrix, x): x 1-D or 2-D
    constant: object    # constant(numpy array, like) -> array of like's kind and dtype
    reshape: object     # reshape(x, shape)
    sum: object         # sum(x, axis)


NUMPY = Ops(stack=np.stack, concat=np.concatenate, cos=np.cos, sin=np.sin, sqrt=np.sqrt,
            matmul=lambda a, x: a @ x, constant=lambda a, like: a, reshape=np.reshape,
            sum=lambda x, axis: np.sum(x, axis=axis))


@dataclasses.dataclass(frozen=True)
class Problem:
    """One problem: its DETEST name, ``rhs(t, y, ops)`` and its initial value at t = 0."""

    name: str
    rhs: object
    y0: np.ndarray


# ---------------------------------------------------------------------------
#  Class A: single equations
# ---------------------------------------------------------------------------

def _a5(t, y, ops):
    return (y - t) / (y + t)


_CLASS_A = [
    ("A1", lambda t, y, ops: -y, [1.0]),                              # exp(-t)
    ("A2", lambda t, y, ops: -0.5 * y ** 3, [1.0]),                   # 1 / sqrt(1 + t)
    ("A3", lambda t, y, ops: y * ops.cos(t), [1.0]),                  # exp(sin t)
    ("A4", lambda t, y, ops: 0.25 * y * (1.0 - y / 20.0), [1.0]),     # logistic
    ("A5", _a5, [4.0]),                                               # a spiral curve
]


# ---------------------------------------------------------------------------
#  Class B: small systems
# ---------------------------------------------------------------------------

def _b1(t, y, ops):  # growth of two conflicting populations
    return ops.stack([2.0 * (y[0] - y[0] * y[1]), -(y[1] - y[0] * y[1])])


def _b2(t, y, ops):  # a linear chemical reaction
    return ops.stack([y[1] - y[0], y[0] - 2.0 * y[1] + y[2], y[1] - y[2]])


def _b3(t, y, ops):  # a nonlinear chemical reaction
    return ops.stack([-y[0], y[0] - y[1] ** 2, y[1] ** 2])


def _b4(t, y, ops):  # integral surface of a torus
    r = ops.sqrt(y[0] ** 2 + y[1] ** 2)
    return ops.stack([-y[1] - y[0] * y[2] / r, y[0] - y[1] * y[2] / r, y[0] / r])


def _b5(t, y, ops):  # Euler's equations of a rigid body without external forces
    return ops.stack([y[1] * y[2], -y[0] * y[2], -0.51 * y[0] * y[1]])


_CLASS_B = [("B1", _b1, [1.0, 3.0]), ("B2", _b2, [2.0, 0.0, 1.0]),
            ("B3", _b3, [1.0, 0.0, 0.0]), ("B4", _b4, [3.0, 0.0, 0.0]),
            ("B5", _b5, [0.0, 1.0, 1.0])]


# ---------------------------------------------------------------------------
#  Class C: larger systems
# ---------------------------------------------------------------------------

def _chain(rates):
    """A radioactive decay chain: y_1' = -r_1 y_1, y_i' = r_{i-1} y_{i-1} - r_i y_i."""
    size = len(rates) + 1
    matrix = np.zeros((size, size))
    for i, rate in enumerate(rates):
        matrix[i, i] -= rate
        matrix[i + 1, i] += rate
    return matrix


def _diffusion(size):
    """The tridiagonal -2, 1 matrix: y_i' = y_{i-1} - 2 y_i + y_{i+1}."""
    return -2.0 * np.eye(size) + np.eye(size, k=1) + np.eye(size, k=-1)


def _linear(matrix):
    return lambda t, y, ops: ops.matmul(matrix, y)


def _unit(size):
    return [1.0] + [0.0] * (size - 1)


# C5, the five outer planets around the sun: the gravitational constant in units of the
# solar mass, the astronomical unit and 100 days; the sun's mass with the inner planets';
# Jupiter, Saturn, Uranus, Neptune, Pluto.
_K2 = 2.95912208286
_SUN = 1.00000597682
_MASSES = np.array([0.954786104043e-3, 0.285583733151e-3, 0.437273164546e-4,
                    0.517759138449e-4, 0.277777777778e-5])
_OTHERS = (1.0 - np.eye(5)) * _MASSES[None, :]          # [j, k]: m_k for k != j, else 0
_PAIRS = np.kron(np.eye(5), np.ones((5, 1))) * -1.0 + np.tile(np.eye(5), (5, 1))
_C5_POSITIONS = [3.42947415189, 3.35386959711, 1.35494901715, 6.64145542550, 5.97156957878,
                 2.18231499728, 11.2630437207, 14.6952576794, 6.27960525067, -30.1552268759,
                 1.65699966404, 1.43785752721, -21.1238353380, 28.4465098142, 15.3882659679]
_C5_VELOCITIES = [-0.557160570446, 0.505696783289, 0.230578543901, -0.415570776342,
                  0.365682722812, 0.169143213293, -0.325325669158, 0.189706021964,
                  0.0877265322780, -0.0240476254170, -0.287659532608, -0.117219543175,
                  -0.176860753121, -0.216393453025, -0.0148647893090]


def _c5(t, y, ops):
    """Heliocentric accelerations: the sun's pull, the other planets' pull on the planet,
    minus their pull on the sun (the frame's acceleration)."""
    p = ops.reshape(y[:15], (5, 3))                           # p[j] = planet j's position
    r3 = ops.sum(p * p, 1) ** 1.5
    diff = ops.reshape(ops.matmul(_PAIRS, p), (5, 5, 3))      # diff[j, k] = p[k] - p[j]
    d3 = (ops.sum(diff * diff, 2) + ops.constant(np.eye(5), y)) ** 1.5  # 1 on the diagonal
    pull = ops.constant(_OTHERS, y) / d3                      # m_k / |p_k - p_j|^3
    direct = ops.sum(pull[:, :, None] * diff, 1)
    indirect = ops.matmul(_OTHERS, p / r3[:, None])           # sum_k m_k p_k / r_k^3
    sun = -ops.constant(_SUN + _MASSES, y)[:, None] * p / r3[:, None]
    return ops.concat([y[15:], ops.reshape(_K2 * (sun + direct - indirect), (15,))])


_CLASS_C = [("C1", _linear(_chain([1.0] * 9)), _unit(10)),
            ("C2", _linear(_chain([float(i) for i in range(1, 10)])), _unit(10)),
            ("C3", _linear(_diffusion(10)), _unit(10)),
            ("C4", _linear(_diffusion(51)), _unit(51)),
            ("C5", _c5, _C5_POSITIONS + _C5_VELOCITIES)]


# ---------------------------------------------------------------------------
#  Class D: orbit equations, eccentricity 0.1, 0.3, 0.5, 0.7, 0.9
# ---------------------------------------------------------------------------

def _kepler(t, y, ops):
    r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
    return ops.stack([y[2], y[3], -y[0] / r3, -y[1] / r3])


def _orbit_start(eccentricity):
    """At the pericentre of an orbit of period 2 pi and the given eccentricity."""
    return [1.0 - eccentricity, 0.0, 0.0,
            float(np.sqrt((1.0 + eccentricity) / (1.0 - eccentricity)))]


_CLASS_D = [(f"D{i + 1}", _kepler, _orbit_start(e))
            for i, e in enumerate([0.1, 0.3, 0.5, 0.7, 0.9])]


# ---------------------------------------------------------------------------
#  Class E: second-order equations
# ---------------------------------------------------------------------------

def _e1(t, y, ops):  # a Bessel equation of order 1/2 in t + 1
    s = t + 1.0
    return ops.stack([y[1], -(y[1] / s + (1.0 - 0.25 / s ** 2) * y[0])])


def _e2(t, y, ops):  # van der Pol
    return ops.stack([y[1], (1.0 - y[0] ** 2) * y[1] - y[0]])


def _e3(t, y, ops):  # Duffing, forced
    return ops.stack([y[1], y[0] ** 3 / 6.0 - y[0] + 2.0 * ops.sin(2.78535 * t)])


def _e4(t, y, ops):  # a falling body with air resistance
    return ops.stack([y[1], 0.032 - 0.4 * y[1] ** 2])


def _e5(t, y, ops):  # a pursuit curve
    return ops.stack([y[1], ops.sqrt(1.0 + y[1] ** 2) / (25.0 - t)])


# E1's solution is the Bessel function J_{1/2}(t + 1) = sqrt(2 / (pi (t + 1))) sin(t + 1).
_CLASS_E = [("E1", _e1, [0.6713967071418030, 0.09540051444747446]),
            ("E2", _e2, [2.0, 0.0]), ("E3", _e3, [0.0, 0.0]), ("E4", _e4, [30.0, 0.0]),
            ("E5", _e5, [0.0, 0.0])]


PROBLEMS = {name: Problem(name, rhs, np.array(y0, dtype=np.float64))
            for name, rhs, y0 in _CLASS_A + _CLASS_B + _CLASS_C + _CLASS_D + _CLASS_E}
"""Every problem by its DETEST name, A1 ... E5."""


def reference(problem):
    """The state at ``T_END`` from SciPy's DOP853 at rtol = atol = 1e-13."""
    import scipy.integrate

    solution = scipy.integrate.solve_ivp(
        lambda t, y: problem.rhs(t, y, NUMPY), (0.0, T_END), problem.y0, method="DOP853",
        rtol=1e-13, atol=1e-13)
    if not solution.success:
        raise RuntimeError(f"the reference solve of {problem.name} failed: {solution.message}")
    return solution.y[:, -1]
