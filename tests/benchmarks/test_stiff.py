"""The stiff benchmark's parts: problems against autodiff and published values, the error
measure, the gradient reference against finite differences, failure rows, and quick mode."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

BENCHMARKS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks")
sys.path.insert(0, os.path.abspath(BENCHMARKS))

import _stiff_gradients as gradients  # noqa: E402
import _stiff_problems as problems  # noqa: E402
import _stiff_report as report  # noqa: E402
from _stiff_tensorflow import run_ode_keras  # noqa: E402
from _stiff_timing import Result, guarded  # noqa: E402

# HIRES at t = 321.8122, from the Test Set for IVP Solvers (Mazzia, Magherini et al.).
HIRES_END = (0.7371312573325668e-3, 0.1442485726316185e-3, 0.5888729740967575e-4,
             0.1175651343283149e-2, 0.2386356198831331e-2, 0.6238968252742796e-2,
             0.2849998395185769e-2, 0.2850001604814231e-2)


@pytest.mark.parametrize("name", sorted(problems.PROBLEMS))
def test_analytic_jacobians_are_the_derivatives_of_the_right_hand_sides(name):
    problem = problems.PROBLEMS[name]
    rng = np.random.default_rng(0)
    for _ in range(3):
        y = tf.constant(np.abs(rng.normal(size=len(problem.y0))) + 0.1, tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(y)
            f = problem.rhs(y, tf.stack)
        np.testing.assert_allclose(problem.jacobian(y.numpy()), tape.jacobian(f, y).numpy(),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(problem.numpy_rhs(0.0, y.numpy()), f.numpy(), rtol=1e-14)


def test_hires_reference_reaches_the_test_sets_published_end_values():
    np.testing.assert_allclose(problems.reference("hires")[-1], HIRES_END, rtol=1e-8)


def test_robertson_reference_conserves_mass():
    np.testing.assert_allclose(problems.reference("robertson").sum(axis=1), 1.0, rtol=1e-11)


def test_error_is_relative_above_the_tolerances_switch_and_absolute_below():
    problem = problems.PROBLEMS["hires"]
    ref = problems.reference("hires")
    assert problems.error(problem, ref, 1e-6) == 0.0
    scale = problem.atol(1e-6) / 1e-6  # 1e-4: below it, errors count as absolute
    perturbed = ref * (1.0 + 1e-3)
    expected = np.max(1e-3 * np.abs(ref) / (np.abs(ref) + scale))
    assert problems.error(problem, perturbed, 1e-6) == pytest.approx(expected, rel=1e-12)
    assert np.isnan(problems.error(problem, np.full_like(ref, np.nan), 1e-6))


def test_gradient_reference_matches_central_finite_differences():
    _, reference = gradients.reference_gradient(rtol=1e-10, atol=1e-14)
    step, base = 1e-3, np.array(gradients.LOG_RATES)
    central = [(gradients.loss_by_radau(base + step * e, rtol=1e-10, atol=1e-14)
                - gradients.loss_by_radau(base - step * e, rtol=1e-10, atol=1e-14)) / (2 * step)
               for e in np.eye(3)]
    np.testing.assert_allclose(reference, central, rtol=1e-5)


def test_a_failing_solver_becomes_a_row_that_says_why():
    row = run_ode_keras(problems.PROBLEMS["robertson"], "no_such_method", 1e-6, 1, 1.0)
    assert not row.ok and row.note.startswith("failed: ValueError: Invalid method")
    table = report.table(problems.PROBLEMS["robertson"], 1e-6, [row])
    assert "| ode_keras no_such_method | failed: ValueError" in table
    assert guarded("x", lambda: 1 / 0).note == "failed: ZeroDivisionError: division by zero"


def test_tables_show_counts_time_and_error_over_rtol():
    row = Result("SciPy Radau", steps=10, rejected=2, nfe=50, jacobians=5, factorizations=6,
                 seconds=0.0123, compile_seconds=0.5, error=3e-7)
    line = report.table(problems.PROBLEMS["robertson"], 1e-6, [row]).splitlines()[-1]
    assert line == "| SciPy Radau | 10 (2) | 50 | 5 | 6 | 12.3 | 0.5 | 3.0e-07 | 0.3 |"


@pytest.mark.slow  # tracing each implicit method takes 10-30 s on a 2-core machine
def test_quick_mode_runs_every_ode_keras_implicit_method_to_the_tolerance():
    command = [sys.executable, os.path.join(BENCHMARKS, "stiff.py"), "--quick", "--no-peers",
               "--no-gradients", "--no-xla", "--repeats", "1"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=1200,
                         check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ode_keras")]
    assert rows, out
    for line in rows:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if "fixed steps" in cells[1]:
            continue
        assert not cells[1].startswith("failed"), line
        assert float(cells[-1]) < 20, line  # error / rtol: at the tolerance, not far off


@pytest.mark.slow
@pytest.mark.parametrize("method", ["kvaerno4", "kvaerno5"])
def test_kvaerno_outputs_inside_hires_keep_the_methods_accuracy(method):
    # Through a cubic Hermite interpolant between outputs these were off by 100x and 90x
    # rtol at rtol 1e-6; stepping to each output time they are within a few rtol.
    from ode_keras import odeint

    problem, rtol = problems.PROBLEMS["hires"], 1e-6

    @tf.function
    def solve(y0, t):
        return odeint(lambda _, y: problem.rhs(y, tf.stack), y0, t, method=method, rtol=rtol,
                      atol=problem.atol(rtol), options={"max_num_steps": 5000})

    ys = solve(tf.constant(problem.y0, tf.float64), tf.constant(problem.times, tf.float64))
    assert problems.error(problem, ys.numpy(), rtol) < 10 * rtol
