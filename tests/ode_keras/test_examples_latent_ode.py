"""The latent ODE example: spiral geometry, the ELBO against SciPy, and a short training run."""

import re

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from ode_keras.examples import _spirals, latent_ode


def _spiral_data(**kwargs):
    return _spirals.generate_spiral2d(np.random.default_rng(0), **kwargs)


def test_base_spirals_follow_their_polar_equations():
    ts = np.linspace(0.0, 6 * np.pi, 300)
    clockwise, counter = _spirals.spiral_pair(ts, stop=6 * np.pi, a=0.0, b=0.3)
    # Counter-clockwise around (5, 0): radius 0.3 t at angle t.
    rel = counter - [5.0, 0.0]
    np.testing.assert_allclose(np.hypot(*rel.T), 0.3 * ts, atol=1e-12)
    np.testing.assert_allclose(np.cos(np.arctan2(rel[1:, 1], rel[1:, 0]) - ts[1:]), 1.0, atol=1e-9)
    # Clockwise around (-5, 0): radius 15 / z with z = 6 pi + 1 - t.
    z = 6 * np.pi + 1.0 - ts
    np.testing.assert_allclose(np.hypot(*(clockwise - [-5.0, 0.0]).T), 15.0 / z, rtol=1e-12)


def test_samples_are_noisy_windows_of_their_spiral():
    data = _spiral_data(nspiral=400)
    assert data["samp_trajs"].shape == (400, 100, 2) and data["orig_trajs"].shape == (400, 1000, 2)
    np.testing.assert_array_equal(data["samp_ts"], data["orig_ts"][:100])
    assert data["starts"].min() >= 100 and data["starts"].max() < 900
    window = data["starts"][:, None] + np.arange(100)
    clean = np.take_along_axis(data["orig_trajs"], window[..., None], axis=1)
    noise = data["samp_trajs"] - clean
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.3) < 0.01
    centres = data["orig_trajs"][:, 0, 0]  # t = 0: (0 + 5, 0) or (15 cos z - 5, ...)
    assert 0.3 < np.mean(np.isclose(centres, 5.0)) < 0.7  # both spirals drawn, about equally


def test_negative_elbo_matches_scipy_densities():
    rng = np.random.default_rng(1)
    x, pred = rng.normal(size=(3, 7, 2)), rng.normal(size=(3, 7, 2))
    mean, logvar = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    log_px = stats.norm.logpdf(x, loc=pred, scale=0.3).sum(axis=(1, 2))
    var = np.exp(logvar)
    # KL(q || N(0, I)) = cross-entropy - entropy, each from SciPy's Gaussian.
    entropy = np.array([stats.multivariate_normal(m, np.diag(v)).entropy()
                        for m, v in zip(mean, var)])
    cross = 0.5 * np.sum(np.log(2 * np.pi) + var + mean**2, axis=1)
    expected = np.mean(-log_px + cross - entropy)
    got = latent_ode.negative_elbo(*(tf.constant(a) for a in (x, pred, mean, logvar)))
    np.testing.assert_allclose(float(got), expected, rtol=1e-10)


def test_model_has_the_original_size():
    model = latent_ode.LatentODE()
    mean, logvar = model.encode(tf.zeros([3, 100, 2]))
    assert mean.shape == (3, 4) and logvar.shape == (3, 4)
    model.func(tf.constant(0.0), mean)
    model.decoder(mean)
    assert sum(int(np.prod(v.shape)) for v in model.weights) == 1654


def test_recognition_rnn_reads_the_sequence_backwards():
    model = latent_ode.LatentODE()
    x = tf.random.normal([2, 30, 2])
    mean = model.encode(x)[0]
    # The same cell reading the time-reversed data forwards must give the same q(z0).
    forward = tf.keras.layers.SimpleRNN(25)
    forward.build((None, 30, 2))
    forward.set_weights(model.rnn.get_weights())
    expected = model.to_posterior(forward(x[:, ::-1]))[:, :4]
    np.testing.assert_allclose(mean.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.to_posterior(forward(x))[:, :4], mean, atol=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("adjoint", [False, True])
def test_main_raises_the_elbo_and_draws_the_figure(tmp_path, capsys, adjoint):
    argv = ["--niters", "40", "--nspiral", "64", "--print_freq", "20", "--rtol", "1e-5",
            "--atol", "1e-6", "--viz", str(tmp_path)] + ["--adjoint"] * adjoint
    assert latent_ode.main(argv) == 0
    out = capsys.readouterr().out
    lines = re.findall(r"Iter: (\d+), running avg elbo: (-?[\d.]+)", out)
    assert [int(itr) for itr, _ in lines] == [1, 20, 40]
    assert float(lines[-1][1]) > float(lines[0][1])
    assert re.search(r"Reconstruction RMSE: [\d.]+", out)
    assert (tmp_path / "latent_ode.png").stat().st_size > 10_000
