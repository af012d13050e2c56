"""Classic stiff problems (Hairer & Wanner's test set) against SciPy's Radau at rtol 1e-12,
computed here: Robertson's chemical kinetics to t = 1e5 and van der Pol at mu = 1000.

Each solve traces for 20-40 s, so these are marked slow.
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy.integrate import solve_ivp

from ode_keras import odeint

pytestmark = pytest.mark.slow


def robertson_numpy(t, y):
    return [-0.04 * y[0] + 1e4 * y[1] * y[2],
            0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2, 3e7 * y[1] ** 2]


def robertson(t, y):
    a, b, c = tf.unstack(y)
    return tf.stack([-0.04 * a + 1e4 * b * c, 0.04 * a - 1e4 * b * c - 3e7 * b * b,
                     3e7 * b * b])


def test_robertson_to_1e5_matches_radau_and_conserves_mass():
    t = np.array([0.0, 1e-3, 1e-1, 10.0, 1e3, 1e5])
    reference = solve_ivp(robertson_numpy, (0.0, t[-1]), [1.0, 0.0, 0.0], method="Radau",
                          t_eval=t, rtol=1e-12, atol=1e-20).y.T
    rtol, atol = 1e-6, 1e-10
    solve = tf.function(lambda y0: odeint(robertson, y0, tf.constant(t), method="kvaerno5",
                                          rtol=rtol, atol=atol, return_stats=True))
    ys, stats = solve(tf.constant([1.0, 0.0, 0.0], tf.float64))
    ys = ys.numpy()
    # Global errors within a few tolerances of each component (y2 ~ 1e-5 lives on atol).
    assert np.all(np.abs(ys - reference) <= 10 * (rtol * np.abs(reference) + atol))
    # The method's linear invariant: the mass y1 + y2 + y3 = 1, up to Newton's error.
    assert np.abs(ys.sum(axis=1) - 1.0).max() < rtol
    assert int(stats["num_accepted"]) < 200 and int(stats["status"]) == 0


def test_van_der_pol_mu_1000_is_as_accurate_as_radau_at_the_same_tolerance():
    mu = 1000.0

    def vdp_numpy(t, y):
        return [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]]

    def vdp(t, y):
        return tf.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])

    # Through the first relaxation jump (near t = 807) and on to 3000.
    t = np.array([0.0, 500.0, 1000.0, 3000.0])
    reference = solve_ivp(vdp_numpy, (0.0, t[-1]), [2.0, 0.0], method="Radau", t_eval=t,
                          rtol=1e-12, atol=1e-12).y.T
    rtol = 1e-6
    radau = solve_ivp(vdp_numpy, (0.0, t[-1]), [2.0, 0.0], method="Radau", t_eval=t,
                      rtol=rtol, atol=rtol).y.T
    solve = tf.function(lambda y0: odeint(vdp, y0, tf.constant(t), method="kvaerno5",
                                          rtol=rtol, atol=rtol, return_stats=True))
    ys, stats = solve(tf.constant([2.0, 0.0], tf.float64))
    # The phase error of a relaxation oscillation grows through every jump, for any
    # method: measured against Radau's own error at the same tolerance.
    ours = np.abs(ys.numpy()[:, 0] - reference[:, 0]).max()
    theirs = np.abs(radau[:, 0] - reference[:, 0]).max()
    assert ours < 10 * max(theirs, rtol), (ours, theirs)
    assert int(stats["status"]) == 0 and int(stats["num_steps"]) < 2000
