"""The bouncing ball: bounce times against the closed form, its gradients against finite
differences and the closed form's, --help before TensorFlow, and a short training run."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from ode_keras.examples import bouncing_ball
from tests.ode_keras.test_reliability_examples import HELP_WRAPPER, ROOT


def closed_form_and_its_gradient(gravity, restitution, bounces):
    """The last bounce time in closed form and its gradient w.r.t. (log g, e, height)."""
    log_g, e, height = (tf.Variable(v, dtype=tf.float64) for v in
                        (np.log(gravity), restitution, bouncing_ball.HEIGHT))
    with tf.GradientTape() as tape:
        g = tf.exp(log_g)
        speed, first = tf.sqrt(2.0 * g * height), tf.sqrt(2.0 * height / g)
        flights = 2.0 * speed * e ** tf.range(1, bounces, dtype=tf.float64) / g
        last = first + tf.reduce_sum(flights)
    return float(last), [float(d) for d in tape.gradient(last, [log_g, e, height])]


def test_bounce_times_are_the_closed_form_ones():
    ball = bouncing_ball.BouncingBall(bouncing_ball.TRUE_GRAVITY,
                                      bouncing_ball.TRUE_RESTITUTION)
    times = ball.bounce_times(4).numpy()
    expected = bouncing_ball.analytic_bounce_times(bouncing_ball.TRUE_GRAVITY,
                                                   bouncing_ball.TRUE_RESTITUTION, 4)
    # Each bounce lifts the ball by 1e-7, which moves a bounce time by about 1e-8.
    np.testing.assert_allclose(times, expected, atol=1e-7)
    assert np.all(np.diff(times) > 0)


@pytest.mark.parametrize("adjoint", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_the_gradient_of_the_last_bounce_matches_finite_differences_and_the_closed_form(
        adjoint):
    ball = bouncing_ball.BouncingBall(7.0, 0.6, adjoint=adjoint)
    check = bouncing_ball.gradient_check(ball, bounces=2)
    for name, (gradient, difference) in check.items():
        np.testing.assert_allclose(gradient, difference, rtol=1e-6, atol=1e-8, err_msg=name)
    _, closed = closed_form_and_its_gradient(7.0, 0.6, bounces=2)
    computed = [check[name][0] for name in ("log_gravity", "restitution", "height")]
    np.testing.assert_allclose(computed, closed, rtol=1e-6)
    assert check["t0"][0] == pytest.approx(1.0, abs=1e-9)  # the ball is autonomous


def test_help_answers_before_tensorflow_is_imported():
    cases = [("bouncing_ball", ["--help"]), ("bouncing_ball", ["--bounces", "x"])]
    run = subprocess.run([sys.executable, "-c", HELP_WRAPPER, json.dumps(cases)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout)
    shown = results["bouncing_ball --help"]
    assert shown["code"] == 0 and not shown["tensorflow"], shown
    assert shown["out"].startswith("usage: python -m ode_keras.examples.bouncing_ball ")
    refused = results["bouncing_ball --bounces x"]
    assert refused["code"] == 2 and not refused["tensorflow"], refused


@pytest.mark.slow
def test_main_trains_towards_the_true_ball_and_draws_the_figure(tmp_path, capsys):
    argv = ["--bounces", "3", "--niters", "20", "--test_freq", "10", "--viz", str(tmp_path)]
    assert bouncing_ball.main(argv) == 0
    lines = re.findall(r"Iter (\d+) \| Loss ([\d.e+-]+) \| g ([\d.]+) \| e ([\d.]+)",
                       capsys.readouterr().out)
    assert [int(line[0]) for line in lines] == [10, 20]
    losses, gravities, restitutions = (np.array([float(line[i]) for line in lines])
                                       for i in (1, 2, 3))
    assert losses[1] < losses[0]
    # Both parameters move from the start (g = 6, e = 0.5) towards the truth (9.81, 0.8).
    assert np.all(gravities > bouncing_ball.START_GRAVITY)
    assert np.all(restitutions > bouncing_ball.START_RESTITUTION)
    assert (tmp_path / "bouncing_ball.png").stat().st_size > 10_000
