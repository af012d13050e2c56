"""The table and the targets of ``ode_demo_speed.py``."""

import os
import statistics

import tensorflow as tf
from _spiral import ATOL, RTOL
from _spiral_floor import floor_ms

BEST_ADJOINT = ("ode_keras odeint_adjoint", "ode_keras odeint_adjoint, XLA")
BEST_EXACT = ("ode_keras odeint checkpoint", "ode_keras odeint checkpoint, XLA",
              "ode_keras odeint backprop", "ode_keras odeint backprop, XLA")


def _backward_nfe(name, result, tfp_backward):
    """Mean NFE-B of a row, or what its backward pass is when it is not a solve."""
    backward = [b for _, b in result["nfe"] if b is not None]
    backward = tfp_backward.get(name, backward)[:len(result["nfe"])]
    if backward:
        return statistics.mean(backward)
    return "replay" if "checkpoint" in name.lower() else "backprop"


def _floor(name, forward, backward, costs):
    """The row's floor in ms; None for the peers (their NFE-B is not always counted)."""
    if not name.startswith("ode_keras"):
        return None
    return floor_ms(forward, forward if isinstance(backward, str) else backward, costs)


def _peer(name, medians):
    """The torchdiffeq row of the same kind: adjoint for adjoints, odeint otherwise."""
    adjoint = "adjoint" in name.lower() and "checkpoint" not in name.lower()
    adjoint = adjoint or name.startswith("TFP")
    return medians["torchdiffeq odeint_adjoint" if adjoint else "torchdiffeq odeint"]


def report(methods, results, tfp_backward, costs, args):
    """Print the side-by-side table, the floor's unit costs and the targets."""
    medians = {name: statistics.median(r["ms"]) for name, r in results.items()}
    print(f"ode_demo training step, dopri5 rtol {RTOL} atol {ATOL}, float32; median over "
          f"rounds of {args.iterations} iterations after {args.warmup} warm-up; "
          f"{args.threads} thread(s); TensorFlow {tf.__version__}, {_versions()}; "
          f"{os.cpu_count()} CPU cores\n")
    print("| method | ms / iteration | first call s | NFE-F | NFE-B | floor ms | x floor | "
          "torchdiffeq same mode / this | traces |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    floors = {}
    for name, result in results.items():
        forward = statistics.mean(f for f, _ in result["nfe"])
        backward = _backward_nfe(name, result, tfp_backward)
        floors[name] = _floor(name, forward, backward, costs)
        floor = "-" if floors[name] is None else f"{floors[name]:.2f}"
        multiple = "-" if floors[name] is None else f"{medians[name] / floors[name]:.1f}"
        backward = backward if isinstance(backward, str) else f"{float(backward):.1f}"
        traces = getattr(methods[name], "trace_count", lambda: "-")()
        dropped = " (dropped: slow)" if result["slow"] else ""
        print(f"| {name} | {medians[name]:.2f}{dropped} | {result['first_s']:.1f} | "
              f"{forward:.1f} | {backward} | {floor} | {multiple} | "
              f"{_peer(name, medians) / medians[name]:.2f}x | {traces} |")
    print(f"\nFloor unit costs: one evaluation of the field on the batch {costs[0] * 1e3:.2f} us, "
          f"with its vector-Jacobian product {costs[1] * 1e3:.2f} us.")
    _print_targets(medians, floors)


def _print_targets(medians, floors):
    adjoint = min(BEST_ADJOINT, key=medians.get)
    exact = min(BEST_EXACT, key=medians.get)
    backsolve = medians["diffrax BacksolveAdjoint"]
    checkpoint = medians["diffrax RecursiveCheckpointAdjoint"]
    tfp = min(medians["TFP DormandPrince"], medians["TFP DormandPrince, XLA"])
    print("\nTargets (the best ode_keras row of each kind, at default settings):")
    print(f"  adjoint ({adjoint}) vs diffrax BacksolveAdjoint: "
          f"{backsolve / medians[adjoint]:.2f}x faster (target >= 1)")
    print(f"  exact gradients ({exact}) vs diffrax RecursiveCheckpointAdjoint: "
          f"{checkpoint / medians[exact]:.2f}x faster (target >= 1)")
    for name in (adjoint, exact):
        print(f"  {name}: {medians[name] / floors[name]:.1f}x its floor (target <= 2)")
    print(f"  adjoint vs torchdiffeq odeint_adjoint: "
          f"{medians['torchdiffeq odeint_adjoint'] / medians[adjoint]:.1f}x faster; vs TFP's "
          f"best: {tfp / medians[adjoint]:.2f}x")


def _versions():
    import diffrax
    import jax
    import torch

    return f"torch {torch.__version__}, jax {jax.__version__}, diffrax {diffrax.__version__}"
