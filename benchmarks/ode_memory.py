"""Peak memory of a training step against the number of solver steps: direct, checkpoint, adjoint.

A 512x64 state, an MLP field 64-64-tanh-64 (Keras). A training step is the solve from t=0 to
t=1, the loss ``mean(y(1)**2)``, its gradient with respect to the field's weights and ``y0``,
and an SGD update, in a ``tf.function``. Three ways to the gradient:

- direct (``odeint``, backprop): keeps every step's tensors, so memory grows with the steps;
- checkpoint (``odeint(..., gradient="checkpoint")``): keeps the state at ``num_slots``
  checkpoints and replays segments of ``stride`` steps, so it holds about
  ``num_slots + stride`` states (``num_slots = default_num_slots(max_iterations)`` ~
  sqrt(budget); ``stride`` the smallest power of two with ``num_slots * stride >= budget``),
  plus one step's intermediates;
- adjoint (``odeint_adjoint``): solves backwards, constant memory.

Two cases: rk4 with a fixed step size making 25, 50, 100, 200 and 400 steps (the steps are
known when tracing, so the checkpoint budget is the solve: 6+8 -> 20+32 states); and dopri5
(rtol 1e-6, atol 1e-8) on ``dy/dt = omega * y J + mlp(y)``, J a rotation of the feature
pairs, whose steps grow with the frequency ``omega`` (the budget is max_num_steps = 4096:
64 + 64 checkpoints of y and f whatever the solve takes, so checkpoint memory should not grow).

How memory is measured: see ``_memory.py`` (a fresh subprocess per configuration, TensorFlow's
BFC allocator; the peak of the second call above the bytes live before it). In brackets: the
process's peak RSS increase over the first call.

Run:  nice -n 10 python benchmarks/ode_memory.py [--steps 25 50 100 200 400]
      [--omegas 4 16 64] [--quick]
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _memory import MIB, run_child, step_memory  # noqa: E402

BATCH, WIDTH = 512, 64
STATE_MIB = BATCH * WIDTH * 4 / MIB
MODES = ("direct", "checkpoint", "adjoint")
BUDGET = 4096  # max_num_steps, the adaptive solves' default
LEAVES = {"rk4": 1, "dopri5": 2}  # state-sized tensors in a checkpoint: y (and f, for FSAL)


def _problem(case, value):
    """``(func, solver kwargs, trainable variables)`` of one configuration."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    field = keras.Sequential([keras.layers.Dense(WIDTH, activation="tanh"),
                              keras.layers.Dense(WIDTH)])
    field(tf.zeros([1, WIDTH]))
    if case == "rk4":
        return (lambda t, y: field(y)), {"method": "rk4",
                                          "options": {"step_size": 1.0 / value}}, field
    rotation = np.kron(np.eye(WIDTH // 2), [[0.0, 1.0], [-1.0, 0.0]]).astype("float32")
    J = tf.constant(rotation * value)
    return ((lambda t, y: tf.matmul(y, J) + field(y)),
            {"method": "dopri5", "rtol": 1e-6, "atol": 1e-8}, field)


def child(mode, case, value):
    """Measure one configuration in this (fresh) process; prints one JSON line."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    import tensorflow as tf

    from ode_keras import odeint, odeint_adjoint

    func, kwargs, field = _problem(case, value)
    y0 = tf.Variable(tf.random.normal([BATCH, WIDTH]))
    t = tf.constant([0.0, 1.0])
    variables = [*field.trainable_variables, y0]
    optimizer = keras.optimizers.SGD(1e-3)
    optimizer.build(variables)
    if mode == "adjoint":
        kwargs = {**kwargs, "adjoint_params": field.trainable_variables}
    else:
        kwargs = {**kwargs, "gradient": "backprop" if mode == "direct" else "checkpoint"}
    solve = odeint_adjoint if mode == "adjoint" else odeint

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            ys, stats = solve(func, y0, t, return_stats=True, **kwargs)
            loss = tf.reduce_mean(ys[-1] ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, stats["num_steps"]

    train_step.get_concrete_function()  # trace
    peak_mib, rss_mib, (_, steps) = step_memory(train_step)
    print(json.dumps({"mode": mode, "steps": int(steps), "peak_mib": peak_mib,
                      "rss_mib": rss_mib}))


def checkpoint_states(budget):
    """States the checkpointed gradient holds for a step budget: slots + longest segment."""
    from ode_keras._checkpoint import default_num_slots

    slots, stride = default_num_slots(budget), 1
    while slots * stride < budget:
        stride *= 2
    return slots, stride


def _budget(case, value):
    """The loop's static bound: the known steps for rk4, max_num_steps for dopri5."""
    return value if case == "rk4" else BUDGET


def _cell(result):
    return f"{result['peak_mib']:.1f} ({result['rss_mib']:.0f})"


def report_table(results, case, values):
    """One case's table: peak MiB of each mode, and the checkpoint states the theory gives."""
    label = "rk4 step size 1/n" if case == "rk4" else "dopri5, omega"
    print(f"\n{case}: peak memory of one training step, MiB (in brackets: peak RSS increase "
          f"over the first call, MiB); one state = {STATE_MIB:.3f} MiB\n")
    print(f"| {label} | steps | direct | checkpoint | adjoint | checkpoint slots + stride, "
          f"x {LEAVES[case]} state(s) each (theory) | direct / checkpoint |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for value in values:
        row = {mode: results[case, mode, value] for mode in MODES}
        slots, stride = checkpoint_states(_budget(case, value))
        print(f"| {value} | {row['direct']['steps']} | {_cell(row['direct'])} | "
              f"{_cell(row['checkpoint'])} | {_cell(row['adjoint'])} | {slots} + {stride} = "
              f"{(slots + stride) * LEAVES[case] * STATE_MIB:.2f} MiB | "
              f"{row['direct']['peak_mib'] / row['checkpoint']['peak_mib']:.1f}x |")


def report_growth(results, case, values):
    """Each mode's growth from the first to the last configuration, beside the theory's."""
    first, last = values[0], values[-1]
    steps = {v: results[case, "direct", v]["steps"] for v in (first, last)}
    growth = {mode: results[case, mode, last]["peak_mib"] - results[case, mode, first]["peak_mib"]
              for mode in MODES}
    per_step = growth["direct"] / (steps[last] - steps[first])
    states = [sum(checkpoint_states(_budget(case, v))) for v in (first, last)]
    predicted = (states[1] - states[0]) * LEAVES[case] * STATE_MIB
    print(f"\n{case}, growth from {steps[first]} to {steps[last]} steps (MiB):")
    print(f"  direct      {growth['direct']:+8.1f}  theory: linear in the steps; measured "
          f"{per_step:.2f} MiB = {per_step / STATE_MIB:.1f} states a step")
    print(f"  checkpoint  {growth['checkpoint']:+8.1f}  theory: {states[0]} -> {states[1]} "
          f"states, {predicted:+.1f} MiB (x1-3: a buffer updated in a loop may be copied)")
    print(f"  adjoint     {growth['adjoint']:+8.1f}  theory: 0 (constant memory)")
    print(f"  checkpoint / direct growth = {growth['checkpoint'] / growth['direct']:.1e}, "
          f"adjoint / direct = {growth['adjoint'] / growth['direct']:.1e} (target < 0.1)")


def main():
    """Measure every configuration in its own subprocess and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    parser.add_argument("--omegas", type=float, nargs="+", default=[4, 16, 64])
    parser.add_argument("--quick", action="store_true", help="two configurations per case")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CASE", "VALUE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, case, value = args.child
        child(mode, case, int(value) if case == "rk4" else float(value))
        return
    cases = {"rk4": [25, 100] if args.quick else sorted(args.steps),
             "dopri5": [4.0, 32.0] if args.quick else sorted(args.omegas)}
    results = {}
    for case, values in cases.items():
        for value in values:
            for mode in MODES:
                results[case, mode, value] = run_child(__file__, mode, case, value)
                print(f"  measured {case} {mode} at {value}", file=sys.stderr)
    for case, values in cases.items():
        report_table(results, case, values)
        report_growth(results, case, values)


if __name__ == "__main__":
    main()
