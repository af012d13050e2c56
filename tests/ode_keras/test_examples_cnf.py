"""The CNF example: data, base density, exact trace, conservation of mass, short training."""

import re

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from ode_keras.examples import cnf


def _small_field(scale=0.3):
    """An untrained field, its hypernetwork's output layer shrunk so the flow stays moderate."""
    field = cnf.CNFField(width=16, hidden_dim=8)
    field(tf.constant(0.0), (tf.zeros([1, 2]), tf.zeros([1, 1])))
    last = field.hyper.layers[-1]
    last.kernel.assign(scale * last.kernel)
    last.bias.assign(tf.random.normal(last.bias.shape, stddev=scale))
    return field


def test_circles_have_radii_one_and_factor():
    points = cnf.make_circles(np.random.default_rng(0), 101, noise=0.0, factor=0.5)
    radii = np.hypot(*points.T)
    np.testing.assert_allclose(radii[:50], 1.0, rtol=1e-6)
    np.testing.assert_allclose(radii[50:], 0.5, rtol=1e-6)
    noisy = cnf.make_circles(np.random.default_rng(0), 4000, noise=0.06)
    residual = np.hypot(*noisy[:2000].T) - 1.0
    assert noisy.dtype == np.float32 and abs(residual.std() - 0.06) < 0.005


def test_base_density_is_scipys_gaussian_with_covariance_a_tenth():
    z = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    expected = stats.multivariate_normal(np.zeros(2), 0.1 * np.eye(2)).logpdf(z)
    np.testing.assert_allclose(cnf.base_log_prob(tf.constant(z)).numpy(), expected, rtol=1e-5)


def test_field_has_the_original_size():
    field = cnf.CNFField()
    field(tf.constant(0.0), (tf.zeros([3, 2]), tf.zeros([3, 1])))
    assert sum(int(np.prod(v.shape)) for v in field.weights) == 15_904


def test_trace_is_the_exact_divergence_of_the_velocity():
    field = cnf.CNFField(width=8, hidden_dim=4)
    z = tf.random.normal([5, 2])
    t = tf.constant(0.37)
    dz_dt, dlogp_dt = field(t, (z, tf.zeros([5, 1])))
    np.testing.assert_allclose(dz_dt.numpy(), field.velocity(t, z).numpy(), rtol=1e-6)
    # Analytic: d/dz mean_i u_i tanh(w_i . z + b_i) has trace mean_i (1 - h_i^2) (u_i . w_i).
    w, b, u = (p.numpy() for p in field.field_params(t))
    h = np.tanh(z.numpy() @ w.T + b)
    analytic = ((1 - h**2) * np.sum(u * w, axis=1)).mean(axis=1)
    np.testing.assert_allclose(-dlogp_dt.numpy()[:, 0], analytic, rtol=1e-4, atol=1e-6)


def test_learned_density_integrates_to_one():
    field = _small_field()
    x = np.linspace(-3.0, 3.0, 121)
    grid = np.stack(np.meshgrid(x, x), -1).reshape(-1, 2).astype(np.float32)
    log_p = cnf.log_likelihood(field, grid, tf.constant([cnf.T1, cnf.T0]), tol=1e-6).numpy()
    mass = np.exp(log_p).sum() * (x[1] - x[0]) ** 2
    base_mass = np.exp(cnf.base_log_prob(grid).numpy()).sum() * (x[1] - x[0]) ** 2
    assert abs(base_mass - 1.0) < 1e-3
    # The flow really moves the density (the test would be empty otherwise) and keeps its mass.
    assert np.abs(log_p - cnf.base_log_prob(grid).numpy()).max() > 0.5
    assert abs(mass - 1.0) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("adjoint", [True, False])
def test_main_lowers_the_nll_and_draws_the_figures(tmp_path, capsys, adjoint):
    argv = ["--niters", "30", "--num_samples", "128", "--width", "16", "--print_freq", "15",
            "--lr", "0.01", "--tol", "1e-4", "--viz", str(tmp_path)]
    assert cnf.main(argv + ([] if adjoint else ["--no-adjoint"])) == 0
    out = capsys.readouterr().out
    lines = re.findall(r"Iter: (\d+), running avg loss: (-?[\d.]+)", out)
    assert [int(itr) for itr, _ in lines] == [1, 15, 30]
    assert float(lines[-1][1]) < float(lines[0][1])
    test_nll = float(re.search(r"Test NLL \(4,096 fresh points\): (-?[\d.]+) nats", out).group(1))
    assert test_nll < float(lines[0][1])
    for name in ("cnf.png", "cnf_evolution.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_exact_circles_density_integrates_to_one_and_matches_a_histogram():
    x = np.linspace(-1.6, 1.6, 321)
    grid = np.stack(np.meshgrid(x, x), -1).reshape(-1, 2)
    density = np.exp(cnf.circles_log_density(grid))
    assert abs(density.sum() * (x[1] - x[0]) ** 2 - 1.0) < 1e-3
    # Mass of the inner ring's neighbourhood, against a large sample of the data.
    points = cnf.make_circles(np.random.default_rng(0), 200_000)
    near_inner = np.abs(np.hypot(*grid.T) - 0.5) < 0.1
    sample_fraction = np.mean(np.abs(np.hypot(*points.T) - 0.5) < 0.1)
    assert abs(density[near_inner].sum() * (x[1] - x[0]) ** 2 - sample_fraction) < 5e-3
