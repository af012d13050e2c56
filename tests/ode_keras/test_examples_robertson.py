"""The Robertson example: its data against SciPy, its gradient against finite differences, a
short training run that moves the constants toward the truth, and dopri5's stiff failure."""

import re

import numpy as np
import pytest
import tensorflow as tf
from scipy.integrate import solve_ivp

from ode_keras.examples import robertson

TRUE_LOG_K = np.log(robertson.TRUE_RATES)


def _args(*argv):
    return robertson.build_parser().parse_args(list(argv))


def _scipy_robertson(times):
    """Robertson's kinetics written out again, solved by SciPy's Radau at rtol 1e-11."""
    k1, k2, k3 = robertson.TRUE_RATES

    def rhs(t, y):
        return [-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2],
                k2 * y[1] ** 2]

    return solve_ivp(rhs, (0.0, times[-1]), [1.0, 0.0, 0.0], method="Radau", t_eval=times,
                     rtol=1e-11, atol=1e-18).y.T


@pytest.fixture(scope="module")
def noise_free_data():
    """``(times, y_obs, y_true)`` at 10 times without noise (one trace of the data solve)."""
    return robertson.make_data(_args("--n_obs", "10", "--noise", "0"))


@pytest.mark.slow  # tracing the rodas5p solve takes 10-25 s
def test_noise_free_data_are_scipys_solution_and_conserve_mass(noise_free_data):
    times, y_obs, y_true = noise_free_data
    np.testing.assert_array_equal(y_obs, y_true)
    assert times[0] == 0.0 and np.isclose(times[1], 1e-4) and np.isclose(times[-1], 1e5)
    reference = _scipy_robertson(times)[1:]
    # Relative to each species' size: y2 is ~1e-5 and y3 starts near 1e-8.
    np.testing.assert_allclose(y_true, reference, rtol=1e-7, atol=1e-16)
    np.testing.assert_allclose(y_true.sum(axis=1), 1.0, rtol=1e-10)


def test_noise_is_multiplicative_with_the_requested_spread():
    y = np.array([1.0, -2e-5, 3e-9])[None, :] * np.ones((4000, 1))
    noisy = robertson.add_noise(y, 0.1, np.random.default_rng(0))
    log_ratio = np.log(noisy / y)  # signs kept: the ratio is positive
    assert abs(np.mean(log_ratio)) < 0.005 and abs(np.std(log_ratio) - 0.1) < 0.003


@pytest.mark.slow
def test_gradient_in_log_k_matches_central_finite_differences(noise_free_data):
    times, y_true = noise_free_data[0], noise_free_data[2]
    y_obs = robertson.add_noise(y_true, 0.05, np.random.default_rng(1))
    loss = robertson.make_loss(times, y_obs, "rodas5p", 1e-10, 1e-16, 4096)

    @tf.function  # one trace serves the gradient and the finite differences' losses
    def value_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = loss(x)
        return value, tape.gradient(value, x)

    log_k = tf.constant(TRUE_LOG_K + np.array([0.3, -0.2, 0.25]))
    step = 1e-4
    central = [(value_and_gradient(log_k + step * e)[0] -
                value_and_gradient(log_k - step * e)[0]).numpy() / (2 * step)
               for e in tf.eye(3, dtype=tf.float64)]
    np.testing.assert_allclose(value_and_gradient(log_k)[1].numpy(), central, rtol=1e-5)


@pytest.mark.slow
def test_a_few_adam_iterations_lower_the_loss_and_approach_the_true_constants(tmp_path):
    history = robertson.train(_args("--niters", "8", "--test_freq", "4", "--n_obs", "12",
                                    "--viz", str(tmp_path)))
    assert [h["iter"] for h in history] == [0, 4, 8]
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]

    def distance(h):
        return np.linalg.norm(np.log([h["k1"], h["k2"], h["k3"]]) - TRUE_LOG_K)

    assert distance(history[-1]) < 0.8 * distance(history[0])
    assert (tmp_path / "robertson.png").stat().st_size > 10_000


def test_an_explicit_method_stops_with_the_stiff_error(monkeypatch, capsys):
    # The data come from SciPy here (the example's own come from rodas5p, slow to trace):
    # the point is dopri5's first training solve.
    times = robertson.observation_times(6)
    reference = _scipy_robertson(times)[1:]
    monkeypatch.setattr(robertson, "make_data", lambda args: (times, reference, reference))
    status = robertson.main(["--method", "dopri5", "--niters", "1", "--max_num_steps", "400"])
    out = capsys.readouterr().out
    assert status == 1
    assert "Training with method='dopri5' failed" in out
    assert "max_num_steps=400 steps were not enough to reach t = 100000" in out
    # Its step is held near 1e-3 by stability: 400 steps go nowhere near 1e5.
    reached = float(re.search(r"the solve stopped at t = ([0-9.e+-]+)", out).group(1))
    assert reached < 10.0
    assert "Detected at node" not in out  # the paragraph, not the graph's traceback
