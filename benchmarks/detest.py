"""DETEST: ode_keras and torchdiffeq on the classic non-stiff test set, side by side.

The twenty-five problems of classes A to E (Hull, Enright, Fellen & Sedgwick 1972; see
``_detest_problems.py``) from t = 0 to 20 in float64, solved by both libraries with the same
methods at rtol = atol = tol. For each solve: the evaluations of the right-hand side (NFE,
counted by both libraries alike: every call of ``func``, the first-step selection included)
and the error at t = 20 against SciPy's DOP853 at rtol = atol = 1e-13, in units of the
tolerance's scale, ``max_i |y_i - ref_i| / (1 + |ref_i|)``. The table gives, per method and
tolerance, the geometric means over the problems of the NFE and of the error, and of their
ratios (ode_keras / torchdiffeq); "worst" is the largest error of ode_keras divided by tol.

The methods of order 2 and 3 (adaptive_heun, fehlberg2, bosh3) are left out at tol = 1e-9,
where they take 1e4 to 1e6 steps per problem; ``--all`` keeps them. NFE does not depend on
timing, so nothing is timed; one thread each for TensorFlow and PyTorch.

Run:  nice -n 10 python benchmarks/detest.py [--methods dopri5 ...] [--tolerances 1e-3 ...]
      [--problems A1 ...] [--per-problem] [--no-torch]
"""

import argparse
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _detest_problems as detest  # noqa: E402

METHODS = ("dopri5", "bosh3", "adaptive_heun", "fehlberg2", "dopri8")
TOLERANCES = (1e-3, 1e-6, 1e-9)
LOW_ORDER = ("bosh3", "adaptive_heun", "fehlberg2")
MAX_STEPS = 1_000_000
# Errors below this are round-off: floored so that one lucky solve does not move a mean.
ERROR_FLOOR = 1e-16


def _tf_matmul(matrix, x):
    matrix = tf.constant(matrix, x.dtype)
    return tf.linalg.matvec(matrix, x) if x.shape.rank == 1 else tf.matmul(matrix, x)


TF_OPS = detest.Ops(stack=tf.stack, concat=lambda xs: tf.concat(xs, 0), cos=tf.cos,
                    sin=tf.sin, sqrt=tf.sqrt, matmul=_tf_matmul,
                    constant=lambda a, like: tf.constant(a, like.dtype), reshape=tf.reshape,
                    sum=lambda x, axis: tf.reduce_sum(x, axis))


def _torch_ops():
    import torch

    return detest.Ops(stack=torch.stack, concat=torch.cat, cos=torch.cos, sin=torch.sin,
                      sqrt=torch.sqrt, matmul=lambda a, x: torch.as_tensor(a, dtype=x.dtype) @ x,
                      constant=lambda a, like: torch.as_tensor(a, dtype=like.dtype),
                      reshape=torch.reshape, sum=lambda x, axis: x.sum(axis))


class OdeKeras:
    """ode_keras's solves: one ``tf.function`` per problem and method, tol an input."""

    name = "ode_keras"

    def __init__(self):
        from ode_keras import odeint

        self.odeint, self.functions = odeint, {}

    def __call__(self, problem, method, tol):
        """``(y(20), nfe)``, or None when the solve fails."""
        key = (problem.name, method)
        if key not in self.functions:
            self.functions[key] = self._compile(problem, method)
        try:
            y_end, nfe = self.functions[key](tf.constant(tol, tf.float64))
        except tf.errors.InvalidArgumentError:
            return None
        return y_end.numpy(), int(nfe)


    def _compile(self, problem, method):
        y0 = tf.constant(problem.y0)
        times = tf.constant([0.0, detest.T_END], tf.float64)

        @tf.function
        def solve(tol):
            ys, stats = self.odeint(lambda t, y: problem.rhs(t, y, TF_OPS), y0, times,
                                    method=method, rtol=tol, atol=tol, return_stats=True,
                                    options={"max_num_steps": MAX_STEPS})
            return ys[-1], stats["nfe"]

        return solve


class TorchDiffEq:
    """torchdiffeq's solves, counting every call of ``func``."""

    name = "torchdiffeq"

    def __init__(self):
        import torch
        import torchdiffeq

        torch.set_num_threads(1)
        self.torch, self.odeint, self.ops = torch, torchdiffeq.odeint, _torch_ops()

    def __call__(self, problem, method, tol):
        torch, calls = self.torch, [0]

        def func(t, y):
            calls[0] += 1
            return problem.rhs(t, y, self.ops)

        times = torch.tensor([0.0, detest.T_END], dtype=torch.float64)
        try:
            with torch.no_grad():
                ys = self.odeint(func, torch.tensor(problem.y0), times, method=method, rtol=tol,
                                 atol=tol, options={"max_num_steps": MAX_STEPS})
        except (AssertionError, RuntimeError):  # max_num_steps exceeded, step underflow
            return None
        return ys[-1].numpy(), calls[0]


def scaled_error(y, ref):
    """The error in units of the tolerance's scale, ``atol + rtol |y|`` at rtol = atol."""
    return max(float(np.max(np.abs(y - ref) / (1.0 + np.abs(ref)))), ERROR_FLOOR)


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def run(solvers, jobs, problems, per_problem):
    """``{(method, tol): {solver name: [(nfe, error) or None per problem]}}``."""
    references = {p.name: detest.reference(p) for p in problems}
    results = {}
    for method, tol in jobs:
        row = results[method, tol] = {}
        for solver in solvers:
            outcomes = row[solver.name] = []
            for problem in problems:
                solved = solver(problem, method, tol)
                outcomes.append(None if solved is None else
                                (solved[1], scaled_error(solved[0], references[problem.name])))
                if per_problem:
                    print(f"  {method} {tol:g} {solver.name} {problem.name}: "
                          f"{outcomes[-1] or 'failed'}", flush=True)
    return results


def summary_rows(results, names):
    """One table row per method and tolerance, over the problems every solver solved."""
    rows = []
    for (method, tol), by_solver in results.items():
        columns = [by_solver[name] for name in names]
        both = [i for i in range(len(columns[0])) if all(c[i] is not None for c in columns)]
        nfe = [geometric_mean([c[i][0] for i in both]) for c in columns]
        error = [geometric_mean([c[i][1] for i in both]) for c in columns]
        worst = max((columns[0][i][1] for i in both), default=float("nan")) / tol
        failed = [sum(o is None for o in c) for c in columns]
        rows.append((method, tol, len(both), nfe, error, worst, failed))
    return rows


def print_table(rows, names):
    head = " | ".join(f"NFE {n}" for n in names) + " | " + " | ".join(
        f"error {n}" for n in names)
    ratios = " | NFE ratio | error ratio" if len(names) == 2 else ""
    print(f"| method | tol | problems | {head}{ratios} | worst error / tol | failed |")
    print("|" + "---|" * (5 + 2 * len(names) + (2 if ratios else 0)))
    for method, tol, count, nfe, error, worst, failed in rows:
        cells = [f"{v:.0f}" for v in nfe] + [f"{v:.2e}" for v in error]
        if ratios:
            cells += [f"{nfe[0] / nfe[1]:.2f}", f"{error[0] / error[1]:.2f}"]
        print(f"| {method} | {tol:g} | {count} | " + " | ".join(cells)
              + f" | {worst:.2f} | {'/'.join(map(str, failed))} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--tolerances", nargs="+", type=float, default=list(TOLERANCES))
    parser.add_argument("--problems", nargs="+", default=list(detest.PROBLEMS))
    parser.add_argument("--all", action="store_true",
                        help="also run the methods of order 2 and 3 at tolerances below 1e-7")
    parser.add_argument("--per-problem", action="store_true", help="print every solve")
    parser.add_argument("--no-torch", action="store_true", help="ode_keras only")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    solvers = [OdeKeras()] + ([] if args.no_torch else [TorchDiffEq()])
    problems = [detest.PROBLEMS[name] for name in args.problems]
    jobs = [(method, tol) for method in args.methods for tol in args.tolerances
            if args.all or method not in LOW_ORDER or tol > 1e-7]
    results = run(solvers, jobs, problems, args.per_problem)
    names = [s.name for s in solvers]
    print(f"DETEST classes A-E, {len(problems)} problems, t = 0 to {detest.T_END:g}, float64; "
          "geometric means over the problems solved by all")
    print_table(summary_rows(results, names), names)


if __name__ == "__main__":
    main()
