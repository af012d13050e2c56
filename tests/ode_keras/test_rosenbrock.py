"""rodas5p, the Rosenbrock method: its tableau's order conditions, its solutions, its gradients.

The references are independent: the rooted-tree order conditions of Rosenbrock methods
(Hairer & Wanner II, section IV.7) written in the test, ``scipy.linalg.expm`` for a stiff
linear system, SciPy's ``Radau`` at rtol 1e-12 for Robertson's kinetics and van der Pol,
central finite differences of the computed solution for its gradients.
"""

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import tensorflow as tf

from ode_keras import SOLVERS, failures, odeint, rosenbrock_tableaus
from ode_keras.rosenbrock_tableaus import RODAS5P
from tests.ode_keras import butcher_trees

# ---------------------------------------------------------------------------
#  The tableau
# ---------------------------------------------------------------------------


def rosenbrock_weights(tree, alpha, gamma_matrix):
    """Phi(tree) per stage: ``alpha`` under a vertex with 0 or >= 2 children, ``alpha +
    Gamma`` (diagonal included) under a vertex with one child, where ``J`` acts."""
    if len(tree) == 1:
        return (alpha + gamma_matrix) @ rosenbrock_weights(tree[0], alpha, gamma_matrix)
    u = np.ones(alpha.shape[0])
    for child in tree:
        u = u * (alpha @ rosenbrock_weights(child, alpha, gamma_matrix))
    return u


def largest_error(weights, order, theta=1.0):
    """max |w . Phi(tau) - theta^|tau| / gamma(tau)| over the trees with ``order`` nodes."""
    alpha, gamma_matrix = RODAS5P.untransformed()
    return max(abs(weights @ rosenbrock_weights(tree, alpha, gamma_matrix)
                   - theta ** order / butcher_trees.gamma(tree))
               for tree in butcher_trees.trees(order))


def untransformed(transformed_weights):
    """Weights ``b`` of the untransformed stages from the weights ``m`` of the ``u_i``."""
    return np.asarray(transformed_weights) @ RODAS5P.untransformed()[1]


def test_rodas5p_has_order_5_and_its_embedded_solution_order_4():
    b = untransformed(RODAS5P.m)
    b_hat = untransformed(np.subtract(RODAS5P.m, RODAS5P.e))
    for order in range(1, 6):
        assert largest_error(b, order) < 1e-12, order
    for order in range(1, 5):
        assert largest_error(b_hat, order) < 1e-12, order
    # The conditions can fail: the method is not of order 6, the estimate not of order 5.
    assert largest_error(b, 6) > 1e-3
    assert largest_error(b_hat, 5) > 1e-3


def test_rodas5p_and_its_embedded_solution_are_l_stable():
    # R(z) = 1 + z b^T (I - z B)^-1 1 with B = alpha + Gamma, so R(inf) = 1 - b^T B^-1 1.
    alpha, gamma_matrix = RODAS5P.untransformed()
    stability = np.linalg.solve(alpha + gamma_matrix, np.ones(RODAS5P.num_stages))
    for weights in (RODAS5P.m, np.subtract(RODAS5P.m, RODAS5P.e)):
        assert abs(1.0 - untransformed(weights) @ stability) < 1e-12
    # Bounded on the imaginary axis (A-stability, with L-stability above): |R(iy)| <= 1.
    b = untransformed(RODAS5P.m)
    for y in np.logspace(-2, 4, 60):
        z = 1j * y
        matrix = np.eye(RODAS5P.num_stages) - z * (alpha + gamma_matrix)
        assert abs(1 + z * b @ np.linalg.solve(matrix, np.ones(RODAS5P.num_stages))) <= 1 + 1e-12


@pytest.mark.parametrize("theta", [0.25, 0.5, 0.8])
def test_rodas5p_continuous_extension_has_order_4(theta):
    # y(theta) = y0 + sum_i m_i(theta) u_i with m(theta) = theta m + theta (1 - theta)
    # (H_1 + theta H_2 + theta^2 H_3): the conditions at theta hold up to 4 nodes.
    H = np.array(RODAS5P.H)
    m_theta = theta * np.array(RODAS5P.m) + theta * (1 - theta) * (
        H[0] + theta * H[1] + theta**2 * H[2])
    b_theta = untransformed(m_theta)
    for order in range(1, 5):
        assert largest_error(b_theta, order, theta) < 1e-12, order
    assert largest_error(b_theta, 5, theta) > 1e-4


def test_tableau_construction_checks_the_row_sums():
    fields = {f: getattr(RODAS5P, f) for f in ("order", "embedded_order", "gamma", "a", "C",
                                                "c", "m", "e", "H")}
    with pytest.raises(ValueError, match="d must be the row sums of Gamma"):
        rosenbrock_tableaus.RosenbrockTableau("bad", d=(0.2,) * 8, **fields)
    with pytest.raises(ValueError, match="c must be the row sums of alpha"):
        rosenbrock_tableaus.RosenbrockTableau(
            "bad", **{**fields, "c": (0.0, 0.5, *RODAS5P.c[2:])}, d=RODAS5P.d)
    assert SOLVERS["rodas5p"].tableau is RODAS5P
    assert SOLVERS["rodas5p"].implicit and SOLVERS["rodas5p"].order == 5


def test_options_are_checked_by_name():
    y0, t = tf.constant([1.0]), tf.constant([0.0, 1.0])
    with pytest.raises(ValueError, match=r"options\['jacobian'\] must be one of 'full'"):
        odeint(lambda t, y: -y, y0, t, method="rodas5p", options={"jacobian": "diagonal"})
    with pytest.raises(TypeError, match="needs the exact Jacobian"):
        odeint(lambda t, y: -y, y0, t, method="rodas5p", options={"jacobian": lambda t, y: y})
    with pytest.raises(ValueError, match="component 1 has shape"):
        odeint(lambda t, y: (-y[0], -y[1]), (tf.ones([2, 3]), tf.constant(1.0)), t,
               method="rodas5p", options={"jacobian": "per_sample"})
    with pytest.raises(ValueError, match=r"Unknown options \['step_size'\]"):
        odeint(lambda t, y: -y, y0, t, method="rodas5p", options={"step_size": 0.1})


# ---------------------------------------------------------------------------
#  Solutions
# ---------------------------------------------------------------------------

def stiff_matrix():
    """A symmetric negative definite matrix with eigenvalues -1, -30, -1e3, -1e4."""
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(4, 4)))
    return -q @ np.diag([1.0, 30.0, 1e3, 1e4]) @ q.T


@pytest.mark.parametrize("dtype, rtol", [(tf.float64, 1e-8), (tf.float32, 1e-4)])
def test_stiff_linear_system_matches_the_matrix_exponential(dtype, rtol):
    matrix, y0 = stiff_matrix(), np.array([1.0, -2.0, 0.5, 3.0])
    times = np.array([0.0, 0.01, 0.3, 1.0, 4.0])
    matrix_t = tf.constant(matrix, dtype)
    solve = tf.function(lambda y0: odeint(
        lambda t, y: tf.linalg.matvec(matrix_t, y), y0, tf.constant(times, dtype),
        method="rodas5p", rtol=rtol, atol=rtol * 1e-3, return_stats=True))
    ys, stats = solve(tf.constant(y0, dtype))
    expected = np.stack([scipy.linalg.expm(matrix * t) @ y0 for t in times])
    # Global error within a small multiple of the tolerance, relative to the solution's scale.
    np.testing.assert_allclose(ys.numpy(), expected, rtol=0, atol=20 * rtol * np.abs(y0).max())
    # Stiffness costs nothing: the step is set by the slow mode (an explicit method needs
    # h < 2.8e-4 here, 14000 steps to t = 4).
    assert int(stats["num_steps"]) < (150 if dtype == tf.float64 else 60)
    assert int(stats["num_jacobians"]) == int(stats["num_accepted"])
    assert int(stats["num_factorizations"]) == int(stats["num_steps"])


def robertson(t, y):
    """Robertson's chemical kinetics (Hairer & Wanner II, section IV.1): stiff, 3 species."""
    del t
    y1, y2, y3 = y[..., 0], y[..., 1], y[..., 2]
    return tf.stack([-0.04 * y1 + 1e4 * y2 * y3,
                     0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2**2,
                     3e7 * y2**2], axis=-1)


def robertson_numpy(t, y):
    del t
    return np.array([-0.04 * y[0] + 1e4 * y[1] * y[2],
                     0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2, 3e7 * y[1] ** 2])


def robertson_jacobian(t, y):
    del t
    return np.array([[-0.04, 1e4 * y[2], 1e4 * y[1]],
                     [0.04, -1e4 * y[2] - 6e7 * y[1], -1e4 * y[1]],
                     [0.0, 6e7 * y[1], 0.0]])


def radau_reference(func, jacobian, y0, times):
    """SciPy's Radau IIA at rtol 1e-12 on a NumPy right-hand side: the reference, here."""
    solution = scipy.integrate.solve_ivp(func, (times[0], times[-1]), y0, method="Radau",
                                         t_eval=times, rtol=1e-12, atol=1e-20, jac=jacobian)
    assert solution.success
    return solution.y.T


ROBERTSON_TIMES = np.concatenate([[0.0], np.logspace(-5, 5, 11)])


@pytest.mark.parametrize("dtype, rtol", [(tf.float64, 1e-6), (tf.float32, 1e-4)])
def test_robertson_to_1e5_matches_radau_and_conserves_mass(dtype, rtol):
    y0 = np.array([1.0, 0.0, 0.0])
    reference = radau_reference(robertson_numpy, robertson_jacobian, y0, ROBERTSON_TIMES)
    atol = rtol * 1e-4  # y2 peaks at 3.6e-5
    solve = tf.function(lambda: odeint(robertson, tf.constant(y0, dtype),
                                       tf.constant(ROBERTSON_TIMES, dtype), method="rodas5p",
                                       rtol=rtol, atol=atol, return_stats=True))
    ys, stats = solve()
    ys = ys.numpy().astype(np.float64)
    # Each species within a small multiple of the tolerances (global error, 11 decades).
    np.testing.assert_array_less(np.abs(ys - reference), 10 * (rtol * np.abs(reference) + atol))
    # A Rosenbrock step conserves every linear invariant of the system: with e = (1, 1, 1),
    # e^T f = 0 and e^T J = 0, so every stage satisfies e^T u_i = 0. The mass stays 1 to
    # round-off, far inside the tolerance.
    eps = np.finfo(dtype.as_numpy_dtype).eps
    assert np.abs(ys.sum(axis=1) - 1.0).max() < 100 * eps
    assert int(stats["num_steps"]) < 200


def test_van_der_pol_at_mu_1000_is_as_accurate_as_radau_at_the_same_tolerance():
    mu = 1000.0

    def numpy_field(t, y):
        return np.array([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])

    def numpy_jacobian(t, y):
        return np.array([[0.0, 1.0], [-2 * mu * y[0] * y[1] - 1, mu * (1 - y[0] ** 2)]])

    def field(t, y):
        return tf.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])

    # Through the first relaxation jump (near t = 807) and on to 3000.
    times, y0, rtol = np.array([0.0, 500.0, 1000.0, 3000.0]), np.array([2.0, 0.0]), 1e-6
    reference = scipy.integrate.solve_ivp(
        numpy_field, (0.0, times[-1]), y0, method="Radau", t_eval=times, rtol=1e-12,
        atol=1e-12, jac=numpy_jacobian).y.T
    radau = scipy.integrate.solve_ivp(numpy_field, (0.0, times[-1]), y0, method="Radau",
                                      t_eval=times, rtol=rtol, atol=rtol, jac=numpy_jacobian).y.T
    solve = tf.function(lambda: odeint(field, tf.constant(y0), tf.constant(times),
                                       method="rodas5p", rtol=rtol, atol=rtol,
                                       return_stats=True))
    ys, stats = solve()
    # The phase error of a relaxation oscillation grows through every jump, for any
    # method: measured against Radau's own error at the same tolerance.
    ours = np.abs(ys.numpy()[:, 0] - reference[:, 0]).max()
    theirs = np.abs(radau[:, 0] - reference[:, 0]).max()
    assert ours < 10 * max(theirs, rtol), (ours, theirs)
    assert int(stats["status"]) == 0 and int(stats["num_steps"]) < 1000  # dopri5: millions


def test_per_sample_jacobians_give_the_full_jacobians_solution():
    # Three independent stiff 2x2 systems as a batch [3, 2], and a second component [3].
    rates = tf.constant([[[-1.0, 0.5], [0.0, -1e3]], [[-2.0, 0.0], [3.0, -5e2]],
                         [[-1e3, 1.0], [0.0, -0.5]]], tf.float64)

    def func(t, y):
        x, z = y
        return (tf.linalg.matvec(rates, x) + tf.sin(t)[None, None], -z * x[:, 0] ** 2)

    y0 = (tf.constant([[1.0, 2.0], [0.5, -1.0], [3.0, 0.1]], tf.float64),
          tf.constant([1.0, 2.0, 0.5], tf.float64))
    t = tf.constant([0.0, 0.5, 2.0], tf.float64)

    @tf.function(autograph=False)
    def solve():
        return tuple(odeint(func, y0, t, method="rodas5p", rtol=1e-8, atol=1e-10,
                            options={"jacobian": mode}, return_stats=True)
                     for mode in ("full", "per_sample"))

    (full, full_stats), (per_sample, per_sample_stats) = solve()
    for a, b in zip(full, per_sample):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-14)
    # The same blocks: the same steps (block-diagonal J), at a batched factorisation.
    assert int(per_sample_stats["num_steps"]) == int(full_stats["num_steps"])


def test_measured_order_is_5_on_fixed_steps():
    # y' = -y + cos(t) (non-autonomous: df/dt enters every stage), y(0) = 1:
    # y(t) = (exp(-t) + cos(t) + sin(t)) / 2. Steps fixed by first_step = min_step =
    # max_step and tolerances that accept every step.
    def func(t, y):
        return -y + tf.cos(t)

    exact = (np.exp(-1.0) + np.cos(1.0) + np.sin(1.0)) / 2
    errors, sizes = [], [0.25, 0.125, 0.0625]

    for h in sizes:
        options = {"first_step": h, "min_step": h, "max_step": h}
        ys, stats = tf.function(lambda options=options: odeint(
            func, tf.constant([1.0], tf.float64), tf.constant([0.0, 1.0], tf.float64),
            method="rodas5p", rtol=1e10, atol=1e10, options=options, return_stats=True),
            autograph=False)()
        assert int(stats["num_steps"]) == round(1 / h)
        errors.append(abs(float(ys[-1, 0]) - exact))
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert abs(slope - 5.0) < 0.2, (slope, errors)


# ---------------------------------------------------------------------------
#  Failures
# ---------------------------------------------------------------------------

def singular_problem():
    """``y' = y / (gamma h)`` on steps fixed at ``h``: ``I - gamma h J`` is exactly zero."""
    h = 0.1
    rate = 1.0 / (RODAS5P.gamma * h)
    assert 1.0 - (RODAS5P.gamma * h) * rate == 0.0  # exactly singular in float64
    options = {"first_step": h, "min_step": h, "max_step": h}
    return (lambda t, y: rate * y), options


def test_a_singular_iteration_matrix_at_the_minimum_step_is_a_named_error():
    func, options = singular_problem()
    y0, t = tf.constant([1.0], tf.float64), tf.constant([0.0, 1.0], tf.float64)
    with pytest.raises(failures.SolveError, match="I - gamma h J .* is singular at t = 0") as info:
        odeint(func, y0, t, method="rodas5p", options=options)
    assert info.value.status == failures.SINGULAR_MATRIX and info.value.t == 0.0
    with pytest.raises(tf.errors.InvalidArgumentError, match="is singular at t = 0"):
        tf.function(lambda: odeint(func, y0, t, method="rodas5p", options=options))()


def test_a_non_finite_jacobian_is_a_named_error_with_the_time_reached():
    # sqrt is finite at 0 but its derivative is not: no smaller step helps, the solve
    # stops at once, at its start.
    def func(t, y):
        return tf.sqrt(y)

    y0, t = tf.constant([0.0, 1.0], tf.float64), tf.constant([0.5, 1.0], tf.float64)
    with pytest.raises(failures.SolveError, match="Jacobian of func .* not finite") as info:
        odeint(func, y0, t, method="rodas5p")
    assert info.value.status == failures.NON_FINITE_JACOBIAN
    assert info.value.t == pytest.approx(0.5)
