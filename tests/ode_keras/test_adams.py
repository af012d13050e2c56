"""The Adams family: explicit_adams, implicit_adams (fixed steps) and adams (VCABM).

The coefficients are checked against their defining integrals (exact rational
arithmetic, on a uniform and on a random mesh), the fixed-step methods by
their measured order, the variable-step method by its error on problems with exact
solutions and its cost against dopri5, and every gradient path against the others and
against finite differences.
"""

import fractions
import math

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import _adams_coefficients, _adams_history, odeint
from tests.ode_keras.ode_problems import PROBLEMS, exact_trajectory, relative_error

F = fractions.Fraction
FIXED = ("explicit_adams", "implicit_adams")
RNG = np.random.default_rng(1956)


def _poly_mul(p, q):
    """Product of two polynomials given as coefficient lists (lowest power first)."""
    out = [F(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def _integral(poly, lower, upper):
    return sum(c * (F(upper) ** (m + 1) - F(lower) ** (m + 1)) / (m + 1)
               for m, c in enumerate(poly))


def lagrange_weights(nodes):
    """``w_j = integral_0^1 l_j(s) ds`` for the Lagrange basis on ``nodes`` (exact)."""
    weights = []
    for j, node in enumerate(nodes):
        basis = [F(1)]
        for i, other in enumerate(nodes):
            if i != j:
                basis = _poly_mul(basis, [F(-other, node - other), F(1, node - other)])
        weights.append(_integral(basis, 0, 1))
    return weights


def uniform_history(f_values, h):
    """The history after steps of size ``h`` whose derivatives were ``f_values`` (oldest
    first); returns it with ``t_n``."""
    slots = len(f_values) + 1
    t = tf.constant(0.0, tf.float64)
    history = _adams_history.start(t, (tf.constant(f_values[0]),), slots)
    for f in f_values[1:]:
        prediction = _adams_history.predict(history, (tf.zeros_like(f),), h, 1)
        history = _adams_history.remember(history, prediction, (tf.constant(f),))
        t = t + h
    return history


@pytest.mark.parametrize("k", range(1, 9))
def test_uniform_mesh_gives_the_classical_adams_coefficients(k):
    # Adams-Bashforth with k steps integrates the interpolant through s = 0, -1, .., 1-k;
    # Adams-Moulton adds s = 1. Their weights are exact rationals (55/24, -59/24, ...).
    h, y = 0.1, np.array([0.3, -1.2])
    f_values = RNG.normal(size=(k + 1, 2))  # f_{n-k+1} .. f_n, then f_{n+1}
    history = uniform_history(list(f_values[:k]), h)
    prediction = _adams_history.predict(history, (tf.constant(y),), tf.constant(h, tf.float64),
                                        k)
    bashforth = lagrange_weights([-j for j in range(k)])
    expected = y + h * sum(float(w) * f_values[k - 1 - j] for j, w in enumerate(bashforth))
    np.testing.assert_allclose(prediction.p[0], expected, rtol=1e-13, atol=1e-13)
    corrected, _ = _adams_history.correct(prediction, (tf.constant(f_values[k]),), k)
    moulton = lagrange_weights([1] + [-j for j in range(k)])
    expected = y + h * (float(moulton[0]) * f_values[k] + sum(
        float(w) * f_values[k - 1 - j] for j, w in enumerate(moulton[1:])))
    np.testing.assert_allclose(corrected[0], expected, rtol=1e-13, atol=1e-13)
    if k == 4:
        assert bashforth == [F(55, 24), F(-59, 24), F(37, 24), F(-9, 24)]
        assert moulton == [F(251, 720), F(646, 720), F(-264, 720), F(106, 720), F(-19, 720)]


def test_g_coefficients_are_their_defining_integrals_on_a_random_mesh():
    # g_j = (1/h) int_{t_n}^{t_n+h} prod_{i<j} (t - t_{n-i}) / (t_{n+1} - t_{n-i}) dt,
    # expanded and integrated in exact rational arithmetic on random rational times.
    past = [F(0)]
    for _ in range(12):
        past.append(past[-1] - F(int(RNG.integers(20, 100)), 100))
    h = F(37, 100)
    psi_new, _ = _adams_coefficients.step_ratios(tf.constant([float(x) for x in past],
                                                             tf.float64),
                                                 tf.constant(float(h), tf.float64))
    g = _adams_coefficients.integration_coefficients(psi_new, tf.constant(float(h),
                                                                          tf.float64), 13)
    integrand = [F(1)]
    for j in range(13):
        assert float(g[j]) == pytest.approx(float(_integral(integrand, 0, h) / h), rel=1e-12,
                                            abs=1e-15)
        integrand = _poly_mul(integrand, [-past[j] / (h - past[j]), 1 / (h - past[j])])
    # On a uniform mesh: 1, 1/2, 5/12, 3/8, 251/720 (Hairer, Norsett & Wanner, III.1).
    psi_new, _ = _adams_coefficients.step_ratios(-tf.range(6, dtype=tf.float64), 1.0)
    np.testing.assert_allclose(
        _adams_coefficients.integration_coefficients(psi_new, tf.constant(1.0, tf.float64), 5),
        [1, 1 / 2, 5 / 12, 3 / 8, 251 / 720], rtol=1e-14)


def test_variable_steps_integrate_polynomials_exactly():
    # The k-step predictor is exact for derivatives of degree < k, the corrector for degree
    # k, on any mesh: the defining property of the variable-coefficient formulas.
    k, coefficients = 5, RNG.normal(size=7)
    times = np.concatenate([[0.0], np.cumsum(RNG.uniform(0.05, 0.3, size=k))])

    def antiderivative(t, degree):
        return sum(c * t ** (m + 1) / (m + 1) for m, c in enumerate(coefficients[:degree + 1]))

    def derivative(t, degree):
        return np.array([sum(c * t ** m for m, c in enumerate(coefficients[:degree + 1]))])

    for degree, corrector in ((k - 1, False), (k, True)):
        history = _adams_history.start(tf.constant(times[0]), (tf.constant(derivative(
            times[0], degree)),), k + 1)
        for t0, t1 in zip(times[:-2], times[1:-1]):
            prediction = _adams_history.predict(history, (tf.zeros([1], tf.float64),),
                                                tf.constant(t1 - t0), 1)
            history = _adams_history.remember(history, prediction,
                                              (tf.constant(derivative(t1, degree)),))
        y_n = np.array([antiderivative(times[-2], degree)])
        prediction = _adams_history.predict(history, (tf.constant(y_n),),
                                            tf.constant(times[-1] - times[-2]), k)
        value = prediction.p[0]
        if corrector:
            value = _adams_history.correct(
                prediction, (tf.constant(derivative(times[-1], degree)),), k)[0][0]
        assert float(value[0]) == pytest.approx(antiderivative(times[-1], degree), rel=1e-11)


# ---------------------------------------------------------------------------
#  Fixed steps: the measured order
# ---------------------------------------------------------------------------

def oscillator(t, y):
    """y'' = -4 y as a first-order system: exact solution below."""
    return tf.stack([y[1], -4.0 * y[0]])


def oscillator_exact(t, y0=(1.0, 0.5)):
    return np.array([y0[0] * np.cos(2 * t) + y0[1] / 2 * np.sin(2 * t),
                     -2 * y0[0] * np.sin(2 * t) + y0[1] * np.cos(2 * t)])


# Step pairs in each order's asymptotic range and above round-off (errors 1e-2 .. 1e-11).
STEP_PAIRS = {1: (1 / 20, 1 / 40), 2: (1 / 20, 1 / 40), 3: (1 / 20, 1 / 40),
              4: (1 / 20, 1 / 40), 5: (1 / 28, 1 / 56), 6: (1 / 28, 1 / 56)}


@pytest.mark.parametrize("order", sorted(STEP_PAIRS))
@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_methods_converge_at_their_order(method, order):
    y0 = tf.constant([1.0, 0.5], tf.float64)
    t = tf.constant([0.0, 1.0], tf.float64)
    errors = []
    for h in STEP_PAIRS[order]:
        # Tight rtol/atol: the corrector iterates to convergence (they steer nothing else).
        ys = odeint(oscillator, y0, t, method=method, rtol=1e-13, atol=1e-15,
                    options={"step_size": h, "order": order})
        errors.append(np.max(np.abs(ys[-1].numpy() - oscillator_exact(1.0))))
    slope = math.log(errors[0] / errors[1]) / math.log(STEP_PAIRS[order][0]
                                                        / STEP_PAIRS[order][1])
    assert abs(slope - order) < 0.2, (errors, slope)


def test_order_holds_on_a_graded_grid():
    # Constant Adams coefficients would drop to first order where the steps change size;
    # the variable coefficients keep order 3 on a graded grid (steps growing 3-fold).
    coarse = np.linspace(0.0, 1.0, 21) ** 1.5
    fine = np.sort(np.concatenate([coarse, (coarse[1:] + coarse[:-1]) / 2]))
    y0, t = tf.constant([1.0, 0.5], tf.float64), tf.constant([0.0, 0.5, 1.0], tf.float64)
    errors = []
    for grid in (coarse, fine):
        ys = odeint(oscillator, y0, t, method="explicit_adams",
                    options={"grid": grid, "order": 3})
        errors.append(np.max(np.abs(ys.numpy() - oscillator_exact(t.numpy()).T)))
    assert abs(math.log2(errors[0] / errors[1]) - 3) < 0.2, errors


@pytest.mark.parametrize("method, order, iterations, per_step", [
    ("explicit_adams", 4, None, 1), ("implicit_adams", 4, 1, 2), ("implicit_adams", 3, 1, 2)])
def test_evaluations_per_step(method, order, iterations, per_step):
    # The Runge-Kutta start (rk4: 4 evaluations, the last at the step's end for the
    # history) for order - 1 (explicit) or order - 2 (implicit) steps, then P-E (explicit)
    # or P-E-C-E (one corrector iteration), plus func(t0, y0).
    options = {"step_size": 0.1, "order": order}
    if iterations:
        options["max_iters"] = iterations
    _, stats = odeint(oscillator, tf.constant([1.0, 0.5], tf.float64), [0.0, 1.0],
                      method=method, options=options, return_stats=True)
    start = order - 1 if method == "explicit_adams" else order - 2
    assert int(stats["num_steps"]) == 10
    assert int(stats["nfe"]) == 1 + 4 * start + per_step * (10 - start)


# ---------------------------------------------------------------------------
#  Variable step and order: accuracy and cost
# ---------------------------------------------------------------------------

def growth(t, y):
    """Non-autonomous: y' = cos(t) y, so y(t) = y(t0) exp(sin t - sin t0)."""
    return tf.cos(t) * y


ANALYTIC = {
    "exponential decay": (PROBLEMS["exponential"].func,
                          lambda times: exact_trajectory(PROBLEMS["exponential"], times),
                          PROBLEMS["exponential"].y0),
    "harmonic oscillator": (oscillator, lambda times: oscillator_exact(times - times[0]).T,
                            np.array([1.0, 0.5])),
    "non-autonomous": (growth, lambda times: np.exp(np.sin(times) - np.sin(times[0]))[:, None]
                       * np.array([0.7, -1.3]), np.array([0.7, -1.3])),
}
# (rtol, atol, allowed relative error): the global error of a solve is the sum of local
# errors each below the tolerance, as for dopri5 in test_odeint_accuracy.
ADAMS_SETTINGS = {"float64": (1e-8, 1e-10, 1e-6), "float32": (1e-5, 1e-7, 1e-3)}


@pytest.mark.parametrize("dtype", sorted(ADAMS_SETTINGS))
@pytest.mark.parametrize("problem", sorted(ANALYTIC))
def test_adams_meets_its_tolerance(problem, dtype):
    func, exact, y0 = ANALYTIC[problem]
    rtol, atol, allowed = ADAMS_SETTINGS[dtype]
    for times in (np.linspace(0.5, 1.5, 5), np.linspace(1.5, 0.5, 3)):  # and backwards
        ys, stats = odeint(func, tf.constant(y0, dtype), tf.constant(times, dtype),
                           method="adams", rtol=rtol, atol=atol, return_stats=True)
        assert ys.dtype == dtype
        assert relative_error(ys, exact(times)) < allowed
        assert int(stats["status"]) == 0


def test_adams_needs_fewer_evaluations_than_dopri5_at_tight_tolerances():
    # The point of a multistep method: two evaluations a step at up to order 12, where
    # dopri5 spends six at order 5. Both at the same tolerance, both as accurate.
    y0, times = tf.constant([1.0, 0.5], tf.float64), tf.constant(np.linspace(0, 1.5, 4))
    results = {}
    for method in ("adams", "dopri5"):
        ys, stats = odeint(oscillator, y0, times, method=method, rtol=1e-10, atol=1e-12,
                           return_stats=True)
        results[method] = (int(stats["nfe"]), relative_error(ys, oscillator_exact(
            times.numpy()).T))
    print("NFE and relative error at rtol=1e-10:", results)
    assert results["adams"][0] < results["dopri5"][0] / 2
    assert results["adams"][1] < 1e-8 and results["dopri5"][1] < 1e-8



# ---------------------------------------------------------------------------
#  Options
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method, options, message", [
    ("explicit_adams", {"step_size": 0.1, "order": 7}, r"options\['order'\] must be an integer "
     "from 1 to 6, got 7"),
    ("implicit_adams", {"step_size": 0.1, "order": 2.0}, r"options\['order'\] .* got 2.0 of "
     "type float"),
    ("implicit_adams", {"step_size": 0.1, "max_iters": 0}, r"options\['max_iters'\] must be an "
     "integer from 1 to 100, got 0"),
    ("adams", {"max_order": 13}, r"options\['max_order'\] must be an integer from 1 to 12"),
    ("adams", {"max_order": True}, r"options\['max_order'\] .* got True of type bool"),
    ("explicit_adams", {"step_size": 0.1, "grid": [0.5]}, r"takes at most one of "
     r"options\['step_size'\], options\['grid'\]"),
    ("implicit_adams", {"perturb": True}, r"Unknown options \['perturb'\]"),
    ("explicit_adams", {"step_size": 0.1, "max_iters": 2}, r"Unknown options \['max_iters'\] "
     "for method 'explicit_adams'"),
    ("adams", {"step_size": 0.1}, r"Unknown options \['step_size'\] for method 'adams'"),
    ("adams", {"first_step": -1.0}, r"options\['first_step'\] must be a positive number"),
])
def test_bad_options_are_refused_by_name(method, options, message):
    with pytest.raises(ValueError, match=message):
        odeint(oscillator, tf.constant([1.0, 0.5]), [0.0, 1.0], method=method, options=options)
