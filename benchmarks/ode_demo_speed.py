"""torchdiffeq's ode_demo training step: ode_keras vs torchdiffeq, TFP and diffrax, in one run.

The spiral ``dy/dt = (y**3) A`` (see ``_spiral.py``): one training step is a dopri5 solve at
rtol 1e-7 / atol 1e-9 over ``batch_time=10`` points for ``batch_size=20`` starts, the L1 loss,
its gradient and an RMSprop update of the 2-50-tanh-2 field. Every method starts from the same
initial weights and trains on the same batches (one seed), so all follow the same trajectory of
weights (to the solvers' tolerance) and solve the same problems; the NFE columns show the work.

Methods: torchdiffeq ``odeint`` and ``odeint_adjoint``; TFP's ``DormandPrince`` (its gradient is
always its adjoint), in ``tf.function`` and with ``jit_compile=True``; diffrax ``Dopri5`` under
``jax.jit`` with ``BacksolveAdjoint`` (the continuous adjoint) and ``RecursiveCheckpointAdjoint``
(its default: exact gradients by checkpointing), the batch solved as one state as everywhere
else (and a labelled per-sample ``vmap`` row); ode_keras ``odeint`` with ``gradient="backprop"``
and ``"checkpoint"`` and ``odeint_adjoint``, in ``tf.function``, with and without XLA.
TensorFlow steps are traced once (fixed input signature); the trace count is printed. All run
on one thread.

Timing: methods run in interleaved rounds of ``BLOCK`` consecutive steps each, after a warm-up,
and the median over rounds of the mean step time is reported (see :func:`time_methods` for why
blocks). The floor column is what the step's evaluations of the field cost alone in a bare
compiled loop (``_spiral_floor.py``): NFE-F evaluations plus, backward, one evaluation with its
vector-Jacobian product per adjoint evaluation (NFE-B) or per forward evaluation (backprop and
checkpoint).

Before timing, the first step's loss and gradients from the same weights are compared with
torchdiffeq's (float32 as benchmarked, and float64) and with diffrax's (float32): a benchmark of
a wrong computation would be worthless.

Run:  nice -n 10 python benchmarks/ode_demo_speed.py [--iterations 200] [--threads 1] [--quick]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# One thread for XLA (TensorFlow's and JAX's alike), before either compiles anything.
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _spiral  # noqa: E402
import _spiral_diffrax  # noqa: E402
import _spiral_floor  # noqa: E402
import _spiral_runners as runners  # noqa: E402
from _spiral_report import report  # noqa: E402

# One training solve takes well under 64 steps (the NFE columns: NFE-F = 2 + 6 x steps). Under XLA
# the gradient of a while loop preallocates max_num_steps entries per saved tensor, so the default
# bound makes backprop XLA steps far slower (the table shows both; checkpoint needs no budget).
XLA_MAX_NUM_STEPS = 64
# Consecutive steps of one method per timing round (see time_methods).
BLOCK = 10


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
            peer = "odeint_adjoint" if adjoint else "odeint"
            _print_difference(f"{np.dtype(dtype).name} {name}", f"torchdiffeq {peer}",
                              ours.gradients(batch), theirs.gradients(batch))
    weights = _spiral.initial_weights()
    batch = _spiral.batches(true_y32, 1)[0]
    for adjoint in ("checkpoint", "backsolve"):
        ours = (runners.OdeKerasDirect("", weights, gradient="checkpoint") if adjoint ==
                "checkpoint" else runners.OdeKerasAdjoint("", weights))
        _print_difference(f"float32 ode_keras {adjoint}", f"diffrax {adjoint}",
                          ours.gradients(batch),
                          _spiral_diffrax.Diffrax("", weights, adjoint).gradients(batch))
    print()


def _print_difference(ours_name, peer_name, ours, theirs):
    (loss_a, grads_a), (loss_b, grads_b) = ours, theirs
    loss_diff = abs(loss_a - loss_b) / abs(loss_b)
    grad_diff = max(np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(grads_a, grads_b))
    print(f"  {ours_name:34s} vs {peer_name:26s}: loss {loss_a:.9f} vs {loss_b:.9f} "
          f"(rel. diff {loss_diff:.1e}), gradients rel. diff {grad_diff:.1e}")


def build_methods(weights):
    """Every runner to time, each built from the same weights."""
    budget = {"max_num_steps": XLA_MAX_NUM_STEPS}
    direct = runners.OdeKerasDirect
    return [
        runners.TorchDiffEq("torchdiffeq odeint", weights, adjoint=False),
        runners.TorchDiffEq("torchdiffeq odeint_adjoint", weights, adjoint=True),
        runners.TfpDormandPrince("TFP DormandPrince", weights),
        runners.TfpDormandPrince("TFP DormandPrince, XLA", weights, jit_compile=True),
        _spiral_diffrax.Diffrax("diffrax BacksolveAdjoint", weights, "backsolve"),
        _spiral_diffrax.Diffrax("diffrax RecursiveCheckpointAdjoint", weights, "checkpoint"),
        _spiral_diffrax.Diffrax("diffrax RecursiveCheckpointAdjoint, vmap per sample", weights,
                                "checkpoint", per_sample=True),
        direct("ode_keras odeint backprop", weights),
        direct("ode_keras odeint backprop, XLA", weights, jit_compile=True),
        direct(f"ode_keras odeint backprop, XLA, max_num_steps={XLA_MAX_NUM_STEPS}", weights,
               jit_compile=True, options=budget),
        direct("ode_keras odeint checkpoint", weights, gradient="checkpoint"),
        direct("ode_keras odeint checkpoint, XLA", weights, jit_compile=True,
               gradient="checkpoint"),
        runners.OdeKerasAdjoint("ode_keras odeint_adjoint", weights),
        runners.OdeKerasAdjoint("ode_keras odeint_adjoint, XLA", weights, jit_compile=True),
    ]


def time_methods(methods, batches, warmup, slow_limit, block=BLOCK):
    """Timing in interleaved blocks; returns ``{name: {"ms": [...], "nfe": [(f, b), ...], ...}}``.

    Each round runs ``block`` consecutive training steps of one method, then of the next, so the
    shared machine's load drifts over all methods alike while each method runs back to back as
    in a training loop. (One step of each in turn made every TensorFlow and JAX step up to 2x
    slower than in a loop of its own: between steps the runtime's worker threads go to sleep,
    and waking them on a loaded machine costs more than a small step.) ``ms`` holds the mean
    step time of each block.

    The first ``warmup`` steps run untimed (tracing, XLA compilation). A method whose second
    call takes longer than ``slow_limit`` seconds (XLA with a huge step budget) is timed on one
    block and then dropped, so it cannot hold up the run.
    """
    results = {m.name: {"ms": [], "nfe": [], "first_s": None, "slow": False} for m in methods}
    prepared = {m.name: [m.prepare(b) for b in batches] for m in methods}
    for method in methods:
        entry = results[method.name]
        for i in range(warmup):
            start = time.perf_counter()
            method.step(prepared[method.name][i])
            seconds = time.perf_counter() - start
            entry["first_s"] = seconds if i == 0 else entry["first_s"]
            entry["slow"] = entry["slow"] or (i == 1 and seconds > slow_limit)
    active = list(methods)
    for first in range(warmup, len(batches), block):
        for method in list(active):
            entry = results[method.name]
            start = time.perf_counter()
            for batch in prepared[method.name][first:first + block]:
                _, nfe_f, nfe_b = method.step(batch)
                entry["nfe"].append((nfe_f, nfe_b))
            count = len(prepared[method.name][first:first + block])
            entry["ms"].append(1000 * (time.perf_counter() - start) / count)
            if entry["slow"]:
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


def main():
    """Parse the arguments, check agreement, time every method, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="timed iterations")
    parser.add_argument("--warmup", type=int, default=10, help="untimed first iterations")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for TensorFlow and torch alike (default 1)")
    parser.add_argument("--quick", action="store_true", help="20 iterations, 4 warm-up")
    parser.add_argument("--skip-check", action="store_true", help="skip the agreement check")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.warmup = 20, 4
    tf.get_logger().setLevel("ERROR")  # TFP's deprecation notices
    set_threads(args.threads)
    true_y = _spiral.true_trajectory()
    if not args.skip_check:
        check_agreement(true_y)
    weights = _spiral.initial_weights()
    batches = _spiral.batches(true_y, args.warmup + args.iterations)
    methods = build_methods(weights)
    results = time_methods(methods, batches, args.warmup, slow_limit=0.5)
    costs = _spiral_floor.unit_costs(_spiral.keras_field(weights),
                                     tf.constant(batches[0][0]))
    report({m.name: m for m in methods}, results,
           count_tfp_backward(weights, batches, args.warmup), costs, args)


if __name__ == "__main__":
    main()
