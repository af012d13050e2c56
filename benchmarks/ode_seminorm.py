"""Seminorm vs full norm in the adjoint's backward solve, on torchdiffeq's ode_demo spiral.

``adjoint_options={"norm": "seminorm"}`` leaves the parameter (and time) adjoints out of the
backward solve's error norm (Kidger, Chen & Lyons, ICML 2021): they do not feed back into the
dynamics, so their local errors need not shrink the step. Both variants train the ode_demo model
(see ``_spiral.py``) from the same weights on the same batches, so each iteration solves the
same problems; torchdiffeq's ``odeint_adjoint`` with and without its seminorm is run alongside
for reference. Printed: backward evaluations (NFE-B) per iteration, the saving, the ms per
iteration, and how far the seminorm's gradients are from the full norm's on the first batch.

Two batch spans: ode_demo's own (10 consecutive points, 0.225 time units), where each backward
interval is 0.025 long; torchdiffeq chooses a fresh, small first step for each and takes the
minimum of 2 steps whatever the norm, while ode_keras carries the step over from one interval
to the next and usually takes one. And batches of 10 points 10 apart (2.25 time units), where
the backward steps are limited by the error estimate and the norm matters most.

Run:  nice -n 10 python benchmarks/ode_seminorm.py [--iterations 20] [--strides 1 10]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _spiral  # noqa: E402
import _spiral_runners as runners  # noqa: E402

SEMINORM = {"norm": "seminorm"}


def build_methods(weights, with_torch, stride):
    """The four (or two, without torchdiffeq) adjoint runners, from the same weights."""
    methods = [
        runners.OdeKerasAdjoint("ode_keras, full norm", weights, stride=stride),
        runners.OdeKerasAdjoint("ode_keras, seminorm", weights, adjoint_options=SEMINORM,
                                stride=stride)]
    if with_torch:
        methods += [
            runners.TorchDiffEq("torchdiffeq, full norm", weights, adjoint=True, stride=stride),
            runners.TorchDiffEq("torchdiffeq, seminorm", weights, adjoint=True,
                                adjoint_options=SEMINORM, stride=stride)]
    return methods


def run(methods, batches):
    """Train every method on the batches, interleaved; returns per-method NFE-B and ms lists."""
    results = {m.name: {"nfe_b": [], "ms": []} for m in methods}
    prepared = {m.name: [m.prepare(b) for b in batches] for m in methods}
    for i in range(len(batches)):
        for method in methods:
            start = time.perf_counter()
            _, _, nfe_b = method.step(prepared[method.name][i])
            if i > 0:  # the first call traces
                results[method.name]["ms"].append(1000 * (time.perf_counter() - start))
            results[method.name]["nfe_b"].append(nfe_b)
    return results


def gradient_difference(weights, batch, stride):
    """Largest relative difference (per tensor, max|a - b| / max|b|) seminorm vs full norm."""
    full = runners.OdeKerasAdjoint("", weights, stride=stride).gradients(batch)[1]
    semi = runners.OdeKerasAdjoint("", weights, adjoint_options=SEMINORM,
                                   stride=stride).gradients(batch)[1]
    return max(np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(semi, full))


def report(results, iterations, gradient_diff, stride):
    """Print the table and the saving of each library's seminorm."""
    span = _spiral.batch_times(stride)[-1]
    kind = "ode_demo's batches" if stride == 1 else f"batches of points {stride} apart"
    print(f"\nSpiral, {kind} (10 points over {span:.3g} time units); odeint_adjoint with dopri5 "
          f"at rtol {_spiral.RTOL} atol {_spiral.ATOL} both ways, float32, {iterations} "
          "training iterations from the same weights and batches\n")
    print("| backward solve | NFE-B per iteration (mean) | min-max | ms / iteration (median) |")
    print("|---|---:|---:|---:|")
    for name, result in results.items():
        nfe = result["nfe_b"]
        print(f"| {name} | {statistics.mean(nfe):.1f} | {min(nfe)}-{max(nfe)} | "
              f"{statistics.median(result['ms']):.1f} |")
    print()
    for library in ("ode_keras", "torchdiffeq"):
        if f"{library}, full norm" not in results:
            continue
        full = sum(results[f"{library}, full norm"]["nfe_b"])
        semi = sum(results[f"{library}, seminorm"]["nfe_b"])
        print(f"{library}: the seminorm takes {100 * (1 - semi / full):.1f}% fewer backward "
              f"evaluations ({semi} vs {full} in total; target: fewer)")
    print(f"ode_keras gradients, seminorm vs full norm on the first batch: relative difference "
          f"{gradient_diff:.1e} (both are accurate to the tolerances)")


def main():
    """Parse the arguments, train both variants side by side, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 10],
                        help="batch point spacing(s) in data points (1 = ode_demo)")
    parser.add_argument("--no-torch", action="store_true", help="leave torchdiffeq out")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    true_y = _spiral.true_trajectory()
    weights = _spiral.initial_weights()
    with_torch = not args.no_torch
    if with_torch:
        import torch

        torch.set_num_threads(1)
    for stride in args.strides:
        batches = _spiral.batches(true_y, args.iterations, stride=stride)
        results = run(build_methods(weights, with_torch, stride), batches)
        report(results, args.iterations, gradient_difference(weights, batches[0], stride), stride)


if __name__ == "__main__":
    main()
