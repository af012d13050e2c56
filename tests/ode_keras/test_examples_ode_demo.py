"""The spiral demo: its data against SciPy, its batches, its model, and a short training run."""

import re

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from ode_keras import SOLVERS
from ode_keras.examples import _cli, ode_demo


def test_every_registered_method_is_a_choice_and_others_are_refused(capsys):
    # The command line offers exactly the registry (its names are written out in _cli, so
    # --help needs no TensorFlow: a method added to SOLVERS fails here until listed there), and
    # a misspelt one stops with argparse's usage error listing the choices.
    assert tuple(sorted(SOLVERS)) == _cli.METHODS
    parser = ode_demo.build_parser()
    for method in SOLVERS:
        assert parser.parse_args(["--method", method]).method == method
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--method", "rk45"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'rk45'" in capsys.readouterr().err


def test_learning_rate_decays_along_a_cosine_to_zero_or_stays_constant():
    args = ode_demo.build_parser().parse_args(["--niters", "100", "--lr", "0.01"])
    schedule = ode_demo.learning_rate(args)
    rates = [float(schedule(step)) for step in (0, 50, 100, 150)]
    np.testing.assert_allclose(rates, [0.01, 0.005, 0.0, 0.0], atol=1e-9)
    args = ode_demo.build_parser().parse_args(["--lr_schedule", "constant", "--lr", "0.01"])
    assert ode_demo.learning_rate(args) == 0.01


def test_truth_matches_an_independent_scipy_solution():
    t, y = ode_demo.make_truth(200)
    A = np.array(ode_demo.TRUE_A)
    reference = solve_ivp(lambda _, v: v**3 @ A, (0.0, 25.0), [2.0, 0.0], method="DOP853",
                          rtol=1e-11, atol=1e-12, t_eval=t.astype(np.float64)).y.T
    assert t.shape == (200,) and y.shape == (200, 1, 2)
    assert t[0] == 0.0 and t[-1] == 25.0
    np.testing.assert_allclose(y[:, 0], reference, atol=2e-5)


def test_batches_are_consecutive_stretches_of_the_truth():
    t = np.linspace(0.0, 1.0, 50, dtype=np.float32)
    true_y = np.stack([t, -t], axis=-1)[:, None, :]  # y(t) = (t, -t): the index is readable
    y0, batch_t, batch_y = ode_demo.get_batch(np.random.default_rng(0), t, true_y, 10, 20)
    assert y0.shape == (20, 2) and batch_t.shape == (10,) and batch_y.shape == (10, 20, 2)
    np.testing.assert_array_equal(batch_t, t[:10])
    np.testing.assert_array_equal(batch_y[0], y0)
    starts = np.searchsorted(t, y0[:, 0])
    assert len(set(starts)) == 20 and starts.max() < 40  # without replacement, room for 10 steps
    np.testing.assert_array_equal(batch_y[:, :, 0], t[starts[None, :] + np.arange(10)[:, None]])


def test_field_has_the_original_size_and_initialisation():
    import tensorflow as tf

    func = ode_demo.SpiralODEFunc()
    y = tf.constant([[0.5, -1.0], [2.0, 0.0]])
    out = func(tf.constant(0.0), y)
    assert out.shape == (2, 2)
    assert sum(int(np.prod(v.shape)) for v in func.weights) == 252
    kernels = [v.numpy() for v in func.weights if len(v.shape) == 2]
    biases = [v.numpy() for v in func.weights if len(v.shape) == 1]
    assert all(np.all(b == 0) for b in biases)
    assert 0.07 < np.std(kernels[0]) < 0.13 and np.abs(np.mean(kernels[0])) < 0.04
    # The field sees y**3: with zero biases it is odd in y.
    np.testing.assert_allclose(func(tf.constant(0.0), -y), -out, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("adjoint", [False, True])
def test_main_trains_prints_the_losses_and_draws_the_figure(tmp_path, capsys, adjoint):
    argv = ["--niters", "60", "--test_freq", "30", "--data_size", "400", "--viz", str(tmp_path)]
    assert ode_demo.main(argv + ["--adjoint"] * adjoint) == 0
    lines = re.findall(r"Iter (\d+) \| Total Loss ([\d.]+) \| Batch Loss ([\d.na]+)",
                       capsys.readouterr().out)
    assert [int(itr) for itr, _, _ in lines] == [0, 30, 60]
    batch_losses = [float(batch) for _, _, batch in lines]
    assert batch_losses[2] < 0.9 * batch_losses[1]  # running mean of the training loss
    assert all(np.isfinite(float(total)) for _, total, _ in lines)
    assert (tmp_path / "spiral.png").stat().st_size > 10_000
