"""torchdiffeq's ode_demo training step: ode_keras vs torchdiffeq vs TFP, side by side in one run.

The spiral ``dy/dt = (y**3) A`` (see ``_spiral.py``): one training step is a dopri5 solve at
rtol 1e-7 / atol 1e-9 over ``batch_time=10`` points for ``batch_size=20`` starts, the L1 loss,
its gradient and an RMSprop update of the 2-50-tanh-2 field. Every method starts from the same
initial weights and trains on the same batches (one seed), so all follow the same trajectory of
weights (to the solvers' tolerance) and solve the same problems; the NFE columns show the work.
Forward solves agree with torchdiffeq step for step. Backward, ode_keras's adjoint starts each
of the 9 intervals from the step the previous one proposed, where torchdiffeq chooses a fresh
first step each time: fewer NFE-B for the same tolerances.

Methods: torchdiffeq ``odeint`` and ``odeint_adjoint``; TFP's ``DormandPrince`` (its gradient is
always its adjoint), in ``tf.function`` and with ``jit_compile=True``; ode_keras ``odeint`` and
``odeint_adjoint`` in ``tf.function``, with and without XLA. TensorFlow steps are traced once
(fixed input signature); the trace count is checked. Methods are timed in interleaved rounds
(one step of each in turn, after a warm-up) so that the shared machine's load hits them alike;
the median ms per iteration is reported.

Before timing, the first step's loss and gradients from the same weights are compared with
torchdiffeq's (float32 as benchmarked, and float64): a benchmark of a wrong computation would be
worthless.

Run:  nice -n 10 python benchmarks/ode_demo_speed.py [--iterations 200] [--threads 1] [--quick]
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

# One training solve takes well under 64 steps (the NFE columns: NFE-F = 2 + 6 x steps). Under XLA
# the gradient of a while loop preallocates max_num_steps entries per saved tensor, so the default
# bound makes direct-mode XLA steps far slower (the table shows both).
XLA_MAX_NUM_STEPS = 64


def set_threads(count):
    """Use ``count`` threads in TensorFlow (intra- and inter-op) and torch alike."""
    tf.config.threading.set_intra_op_parallelism_threads(count)
    tf.config.threading.set_inter_op_parallelism_threads(count)
    import torch

    torch.set_num_threads(count)
    torch.set_num_interop_threads(count)


def check_agreement(true_y32):
    """Print the first step's loss and gradient differences from torchdiffeq's."""
    print("Agreement with torchdiffeq on the first step (same weights, same batch); relative "
          "difference = max|ours - theirs| / max|theirs| per tensor, largest over tensors:")
    for dtype in (np.float32, np.float64):
        weights = _spiral.initial_weights(dtype=dtype)
        batch = _spiral.batches(true_y32.astype(dtype), 1)[0]
        pairs = [("ode_keras odeint", runners.OdeKerasDirect("", weights), False),
                 ("ode_keras odeint_adjoint", runners.OdeKerasAdjoint("", weights), True),
                 ("TFP DormandPrince", runners.TfpDormandPrince("", weights), True)]
        for name, ours, adjoint in pairs:
            theirs = runners.TorchDiffEq("", weights, adjoint=adjoint)
            (loss_a, grads_a), (loss_b, grads_b) = ours.gradients(batch), theirs.gradients(batch)
            loss_diff = abs(loss_a - loss_b) / abs(loss_b)
            grad_diff = max(np.max(np.abs(a - b)) / np.max(np.abs(b))
                            for a, b in zip(grads_a, grads_b))
            peer = "odeint_adjoint" if adjoint else "odeint"
            print(f"  {np.dtype(dtype).name} {name:24s} vs torchdiffeq {peer:14s}: loss "
                  f"{loss_a:.9f} vs {loss_b:.9f} (rel. diff {loss_diff:.1e}), gradients rel. "
                  f"diff {grad_diff:.1e}")
    print()


def build_methods(weights):
    """Every runner to time, each built from the same weights."""
    xla_options = {"max_num_steps": XLA_MAX_NUM_STEPS}
    methods = [
        runners.TorchDiffEq("torchdiffeq odeint", weights, adjoint=False),
        runners.TorchDiffEq("torchdiffeq odeint_adjoint", weights, adjoint=True),
        runners.TfpDormandPrince("TFP DormandPrince", weights),
        runners.TfpDormandPrince("TFP DormandPrince, XLA", weights, jit_compile=True),
        runners.OdeKerasDirect("ode_keras odeint", weights),
        runners.OdeKerasDirect("ode_keras odeint, XLA, default max_num_steps", weights,
                               jit_compile=True),
        runners.OdeKerasDirect(f"ode_keras odeint, XLA, max_num_steps={XLA_MAX_NUM_STEPS}",
                               weights, jit_compile=True, options=xla_options),
        runners.OdeKerasAdjoint("ode_keras odeint_adjoint", weights),
        runners.OdeKerasAdjoint("ode_keras odeint_adjoint, XLA", weights, jit_compile=True),
    ]
    return methods


def time_methods(methods, batches, warmup, slow_limit):
    """Interleaved timing; returns ``{name: {"ms": [...], "nfe": [(f, b), ...], "first_s"}}``.

    The first ``warmup`` batches are run untimed (tracing, XLA compilation). A method whose
    second call takes longer than ``slow_limit`` seconds (XLA with the default max_num_steps)
    is timed on its second to fourth calls and then dropped, so it cannot hold up the run.
    """
    results = {m.name: {"ms": [], "nfe": [], "first_s": None, "slow": False} for m in methods}
    prepared = {m.name: [m.prepare(b) for b in batches] for m in methods}
    active = list(methods)
    for i in range(len(batches)):
        for method in list(active):
            start = time.perf_counter()
            _, nfe_f, nfe_b = method.step(prepared[method.name][i])
            seconds = time.perf_counter() - start
            entry = results[method.name]
            if i == 0:
                entry["first_s"] = seconds
                continue
            entry["slow"] = entry["slow"] or (i == 1 and seconds > slow_limit)
            if entry["slow"] or i >= warmup:
                entry["ms"].append(1000 * seconds)
                entry["nfe"].append((nfe_f, nfe_b))
            if entry["slow"] and len(entry["ms"]) == 3:
                active.remove(method)
    return results


def count_tfp_backward(weights, batches, warmup):
    """TFP's NFE-B per timed iteration, ``{row name: [...]}``, from separate counting runs.

    The counting field increments a variable on each evaluation, which is kept out of the timed
    runs; from the same weights and batches the counting runs retrace the timed trajectories.
    """
    counts = {}
    for name, jit_compile in (("TFP DormandPrince", False), ("TFP DormandPrince, XLA", True)):
        method = runners.TfpDormandPrince(name, weights, jit_compile, count_backward=True)
        counts[name] = [method.step(method.prepare(b))[2] for b in batches][warmup:]
    return counts


def report(methods, results, tfp_backward, args):
    """Print the side-by-side table and the targets."""
    medians = {name: statistics.median(r["ms"]) for name, r in results.items()}
    tde_direct = medians["torchdiffeq odeint"]
    tde_adjoint = medians["torchdiffeq odeint_adjoint"]
    print(f"ode_demo training step, dopri5 rtol {_spiral.RTOL} atol {_spiral.ATOL}, float32; "
          f"median of {args.iterations} iterations after {args.warmup} warm-up; "
          f"{args.threads} thread(s) in TensorFlow {tf.__version__} and torch "
          f"{_torch_version()}; {os.cpu_count()} CPU cores\n")
    print("| method | ms / iteration | first call s | NFE-F | NFE-B | torchdiffeq same mode "
          "/ this | traces |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, result in results.items():
        forward = statistics.mean(f for f, _ in result["nfe"])
        backward = [b for _, b in result["nfe"] if b is not None]
        backward = tfp_backward.get(name, backward)[:len(result["nfe"])]
        backward = f"{statistics.mean(backward):.1f}" if backward else "backprop"
        adjoint = "adjoint" in name or name.startswith("TFP")
        peer = tde_adjoint if adjoint else tde_direct
        traces = getattr(methods[name], "trace_count", lambda: "-")()
        timed = "" if len(result["ms"]) >= args.iterations else f" ({len(result['ms'])} steps)"
        print(f"| {name} | {medians[name]:.2f}{timed} | {result['first_s']:.1f} | {forward:.1f} | "
              f"{backward} | {peer / medians[name]:.2f}x | {traces} |")
    _print_targets(medians, tde_direct, tde_adjoint, results)


def _print_targets(medians, tde_direct, tde_adjoint, results):
    best_adjoint = min(medians["ode_keras odeint_adjoint"],
                       medians["ode_keras odeint_adjoint, XLA"])
    best_direct = min(v for k, v in medians.items() if k.startswith("ode_keras odeint,")
                      or k == "ode_keras odeint")
    best_tfp = min(medians["TFP DormandPrince"], medians["TFP DormandPrince, XLA"])
    nfe_ours = statistics.mean(f for f, _ in results["ode_keras odeint"]["nfe"])
    nfe_tde = statistics.mean(f for f, _ in results["torchdiffeq odeint"]["nfe"])
    print("\nTargets (best ode_keras variant of each mode):")
    print(f"  adjoint vs torchdiffeq odeint_adjoint: {tde_adjoint / best_adjoint:.1f}x faster "
          "(target >= 3x)")
    print(f"  adjoint vs TFP DormandPrince (best of graph/XLA): {best_tfp / best_adjoint:.2f}x "
          "(target >= 1)")
    print(f"  direct vs torchdiffeq odeint: {tde_direct / best_direct:.1f}x faster (target > 1)")
    print(f"  forward NFE: ode_keras {nfe_ours:.1f} vs torchdiffeq {nfe_tde:.1f} per iteration "
          f"({100 * (nfe_ours / nfe_tde - 1):+.1f}%, target within 10%)")


def _torch_version():
    import torch

    return torch.__version__


def main():
    """Parse the arguments, check agreement, time every method, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=10, help="untimed first iterations")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for TensorFlow and torch alike (default 1)")
    parser.add_argument("--quick", action="store_true", help="20 iterations, 3 warm-up")
    parser.add_argument("--skip-check", action="store_true", help="skip the agreement check")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.warmup = 20, 3
    tf.get_logger().setLevel("ERROR")  # TFP's deprecation notices
    set_threads(args.threads)
    true_y = _spiral.true_trajectory()
    if not args.skip_check:
        check_agreement(true_y)
    weights = _spiral.initial_weights()
    batches = _spiral.batches(true_y, args.warmup + args.iterations)
    methods = build_methods(weights)
    results = time_methods(methods, batches, args.warmup, slow_limit=0.5)
    report({m.name: m for m in methods}, results,
           count_tfp_backward(weights, batches, args.warmup), args)


if __name__ == "__main__":
    main()
