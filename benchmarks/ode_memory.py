"""Peak memory of a training step against the number of solver steps: adjoint vs direct.

A 512x64 state, an MLP field 64-64-tanh-64 (Keras), rk4 with a fixed step size chosen so that
the solve from t=0 to t=1 takes 25, 50, 100, 200 and 400 steps. A training step is the solve,
the loss ``mean(y(1)**2)``, its gradient with respect to the field's weights and ``y0``, and an
SGD update, in a ``tf.function``. ``odeint`` keeps every step's tensors for backpropagation, so
its memory grows with the steps; ``odeint_adjoint`` solves backwards instead (rk4, same step
size) and should stay flat.

How memory is measured: each configuration runs in a fresh subprocess with TensorFlow's BFC
allocator on the CPU (``TF_CPU_ALLOCATOR_USE_BFC=true``), which makes
``tf.config.experimental.get_memory_info('CPU:0')`` report the bytes of live tensors and their
peak (TensorFlow's default CPU allocator keeps no statistics, and ``tracemalloc`` does not see
TensorFlow's allocations). After a warm-up step the statistics are reset and one step is run:
the peak minus the bytes live before the step is what the step itself needs. As a cross-check,
the process's peak RSS increase over the first call (``resource.getrusage``; it also holds the
one-off graph optimisation) is printed in brackets.

Run:  nice -n 10 python benchmarks/ode_memory.py [--steps 25 50 100 200 400] [--quick]
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _memory import run_child, step_memory  # noqa: E402

BATCH, WIDTH = 512, 64


def child(mode, num_steps):
    """Measure one configuration in this (fresh) process; prints one JSON line."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    import tensorflow as tf

    from ode_keras import odeint, odeint_adjoint

    keras.utils.set_random_seed(0)
    field = keras.Sequential([keras.layers.Dense(WIDTH, activation="tanh"),
                              keras.layers.Dense(WIDTH)])
    y0 = tf.Variable(tf.random.normal([BATCH, WIDTH]))
    field(y0)

    def func(t, y):
        return field(y)

    options = {"step_size": 1.0 / num_steps}  # the table prints the steps actually taken
    t = tf.constant([0.0, 1.0])
    variables = [*field.trainable_variables, y0]
    optimizer = keras.optimizers.SGD(1e-3)
    optimizer.build(variables)
    solve = odeint if mode == "direct" else odeint_adjoint
    extra = {} if mode == "direct" else {"adjoint_params": field.trainable_variables}

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            ys, stats = solve(func, y0, t, method="rk4", options=options, return_stats=True,
                              **extra)
            loss = tf.reduce_mean(ys[-1] ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, stats["num_steps"]

    train_step.get_concrete_function()  # trace
    peak_mib, rss_mib, (_, steps) = step_memory(train_step)
    print(json.dumps({"mode": mode, "steps": int(steps), "peak_mib": peak_mib,
                      "rss_mib": rss_mib}))


def report(results, steps):
    """Print the table and the flatness target."""
    print(f"Peak memory of one training step (MiB above the memory live before it), rk4, "
          f"{BATCH}x{WIDTH} state, MLP {WIDTH}-{WIDTH}-tanh-{WIDTH}; TensorFlow BFC allocator "
          "statistics (in brackets: peak RSS increase over the first call)\n")
    print("| rk4 steps | odeint (direct) MiB | odeint_adjoint MiB | direct / adjoint |")
    print("|---:|---:|---:|---:|")
    for n in steps:
        direct, adjoint = results["direct", n], results["adjoint", n]
        print(f"| {direct['steps']} | {direct['peak_mib']:.1f} ({direct['rss_mib']:.0f}) | "
              f"{adjoint['peak_mib']:.1f} ({adjoint['rss_mib']:.0f}) | "
              f"{direct['peak_mib'] / adjoint['peak_mib']:.1f}x |")
    first, last = steps[0], steps[-1]
    growth = {mode: results[mode, last]["peak_mib"] - results[mode, first]["peak_mib"]
              for mode in ("direct", "adjoint")}
    ratio = growth["adjoint"] / growth["direct"]
    print(f"\nGrowth from {first} to {last} steps: direct {growth['direct']:+.1f} MiB, adjoint "
          f"{growth['adjoint']:+.1f} MiB; adjoint/direct = {ratio:.1e} (target < 0.1)")


def main():
    """Measure every configuration in its own subprocess and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    parser.add_argument("--quick", action="store_true", help="only 25 and 100 steps")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    steps = [25, 100] if args.quick else sorted(args.steps)
    results = {}
    for n in steps:
        for mode in ("direct", "adjoint"):
            results[mode, n] = run_child(__file__, mode, n)
            print(f"  measured {mode} with {n} steps", file=sys.stderr)
    report(results, steps)


if __name__ == "__main__":
    main()
