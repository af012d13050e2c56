"""Stiff problems: ode_keras's implicit methods against SciPy, TFP and diffrax, in one run.

Problems (``_stiff_problems.py``): Robertson's kinetics to t = 1e5, van der Pol at mu = 1000
in Hairer's scaled form on [0, 2], and HIRES, each at rtol 1e-6 and 1e-8 with the problem's
own atol. For every solver: accepted (and rejected) steps, evaluations of the right-hand side,
Jacobian evaluations, LU factorisations, the median wall time of a solve after a warm-up (the
first call's extra time, tracing and compiling, apart) and the error against a SciPy
``Radau`` reference at rtol 1e-12.

Solvers: every adaptive implicit method of ``ode_keras.SOLVERS`` in ``tf.function`` and under
XLA (``_stiff_tensorflow.py``); SciPy ``Radau``, ``BDF``, ``LSODA`` with the analytic
Jacobian (``_stiff_scipy.py``); TFP's ``BDF`` in ``tf.function``; diffrax's ``Kvaerno5`` with
a PID controller under ``jax.jit`` (``_stiff_diffrax.py``). All in float64 on one thread. A
solver that is missing or fails prints a row saying why.

Then the gradient cost (``_stiff_gradients.py``): one gradient of a loss on Robertson's
trajectory with respect to its log rate constants by ode_keras's three gradient paths with
the best implicit method, TFP's BDF and diffrax's two adjoints, timed and compared with a
forward-sensitivity reference. The work-precision figure goes to ``--figure``.

Run:  nice -n 10 python benchmarks/stiff.py [--quick] [--repeats 3] [--no-xla]
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# One thread for XLA (TensorFlow's and JAX's alike), before either compiles anything.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stiff_diffrax  # noqa: E402
import _stiff_gradients  # noqa: E402
import _stiff_problems as problems  # noqa: E402
import _stiff_report as report  # noqa: E402
import _stiff_scipy  # noqa: E402
import _stiff_tensorflow as tensorflow_runners  # noqa: E402
from _stiff_timing import Result  # noqa: E402

TOLERANCES = (1e-6, 1e-8)
FIGURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs",
                      "figures", "stiff_work_precision.png")
# Preferred for the gradient when no ode_keras method reached its tolerance on Robertson.
GRADIENT_FALLBACK = ("rodas5p", "rodas4", "kvaerno5", "kvaerno4", "kvaerno3")


def ode_keras_results(problem, rtol, args):
    """ode_keras's rows: each adaptive implicit method in tf.function and XLA; fixed ones noted."""
    adaptive, fixed = tensorflow_runners.implicit_methods()
    if not adaptive:
        return [Result("ode_keras implicit methods", note="none registered yet")]
    rows = []
    for method in adaptive:
        for jit_compile in (False,) if args.no_xla else (False, True):
            rows.append(tensorflow_runners.run_ode_keras(
                problem, method, rtol, args.repeats, args.budget, jit_compile=jit_compile))
    rows += [Result(f"ode_keras {name}", note="fixed steps (step_size): no tolerance to "
                    "compare, left out") for name in fixed]
    return rows


def peer_results(problem, rtol, args):
    """The peers' rows: SciPy's three methods, TFP's BDF, diffrax's Kvaerno5."""
    rows = [_stiff_scipy.run(problem, m, rtol, args.repeats, args.budget)
            for m in _stiff_scipy.METHODS]
    rows.append(tensorflow_runners.run_tfp_bdf(problem, rtol, args.repeats, args.budget))
    rows.append(_stiff_diffrax.run(problem, rtol, args.repeats, args.budget))
    return rows


def best_method(runs):
    """The fastest ode_keras method (either mode) within 10x rtol on Robertson at each rtol."""
    best = {}
    for (name, rtol), results in runs.items():
        for r in results:
            if (name == "robertson" and r.ok and r.solver.startswith("ode_keras")
                    and r.error <= 10 * rtol):
                method = r.solver.split()[1].rstrip(",")
                best[method] = best.get(method, 0.0) + r.seconds
    if best:
        return min(best, key=best.get)
    adaptive, _ = tensorflow_runners.implicit_methods()
    preferred = [m for m in GRADIENT_FALLBACK if m in adaptive]
    return (preferred or adaptive or [None])[0]


def parse_args(argv=None):
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: Robertson at rtol 1e-6 only, one repeat, no figure")
    parser.add_argument("--repeats", type=int, default=3, help="timed solves after the warm-up")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds of timed repeats per row at most (then fewer repeats)")
    parser.add_argument("--no-xla", action="store_true", help="skip ode_keras's XLA rows")
    parser.add_argument("--no-gradients", action="store_true", help="skip the gradient cost")
    parser.add_argument("--no-peers", action="store_true", help="ode_keras's rows only")
    parser.add_argument("--figure", default=FIGURE, help="work-precision figure (PNG)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    return args


def main(argv=None):
    """Runs the benchmark; returns ``{(problem, rtol): [Result, ...]}``."""
    args = parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.get_logger().setLevel("ERROR")  # TFP's deprecation notices
    names = ("robertson",) if args.quick else tuple(problems.PROBLEMS)
    tolerances = TOLERANCES[:1] if args.quick else TOLERANCES
    runs = {}
    for name in names:
        problem = problems.PROBLEMS[name]
        for rtol in tolerances:
            rows = ode_keras_results(problem, rtol, args)
            rows += [] if args.no_peers else peer_results(problem, rtol, args)
            runs[name, rtol] = rows
            print(report.table(problem, rtol, rows), end="\n\n", flush=True)
    if not args.quick:
        report.figure(runs, names, os.path.normpath(args.figure))
    if not args.no_gradients:
        method = best_method(runs)
        reference, rows = _stiff_gradients.run(method, args.repeats, args.budget,
                                               with_diffrax=not args.no_peers)
        print(report.gradient_table(reference, rows), flush=True)
    return runs


if __name__ == "__main__":
    main()
